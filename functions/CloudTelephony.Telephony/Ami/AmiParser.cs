using System.Buffers;

namespace CloudTelephony.Telephony.Ami;

/// <summary>Result of <see cref="AmiParser.Parse"/>: a message, or a readable error for a damaged block.</summary>
/// <param name="Message">The parsed message, null on error.</param>
/// <param name="Error">Why the block did not parse, null on success.</param>
public readonly record struct AmiParseResult(AmiMessage? Message, string? Error)
{
    /// <summary>True when <see cref="Message"/> is set.</summary>
    public bool Ok => Message is not null;
}

/// <summary>
/// Parses one AMI block (what the relay forwards as one frame): <c>Key: Value</c> lines up to the blank line,
/// separated by CR LF or bare LF (shared/protocols/ami.md, "Session").
/// </summary>
/// <remarks>
/// <para>Span-based: one pass over the text records key/value offsets; nothing is copied. Never throws on bad input:
/// an empty block, a line without a colon, a line with an empty key, or control/binary characters (NUL etc., anything
/// below U+0020 except TAB, CR, LF) give an error value instead.</para>
/// <para>Time: <c>Timestamp: &lt;epoch&gt;.&lt;usec&gt;</c>, which Asterisk adds to every event with manager.conf
/// <c>timestampevents = yes</c>, is the event time (UTC, microseconds kept); without it (or when it is not a number) the
/// frame's receive time is used.</para>
/// <para>The banner line <c>Asterisk Call Manager/&lt;version&gt;</c> parses as <see cref="AmiMessageKind.Banner"/>.</para>
/// </remarks>
public static class AmiParser
{
    private static readonly SearchValues<char> BadChars = SearchValues.Create(
        "\0\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u000B\u000C\u000E\u000F\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F");

    private const string BannerPrefix = "Asterisk Call Manager/";

    /// <summary>Parses <paramref name="text"/> into a new <see cref="AmiMessage"/>.</summary>
    /// <param name="text">One block, without the terminating blank line (a trailing one is tolerated).</param>
    /// <param name="receivedAt">The relay's receive time, used when the block has no <c>Timestamp</c>.</param>
    public static AmiParseResult Parse(string? text, DateTimeOffset receivedAt)
    {
        var message = new AmiMessage();
        return TryParse(text, receivedAt, message, out var error) ? new AmiParseResult(message, null) : new AmiParseResult(null, error);
    }

    /// <summary>Parses into a reusable <paramref name="target"/> (hot path of the correlator).</summary>
    internal static bool TryParse(string? text, DateTimeOffset receivedAt, AmiMessage target, out string? error)
    {
        text ??= string.Empty;
        target.Reset(text);
        target.SetAt(receivedAt, false);
        var span = text.AsSpan();
        if (span.IsWhiteSpace())
        {
            error = "empty AMI block";
            return false;
        }

        var bad = span.IndexOfAny(BadChars);
        if (bad >= 0)
        {
            error = $"binary or control character U+{(int)span[bad]:X4} at offset {bad}";
            return false;
        }

        var pos = 0;
        var lineNo = 0;
        while (pos < span.Length)
        {
            var rest = span[pos..];
            var nl = rest.IndexOf('\n');
            var lineLen = nl < 0 ? rest.Length : nl;
            var line = rest[..lineLen];
            if (line.Length > 0 && line[^1] == '\r')
            {
                line = line[..^1];
            }

            lineNo++;
            if (line.Length == 0 || line.IsWhiteSpace())
            {
                // a blank line ends the block; anything after it is a second block glued on
                var after = nl < 0 ? ReadOnlySpan<char>.Empty : rest[(nl + 1)..];
                if (!after.IsWhiteSpace())
                {
                    error = $"line {lineNo}: blank line inside the block (two messages in one frame?)";
                    return false;
                }

                break;
            }

            if (lineNo == 1 && line.StartsWith(BannerPrefix, StringComparison.Ordinal))
            {
                target.SetKind(AmiMessageKind.Banner);
                target.Add(pos, 0, pos + BannerPrefix.Length, line.Length - BannerPrefix.Length);
                pos += nl < 0 ? rest.Length : nl + 1;
                continue;
            }

            var colon = line.IndexOf(':');
            if (colon < 0)
            {
                error = $"line {lineNo}: no ':' in '{Truncate(line)}'";
                return false;
            }

            var keyLen = colon;
            while (keyLen > 0 && (line[keyLen - 1] == ' ' || line[keyLen - 1] == '\t'))
            {
                keyLen--;
            }

            if (keyLen == 0)
            {
                error = $"line {lineNo}: empty key in '{Truncate(line)}'";
                return false;
            }

            var vStart = colon + 1;
            while (vStart < line.Length && (line[vStart] == ' ' || line[vStart] == '\t'))
            {
                vStart++;
            }

            var vEnd = line.Length;
            while (vEnd > vStart && (line[vEnd - 1] == ' ' || line[vEnd - 1] == '\t'))
            {
                vEnd--;
            }

            target.Add(pos, keyLen, pos + vStart, vEnd - vStart);
            pos += nl < 0 ? rest.Length : nl + 1;
        }

        if (target.Count == 0)
        {
            error = "empty AMI block";
            return false;
        }

        if (target.Kind != AmiMessageKind.Banner)
        {
            var first = target.KeyAt(0);
            target.SetKind(
                first.Equals("Event", StringComparison.OrdinalIgnoreCase) ? AmiMessageKind.Event
                : first.Equals("Response", StringComparison.OrdinalIgnoreCase) ? AmiMessageKind.Response
                : first.Equals("Action", StringComparison.OrdinalIgnoreCase) ? AmiMessageKind.Action
                : AmiMessageKind.Other);
        }

        if (target.TryGet("Timestamp", out var ts) && TryParseEpoch(ts, out var at))
        {
            target.SetAt(at, true);
        }

        error = null;
        return true;
    }

    /// <summary>
    /// Parses an AMI epoch time <c>1714985100.124233</c> (seconds, optional fraction up to microseconds; extra digits
    /// ignored) to UTC. Also used for <c>Uniqueid</c>-style values.
    /// </summary>
    /// <param name="text">The value.</param>
    /// <param name="value">The instant, UTC.</param>
    /// <returns>False when the text is not such a number or out of range.</returns>
    public static bool TryParseEpoch(ReadOnlySpan<char> text, out DateTimeOffset value)
    {
        value = default;
        var i = 0;
        long seconds = 0;
        var digits = 0;
        while (i < text.Length && char.IsAsciiDigit(text[i]))
        {
            if (++digits > 11)
            {
                return false;
            }

            seconds = (seconds * 10) + (text[i] - '0');
            i++;
        }

        if (digits == 0)
        {
            return false;
        }

        long ticks = 0;
        if (i < text.Length)
        {
            if (text[i] != '.')
            {
                return false;
            }

            i++;
            long scale = TimeSpan.TicksPerSecond / 10;
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                ticks += (text[i] - '0') * scale;
                scale /= 10;
                i++;
            }

            if (i < text.Length)
            {
                return false;
            }
        }

        if (seconds > 253402300799L)
        {
            return false;
        }

        value = new DateTimeOffset(DateTime.UnixEpoch.Ticks + (seconds * TimeSpan.TicksPerSecond) + ticks, TimeSpan.Zero);
        return true;
    }

    private static string Truncate(ReadOnlySpan<char> s) => s.Length <= 60 ? s.ToString() : string.Concat(s[..60], "…");
}
