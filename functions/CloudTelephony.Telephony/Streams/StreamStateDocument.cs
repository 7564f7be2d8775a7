using System.Text.Json;
using System.Text.Json.Serialization;

namespace CloudTelephony.Telephony.Streams;

/// <summary>
/// The stream-level state a <see cref="StreamCorrelator"/> saves (format 2): watermarks, clock, the next call ordinal and,
/// in a whole-state document only, the open calls. In the database the calls are rows of their own.
/// </summary>
internal sealed class StreamStateDocument
{
    /// <summary>The format number this engine writes.</summary>
    public const int CurrentFormat = 2;

    /// <summary>Format number (documents without it are format 1, one protocol's own document).</summary>
    public int Format { get; set; } = CurrentFormat;

    /// <summary>Wire name of the protocol.</summary>
    public string Protocol { get; set; } = "";

    /// <summary>Stream clock (UTC).</summary>
    public DateTimeOffset? Clock { get; set; }

    /// <summary>Ordinal the next opened call gets.</summary>
    public long NextOrdinal { get; set; }

    /// <summary>Per session: last seq and when it was last seen (receive time), ordered by session.</summary>
    public SortedDictionary<string, SessionMark> Watermarks { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Open calls in opening order (whole-state documents only).</summary>
    public List<JsonElement>? Calls { get; set; }

    /// <summary>True when <paramref name="json"/> is a format-2 document (has <c>"format": 2</c> at the top).</summary>
    public static bool IsCurrent(string json)
    {
        var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(json));
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isFormat = reader.ValueTextEquals("format"u8);
                reader.Read();
                if (isFormat)
                {
                    return reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var f) && f == CurrentFormat;
                }

                reader.Skip();
            }
        }
        catch (JsonException)
        {
            return false;
        }

        return false;
    }
}

/// <summary>Last seq applied in one relay session.</summary>
internal sealed class SessionMark
{
    /// <summary>Highest seq applied.</summary>
    public long Seq { get; set; }

    /// <summary>Receive time of the last frame applied; <see cref="DateTimeOffset.MinValue"/> when unknown (read from an
    /// old document): it then counts as seen when the next new session starts.</summary>
    public DateTimeOffset LastSeenAt { get; set; }
}

/// <summary>Source-generated JSON for <see cref="StreamStateDocument"/> (camelCase).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(StreamStateDocument))]
internal sealed partial class StreamStateJson : JsonSerializerContext;
