using System.Globalization;
using System.Text;
using System.Text.Json;

namespace CloudTelephony.Contracts;

/// <summary>One frame read from a capture file, with the time it was originally received.</summary>
/// <param name="ReceivedAt">Original receive time (UTC offset as recorded), or null when the capture has no times.</param>
/// <param name="Frame">The frame text without line terminator (an AMI frame keeps its inner line breaks as <c>\r\n</c>).</param>
public readonly record struct CapturedFrame(DateTimeOffset? ReceivedAt, string Frame);

/// <summary>
/// Reads the capture formats found in <c>samples/</c> and <c>../shared/fixtures/</c>:
/// <list type="bullet">
/// <item><b>tsv</b>: <c>receivedAt&lt;TAB&gt;frame</c> per line, receivedAt in PostgreSQL text form
/// (<c>2025-09-02 15:44:19.03303+02</c>) — fixtures/ctip/README.md.</item>
/// <item><b>jsonl</b>: one <see cref="Envelope"/> per line (what the relay forwards).</item>
/// <item><b>blocks</b>: a raw AMI stream, events separated by a blank line, optional banner line — fixtures/ami.</item>
/// <item><b>lines</b>: one frame per line with no time (SMDR CSV captures) — fixtures/smdr.</item>
/// </list>
/// </summary>
public static class CaptureFile
{
    /// <summary>
    /// Reads every frame of <paramref name="path"/>; the format is chosen from the content of the first
    /// non-empty line (<c>{</c> → jsonl, a leading timestamp and a TAB → tsv) and, failing that, from
    /// <paramref name="blocks"/>: a raw capture of blank-line separated blocks (AMI) or of one frame per line.
    /// </summary>
    /// <param name="path">File to read, UTF-8.</param>
    /// <param name="blocks">True when the protocol's frames are blocks ended by a blank line (the protocol registry of the
    /// functions app says so for each protocol); false for one frame per line.</param>
    /// <param name="timeZone">Zone for times that carry no offset; null means UTC.</param>
    /// <exception cref="FormatException">A tsv line whose time does not parse, or a jsonl line that is not an envelope (message names the line number).</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static IEnumerable<CapturedFrame> Read(string path, bool blocks, TimeZoneInfo? timeZone = null)
    {
        using var reader = new StreamReader(path, Encoding.UTF8);
        foreach (var frame in Read(reader, blocks, timeZone))
        {
            yield return frame;
        }
    }

    /// <summary>Same as <see cref="Read(string,bool,TimeZoneInfo?)"/>, for callers that know only the protocol's name
    /// (<see cref="Protocols.Ami"/> captures are blocks, the others lines).</summary>
    /// <param name="path">File to read, UTF-8.</param>
    /// <param name="protocol">One of <see cref="Protocols"/>.</param>
    /// <param name="timeZone">Zone for times that carry no offset; null means UTC.</param>
    public static IEnumerable<CapturedFrame> Read(string path, string protocol, TimeZoneInfo? timeZone = null)
        => Read(path, protocol == Protocols.Ami, timeZone);

    /// <summary>Same as <see cref="Read(string,string,TimeZoneInfo?)"/> over an open reader.</summary>
    public static IEnumerable<CapturedFrame> Read(TextReader reader, string protocol, TimeZoneInfo? timeZone = null)
        => Read(reader, protocol == Protocols.Ami, timeZone);

    /// <summary>Same as <see cref="Read(string,bool,TimeZoneInfo?)"/> over an open reader.</summary>
    public static IEnumerable<CapturedFrame> Read(TextReader reader, bool blocks, TimeZoneInfo? timeZone = null)
    {
        string? first;
        do
        {
            first = reader.ReadLine();
            if (first is null)
            {
                yield break;
            }
        }
        while (first.Length == 0);

        IEnumerable<CapturedFrame> frames;
        if (first.StartsWith('{'))
        {
            frames = ReadJsonLines(first, reader);
        }
        else if (LooksLikeTsv(first))
        {
            frames = ReadTsv(first, reader, timeZone);
        }
        else if (blocks)
        {
            frames = ReadBlocks(first, reader);
        }
        else
        {
            frames = ReadPlainLines(first, reader);
        }

        foreach (var f in frames)
        {
            yield return f;
        }
    }

    private static bool LooksLikeTsv(string line)
    {
        var tab = line.IndexOf('\t');
        return tab >= 19 && char.IsAsciiDigit(line[0]) && line[4] == '-' && TryParseTime(line.AsSpan(0, tab), null, out _);
    }

    private static IEnumerable<CapturedFrame> ReadTsv(string first, TextReader reader, TimeZoneInfo? zone)
    {
        var lineNo = 1;
        for (var line = first; line is not null; line = reader.ReadLine(), lineNo++)
        {
            if (line.Length == 0)
            {
                continue;
            }

            var tab = line.IndexOf('\t');
            if (tab < 0 || !TryParseTime(line.AsSpan(0, tab), zone, out var at))
            {
                throw new FormatException($"line {lineNo}: expected 'receivedAt<TAB>frame', got '{Truncate(line)}'");
            }

            yield return new CapturedFrame(at, line[(tab + 1)..].TrimEnd('\r'));
        }
    }

    private static IEnumerable<CapturedFrame> ReadJsonLines(string first, TextReader reader)
    {
        var lineNo = 1;
        for (var line = first; line is not null; line = reader.ReadLine(), lineNo++)
        {
            if (line.Length == 0)
            {
                continue;
            }

            Envelope? e;
            try
            {
                e = JsonSerializer.Deserialize(line, ContractsJson.Default.Envelope);
            }
            catch (JsonException ex)
            {
                throw new FormatException($"line {lineNo}: not a JSON envelope: {ex.Message}", ex);
            }

            if (e is null)
            {
                throw new FormatException($"line {lineNo}: null envelope");
            }

            yield return new CapturedFrame(e.ReceivedAt, e.Frame);
        }
    }

    private static IEnumerable<CapturedFrame> ReadBlocks(string first, TextReader reader)
    {
        var block = new StringBuilder();
        var line = first;
        if (line.StartsWith("Asterisk Call Manager/", StringComparison.Ordinal))
        {
            line = reader.ReadLine();
        }

        for (; line is not null; line = reader.ReadLine())
        {
            line = line.TrimEnd('\r');
            if (line.Length == 0)
            {
                if (block.Length > 0)
                {
                    yield return new CapturedFrame(null, block.ToString());
                    block.Clear();
                }

                continue;
            }

            if (block.Length > 0)
            {
                block.Append("\r\n");
            }

            block.Append(line);
        }

        if (block.Length > 0)
        {
            yield return new CapturedFrame(null, block.ToString());
        }
    }

    private static IEnumerable<CapturedFrame> ReadPlainLines(string first, TextReader reader)
    {
        for (var line = first; line is not null; line = reader.ReadLine())
        {
            line = line.TrimEnd('\r');
            if (line.Length > 0)
            {
                yield return new CapturedFrame(null, line);
            }
        }
    }

    /// <summary>
    /// Parses a capture timestamp: ISO 8601 or PostgreSQL text form, with an offset such as <c>+02</c>, <c>+02:00</c>
    /// or <c>Z</c>; without an offset the time is taken in <paramref name="zone"/> (UTC when null).
    /// </summary>
    public static bool TryParseTime(ReadOnlySpan<char> text, TimeZoneInfo? zone, out DateTimeOffset value)
    {
        text = text.Trim();
        // PostgreSQL prints "+02" for whole-hour offsets; .NET wants "+02:00".
        Span<char> buf = stackalloc char[text.Length + 3];
        text.CopyTo(buf);
        var len = text.Length;
        if (len > 3 && (buf[len - 3] == '+' || buf[len - 3] == '-') && char.IsAsciiDigit(buf[len - 2]) && char.IsAsciiDigit(buf[len - 1]))
        {
            buf[len++] = ':';
            buf[len++] = '0';
            buf[len++] = '0';
        }

        var s = buf[..len];
        var hasOffset = s.EndsWith("Z") || (len > 6 && (s[len - 6] == '+' || s[len - 6] == '-') && s[len - 3] == ':');
        if (hasOffset)
        {
            return DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.None, out value);
        }

        if (!DateTime.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
        {
            value = default;
            return false;
        }

        var tz = zone ?? TimeZoneInfo.Utc;
        value = new DateTimeOffset(local, tz.GetUtcOffset(local));
        return true;
    }

    private static string Truncate(string s) => s.Length <= 60 ? s : s[..60] + "…";
}
