using CloudTelephony.Contracts;
using CloudTelephony.Telephony.Ctip;
using CloudTelephony.Tests;

namespace CloudTelephony.Telephony.Tests.Ctip;

/// <summary>The real Slican capture as relay frames (one session, seq from 1, times in UTC) and its correlated calls.</summary>
internal static class CtipCapture
{
    public const string Pbx = "slican-test";
    public const string Session = "cap1";

    private static readonly Lazy<PbxFrame[]> FramesLazy = new(() =>
        [.. CaptureFile.Read(TestPaths.Fixture("ctip", "slican-ncp-2025-09-02_04.tsv"), "ctip")
            .Select((f, i) => new PbxFrame(Pbx, Session, i + 1, f.ReceivedAt!.Value.ToUniversalTime(), f.Frame))]);

    private static readonly Lazy<List<Call>> CallsLazy = new(() => Correlate(Frames));

    public static PbxFrame[] Frames => FramesLazy.Value;

    /// <summary>All calls of the capture, one pass, flushed at the end.</summary>
    public static List<Call> Calls => CallsLazy.Value;

    public static List<Call> Correlate(IEnumerable<PbxFrame> frames, CorrelatorOptions? options = null)
    {
        var correlator = CtipCorrelator.Restore(Pbx, options ?? new CorrelatorOptions(), null);
        var calls = new List<Call>();
        foreach (var frame in frames)
        {
            correlator.Process(frame, calls);
        }

        correlator.Flush(calls);
        return calls;
    }

    /// <summary>A local (+02:00) capture time as in the fixture README.</summary>
    public static DateTimeOffset Local(string text) => DateTimeOffset.Parse(text + "+02:00", System.Globalization.CultureInfo.InvariantCulture);

    public static string Describe(Call c)
        => $"{c.StartedAt.ToOffset(TimeSpan.FromHours(2)):MM-dd HH:mm:ss.fff} {c.Direction,-8} {c.Status,-8} {c.Caller,-11} -> {c.Called,-11} by {c.AnsweredBy,-4} ext [{string.Join(",", c.Extensions)}] ring {c.RingSeconds,8:0.000} talk {c.TalkSeconds,8:0.000} end {c.EndedAt.ToOffset(TimeSpan.FromHours(2)):HH:mm:ss.fff} tr {c.Transfers.Count} ev {c.Events.Count} key {c.CallKey}";
}
