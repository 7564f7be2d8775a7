using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace CloudTelephony.Telephony.Smdr;

/// <summary>
/// Parses one Avaya IP Office SMDR record (one CSV line) into a <see cref="SmdrRecord"/>.
/// Format (shared/protocols/smdr.md "Transport and framing"; Avaya "SMDR Fields",
/// https://documentation.avaya.com/bundle/AdministeringAvayaIPOfficePlatformManagerR11_1/page/SMDR_Fields.html):
/// fields separated by commas, never quoted or escaped; 30 fields on older releases, 34/35 later, up to 37 on R11.1+, and
/// the 17-field rendering (Call Start … Park Time) of older IP Office releases and of Avaya's "SMDR Examples" pages
/// (e.g. <c>2008/06/28 09:28:41,00:00:00,9,8004206,I,4324,4324,,0,1000014155,0,E4324,Joe Bloggs,T9161,LINE 5.1,0,0</c>).
/// </summary>
/// <remarks>
/// Span-based and allocation-light: only non-empty text fields allocate. Never throws on input: a line with fewer than
/// <see cref="MinFields"/> fields, or a field that does not parse, gives a <see cref="SmdrParseResult"/> whose
/// <see cref="SmdrParseResult.Error"/> names the field. Fields a shorter record lacks (#18 onwards) read as empty
/// (smdr.md: "tolerate missing trailing fields"). Trailing CR/LF is tolerated; fields beyond #37 are ignored.
/// Field 9 (Is Internal) other than <c>0</c>/<c>1</c> — Avaya's own voicemail example prints <c>I</c> there — is read
/// from the parties instead: internal when neither Party1 nor Party2 is a trunk (<c>T…</c>).
/// </remarks>
public static class SmdrParser
{
    /// <summary>Fewest fields a record may have: #1 Call Start to #17 Park Time, the shortest rendering IP Office and its
    /// documentation use (the 30-field releases before 6.0 and later ones add to it).</summary>
    public const int MinFields = 17;

    /// <summary>Most fields this parser reads (R11.1+); more are ignored.</summary>
    public const int MaxFields = 37;

    private const int MaxDurationSeconds = 99_999_999;

    private static readonly string[] FieldNames =
    [
        "Call Start", "Connected Time", "Ring Time", "Caller", "Direction", "Called Number", "Dialled Number", "Account",
        "Is Internal", "Call ID", "Continuation", "Party1Device", "Party1Name", "Party2Device", "Party2Name", "Hold Time",
        "Park Time", "AuthValid", "AuthCode", "User Charged", "Call Charge", "Currency", "Amount at Last User Change",
        "Call Units", "Units at Last User Change", "Cost per Unit", "Mark Up", "External Targeting Cause",
        "External Targeter Id", "External Targeted Number", "Calling Party Server IP", "Unique Call Id for the Caller Extension",
        "Called Party Server IP", "Unique Call Id for the Called Extension", "SMDR Record Time", "Caller Consent Directive",
        "Calling Number Verification",
    ];

    /// <summary>The Avaya name of field <paramref name="number"/> (1-based), e.g. 10 → <c>Call ID</c>.</summary>
    /// <param name="number">Field position, 1 to <see cref="MaxFields"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="number"/> is outside 1..<see cref="MaxFields"/>.</exception>
    public static string FieldName(int number)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(number, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(number, MaxFields);
        return FieldNames[number - 1];
    }

    /// <summary>Parses one record.</summary>
    /// <param name="line">The record text; a trailing CR and/or LF is ignored.</param>
    /// <param name="timeZone">The PBX's time zone for <see cref="SmdrRecord.CallStart"/> and <see cref="SmdrRecord.RecordTime"/>;
    /// null means UTC. Local times that fall into a DST gap or overlap take the zone's standard offset.</param>
    /// <returns>The record, or an error that names the offending field.</returns>
    public static SmdrParseResult Parse(ReadOnlySpan<char> line, TimeZoneInfo? timeZone = null)
    {
        var fields = t_fields ??= new SmdrFields();
        var result = ParseCore(line, timeZone, null, fields);
        return result.Error is null ? new SmdrParseResult(fields.ToRecord(), null) : result;
    }

    /// <summary>Parses one record into <paramref name="into"/>, taking its text fields from <paramref name="strings"/> when
    /// given. Success is a result with neither record nor error (the values are in <paramref name="into"/>); on error
    /// <paramref name="into"/> may be partly overwritten.</summary>
    internal static SmdrParseResult ParseCore(ReadOnlySpan<char> line, TimeZoneInfo? timeZone, SmdrStringCache? strings, SmdrFields into)
    {
        while (line.Length > 0 && (line[^1] == '\r' || line[^1] == '\n'))
        {
            line = line[..^1];
        }

        if (line.IsEmpty)
        {
            return Fail("empty record");
        }

        Span<Range> f = stackalloc Range[MaxFields];
        var fieldCount = SplitFields(line, f);
        var n = fieldCount;
        if (n < MinFields)
        {
            return Fail(TooFewFields[n]);
        }

        n = Math.Min(n, MaxFields);
        var zone = timeZone ?? TimeZoneInfo.Utc;

        var s = line[f[0]];
        if (!TryParseTimestamp(s, out var startLocal))
        {
            return Bad(1, s, "is not a date and time YYYY/MM/DD HH:MM:SS");
        }

        if (!TryToUtc(startLocal, zone, out var startUtc))
        {
            return Bad(1, s, "is out of range after conversion to UTC");
        }

        s = line[f[1]];
        if (!TryParseHms(s, out var connected))
        {
            return Bad(2, s, "is not a duration H:MM:SS");
        }

        s = line[f[2]];
        if (!TryParseSeconds(s, out var ring))
        {
            return Bad(3, s, "is not a number of seconds");
        }

        s = line[f[4]].Trim(' ');
        SmdrDirection direction;
        if (s is "I")
        {
            direction = SmdrDirection.Inbound;
        }
        else if (s is "O")
        {
            direction = SmdrDirection.Outbound;
        }
        else
        {
            return Bad(5, s, "is not I or O");
        }

        s = line[f[8]];
        if (!TryParseFlag(s, out var isInternal))
        {
            // not 0/1 (Avaya's documented example prints 'I'): both ends on the system unless a party is a trunk
            isInternal = !IsTrunkDevice(line[f[11]]) && !IsTrunkDevice(line[f[13]]);
        }

        s = line[f[9]];
        if (!long.TryParse(s, NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out var callId) || callId < 0)
        {
            return Bad(10, s, "is not a call id (non-negative integer)");
        }

        s = line[f[10]];
        if (!TryParseFlag(s, out var continuation))
        {
            return Bad(11, s, "is not 0 or 1");
        }

        s = line[f[15]];
        if (!TryParseSeconds(s, out var hold))
        {
            return Bad(16, s, "is not a number of seconds");
        }

        s = line[f[16]];
        if (!TryParseSeconds(s, out var park))
        {
            return Bad(17, s, "is not a number of seconds");
        }

        bool? authValid = null;
        s = n > 17 ? line[f[17]] : [];
        if (!s.IsWhiteSpace())
        {
            if (!TryParseFlag(s, out var av))
            {
                return Bad(18, s, "is not 0 or 1");
            }

            authValid = av;
        }

        if (!TryDecimal(line, f, n, 20, out var callCharge, out var err)
            || !TryDecimal(line, f, n, 22, out var amountAtLast, out err)
            || !TryInt(line, f, n, 23, out var callUnits, out err)
            || !TryInt(line, f, n, 24, out var unitsAtLast, out err)
            || !TryDecimal(line, f, n, 25, out var costPerUnit, out err)
            || !TryDecimal(line, f, n, 26, out var markUp, out err))
        {
            return Fail(err!);
        }

        DateTimeOffset? recordTime = null;
        if (n > 34)
        {
            s = line[f[34]];
            if (!s.IsWhiteSpace())
            {
                if (!TryParseTimestamp(s, out var rtLocal) || !TryToUtc(rtLocal, zone, out var rt))
                {
                    return Bad(35, s, "is not a date and time YYYY/MM/DD HH:MM:SS");
                }

                recordTime = rt;
            }
        }

        into.FieldCount = fieldCount;
        into.CallStartLocal = startLocal;
        into.CallStart = startUtc;
        into.ConnectedSeconds = connected;
        into.RingSeconds = ring;
        into.Caller = Text(strings, line, f, n, 3);
        into.Direction = direction;
        into.CalledNumber = Text(strings, line, f, n, 5);
        into.DialledNumber = Text(strings, line, f, n, 6);
        into.Account = Text(strings, line, f, n, 7);
        into.IsInternal = isInternal;
        into.CallId = callId;
        into.Continuation = continuation;
        into.Party1Device = Text(strings, line, f, n, 11);
        into.Party1Name = Text(strings, line, f, n, 12);
        into.Party2Device = Text(strings, line, f, n, 13);
        into.Party2Name = Text(strings, line, f, n, 14);
        into.HoldSeconds = hold;
        into.ParkSeconds = park;
        into.AuthValid = authValid;
        into.AuthCode = Text(strings, line, f, n, 18);
        into.UserCharged = Text(strings, line, f, n, 19);
        into.CallCharge = callCharge;
        into.Currency = Text(strings, line, f, n, 21);
        into.AmountAtLastUserChange = amountAtLast;
        into.CallUnits = callUnits;
        into.UnitsAtLastUserChange = unitsAtLast;
        into.CostPerUnit = costPerUnit;
        into.MarkUp = markUp;
        into.ExternalTargetingCause = Text(strings, line, f, n, 27);
        into.ExternalTargeterId = Text(strings, line, f, n, 28);
        into.ExternalTargetedNumber = Text(strings, line, f, n, 29);
        into.CallingPartyServerIp = Text(strings, line, f, n, 30);
        into.CallerExtensionCallId = Text(strings, line, f, n, 31);
        into.CalledPartyServerIp = Text(strings, line, f, n, 32);
        into.CalledExtensionCallId = Text(strings, line, f, n, 33);
        into.RecordTime = recordTime;
        into.CallerConsentDirective = Text(strings, line, f, n, 35);
        into.CallingNumberVerification = Text(strings, line, f, n, 36);
        return default;
    }

    /// <summary>The "too few fields" error for each field count below <see cref="MinFields"/>, built once.</summary>
    private static readonly string[] TooFewFields = [.. Enumerable.Range(0, MinFields)
        .Select(n => $"expected at least {MinFields} comma-separated fields (Call Start to Park Time), got {n} (truncated record?)")];

    /// <summary>Splits <paramref name="line"/> at commas: the first <c>f.Length</c> fields go to <paramref name="f"/>,
    /// the return value counts every field (commas + 1). Finds the commas 8 characters at a time.</summary>
    private static int SplitFields(ReadOnlySpan<char> line, Span<Range> f)
    {
        var count = 0;
        var start = 0;
        var i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            ref var first = ref Unsafe.As<char, ushort>(ref MemoryMarshal.GetReference(line));
            var comma = Vector128.Create((ushort)',');
            for (; i <= line.Length - Vector128<ushort>.Count; i += Vector128<ushort>.Count)
            {
                var mask = Vector128.Equals(Vector128.LoadUnsafe(ref first, (nuint)i), comma).ExtractMostSignificantBits();
                while (mask != 0)
                {
                    var at = i + BitOperations.TrailingZeroCount(mask);
                    mask &= mask - 1;
                    if (count < f.Length)
                    {
                        f[count] = new Range(start, at);
                    }

                    count++;
                    start = at + 1;
                }
            }
        }

        for (; i < line.Length; i++)
        {
            if (line[i] == ',')
            {
                if (count < f.Length)
                {
                    f[count] = new Range(start, i);
                }

                count++;
                start = i + 1;
            }
        }

        if (count < f.Length)
        {
            f[count] = new Range(start, line.Length);
        }

        return count + 1;
    }

    private static SmdrParseResult Fail(string error) => new(null, error);

    private static SmdrParseResult Bad(int field, ReadOnlySpan<char> value, string problem) => Fail(Describe(field, value, problem));

    private static string Describe(int field, ReadOnlySpan<char> value, string problem)
        => $"field {field} ({FieldNames[field - 1]}): '{Shorten(value)}' {problem}";

    private static string Shorten(ReadOnlySpan<char> value) => value.Length <= 40 ? value.ToString() : string.Concat(value[..40], "…");

    /// <summary>Field <paramref name="i"/> (0-based) as a string, or null when empty or absent.</summary>
    private static string? Text(SmdrStringCache? strings, ReadOnlySpan<char> line, ReadOnlySpan<Range> f, int n, int i)
    {
        if (i >= n)
        {
            return null;
        }

        var s = line[f[i]];
        return s.IsEmpty ? null : strings is null ? s.ToString() : strings.Get(s);
    }

    /// <summary>A <c>T…</c> device (trunk line), as the correlator reads field 12/14.</summary>
    private static bool IsTrunkDevice(ReadOnlySpan<char> device)
    {
        device = device.Trim(' ');
        return device.Length > 1 && device[0] == 'T';
    }

    private static bool TryDecimal(ReadOnlySpan<char> line, ReadOnlySpan<Range> f, int n, int i, out decimal? value, out string? error)
    {
        value = null;
        error = null;
        if (i >= n)
        {
            return true;
        }

        var s = line[f[i]];
        if (s.IsWhiteSpace())
        {
            return true;
        }

        if (!decimal.TryParse(s, NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite | NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint,
                CultureInfo.InvariantCulture, out var d))
        {
            error = Describe(i + 1, s, "is not a decimal number");
            return false;
        }

        value = d;
        return true;
    }

    private static bool TryInt(ReadOnlySpan<char> line, ReadOnlySpan<Range> f, int n, int i, out int? value, out string? error)
    {
        value = null;
        error = null;
        if (i >= n)
        {
            return true;
        }

        var s = line[f[i]];
        if (s.IsWhiteSpace())
        {
            return true;
        }

        if (!int.TryParse(s, NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
        {
            error = Describe(i + 1, s, "is not an integer");
            return false;
        }

        value = v;
        return true;
    }

    /// <summary>Whole seconds, surrounding spaces allowed, empty = 0, at most <see cref="MaxDurationSeconds"/>.</summary>
    private static bool TryParseSeconds(ReadOnlySpan<char> s, out int value)
    {
        s = s.Trim(' ');
        value = 0;
        if (s.IsEmpty)
        {
            return true;
        }

        if (s.Length > 8)
        {
            return false;
        }

        foreach (var c in s)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return true;
    }

    /// <summary><c>H:MM:SS</c> (hours one or more digits) to seconds.</summary>
    private static bool TryParseHms(ReadOnlySpan<char> s, out int seconds)
    {
        s = s.Trim(' ');
        seconds = 0;
        var c1 = s.IndexOf(':');
        if (c1 < 1 || c1 > 5 || s.Length != c1 + 6 || s[c1 + 3] != ':')
        {
            return false;
        }

        var hours = 0;
        for (var i = 0; i < c1; i++)
        {
            if (!char.IsAsciiDigit(s[i]))
            {
                return false;
            }

            hours = (hours * 10) + (s[i] - '0');
        }

        if (!TwoDigits(s, c1 + 1, out var mm) || !TwoDigits(s, c1 + 4, out var ss) || mm > 59 || ss > 59)
        {
            return false;
        }

        seconds = (hours * 3600) + (mm * 60) + ss;
        return seconds <= MaxDurationSeconds;
    }

    private static bool TryParseFlag(ReadOnlySpan<char> s, out bool value)
    {
        s = s.Trim(' ');
        value = s is "1";
        return s is "1" or "0";
    }

    /// <summary><c>YYYY/MM/DD HH:MM:SS</c>, exactly, surrounding spaces allowed.</summary>
    private static bool TryParseTimestamp(ReadOnlySpan<char> s, out DateTime value)
    {
        s = s.Trim(' ');
        value = default;
        if (s.Length != 19 || s[4] != '/' || s[7] != '/' || s[10] != ' ' || s[13] != ':' || s[16] != ':')
        {
            return false;
        }

        if (!TwoDigits(s, 0, out var y1) || !TwoDigits(s, 2, out var y2) || !TwoDigits(s, 5, out var mo) || !TwoDigits(s, 8, out var d)
            || !TwoDigits(s, 11, out var h) || !TwoDigits(s, 14, out var mi) || !TwoDigits(s, 17, out var sec))
        {
            return false;
        }

        var y = (y1 * 100) + y2;
        if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > DateTime.DaysInMonth(y, mo) || h > 23 || mi > 59 || sec > 59)
        {
            return false;
        }

        value = new DateTime(y, mo, d, h, mi, sec, DateTimeKind.Unspecified);
        return true;
    }

    private static bool TwoDigits(ReadOnlySpan<char> s, int at, out int value)
    {
        char a = s[at], b = s[at + 1];
        value = ((a - '0') * 10) + (b - '0');
        return char.IsAsciiDigit(a) && char.IsAsciiDigit(b);
    }

    [ThreadStatic]
    private static OffsetCache? t_offsetCache;

    /// <summary>Scratch the public <see cref="Parse"/> parses into before copying to a <see cref="SmdrRecord"/>.</summary>
    [ThreadStatic]
    private static SmdrFields? t_fields;

    /// <summary>PBX local wall-clock time to UTC. The offset is cached per zone and quarter hour (zones change offset
    /// on quarter-hour boundaries at the finest), which keeps the conversion off the profile.</summary>
    private static bool TryToUtc(DateTime local, TimeZoneInfo zone, out DateTimeOffset utc)
    {
        TimeSpan offset;
        if (ReferenceEquals(zone, TimeZoneInfo.Utc))
        {
            offset = TimeSpan.Zero;
        }
        else
        {
            var bucket = local.Ticks / TimeSpan.TicksPerMinute / 15;
            var cache = t_offsetCache ??= new OffsetCache();
            if (ReferenceEquals(cache.Zone, zone) && cache.Bucket == bucket)
            {
                offset = cache.Offset;
            }
            else
            {
                offset = zone.GetUtcOffset(local);
                cache.Zone = zone;
                cache.Bucket = bucket;
                cache.Offset = offset;
            }
        }

        var ticks = local.Ticks - offset.Ticks;
        if (ticks < DateTime.MinValue.Ticks || ticks > DateTime.MaxValue.Ticks)
        {
            utc = default;
            return false;
        }

        utc = new DateTimeOffset(ticks, TimeSpan.Zero);
        return true;
    }

    private sealed class OffsetCache
    {
        public TimeZoneInfo? Zone;
        public long Bucket = -1;
        public TimeSpan Offset;
    }
}
