using System.Buffers;
using System.Text;

namespace CloudTelephony.Relay.Framing;

/// <summary>
/// How every connector turns received bytes into frame text (the "frame is data" rule): clean text is forwarded exactly
/// as received; text with NUL or other control characters (except TAB), bytes that do not decode, or a frame cut at its
/// size cap is forwarded flagged: <see cref="MarkerPrefix"/> + the problems + <c>] </c> + the text with those characters
/// and bytes (and every backslash, so the escaping is reversible) written as <c>\xNN</c>, and the problems also go to
/// the envelope's <c>Problem</c>. The receiver stores such a frame with its parse error; no byte can make it fail a
/// batch (PostgreSQL text refuses NUL).
/// </summary>
public static class FrameText
{
    /// <summary>The start of the marker put in front of a flagged frame.</summary>
    public const string MarkerPrefix = "[relay: ";

    /// <summary>The frame for a flagged text: <c>[relay: problems] text</c>.</summary>
    public static string Flag(string problems, string escapedText) => $"{MarkerPrefix}{problems}] {escapedText}";

    /// <summary>Joins problem descriptions with <c>; </c>; null when there are none.</summary>
    public static string? Join(params string?[] problems)
    {
        var list = problems.Where(p => !string.IsNullOrEmpty(p)).ToArray();
        return list.Length == 0 ? null : string.Join("; ", list);
    }

    /// <summary>
    /// Decodes <paramref name="bytes"/> (UTF-8, or latin-1 when <paramref name="latin1"/>). When the text is clean
    /// (no control character but TAB, every byte decodes) it is returned as is and <paramref name="problems"/> is null;
    /// otherwise control characters, undecodable bytes and backslashes are written as <c>\xNN</c> and
    /// <paramref name="problems"/> names what was found (<c>NUL</c>, <c>control characters</c>, <c>invalid UTF-8</c>).
    /// </summary>
    public static string Decode(ReadOnlySpan<byte> bytes, bool latin1, out string? problems)
    {
        var nul = false;
        var control = false;
        foreach (var b in bytes)
        {
            if (b == 0)
            {
                nul = true;
            }
            else if ((b < 0x20 && b != 0x09) || b == 0x7F)
            {
                control = true;
            }
        }

        var invalid = !latin1 && !System.Text.Unicode.Utf8.IsValid(bytes);
        if (!nul && !control && !invalid)
        {
            problems = null;
            return latin1 ? Encoding.Latin1.GetString(bytes) : Encoding.UTF8.GetString(bytes);
        }

        problems = Join(nul ? "NUL" : null, control ? "control characters" : null, invalid ? "invalid UTF-8" : null);
        return Escape(bytes, latin1);
    }

    /// <summary>Decodes <paramref name="bytes"/> writing control characters, undecodable bytes and backslashes as <c>\xNN</c>.</summary>
    public static string Escape(ReadOnlySpan<byte> bytes, bool latin1)
    {
        var sb = new StringBuilder(bytes.Length + (bytes.Length / 2) + 16);
        Span<char> pair = stackalloc char[2];
        var rest = bytes;
        while (!rest.IsEmpty)
        {
            int value;
            int used;
            if (latin1)
            {
                value = rest[0];
                used = 1;
            }
            else if (rest[0] < 0x80)
            {
                value = rest[0];
                used = 1;
            }
            else if (Rune.DecodeFromUtf8(rest, out var rune, out used) == OperationStatus.Done)
            {
                sb.Append(pair[..rune.EncodeToUtf16(pair)]);
                rest = rest[used..];
                continue;
            }
            else
            {
                used = Math.Max(used, 1);
                for (var i = 0; i < used; i++)
                {
                    AppendHex(sb, rest[i]);
                }

                rest = rest[used..];
                continue;
            }

            if ((value < 0x20 && value != 0x09) || value == 0x7F || value == '\\')
            {
                AppendHex(sb, value);
            }
            else
            {
                sb.Append((char)value);
            }

            rest = rest[used..];
        }

        return sb.ToString();
    }

    private static void AppendHex(StringBuilder sb, int value)
    {
        const string Hex = "0123456789ABCDEF";
        sb.Append('\\').Append('x').Append(Hex[(value >> 4) & 0xF]).Append(Hex[value & 0xF]);
    }

    /// <summary>Escapes a text that is already decoded (e.g. the clean lines of a flagged AMI message): backslashes as <c>\x5C</c>.</summary>
    public static string EscapeDecoded(string text) => text.Replace("\\", "\\x5C", StringComparison.Ordinal);
}
