using System.Text.Json;
using System.Text.Json.Serialization;

namespace CloudTelephony.Telephony.Smdr;

/// <summary>Saved correlator state: the stream clock, per-session watermarks and the raw records of open calls
/// (re-parsed on restore, so the state stays small and independent of <see cref="SmdrRecord"/>'s shape).</summary>
internal sealed class SmdrState
{
    /// <summary>Format version.</summary>
    public int Version { get; set; } = 1;

    /// <summary>Latest PBX time seen (UTC), the clock for timeouts; null before the first record.</summary>
    public DateTimeOffset? Clock { get; set; }

    /// <summary>Last seq applied per relay session.</summary>
    public Dictionary<string, long> Watermarks { get; set; } = [];

    /// <summary>Open calls in the order they were first seen.</summary>
    public List<SmdrStateCall> Open { get; set; } = [];
}

/// <summary>One open call in <see cref="SmdrState"/>.</summary>
internal sealed class SmdrStateCall
{
    /// <summary>SMDR Call ID.</summary>
    public long CallId { get; set; }

    /// <summary>Its records so far, in arrival order.</summary>
    public List<SmdrStateRecord> Records { get; set; } = [];
}

/// <summary>One received record of an open call with its frame position.</summary>
internal sealed class SmdrStateRecord
{
    /// <summary>Relay session.</summary>
    public string Session { get; set; } = "";

    /// <summary>Seq within the session.</summary>
    public long Seq { get; set; }

    /// <summary>The frame text as received.</summary>
    public string Frame { get; set; } = "";
}

/// <summary>Source-generated JSON metadata for <see cref="SmdrState"/>.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(SmdrState))]
internal sealed partial class SmdrStateJson : JsonSerializerContext;
