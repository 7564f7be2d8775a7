using System.Globalization;
using System.Text;
using CloudTelephony.Contracts;

namespace CloudTelephony.Functions.Ingest;

/// <summary>
/// The receiving edge of the rule "a frame is data" (the relay's edge is <c>relay/…/Framing/FrameText.cs</c>): whatever
/// text an envelope's <see cref="Envelope.Frame"/> holds is stored, and what cannot be interpreted is stored with the
/// reason as its parse error instead of being correlated — never failing the batch. Three cases are caught before the
/// frame reaches its PBX's stream engine:
/// <list type="bullet">
/// <item>The frame contains NUL, which PostgreSQL <c>text</c> cannot hold (a relay that is not ours, or an old one): it is
/// stored as <see cref="MarkerPrefix"/><c>contains NUL] </c> + the text with every control character but TAB, DEL and
/// backslash written as <c>\xNN</c> — the relay's reversible escaping (<see cref="Unescape"/> gives the original back) —
/// with the parse error <see cref="NulError"/>.</item>
/// <item>The relay flagged it (<see cref="Envelope.Problem"/> set: the frame already carries the relay's
/// <c>[relay: …]</c> marker and escapes): stored as it came, parse error <c>relay: &lt;problem&gt;</c>.</item>
/// <item>Its <see cref="Envelope.ReceivedAt"/> lies more than <see cref="IngestOptions.MaxFutureSkewSeconds"/> ahead of
/// this app's clock (a relay host's bad clock, a forged year 9999): stored, not correlated, so it cannot move the
/// stream clock into the future and expire every open call.</item>
/// </list>
/// </summary>
public static class IncomingFrames
{
    /// <summary>Start of the marker this app puts in front of a frame it had to escape.</summary>
    public const string MarkerPrefix = "[ingest: ";

    /// <summary>The parse error of a frame that contained NUL.</summary>
    public const string NulError = "contains NUL; stored escaped (control characters and backslashes as \\xNN after the [ingest: …] marker), not correlated";

    /// <summary>Longest relay problem text kept in a parse error (characters); longer ones are cut.</summary>
    public const int MaxProblemLength = 500;

    /// <summary>
    /// Why <paramref name="e"/> must not reach the stream engine, with the text to store; null error = a frame to
    /// correlate (its text is then the frame unchanged).
    /// </summary>
    /// <param name="e">The envelope.</param>
    /// <param name="now">This app's clock (UTC).</param>
    /// <param name="maxFutureSkew">How far ahead of <paramref name="now"/> a receive time may lie.</param>
    public static (string Text, string? Error) Screen(Envelope e, DateTimeOffset now, TimeSpan maxFutureSkew)
    {
        var text = e.Frame;
        string? error = null;
        if (text.Contains('\0', StringComparison.Ordinal))
        {
            text = MarkerPrefix + "contains NUL] " + Escape(text);
            error = NulError;
        }

        if (e.Problem is { } problem)
        {
            var p = Escape(problem.Length > MaxProblemLength ? problem[..MaxProblemLength] + "…" : problem);
            error = error is null ? $"relay: {p}" : $"relay: {p}; {error}";
        }

        if (e.ReceivedAt - now > maxFutureSkew)
        {
            var future = string.Create(CultureInfo.InvariantCulture,
                $"receivedAt {e.ReceivedAt.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss.fff'Z'} is {(e.ReceivedAt - now).TotalSeconds:0} s ahead of the receiver's clock (Ingest:MaxFutureSkewSeconds {maxFutureSkew.TotalSeconds:0}); stored, not correlated");
            error = error is null ? future : $"{error}; {future}";
        }

        return (text, error);
    }

    /// <summary>Writes every control character except TAB (U+0000–U+001F, U+007F) and every backslash as <c>\xNN</c>
    /// (two upper-case hex digits); everything else stays. Reversible with <see cref="Unescape"/>.</summary>
    public static string Escape(string text)
    {
        var sb = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            if ((c < 0x20 && c != '\t') || c == 0x7F || c == '\\')
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:X2}");
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }

    /// <summary>The text <see cref="Escape"/> was given: every <c>\xNN</c> back to its character.</summary>
    /// <exception cref="FormatException">A backslash not followed by <c>x</c> and two hex digits (not an escaped text).</exception>
    public static string Unescape(string escaped)
    {
        var sb = new StringBuilder(escaped.Length);
        for (var i = 0; i < escaped.Length; i++)
        {
            if (escaped[i] != '\\')
            {
                sb.Append(escaped[i]);
                continue;
            }

            if (i + 3 >= escaped.Length || escaped[i + 1] != 'x'
                || !int.TryParse(escaped.AsSpan(i + 2, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value))
            {
                throw new FormatException($"not an escaped frame text: backslash at {i} is not \\xNN");
            }

            sb.Append((char)value);
            i += 3;
        }

        return sb.ToString();
    }
}
