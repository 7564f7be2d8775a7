using System.Diagnostics;
using CloudTelephony.Telephony.Ami;
using CloudTelephony.Tests;
using Xunit.Abstractions;

namespace CloudTelephony.Telephony.Tests.Ami;

/// <summary>
/// Throughput measurement (no timing asserts): every capture replayed in a loop through parse+correlate.
/// Run in Release for a meaningful figure:
/// <c>dotnet test tests/CloudTelephony.Telephony.Tests -c Release --filter AmiThroughput --logger "console;verbosity=detailed"</c>.
/// </summary>
public class AmiThroughput(ITestOutputHelper output)
{
    [Fact]
    public void Parse_and_correlate_frames_per_second()
    {
        var texts = Directory.GetFiles(TestPaths.Fixture("ami"), "*.txt")
            .Concat(Directory.GetFiles(TestPaths.Sample("ami"), "HANDMADE_*.txt"))
            .SelectMany(p => AmiTestKit.Frames(p).Select(f => f.Text))
            .ToArray();
        var loops = Environment.GetEnvironmentVariable("AMI_BENCH_LOOPS") is { } l ? int.Parse(l, System.Globalization.CultureInfo.InvariantCulture) : 300;
        var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        // warm-up, then timed run of parse + correlate
        var (frames, calls, ms) = Measure(texts, 20, start);
        var bytes = GC.GetAllocatedBytesForCurrentThread();
        var gcs = GC.CollectionCount(0);
        (frames, calls, ms) = Measure(texts, loops, start);
        bytes = GC.GetAllocatedBytesForCurrentThread() - bytes;
        output.WriteLine($"parse+correlate: {frames:N0} frames, {calls:N0} calls in {ms:N0} ms = {frames / (ms / 1000.0):N0} frames/s; "
            + $"{bytes / (double)frames:N0} bytes allocated per frame (frame records excluded: {bytes:N0} total), {GC.CollectionCount(0) - gcs} gen0 GCs; "
            + $"load average {LoadAverage()}");

        var sw = Stopwatch.StartNew();
        long parsed = 0;
        for (var i = 0; i < loops; i++)
        {
            foreach (var t in texts)
            {
                if (AmiParser.Parse(t, start).Ok)
                {
                    parsed++;
                }
            }
        }

        sw.Stop();
        output.WriteLine($"parse only (new AmiMessage each): {parsed:N0} frames in {sw.Elapsed.TotalMilliseconds:N0} ms = {parsed / sw.Elapsed.TotalSeconds:N0} frames/s");
        Assert.True(calls > 0);
    }

    private static string LoadAverage()
    {
        try
        {
            return File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    private static (long Frames, long Calls, double Ms) Measure(string[] texts, int loops, DateTimeOffset start)
    {
        var c = Correlators.Create("ami", "bench");
        var sink = new CountingSink();
        long seq = 0;
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < loops; i++)
        {
            foreach (var t in texts)
            {
                seq++;
                c.Process(new PbxFrame("bench", "s", seq, start.AddTicks(seq * 10_000), t), sink);
            }
        }

        sw.Stop();
        return (seq, sink.Count, sw.Elapsed.TotalMilliseconds);
    }

    private sealed class CountingSink : ICollection<Call>
    {
        public int Count { get; private set; }

        public bool IsReadOnly => false;

        public void Add(Call item) => Count++;

        public void Clear() => Count = 0;

        public bool Contains(Call item) => false;

        public void CopyTo(Call[] array, int arrayIndex)
        {
        }

        public bool Remove(Call item) => false;

        public IEnumerator<Call> GetEnumerator() => Enumerable.Empty<Call>().GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
