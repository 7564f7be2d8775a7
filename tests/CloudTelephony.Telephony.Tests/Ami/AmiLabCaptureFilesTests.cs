using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Telephony.Ami;
using CloudTelephony.Tests;

namespace CloudTelephony.Telephony.Tests.Ami;

/// <summary>
/// The real Asterisk 20 lab recordings in <c>tests/data/ami/lab/</c> (README there; recorded with tests/lab/record.py):
/// every file parses frame by frame with the AMI parser, and every truth line names a capture that exists and a callKey
/// that occurs in it. For now only the material is checked; the calls themselves are compared with the truth elsewhere.
/// </summary>
public class AmiLabCaptureFilesTests
{
    private static readonly string Dir = Path.Combine(TestPaths.RepoRoot, "tests", "data", "ami", "lab");

    private static readonly DateTimeOffset Received = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The recordings: raw captures (<c>*.txt</c>, banner + blocks) and relay views (<c>*.relay.jsonl</c>, envelopes).</summary>
    public static TheoryData<string> Captures()
    {
        var data = new TheoryData<string>();
        foreach (var f in CaptureNames())
        {
            data.Add(f);
        }

        return data;
    }

    private static IEnumerable<string> CaptureNames() =>
        Directory.EnumerateFiles(Dir)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(f => f.EndsWith(".txt", StringComparison.Ordinal) || f.EndsWith(".relay.jsonl", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

    private static List<JsonElement> TruthLines() =>
        [.. File.ReadLines(Path.Combine(Dir, "truth.jsonl")).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone())];

    [Theory]
    [MemberData(nameof(Captures))]
    public void Every_frame_parses_and_every_event_carries_its_Timestamp(string file)
    {
        // Asterisk stamps every event with timestampevents = yes, except what it writes straight to one session: the
        // FullyBooted greeting after Login and the list an action asked for (CoreShowChannel..., with the ActionID).
        CheckFrames(file);
    }

    private static void CheckFrames(string file)
    {
        var frames = CaptureFile.Read(Path.Combine(Dir, file), Protocols.Ami).ToList();
        Assert.True(frames.Count > 10, $"{file}: only {frames.Count} frames");
        var events = 0;
        foreach (var (f, i) in frames.Select((f, i) => (f, i)))
        {
            var r = AmiParser.Parse(f.Frame, f.ReceivedAt ?? Received);
            Assert.True(r.Ok, $"{file} frame {i + 1}: {r.Error}");
            var m = r.Message!;
            Assert.True(m.Kind is AmiMessageKind.Event or AmiMessageKind.Response, $"{file} frame {i + 1}: {m.Kind} {m.Name}");
            if (m.Kind == AmiMessageKind.Event)
            {
                events++;
                Assert.True(
                    m.HasTimestamp || m.Name == "FullyBooted" || m.Get("ActionID") is not null,
                    $"{file} frame {i + 1}: {m.Name} without a Timestamp header (the lab runs timestampevents = yes)");
            }
        }

        Assert.True(events > 10, $"{file}: {events} events");
        if (file.EndsWith(".txt", StringComparison.Ordinal))
        {
            // the capture's own login comes first, then the events
            Assert.Equal("Authentication accepted", AmiParser.Parse(frames[0].Frame, Received).Message!.Get("Message"));
        }
    }

    [Fact]
    public void Every_truth_line_names_an_existing_capture_and_a_callKey_that_occurs_in_it()
    {
        var lines = TruthLines();
        Assert.NotEmpty(lines);
        foreach (var t in lines)
        {
            var file = t.GetProperty("file").GetString()!;
            var key = t.GetProperty("callKey").GetString();
            var path = Path.Combine(Dir, file);
            Assert.True(File.Exists(path), $"truth names {file}, which is not in {Dir}");
            Assert.False(string.IsNullOrEmpty(key), $"{file}: no callKey");
            var ids = CaptureFile.Read(path, Protocols.Ami)
                .Select(f => AmiParser.Parse(f.Frame, Received).Message!)
                .Where(m => m.Kind == AmiMessageKind.Event)
                .SelectMany(m => new[] { m.Get("Linkedid"), m.Get("Uniqueid") })
                .ToHashSet();
            Assert.True(ids.Contains(key), $"{file}: callKey {key} is no Linkedid/Uniqueid of the capture");
            Assert.True(t.TryGetProperty("note", out _), $"{file}: truth line without a note");
            if (!t.TryGetProperty("noCallRecord", out var none) || !none.GetBoolean())
            {
                foreach (var k in new[] { "direction", "status", "caller", "called", "extensions", "ringSeconds", "talkSeconds", "transfers" })
                {
                    Assert.True(t.TryGetProperty(k, out _), $"{file}: truth line without {k}");
                }
            }
        }
    }

    [Fact]
    public void Every_capture_has_exactly_one_truth_line_and_its_recording_record()
    {
        var byFile = TruthLines().GroupBy(t => t.GetProperty("file").GetString()!).ToDictionary(g => g.Key, g => g.Count());
        var scenarios = File.ReadLines(Path.Combine(Dir, "scenario-log.jsonl")).Where(l => l.Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("scenario").GetString()!)
            .ToHashSet();
        foreach (var f in CaptureNames())
        {
            Assert.True(byFile.TryGetValue(f, out var n) && n == 1, $"{f}: {(byFile.TryGetValue(f, out var c) ? c : 0)} truth lines");
            var scenario = f.EndsWith(".relay.jsonl", StringComparison.Ordinal) ? f[..^".relay.jsonl".Length] : f[..^".txt".Length];
            Assert.Contains(scenario, scenarios);
            Assert.True(File.Exists(Path.Combine(Dir, "world", scenario + ".log")), $"{f}: no world log window world/{scenario}.log");
        }
    }
}
