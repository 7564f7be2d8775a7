using System.Globalization;

namespace CloudTelephony.Telephony.Ctip;

/// <summary>
/// Parses one CTIP line into a <see cref="CtipMessage"/> (protocol reference: shared/protocols/ctip.md, CTIP manual v15.01).
/// Accepts the line with or without the leading <c>a</c> marker (MANUAL p.5; captures store it without) and tolerates a
/// trailing CR/LF. Never throws: a damaged line yields a <see cref="CtipParseError"/> with a readable reason.
/// </summary>
/// <remarks>
/// Text is expected already decoded (the relay decodes CTIP as latin-1, see ctip.md "Encoding"); any printable character is
/// accepted in names and tags, while control characters (C0, DEL) or U+FFFD mean binary data and give a parse error.
/// </remarks>
public static class CtipParser
{
    /// <summary>Longest line accepted, in characters; CTIP messages are far shorter (the longest, RING, is under 100).</summary>
    public const int MaxLineLength = 1024;

    private const int MaxFields = 12;

    /// <summary>Parses <paramref name="line"/>; see <see cref="Parse(ReadOnlySpan{char})"/>.</summary>
    public static CtipMessage Parse(string? line) => Parse(line.AsSpan());

    /// <summary>Parses one CTIP line (with or without the <c>a</c> marker, CR/LF tolerated).</summary>
    /// <returns>The typed message, <see cref="CtipUnknown"/> for a well-formed message of an unknown name, or
    /// <see cref="CtipParseError"/>.</returns>
    public static CtipMessage Parse(ReadOnlySpan<char> line)
    {
        line = line.TrimEnd("\r\n ");
        if (line.IsEmpty)
        {
            return new CtipParseError("empty line");
        }

        if (line.Length > MaxLineLength)
        {
            return new CtipParseError($"line too long: {line.Length} characters (at most {MaxLineLength})");
        }

        if (FindBinary(line) is var bad and >= 0)
        {
            return new CtipParseError($"binary data: character U+{(int)line[bad]:X4} at position {bad}");
        }

        if (line is "t")
        {
            return CtipLinkTest.Instance;
        }

        if (line.Length > 1 && line[0] == 'a' && char.IsAsciiLetterUpper(line[1]))
        {
            line = line[1..];
        }

        Span<Range> ranges = stackalloc Range[MaxFields];
        var count = line.Split(ranges, ' ', StringSplitOptions.RemoveEmptyEntries);
        var fields = new Fields(line, ranges[..count]);
        var name = fields[0];
        if (!IsMessageName(name))
        {
            return new CtipParseError($"not a CTIP message: '{Shorten(name)}' is not a message name");
        }

        return name switch
        {
            "RING" => ParseRing(fields),
            "CONN" => ParseConn(fields),
            "REL" => ParseRel(fields),
            "STAT" => ParseStat(fields),
            "ECHO" => ParseEcho(fields),
            "CW" => ParseCallWaiting(fields),
            "DRDY" => ParseDialReady(fields),
            "AOC" => ParseCharge(fields),
            "UTAG" => ParseUserTag(fields),
            "RECB" => ParseRecording(fields, CtipRecordingEvent.Begin),
            "RECC" => ParseRecording(fields, CtipRecordingEvent.Cancel),
            "RECE" => ParseRecording(fields, CtipRecordingEvent.End),
            "OK" => new CtipReply(CtipReplyKind.Ok, null, fields.RestFrom(1).ToString()),
            "ERROR" => new CtipReply(CtipReplyKind.Error, null, fields.RestFrom(1).ToString()),
            "NA" => ParseNotAllowed(fields),
            _ => new CtipUnknown(name.ToString(), fields.RestFrom(1).ToString()),
        };
    }

    private static CtipMessage ParseRing(in Fields f)
    {
        if (!f.Require(5, "RING", "ext caller port dialed", out var error)
            || !Extension(f[1], "RING", out var ext, out error)
            || !Number(f[2], "RING", "caller", out var caller, out error)
            || !Number(f[4], "RING", "dialed", out var dialed, out error))
        {
            return error!;
        }

        string? held = null;
        if (f.Count > 5 && f[5] is not ("_" or "-") && !Number(f[5], "RING", "held", out held, out error))
        {
            return error!;
        }

        return new CtipRing(ext, caller, f[3].ToString(), dialed, held, Comment(f.RestFrom(6)));
    }

    private static CtipMessage ParseConn(in Fields f)
    {
        if (!f.Require(3, "CONN", "ext peer", out var error)
            || !Extension(f[1], "CONN", out var ext, out error)
            || !Number(f[2], "CONN", "peer", out var peer, out error))
        {
            return error!;
        }

        return new CtipConn(ext, peer, f.Count > 3 ? f[3].ToString() : null);
    }

    private static CtipMessage ParseRel(in Fields f)
    {
        if (!f.Require(3, "REL", "ext cause", out var error) || !Extension(f[1], "REL", out var ext, out error))
        {
            return error!;
        }

        if (!int.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var cause))
        {
            return new CtipParseError($"REL: cause '{Shorten(f[2])}' is not a number");
        }

        return new CtipRel(ext, cause);
    }

    private static CtipMessage ParseStat(in Fields f)
    {
        if (!f.Require(10, "STAT", "ext and 8 flags H F D L A P C Q", out var error) || !Extension(f[1], "STAT", out var ext, out error))
        {
            return error!;
        }

        var hook = f[2] switch
        {
            "H" => CtipHook.OffHook,
            "h" => CtipHook.OnHook,
            "o" => CtipHook.OutOfOrder,
            _ => (CtipHook)(-1),
        };
        if (hook < 0)
        {
            return new CtipParseError($"STAT: hook flag '{Shorten(f[2])}' is not H, h or o");
        }

        Span<bool> on = stackalloc bool[7];
        const string letters = "FDLAPCQ";
        for (var i = 0; i < letters.Length; i++)
        {
            var flag = f[3 + i];
            if (flag.Length != 1 || char.ToUpperInvariant(flag[0]) != letters[i])
            {
                return new CtipParseError($"STAT: flag {i + 2} is '{Shorten(flag)}', expected {letters[i]} or {char.ToLowerInvariant(letters[i])}");
            }

            on[i] = char.IsAsciiLetterUpper(flag[0]);
        }

        return new CtipStat(ext, hook, on[0], on[1], on[2], on[3], on[4], on[5], on[6]);
    }

    private static CtipMessage ParseEcho(in Fields f)
    {
        if (!f.Require(3, "ECHO", "ext digits", out var error) || !Extension(f[1], "ECHO", out var ext, out error))
        {
            return error!;
        }

        var digits = f[2];
        foreach (var c in digits)
        {
            if (!IsDialChar(c))
            {
                return new CtipParseError($"ECHO: digits '{Shorten(digits)}' contain '{c}'");
            }
        }

        return new CtipEcho(ext, digits.ToString());
    }

    private static CtipMessage ParseCallWaiting(in Fields f)
    {
        if (!f.Require(3, "CW", "ext number", out var error)
            || !Extension(f[1], "CW", out var ext, out error)
            || !Number(f[2], "CW", "number", out var number, out error))
        {
            return error!;
        }

        return new CtipCallWaiting(ext, number, Comment(f.RestFrom(3)));
    }

    private static CtipMessage ParseDialReady(in Fields f)
    {
        if (!f.Require(2, "DRDY", "ext", out var error) || !Extension(f[1], "DRDY", out var ext, out error))
        {
            return error!;
        }

        return new CtipDialReady(ext);
    }

    private static CtipMessage ParseCharge(in Fields f)
    {
        if (!f.Require(3, "AOC", "ext amount", out var error) || !Extension(f[1], "AOC", out var ext, out error))
        {
            return error!;
        }

        return new CtipCharge(ext, f[2].ToString());
    }

    private static CtipMessage ParseUserTag(in Fields f)
    {
        if (!f.Require(3, "UTAG", "ext tag", out var error) || !Extension(f[1], "UTAG", out var ext, out error))
        {
            return error!;
        }

        return new CtipUserTag(ext, f.RestFrom(2).ToString());
    }

    private static CtipMessage ParseRecording(in Fields f, CtipRecordingEvent kind)
    {
        var name = kind switch
        {
            CtipRecordingEvent.Begin => "RECB",
            CtipRecordingEvent.Cancel => "RECC",
            _ => "RECE",
        };
        if (!f.Require(3, name, "ext recId", out var error) || !Extension(f[1], name, out var ext, out error))
        {
            return error!;
        }

        var address = f.Count > 3 ? f[3].ToString() : null;
        var path = f.Count > 4 ? f.RestFrom(4).ToString() : null;
        return new CtipRecording(kind, ext, f[2].ToString(), address, path);
    }

    private static CtipMessage ParseNotAllowed(in Fields f)
    {
        if (f.Count == 1)
        {
            return new CtipReply(CtipReplyKind.NotAllowed, null, string.Empty);
        }

        if (!int.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out var code))
        {
            return new CtipParseError($"NA: code '{Shorten(f[1])}' is not a number");
        }

        return new CtipReply(CtipReplyKind.NotAllowed, code, f.RestFrom(1).ToString());
    }

    /// <summary>Extension field: digits, right-padded with <c>_</c> to 4 characters on classic PBXes (MANUAL p.7).</summary>
    private static bool Extension(ReadOnlySpan<char> field, string message, out string extension, out CtipParseError? error)
    {
        var digits = field.TrimEnd('_');
        if (digits.IsEmpty || digits.ContainsAnyExceptInRange('0', '9'))
        {
            extension = string.Empty;
            error = new CtipParseError($"{message}: extension '{Shorten(field)}' is not digits padded with '_'");
            return false;
        }

        extension = ExtensionStrings.Get(digits);
        error = null;
        return true;
    }

    /// <summary>A number field: <c>_</c> (unknown) gives null; else digits with <c>/ * # +</c>.</summary>
    private static bool Number(ReadOnlySpan<char> field, string message, string what, out string? number, out CtipParseError? error)
    {
        number = null;
        error = null;
        if (field is "_")
        {
            return true;
        }

        foreach (var c in field)
        {
            if (!IsDialChar(c) && c != '+')
            {
                error = new CtipParseError($"{message}: {what} '{Shorten(field)}' is not a number");
                return false;
            }
        }

        number = field.ToString();
        return true;
    }

    private static string? Comment(ReadOnlySpan<char> rest)
        => rest.IsEmpty || rest is "_" ? null : rest.ToString().Replace('_', ' ');

    private static bool IsDialChar(char c) => char.IsAsciiDigit(c) || c is '/' or '*' or '#';

    private static bool IsMessageName(ReadOnlySpan<char> name)
        => !name.IsEmpty && name.Length <= 8 && !name.ContainsAnyExceptInRange('A', 'Z');

    private static int FindBinary(ReadOnlySpan<char> line)
    {
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (c < ' ' || c == '\u007f' || c == '\ufffd')
            {
                return i;
            }
        }

        return -1;
    }

    private static string Shorten(ReadOnlySpan<char> text) => text.Length <= 24 ? text.ToString() : string.Concat(text[..24], "…");

    /// <summary>The space-separated fields of a line.</summary>
    private readonly ref struct Fields(ReadOnlySpan<char> line, ReadOnlySpan<Range> ranges)
    {
        private readonly ReadOnlySpan<char> line = line;
        private readonly ReadOnlySpan<Range> ranges = ranges;

        public int Count => ranges.Length;

        public ReadOnlySpan<char> this[int index] => line[ranges[index]];

        /// <summary>From field <paramref name="index"/> to the end of the line, spaces kept; empty when there is no such field.</summary>
        public ReadOnlySpan<char> RestFrom(int index)
            => index < ranges.Length ? line[ranges[index].Start..] : [];

        public bool Require(int count, string message, string expected, out CtipParseError? error)
        {
            error = ranges.Length >= count
                ? null
                : new CtipParseError($"{message}: truncated, expected {expected} but got {ranges.Length - 1} field(s)");
            return error is null;
        }
    }

    /// <summary>Shared strings for short extension numbers, so parsing a frame does not allocate one each time.</summary>
    private static class ExtensionStrings
    {
        private static readonly string?[] Cache = new string?[10_000];

        public static bool IsCacheable(ReadOnlySpan<char> digits)
            => digits.Length is > 0 and <= 4 && digits[0] != '0' && !digits.ContainsAnyExceptInRange('0', '9');

        public static string Get(ReadOnlySpan<char> digits)
        {
            if (!IsCacheable(digits))
            {
                return digits.ToString();
            }

            var value = int.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
            return Cache[value] ??= digits.ToString();
        }
    }
}
