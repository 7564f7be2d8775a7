using System.Diagnostics;
using CloudTelephony.Telephony.Ctip;
using Xunit.Abstractions;

namespace CloudTelephony.Telephony.Tests.Ctip;

/// <summary>Prints parse and parse+correlate throughput over the capture repeated; asserts no timing.
/// Run: <c>dotnet test -c Release --filter Category=Perf --logger "console;verbosity=detailed"</c>.</summary>
public class CtipThroughputTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Perf")]
    public void Parse_and_correlate_throughput()
    {
        const int repeats = 1200;
        var capture = CtipCapture.Frames;
        var span = capture[^1].ReceivedAt - capture[0].ReceivedAt + TimeSpan.FromDays(1);
        var frames = new PbxFrame[capture.Length * repeats];
        for (var r = 0; r < repeats; r++)
        {
            var session = $"r{r}";
            for (var i = 0; i < capture.Length; i++)
            {
                var f = capture[i];
                frames[(r * capture.Length) + i] = f with { Session = session, ReceivedAt = f.ReceivedAt + (span * r) };
            }
        }

        var parsed = 0;
        var watch = Stopwatch.StartNew();
        foreach (var frame in frames)
        {
            parsed += CtipParser.Parse(frame.Text) is CtipParseError ? 0 : 1;
        }

        var parseSeconds = watch.Elapsed.TotalSeconds;
        var correlator = CtipCorrelator.Restore("p", new CorrelatorOptions(), null);
        var calls = new List<Call>(100_000);
        watch.Restart();
        foreach (var frame in frames)
        {
            correlator.Process(frame, calls);
        }

        correlator.Flush(calls);
        var correlateSeconds = watch.Elapsed.TotalSeconds;
        output.WriteLine($"{frames.Length:N0} frames: parse {frames.Length / parseSeconds:N0} frames/s; "
            + $"parse+correlate {frames.Length / correlateSeconds:N0} frames/s ({calls.Count:N0} calls)");
        Assert.Equal(frames.Length, parsed);
        Assert.Equal(CtipCapture.Calls.Count * repeats, calls.Count);
    }
}
