using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Telephony.Smdr;
using CloudTelephony.Tests;

namespace CloudTelephony.Telephony.Tests.Smdr;

/// <summary>
/// The SMDR fixture files and the time zones assumed for them. The fixture README names no zone, so:
/// crisisline → America/Vancouver (every CLI is a 604/778 British Columbia number; the brief suggested Europe/London,
/// which the data contradicts), ru → Europe/Moscow (Russian mobile/8-800 numbers), misc → UTC.
/// </summary>
internal static class SmdrFixtures
{
    public const string Crisisline = "ipo-30field-2015-crisisline.csv";
    public const string Ru = "ipo-30field-2018-ru.csv";
    public const string Misc = "ipo-misc-single-lines.csv";

    public static readonly TimeZoneInfo Vancouver = TimeZoneInfo.FindSystemTimeZoneById("America/Vancouver");
    public static readonly TimeZoneInfo Moscow = TimeZoneInfo.FindSystemTimeZoneById("Europe/Moscow");

    public static TimeZoneInfo ZoneOf(string file) => file switch
    {
        Crisisline => Vancouver,
        Ru => Moscow,
        _ => TimeZoneInfo.Utc,
    };

    public static IReadOnlyList<string> Lines(string file)
        => CaptureFile.Read(TestPaths.Fixture("smdr", file), Protocols.Smdr).Select(f => f.Frame).ToList();

    public static List<PbxFrame> Frames(string file, string session = "s1", string pbx = "ipo")
        => Lines(file).Select((l, i) => new PbxFrame(pbx, session, i + 1, DateTimeOffset.UnixEpoch, l)).ToList();

    /// <summary>Runs a file through a fresh correlator; returns the calls (completed, then flushed) and the outcomes.</summary>
    public static (List<Call> Calls, List<FrameOutcome> Outcomes) Run(string file, bool flush = true)
    {
        var c = Correlators.Create("smdr", "ipo", new CorrelatorOptions { TimeZone = ZoneOf(file) });
        var calls = new List<Call>();
        var outcomes = Frames(file).Select(f => c.Process(f, calls)).ToList();
        if (flush)
        {
            c.Flush(calls);
        }

        return (calls, outcomes);
    }

    public static SmdrRecord ParseOk(string line, TimeZoneInfo? zone = null)
    {
        var r = SmdrParser.Parse(line, zone);
        Assert.True(r.IsSuccess, r.Error);
        Assert.Null(r.Error);
        return r.Record!;
    }

    public static DateTimeOffset Utc(string iso) => DateTimeOffset.Parse(iso, System.Globalization.CultureInfo.InvariantCulture);

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = false };

    public static string Json(IEnumerable<Call> calls) => JsonSerializer.Serialize(calls.ToList(), JsonOptions);
}
