using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Tests;
using Xunit.Abstractions;

namespace CloudTelephony.Telephony.Tests.Ami;

/// <summary>
/// Every real Asterisk 20 call with a recorded truth — the lab recordings of tests/data/ami/lab (one per class of issue
/// #14: number plans, attended/blonde transfers and their rejection, Redirect, pickup, click-to-call, phones that never
/// rang, reconnect gaps, Cdr local time, IVR digits) and the shared captures of ../shared/fixtures/ami/asterisk20 —
/// correlated with no number plan (the stream's evidence) and compared with its truth line the way
/// ../shared/tools/truth-check does: direction, status, caller, called, answeredBy, extensions that rang, ring and talk time
/// within 0.5 s, transfers (target, answered), IVR digits; a <c>noCallRecord</c> line means no call at all.
/// </summary>
public class AmiTruthTests(ITestOutputHelper output)
{
    private static readonly string LabDir = Path.Combine(TestPaths.RepoRoot, "tests", "data", "ami", "lab");
    private static readonly string SharedDir = TestPaths.Fixture("ami", "asterisk20");

    /// <summary>(set, file) of every truth line: <c>lab</c> always, <c>asterisk20</c> when ../shared is present.</summary>
    public static TheoryData<string, string> Lines()
    {
        var data = new TheoryData<string, string>();
        foreach (var (set, dir) in new[] { ("lab", LabDir), ("asterisk20", SharedDir) })
        {
            var truth = Path.Combine(dir, "truth.jsonl");
            if (!File.Exists(truth))
            {
                continue;
            }

            foreach (var line in File.ReadLines(truth).Where(l => l.Length > 0))
            {
                data.Add(set, JsonDocument.Parse(line).RootElement.GetProperty("file").GetString()!);
            }
        }

        return data;
    }

    [Fact]
    public void The_shared_Asterisk_20_captures_are_checked_when_present()
    {
        if (!File.Exists(Path.Combine(SharedDir, "truth.jsonl")))
        {
            output.WriteLine($"skipped: {SharedDir} is absent, only the lab recordings of tests/data/ami/lab are compared with their truth");
            return;
        }

        Assert.Equal(16, File.ReadLines(Path.Combine(SharedDir, "truth.jsonl")).Count(l => l.Length > 0));
    }

    [Theory]
    [MemberData(nameof(Lines))]
    public void The_call_matches_its_truth_with_no_number_plan(string set, string file)
        => Check(set, file, new CorrelatorOptions());

    [Fact]
    public void Every_lab_recording_is_exactly_its_one_call()
    {
        // no extra records: no "missed" call for a pickup channel, a blonde transfer's recalls, a click-to-call's Local
        // halves or a consultation; none at all for Local channels with no party (c1)
        foreach (var line in File.ReadLines(Path.Combine(LabDir, "truth.jsonl")).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement))
        {
            var file = line.GetProperty("file").GetString()!;
            var calls = AmiTestKit.Run(Frames(Path.Combine(LabDir, file)), new CorrelatorOptions()).Calls;
            var expected = line.TryGetProperty("noCallRecord", out var none) && none.GetBoolean() ? 0 : 1;
            Assert.True(calls.Count == expected, $"{file}: {calls.Count} call records ({string.Join(", ", calls.Select(c => $"{c.CallKey} {c.Direction} {c.Status}"))}), truth {expected}");
        }
    }

    [Theory]
    [InlineData("np1_inbound_direct.txt")]
    [InlineData("np2_ringgroup.txt")]
    [InlineData("np3_internal.txt")]
    [InlineData("np4_outbound.txt")]
    [InlineData("np5_blind_transfer.txt")]
    [InlineData("np6_attended_transfer.txt")]
    [InlineData("np7_queue.txt")]
    [InlineData("np8_click_to_call.txt")]
    public void A_configured_number_plan_gives_the_same_truth(string file)
    {
        // the numberplan variant: phones are accounts PJSIP/15001000N with caller id 20N, the trunk endpoint is named 3001
        Check("lab", file, new CorrelatorOptions { TrunkEndpoints = ["PJSIP/3001"] });
        Check("lab", file, new CorrelatorOptions { ExtensionPattern = @"1500100\d\d|20\d" });
        Check("lab", file, new CorrelatorOptions { InternalContexts = ["ctx-users", "ctx-group"] });
    }

    [Fact]
    public void A_configured_trunk_makes_a_short_named_endpoint_a_trunk_and_everything_else_an_extension()
    {
        var frames = Frames(Path.Combine(LabDir, "np1_inbound_direct.txt"));
        var byEvidence = AmiTestKit.Run(frames, new CorrelatorOptions()).Calls.Single();
        var misconfigured = AmiTestKit.Run(frames, new CorrelatorOptions { TrunkEndpoints = ["PJSIP/provider"] }).Calls.Single();

        Assert.Equal(CallDirection.Inbound, byEvidence.Direction);
        Assert.Equal("201", byEvidence.AnsweredBy);   // the account PJSIP/150010001 reported by its caller id
        Assert.Equal(CallDirection.Internal, misconfigured.Direction);   // the plan wins over the evidence: 3001 is no trunk
    }

    private static void Check(string set, string file, CorrelatorOptions options)
    {
        var dir = set == "lab" ? LabDir : SharedDir;
        var truth = File.ReadLines(Path.Combine(dir, "truth.jsonl")).Where(l => l.Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement).Single(t => t.GetProperty("file").GetString() == file);
        var key = truth.GetProperty("callKey").GetString()!;
        var calls = AmiTestKit.Run(Frames(Path.Combine(dir, file)), options).Calls;
        if (truth.TryGetProperty("noCallRecord", out var none) && none.GetBoolean())
        {
            Assert.True(calls.Count == 0, $"{file}: expected no call record, got {string.Join(", ", calls.Select(c => c.CallKey))}");
            return;
        }

        var matching = calls.Where(c => c.CallKey.Contains(key, StringComparison.Ordinal)).ToList();
        Assert.True(matching.Count == 1, $"{file}: {matching.Count} call records for {key}");
        var c = matching[0];
        var diffs = new List<string>();
        void Same(string what, object? want, object? got)
        {
            if (!Equals(want, got))
            {
                diffs.Add($"{what} {got ?? "null"} (truth {want ?? "null"})");
            }
        }

        var status = truth.GetProperty("status").GetString()!;
        Same("direction", truth.GetProperty("direction").GetString(), c.Direction.ToString().ToLowerInvariant());
        Same("status", status.StartsWith("not answered", StringComparison.Ordinal) ? "missed" : status, c.Status.ToString().ToLowerInvariant());
        Same("answeredBy", NullIfEmpty(Digits(Text(truth, "answeredBy"))), NullIfEmpty(Digits(c.AnsweredBy)));
        Same("caller", Last9(Text(truth, "caller")), Last9(c.Caller));
        Same("called", Last9(Text(truth, "called")), Last9(c.Called));
        Same("extensions", string.Join(",", truth.GetProperty("extensions").EnumerateArray().Select(e => Digits(e.GetString())).Order()),
            string.Join(",", c.Extensions.Select(Digits).Order()));
        foreach (var (k, got) in new[] { ("ringSeconds", c.RingSeconds), ("talkSeconds", c.TalkSeconds) })
        {
            var want = truth.GetProperty(k).GetDouble();
            if (Math.Abs(want - got) > 0.5)
            {
                diffs.Add($"{k} {got} (truth {want})");
            }
        }

        Same("transfers", string.Join(",", truth.GetProperty("transfers").EnumerateArray().Select(t => $"{t.GetProperty("to").GetString()}:{t.GetProperty("answered").GetBoolean()}").Order()),
            string.Join(",", c.Transfers.Select(t => $"{Digits(t.To)}:{t.Answered}").Order()));
        if (truth.TryGetProperty("digits", out var digits) && digits.ValueKind == JsonValueKind.String)
        {
            Same("ivrDigits", digits.GetString(), c.IvrDigits);
        }

        Assert.True(diffs.Count == 0, $"{set}/{file}: " + string.Join("; ", diffs));
    }

    /// <summary>The capture as <c>./ct correlate</c> reads it: one session, its own receive times and Timestamp headers.</summary>
    private static List<PbxFrame> Frames(string path) => AmiTestKit.Frames(path, "capture");

    private static string? Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string Digits(string? s) => new((s ?? "").Where(char.IsAsciiDigit).ToArray());

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

    private static string Last9(string? s)
    {
        var d = Digits(s);
        return d.Length > 9 ? d[^9..] : d;
    }
}
