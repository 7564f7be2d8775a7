using System.Diagnostics;
using FsCheck;
using FsCheck.Xunit;
using Xunit.Abstractions;
using static CloudTelephony.Telephony.Tests.Smdr.SmdrFixtures;

namespace CloudTelephony.Telephony.Tests.Smdr;

public class SmdrPropertyTests(ITestOutputHelper output)
{
    private static readonly CorrelatorOptions Options = new() { TimeZone = Moscow };

    /// <summary>Every fixture line in three sessions, plus synthetic calls that time out, stay open, and transfer.</summary>
    private static readonly IReadOnlyList<PbxFrame> Stream = BuildStream();

    private static List<PbxFrame> BuildStream()
    {
        var frames = new List<PbxFrame>();
        frames.AddRange(Frames(Crisisline, "a"));
        frames.AddRange(Frames(Ru, "b"));
        frames.AddRange(Frames(Misc, "c"));
        string[] synthetic =
        [
            "2020/01/01 10:00:00,00:01:00,5,0123456789,I,201,5551000,,0,2000001,1,E201,Alice,T9002,Line 2.1,0,0,,,,,,,,,,,,,",
            "2020/01/01 11:00:00,00:01:00,4,201,O,202,202,,1,2000005,1,E201,Alice,E202,Bob,10,0,,,,,,,,,,,,,",
            "2020/01/01 11:00:00,00:02:00,6,201,O,202,202,,1,2000005,0,E201,Alice,E203,Carol,0,5,,,,,,,,,,,,,",
            "2020/01/01 14:01:06,00:00:10,3,0123,I,201,,,0,2000002,0,E201,Alice,T9002,Line 2.1,0,0,,,,,,,,,,,,,",
            "2020/01/01 14:05:00,00:00:30,2,0777,I,202,,,0,2000003,1,E202,Bob,T9002,Line 2.2,0,0,,,,,,,,,,,,,",
            "garbage",
        ];
        frames.AddRange(synthetic.Select((l, i) => new PbxFrame("ipo", "d", i + 1, DateTimeOffset.UnixEpoch, l)));
        return frames;
    }

    private static string Reference()
    {
        var c = Correlators.Create("smdr", "ipo", Options);
        var calls = new List<Call>();
        foreach (var f in Stream)
        {
            c.Process(f, calls);
        }

        c.Flush(calls);
        return Json(calls);
    }

    private static readonly Lazy<string> ReferenceJson = new(Reference);

    [Fact]
    public void Reference_stream_has_the_expected_shape()
    {
        var c = Correlators.Create("smdr", "ipo", Options);
        var calls = new List<Call>();
        var outcomes = Stream.Select(f => c.Process(f, calls)).ToList();
        Assert.Equal(2, outcomes.Count(o => o.Disposition == FrameDisposition.ParseError));
        c.Flush(calls);
        // 8 crisisline + 8 ru + 1 misc + 2000001 (timeout), 2000005, 2000002, 2000003 (flush)
        Assert.Equal(21, calls.Count);
        Assert.Equal(2, calls.Count(x => x.Status == CallStatus.Unknown));
    }

    /// <summary>Splitting the stream into any batches, each handled by a correlator restored from the previous batch's
    /// state, and redelivering any part of a batch, yields exactly the calls of one pass.</summary>
    [Property(MaxTest = 200)]
    public bool Any_batching_with_state_and_redelivery_gives_the_same_calls(PositiveInt[] sizes, int[] replays)
    {
        sizes ??= [];
        replays ??= [];
        var calls = new List<Call>();
        string? state = null;
        var at = 0;
        var batch = 0;
        while (at < Stream.Count)
        {
            var size = sizes.Length == 0 ? Stream.Count : ((sizes[batch % sizes.Length].Get - 1) % 7) + 1;
            var take = Math.Min(size, Stream.Count - at);
            var c = Correlators.Create("smdr", "ipo", Options, state);
            for (var i = at; i < at + take; i++)
            {
                c.Process(Stream[i], calls);
            }

            // redeliver a prefix of this batch (and maybe earlier frames): all duplicates
            var replay = replays.Length == 0 ? 0 : Math.Abs(replays[batch % replays.Length] % (at + take + 1));
            for (var i = at + take - replay; i < at + take; i++)
            {
                if (c.Process(Stream[i], calls).Disposition != FrameDisposition.Duplicate)
                {
                    return false;
                }
            }

            state = c.SaveState();
            at += take;
            batch++;
        }

        Correlators.Create("smdr", "ipo", Options, state).Flush(calls);
        return Json(calls) == ReferenceJson.Value;
    }

    /// <summary>Random interleaved multi-segment calls (some never closed, some far apart in time so they time out),
    /// over several relay sessions: any batching with state and redelivery matches one pass.</summary>
    [Property(MaxTest = 200)]
    public bool Random_streams_any_batching_gives_the_same_calls(int seed, PositiveInt[] sizes)
    {
        var stream = RandomStream(new Random(seed));
        string Once()
        {
            var c = Correlators.Create("smdr", "ipo", Options);
            var calls = new List<Call>();
            foreach (var f in stream)
            {
                c.Process(f, calls);
            }

            c.Flush(calls);
            return Json(calls);
        }

        sizes ??= [];
        var got = new List<Call>();
        string? state = null;
        for (int at = 0, batch = 0; at < stream.Count; batch++)
        {
            var take = Math.Min(sizes.Length == 0 ? 3 : ((sizes[batch % sizes.Length].Get - 1) % 5) + 1, stream.Count - at);
            var c = Correlators.Create("smdr", "ipo", Options, state);
            for (var i = at; i < at + take; i++)
            {
                c.Process(stream[i], got);
            }

            for (var i = at; i < at + take; i++)
            {
                c.Process(stream[i], got); // redelivered batch: duplicates
            }

            state = c.SaveState();
            at += take;
        }

        Correlators.Create("smdr", "ipo", Options, state).Flush(got);
        return Json(got) == Once();
    }

    private static List<PbxFrame> RandomStream(Random rnd)
    {
        string[] devices = ["E201", "E202", "E203", "V9501", "T9001", "T9002", ""];
        var calls = new List<Queue<string>>();
        var t0 = new DateTime(2024, 3, 30, 22, 0, 0);
        for (var i = 0; i < rnd.Next(1, 12); i++)
        {
            var start = t0.AddMinutes(rnd.Next(0, 600));
            var segments = rnd.Next(1, 4);
            var open = rnd.Next(5) == 0;
            var q = new Queue<string>();
            var inbound = rnd.Next(2) == 0;
            for (var k = 0; k < segments; k++)
            {
                var last = k == segments - 1;
                if (last && open)
                {
                    break;
                }

                q.Enqueue(string.Join(',',
                [
                    start.ToString("yyyy/MM/dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture),
                    TimeSpan.FromSeconds(rnd.Next(3) == 0 ? 0 : rnd.Next(1, 4000)).ToString(@"hh\:mm\:ss", System.Globalization.CultureInfo.InvariantCulture),
                    rnd.Next(0, 40).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    rnd.Next(4) == 0 ? "" : inbound ? "0791112233@10.0.0.1" : "201",
                    inbound ? "I" : "O",
                    rnd.Next(200, 205).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    rnd.Next(2) == 0 ? "" : "5551000",
                    "",
                    rnd.Next(2).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    (5_000_000 + i).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    last ? "0" : "1",
                    devices[rnd.Next(devices.Length - 1)], "P1",
                    devices[rnd.Next(devices.Length)], "P2",
                    rnd.Next(0, 30).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    rnd.Next(0, 30).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    "", "", "", "", "", "", "", "", "", "", "", "", "",
                ]));
            }

            calls.Add(q);
        }

        var frames = new List<PbxFrame>();
        var session = 0;
        long seq = 0;
        while (calls.Any(q => q.Count > 0))
        {
            var pending = calls.Where(q => q.Count > 0).ToList();
            var line = pending[rnd.Next(pending.Count)].Dequeue();
            if (rnd.Next(8) == 0)
            {
                session++;
                seq = 0;
            }

            frames.Add(new PbxFrame("ipo", "r" + session, ++seq, DateTimeOffset.UnixEpoch, rnd.Next(15) == 0 ? line[..20] : line));
        }

        return frames;
    }

    [Fact]
    public void The_same_frames_twice_give_the_same_calls()
    {
        var c = Correlators.Create("smdr", "ipo", Options);
        var calls = new List<Call>();
        foreach (var f in Stream.Concat(Stream))
        {
            c.Process(f, calls);
        }

        c.Flush(calls);
        Assert.Equal(ReferenceJson.Value, Json(calls));
    }

    /// <summary>Reports parse+correlate throughput; no assertion on time (run with -c Release for a real figure).</summary>
    [Fact]
    public void Throughput_is_reported()
    {
        var lines = Lines(Crisisline).Concat(Lines(Ru)).Concat([Lines(Misc)[0]]).ToArray();
        const int rounds = 15_000;
        var frames = new PbxFrame[lines.Length * rounds];
        var n = 0;
        for (var r = 0; r < rounds; r++)
        {
            foreach (var line in lines)
            {
                // distinct Call IDs per round so every round correlates afresh
                var f = line.Split(',');
                f[9] = (long.Parse(f[9]) + (r * 1_000_000L)).ToString();
                frames[n] = new PbxFrame("ipo", "s", n + 1, default, string.Join(',', f));
                n++;
            }
        }

        // warm-up pass so tiered JIT has settled before timing
        var warm = Correlators.Create("smdr", "ipo", Options);
        var drop = new List<Call>();
        foreach (var f in frames)
        {
            warm.Process(f, drop);
            drop.Clear();
        }

        var c = Correlators.Create("smdr", "ipo", Options);
        var sink = new List<Call>(1024);
        var calls = 0;
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < frames.Length; i++)
        {
            c.Process(frames[i], sink);
            if (sink.Count >= 1000)
            {
                // an ingest batch: the calls go to storage and are dropped here
                calls += sink.Count;
                sink.Clear();
            }
        }

        calls += sink.Count;
        sw.Stop();
        GC.Collect();
        var parseOnly = Stopwatch.StartNew();
        var ok = 0;
        foreach (var f in frames)
        {
            ok += CloudTelephony.Telephony.Smdr.SmdrParser.Parse(f.Text, Moscow).IsSuccess ? 1 : 0;
        }

        parseOnly.Stop();
        output.WriteLine($"{frames.Length} frames, {calls} calls: parse+correlate {frames.Length / sw.Elapsed.TotalSeconds:N0} frames/s; parse only {frames.Length / parseOnly.Elapsed.TotalSeconds:N0} records/s");
        Assert.Equal(frames.Length, ok);
    }
}
