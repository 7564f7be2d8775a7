using System.Text.Json;
using System.Text.Json.Serialization;
using CloudTelephony.Telephony.Streams;

namespace CloudTelephony.Telephony.Smdr;

/// <summary>One open SMDR call (records with Continuation 1 so far): saved as its raw records, re-parsed on restore, so the
/// state stays small and independent of <see cref="SmdrRecord"/>'s shape.</summary>
internal sealed class SmdrOpenCall : OpenCallState
{
    /// <summary>SMDR Call ID.</summary>
    public long CallId { get; set; }

    /// <summary>Its records so far, in arrival order.</summary>
    public List<SmdrStateRecord> Records { get; set; } = [];

    /// <summary>The parsed records (from <see cref="Records"/>).</summary>
    [JsonIgnore]
    internal List<SmdrSegment> Segments { get; } = new(2);

    /// <summary>End of the last segment (PBX time, UTC).</summary>
    [JsonIgnore]
    internal DateTimeOffset? LastActivity { get; set; }

    /// <summary>Its last record (Continuation 0) arrived: it completes with the frame being applied.</summary>
    [JsonIgnore]
    internal bool Final { get; set; }

    /// <summary>Adds a parsed record: its segment begins at <c>max(its Call Start, end of the previous segment)</c>.</summary>
    /// <returns>The end of its segment.</returns>
    internal DateTimeOffset Append(SmdrFields record, string session, long seq, string text)
    {
        var begin = LastActivity is { } last && last > record.CallStart ? last : record.CallStart;
        var end = SmdrInterpreter.AddSeconds(begin, record.TotalSeconds);
        Segments.Add(new SmdrSegment(record, session, seq, text));
        Records.Add(new SmdrStateRecord { Session = session, Seq = seq, Frame = text });
        LastActivity = end;
        return end;
    }
}

/// <summary>The whole state the SMDR correlator saved before the stream engine (format 1, "version": 1): the stream clock,
/// per-session watermarks and the raw records of open calls; read once to continue an existing database.</summary>
internal sealed class SmdrState
{
    /// <summary>Format version.</summary>
    public int Version { get; set; }

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

/// <summary>Source-generated JSON metadata for <see cref="SmdrOpenCall"/> and <see cref="SmdrState"/>.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(SmdrState))]
[JsonSerializable(typeof(SmdrOpenCall))]
internal sealed partial class SmdrStateJson : JsonSerializerContext;
