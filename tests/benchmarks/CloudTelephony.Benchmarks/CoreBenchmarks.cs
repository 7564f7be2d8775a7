using BenchmarkDotNet.Attributes;
using CloudTelephony.Contracts;
using CloudTelephony.Telephony;
using CloudTelephony.Tests;

namespace CloudTelephony.Benchmarks;

/// <summary>
/// Parse + correlate throughput of the pure core on the real captures. One operation = one frame
/// (OperationsPerInvoke), so BenchmarkDotNet's "Mean" is the cost per frame; frames/s = 1 s / Mean.
/// </summary>
[MemoryDiagnoser]
public class CoreBenchmarks
{
    private const int Repeat = 100;
    private PbxFrame[] _frames = [];
    private readonly List<Call> _sink = new(4096);

    /// <summary>The protocol whose capture is replayed.</summary>
    [Params("ctip")]
    public string Protocol { get; set; } = "ctip";

    /// <summary>Loads the capture <see cref="Repeat"/> times over, each copy a new session.</summary>
    [GlobalSetup]
    public void Setup() => _frames = LoadFrames(Protocol, Repeat);

    /// <summary>Parse and correlate every frame with a fresh correlator.</summary>
    [Benchmark(OperationsPerInvoke = 85_500)]
    public int ParseAndCorrelate()
    {
        _sink.Clear();
        var correlator = Correlators.Create(Protocol, "bench");
        foreach (ref readonly var f in _frames.AsSpan())
        {
            correlator.Process(f, _sink);
        }

        correlator.Flush(_sink);
        return _sink.Count;
    }

    /// <summary>The capture of <paramref name="protocol"/> repeated <paramref name="repeat"/> times, each copy a new session
    /// whose times follow the previous copy's.</summary>
    public static PbxFrame[] LoadFrames(string protocol, int repeat)
    {
        var path = protocol switch
        {
            "ctip" => TestPaths.Sample("slican-ncp-2025-09-02_04.tsv"),
            _ => throw new ArgumentException($"no benchmark capture for {protocol}"),
        };
        var capture = CaptureFile.Read(path, protocol).ToList();
        var start = capture[0].ReceivedAt ?? DateTimeOffset.UnixEpoch;
        var span = (capture[^1].ReceivedAt ?? start) - start + TimeSpan.FromHours(1);
        var frames = new PbxFrame[capture.Count * repeat];
        for (var r = 0; r < repeat; r++)
        {
            for (var i = 0; i < capture.Count; i++)
            {
                var at = (capture[i].ReceivedAt ?? start.AddMilliseconds(i)) + span * r;
                frames[r * capture.Count + i] = new PbxFrame("bench", $"r{r}", i + 1, at, capture[i].Frame);
            }
        }

        return frames;
    }
}
