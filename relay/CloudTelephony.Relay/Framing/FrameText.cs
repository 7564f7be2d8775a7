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
        problems = Inspect(bytes, latin1);
        return problems is null ? Clean(bytes, latin1) : Escape(bytes, latin1);
    }

    /// <summary>
    /// What makes <paramref name="bytes"/> unfit to forward as they are: <c>NUL</c>, <c>control characters</c> (any but
    /// TAB) and, unless <paramref name="latin1"/>, <c>invalid UTF-8</c>, joined with <c>; </c>; null when they are clean.
    /// </summary>
    public static string? Inspect(ReadOnlySpan<byte> bytes, bool latin1)
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
        return nul || control || invalid ? Join(nul ? "NUL" : null, control ? "control characters" : null, invalid ? "invalid UTF-8" : null) : null;
    }

    /// <summary>The text of clean <paramref name="bytes"/> (<see cref="Inspect"/> found nothing): UTF-8, or latin-1.</summary>
    public static string Clean(ReadOnlySpan<byte> bytes, bool latin1) => latin1 ? Encoding.Latin1.GetString(bytes) : Encoding.UTF8.GetString(bytes);

    /// <summary>Decodes <paramref name="bytes"/> writing control characters, undecodable bytes and backslashes as <c>\xNN</c>.</summary>
    public static string Escape(ReadOnlySpan<byte> bytes, bool latin1) => Flag(null, bytes, latin1);

    /// <summary>
    /// The flagged frame for <paramref name="bytes"/>: <c>[relay: problems] </c> and the bytes escaped as by
    /// <see cref="Escape"/>, built in one string of the exact length (a cut line of a flood is up to
    /// <c>MaxFrameBytes</c>, and its escaped text up to four times that: no intermediate copies on the large-object heap).
    /// Without <paramref name="problems"/> only the escaped text.
    /// </summary>
    public static string Flag(string? problems, ReadOnlySpan<byte> bytes, bool latin1)
    {
        var prefix = problems is null ? 0 : MarkerPrefix.Length + problems.Length + 2;
        var length = prefix + WriteEscaped(bytes, latin1, []);
        return string.Create(length, new FlagState(problems, bytes, latin1), static (chars, state) =>
        {
            var at = 0;
            if (state.Problems is not null)
            {
                MarkerPrefix.CopyTo(chars);
                at = MarkerPrefix.Length;
                state.Problems.CopyTo(chars[at..]);
                at += state.Problems.Length;
                chars[at++] = ']';
                chars[at++] = ' ';
            }

            WriteEscaped(state.Bytes, state.Latin1, chars[at..]);
        });
    }

    private readonly ref struct FlagState(string? problems, ReadOnlySpan<byte> bytes, bool latin1)
    {
        public string? Problems { get; } = problems;

        public ReadOnlySpan<byte> Bytes { get; } = bytes;

        public bool Latin1 { get; } = latin1;
    }

    /// <summary>
    /// Writes the escaped text of <paramref name="bytes"/> to <paramref name="chars"/> and returns its length; with an
    /// empty <paramref name="chars"/> it only measures.
    /// </summary>
    private static int WriteEscaped(ReadOnlySpan<byte> bytes, bool latin1, Span<char> chars)
    {
        const string Hex = "0123456789ABCDEF";
        var measure = chars.IsEmpty;
        var n = 0;
        var rest = bytes;
        while (!rest.IsEmpty)
        {
            var value = rest[0];
            if (!latin1 && value >= 0x80)
            {
                if (Rune.DecodeFromUtf8(rest, out var rune, out var used) == OperationStatus.Done)
                {
                    n += measure ? rune.Utf16SequenceLength : rune.EncodeToUtf16(chars[n..]);
                    rest = rest[used..];
                    continue;
                }

                // an undecodable sequence: each of its bytes as \xNN
                used = Math.Max(used, 1);
                for (var i = 0; i < used; i++)
                {
                    n = Hex4(chars, n, rest[i], measure);
                }

                rest = rest[used..];
                continue;
            }

            if ((value < 0x20 && value != 0x09) || value == 0x7F || value == '\\')
            {
                n = Hex4(chars, n, value, measure);
            }
            else
            {
                if (!measure)
                {
                    chars[n] = (char)value;
                }

                n++;
            }

            rest = rest[1..];
        }

        return n;

        static int Hex4(Span<char> chars, int n, byte value, bool measure)
        {
            if (!measure)
            {
                chars[n] = '\\';
                chars[n + 1] = 'x';
                chars[n + 2] = Hex[value >> 4];
                chars[n + 3] = Hex[value & 0xF];
            }

            return n + 4;
        }
    }

    /// <summary>Escapes a text that is already decoded (e.g. the clean lines of a flagged AMI message): backslashes as <c>\x5C</c>.</summary>
    public static string EscapeDecoded(string text) => text.Replace("\\", "\\x5C", StringComparison.Ordinal);
}
