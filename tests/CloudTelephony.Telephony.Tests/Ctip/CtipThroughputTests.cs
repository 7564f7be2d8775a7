using System.Diagnostics;
using CloudTelephony.Telephony.Ctip;
using Xunit.Abstractions;

namespace CloudTelephony.Telephony.Tests.Ctip;

/// <summary>Prints parse and parse+correlate throughput over the capture repeated (a new session and a later day per copy);
/// asserts no timing. Run: <c>dotnet test -c Release --filter Category=Perf --logger "console;verbosity=detailed"</c>.
/// Besides wall-clock rates it prints rates per CPU second of the measuring thread (Linux), which stay meaningful on a
/// machine busy with other work.</summary>
public class CtipThroughputTests(ITestOutputHelper output)
{
    private const int Repeats = 1200;
    private const int BatchSize = 500;

    [Fact]
    [Trait("Category", "Perf")]
    public void Parse_and_correlate_throughput()
    {
        var frames = RepeatedCapture();
        var parsed = 0;
        var (wall, cpu) = Measure(() =>
        {
            parsed = 0;
            foreach (var frame in frames)
            {
                parsed += CtipParser.Parse(frame.Text) is CtipParseError ? 0 : 1;
            }
        });
        Report("parse", frames.Length, wall, cpu);

        // Like ingest: completed calls are handed on (stored) per batch of frames and not kept in memory.
        var calls = new List<Call>();
        var callCount = 0;
        (wall, cpu) = Measure(() =>
        {
            callCount = 0;
            var correlator = CtipCorrelator.Restore("p", new CorrelatorOptions(), null);
            for (var i = 0; i < frames.Length; i++)
            {
                correlator.Process(frames[i], calls);
                if (i % BatchSize == BatchSize - 1)
                {
                    callCount += calls.Count;
                    calls.Clear();
                }
            }

            correlator.Flush(calls);
            callCount += calls.Count;
            calls.Clear();
        });
        Report("parse+correlate", frames.Length, wall, cpu);
        output.WriteLine($"{frames.Length:N0} frames, {callCount:N0} calls, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        Assert.Equal(frames.Length, parsed);
        Assert.Equal(CtipCapture.Calls.Count * Repeats, callCount);
    }

    private static PbxFrame[] RepeatedCapture()
    {
        var capture = CtipCapture.Frames;
        var span = capture[^1].ReceivedAt - capture[0].ReceivedAt + TimeSpan.FromDays(1);
        var frames = new PbxFrame[capture.Length * Repeats];
        for (var r = 0; r < Repeats; r++)
        {
            var session = $"r{r}";
            for (var i = 0; i < capture.Length; i++)
            {
                frames[(r * capture.Length) + i] = capture[i] with { Session = session, ReceivedAt = capture[i].ReceivedAt + (span * r) };
            }
        }

        return frames;
    }

    /// <summary>Runs <paramref name="work"/> once to warm up, then measures a second run.</summary>
    private static (double Wall, double? Cpu) Measure(Action work)
    {
        work();
        var cpu = ThreadCpuSeconds();
        var watch = Stopwatch.StartNew();
        work();
        var wall = watch.Elapsed.TotalSeconds;
        return (wall, ThreadCpuSeconds() - cpu);
    }

    private void Report(string what, int frames, double wall, double? cpu)
        => output.WriteLine($"{what,-16} {frames / wall,12:N0} frames/s wall, {(cpu > 0 ? (frames / cpu.Value).ToString("N0") : "n/a"),12} frames/s per thread-CPU second");

    /// <summary>User + system CPU time of the calling thread from /proc (10 ms ticks), or null off Linux.</summary>
    private static double? ThreadCpuSeconds()
    {
        if (!File.Exists("/proc/thread-self/stat"))
        {
            return null;
        }

        var stat = File.ReadAllText("/proc/thread-self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11]) + long.Parse(fields[12])) / 100.0;
    }
}
