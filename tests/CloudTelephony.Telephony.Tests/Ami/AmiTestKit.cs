using System.Text.Json;
using System.Text.Json.Serialization;
using CloudTelephony.Contracts;
using CloudTelephony.Tests;

namespace CloudTelephony.Telephony.Tests.Ami;

/// <summary>Reads AMI captures into frames and runs them through a correlator.</summary>
internal static class AmiTestKit
{
    public static readonly DateTimeOffset BaseTime = new(2026, 2, 12, 9, 0, 0, TimeSpan.Zero);

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    /// <summary>Frames of a capture; no times in the file, so receivedAt = base + i ms.</summary>
    public static List<PbxFrame> Frames(string path, string session = "s1")
        => [.. CaptureFile.Read(path, "ami").Select((f, i) => new PbxFrame("pbx1", session, i + 1, f.ReceivedAt ?? BaseTime.AddMilliseconds(i), f.Frame))];

    public static List<PbxFrame> Fixture(string name) => Frames(TestPaths.Fixture("ami", name));

    public static List<PbxFrame> Sample(string name) => Frames(TestPaths.Sample("ami", name));

    public static (List<Call> Calls, List<FrameOutcome> Outcomes, ICallCorrelator Correlator) Run(IEnumerable<PbxFrame> frames, CorrelatorOptions? options = null, bool flush = true)
    {
        var c = Correlators.Create("ami", "pbx1", options);
        var calls = new List<Call>();
        var outcomes = new List<FrameOutcome>();
        foreach (var f in frames)
        {
            outcomes.Add(c.Process(f, calls));
        }

        if (flush)
        {
            c.Flush(calls);
        }

        return (calls, outcomes, c);
    }

    public static string ToJson(object o) => JsonSerializer.Serialize(o, Json);

    public static DateTimeOffset Epoch(double seconds) => DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(seconds * 1000));
}
