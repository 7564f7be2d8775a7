using BenchmarkDotNet.Attributes;
using CloudTelephony.Contracts;
using CloudTelephony.Telephony;
using CloudTelephony.Tests;

namespace CloudTelephony.Benchmarks;

/// <summary>
/// Parse + correlate throughput of the pure core on the samples of each protocol (ctip: the real Slican capture;
/// ami: every samples/ami file, the real one and the hand-made ones; smdr: every samples/smdr file). One operation =
/// one frame: every protocol's capture is repeated (each copy a new session) and cut to exactly
/// <see cref="FramesPerInvoke"/> frames, so OperationsPerInvoke is the real frame count of each invocation and
/// BenchmarkDotNet's "Mean" is the cost per frame; frames/s = 1 s / Mean.
/// </summary>
[MemoryDiagnoser]
public class CoreBenchmarks
{
    /// <summary>Frames per invocation, the same for every protocol (the OperationsPerInvoke below).</summary>
    public const int FramesPerInvoke = 100_000;

    private PbxFrame[] _frames = [];
    private readonly List<Call> _sink = new(4096);

    /// <summary>The protocol whose capture is replayed.</summary>
    [Params("ctip", "ami", "smdr")]
    public string Protocol { get; set; } = "ctip";

    /// <summary>Loads the protocol's capture repeated to exactly <see cref="FramesPerInvoke"/> frames.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var one = Capture(Protocol).Count;
        _frames = LoadFrames(Protocol, (FramesPerInvoke + one - 1) / one)[..FramesPerInvoke];
        if (_frames.Length != FramesPerInvoke)
        {
            throw new InvalidOperationException($"{Protocol}: {_frames.Length} frames, expected {FramesPerInvoke}");
        }
    }

    /// <summary>Parse and correlate every frame with a fresh correlator.</summary>
    [Benchmark(OperationsPerInvoke = FramesPerInvoke)]
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
        var capture = Capture(protocol);
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

    /// <summary>The sample frames of <paramref name="protocol"/>, files in name order (ami: the real capture first, without <c>Response:</c> blocks).</summary>
    public static IReadOnlyList<CapturedFrame> Capture(string protocol)
    {
        string[] paths = protocol switch
        {
            "ctip" => [TestPaths.Sample("slican-ncp-2025-09-02_04.tsv")],
            "ami" => [TestPaths.Sample("ami", "sweeney-asterisk-mqtt_answered-outbound.txt"), .. Directory.GetFiles(TestPaths.Sample("ami"), "HANDMADE_*.txt").Order(StringComparer.Ordinal)],
            "smdr" => [.. Directory.GetFiles(TestPaths.Sample("smdr"), "*.csv").Order(StringComparer.Ordinal)],
            _ => throw new ArgumentException($"no benchmark capture for {protocol}"),
        };
        // the relay never forwards responses to its own actions: drop the login responses the hand-made files recorded
        return paths.SelectMany(p => CaptureFile.Read(p, protocol))
            .Where(f => protocol != "ami" || !f.Frame.StartsWith("Response:", StringComparison.Ordinal))
            .ToList();
    }
}

/// <summary>
/// Parse + correlate of the real CTIP capture (100,000 frames, as <see cref="CoreBenchmarks"/>) while
/// <see cref="InProgress"/> other calls stay in progress the whole time (answered calls on extensions the capture does
/// not use, opened first): a frame's cost must not grow with them. One operation = one frame of the capture.
/// </summary>
[MemoryDiagnoser]
public class CtipInProgressBenchmarks
{
    private PbxFrame[] _frames = [];
    private readonly List<Call> _sink = new(4096);
    private readonly CorrelatorOptions _options = new() { TalkTimeout = TimeSpan.FromDays(100_000) };

    /// <summary>Calls in progress besides the capture's.</summary>
    [Params(0, 100, 1000, 5000)]
    public int InProgress { get; set; }

    /// <summary>The in-progress calls' RING and CONN, then the capture repeated to exactly 100,000 frames.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var one = CoreBenchmarks.Capture("ctip").Count;
        var capture = CoreBenchmarks.LoadFrames("ctip", (CoreBenchmarks.FramesPerInvoke + one - 1) / one)[..CoreBenchmarks.FramesPerInvoke];
        var before = capture[0].ReceivedAt.AddHours(-1);
        _frames = [.. Enumerable.Range(0, InProgress).SelectMany(i => new[]
        {
            new PbxFrame("bench", "pre", (2 * i) + 1, before, $"RING {30000 + i} {600000000 + i} 0 618999999 _ x"),
            new PbxFrame("bench", "pre", (2 * i) + 2, before, $"CONN {30000 + i} {600000000 + i} 0"),
        }), .. capture];
    }

    /// <summary>Parse and correlate every frame with a fresh correlator (the in-progress calls' frames included).</summary>
    [Benchmark(OperationsPerInvoke = CoreBenchmarks.FramesPerInvoke)]
    public int ParseAndCorrelate()
    {
        _sink.Clear();
        var correlator = Correlators.Create("ctip", "bench", _options);
        foreach (ref readonly var f in _frames.AsSpan())
        {
            correlator.Process(f, _sink);
        }

        return _sink.Count;
    }
}
