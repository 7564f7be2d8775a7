using System.Buffers;
using System.Text;

namespace CloudTelephony.Relay.Ami;

/// <summary>
/// AMI framing shared by the connector and the simulator: lines end in LF (a CR before it is removed, so CR LF and
/// bare LF both work), a message is the lines up to the next empty line, text is UTF-8.
/// </summary>
public static class AmiFraming
{
    /// <summary>The banner's prefix, e.g. <c>Asterisk Call Manager/7.0.3</c>.</summary>
    public const string BannerPrefix = "Asterisk Call Manager/";


    /// <summary>Decodes one line as UTF-8 (invalid sequences become U+FFFD).</summary>
    public static string Decode(in ReadOnlySequence<byte> line) => Encoding.UTF8.GetString(line);

    /// <summary>
    /// The value of the first <paramref name="key"/> header of a message (keys compared case-insensitively, one space
    /// after the colon removed), or null when absent.
    /// </summary>
    public static string? Header(IReadOnlyList<string> lines, string key)
    {
        foreach (var line in lines)
        {
            var colon = line.IndexOf(':');
            if (colon == key.Length && line.AsSpan(0, colon).Equals(key, StringComparison.OrdinalIgnoreCase))
            {
                return line[(colon + 1)..].Trim();
            }
        }

        return null;
    }

    /// <summary>Same as <see cref="Header(IReadOnlyList{string},string)"/> over a message whose lines are joined with CR LF or LF.</summary>
    public static string? Header(string message, string key) =>
        Header(message.Split('\n').Select(l => l.TrimEnd('\r')).ToList(), key);

    /// <summary>Builds an action message: <c>Key: Value</c> lines with CR LF and the closing empty line.</summary>
    public static byte[] Action(params (string Key, string Value)[] headers)
    {
        var sb = new StringBuilder();
        foreach (var (k, v) in headers)
        {
            sb.Append(k).Append(": ").Append(v).Append("\r\n");
        }

        sb.Append("\r\n");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }
}
