using System.Text;
using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Tests;

namespace CloudTelephony.Telephony.Tests.Golden;

/// <summary>
/// The whole call records (legs, events with their frames, caller name, trunk, IVR digits …, in the order the core
/// completes them) of every capture in samples/ and ../shared/fixtures/ are exactly those in tests/Golden/records/.
/// <c>./ct correlate</c> prints only some fields; these are what ingest stores. Change only on purpose
/// (<c>CT_UPDATE_GOLDEN=1</c>).
/// </summary>
public sealed class RecordGoldenTests
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static TheoryData<string> Captures => GoldenCaptures.Names();

    [Theory]
    [MemberData(nameof(Captures))]
    public void One_pass_gives_the_golden_records(string name)
    {
        var capture = GoldenCaptures.Find(name);
        var calls = Correlate(capture);
        GoldenCaptures.Check("records", capture, "jsonl", Lines(calls));
    }

    /// <summary>The frames of a capture as <c>./ct correlate</c> numbers them: session <c>capture</c>, seq from 1, frames
    /// without a time one millisecond apart from the Unix epoch.</summary>
    internal static List<PbxFrame> Frames(GoldenCapture capture)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(capture.TimeZone);
        var frames = new List<PbxFrame>();
        long seq = 0;
        foreach (var f in CaptureFile.Read(capture.Path, capture.Protocol, zone))
        {
            seq++;
            frames.Add(new PbxFrame("capture", "capture", seq, f.ReceivedAt ?? DateTimeOffset.UnixEpoch.AddMilliseconds(seq), f.Frame));
        }

        return frames;
    }

    internal static CorrelatorOptions Options(GoldenCapture capture)
        => new() { TimeZone = TimeZoneInfo.FindSystemTimeZoneById(capture.TimeZone) };

    private static List<Call> Correlate(GoldenCapture capture)
    {
        var correlator = Correlators.Create(capture.Protocol, "capture", Options(capture));
        var calls = new List<Call>();
        foreach (var frame in Frames(capture))
        {
            correlator.Process(frame, calls);
        }

        correlator.Flush(calls);
        return calls;
    }

    internal static string Lines(IEnumerable<Call> calls)
    {
        var text = new StringBuilder();
        foreach (var call in calls)
        {
            text.Append(JsonSerializer.Serialize(call, Json)).Append('\n');
        }

        return text.ToString();
    }
}
