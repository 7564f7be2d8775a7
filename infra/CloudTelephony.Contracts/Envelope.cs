using System.Text.Json.Serialization;

namespace CloudTelephony.Contracts;

/// <summary>
/// One PBX frame as the relay forwards it: a CTIP line, an AMI event block or an SMDR record, stamped with
/// where and when it was received. This is the wire contract between relay and functions (DESIGN.md, "Units and words").
/// </summary>
/// <param name="Pbx">PBX id as configured on the relay (e.g. <c>office-slican</c>); the Service Bus SessionId.</param>
/// <param name="Protocol">One of <see cref="Protocols"/>: <c>ctip</c>, <c>ami</c>, <c>smdr</c>.</param>
/// <param name="Session">A new id per TCP connection to (or from) the PBX.</param>
/// <param name="Seq">Frame number within <paramref name="Session"/>, counting from 1 without gaps.</param>
/// <param name="ReceivedAt">When the relay read the frame, UTC with milliseconds.</param>
/// <param name="Frame">The exact frame text as the PBX sent it, decoded (CTIP: latin-1), without the line terminator.</param>
/// <param name="Problem">
/// Null when <paramref name="Frame"/> is exactly what the PBX sent. Otherwise why the relay had to change it, e.g.
/// <c>line of 70000 bytes over the 65536-byte cap, cut</c> or <c>NUL and control characters</c>: the frame then starts
/// with the marker <c>[relay: &lt;problem&gt;] </c> and holds the received text with every control character (except
/// TAB), byte that does not decode, and backslash written as <c>\xNN</c> (reversible), cut at the cap. The receiver
/// stores such a frame with this text as its parse error and does not correlate it. Optional: absent in JSON when
/// null, so older receivers and senders are unaffected.
/// </param>
public sealed record Envelope(
    string Pbx,
    string Protocol,
    string Session,
    long Seq,
    DateTimeOffset ReceivedAt,
    string Frame,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Problem = null)
{
    /// <summary>The Service Bus MessageId of this envelope: <c>pbx:session:seq</c>; deterministic so resends are dropped as duplicates.</summary>
    [JsonIgnore]
    public string MessageId => $"{Pbx}:{Session}:{Seq}";
}

/// <summary>The protocol names used in <see cref="Envelope.Protocol"/> and in configuration.</summary>
public static class Protocols
{
    /// <summary>Slican CTIP (TCP 5524), one text line per frame.</summary>
    public const string Ctip = "ctip";

    /// <summary>Asterisk Manager Interface (TCP 5038), one event block per frame.</summary>
    public const string Ami = "ami";

    /// <summary>Avaya IP Office SMDR, one CSV record per frame.</summary>
    public const string Smdr = "smdr";

    /// <summary>Every protocol the system understands.</summary>
    public static readonly IReadOnlyList<string> All = [Ctip, Ami, Smdr];

    /// <summary>True when <paramref name="name"/> is one of <see cref="All"/> (case-sensitive, lower case).</summary>
    public static bool IsKnown(string? name) => name is Ctip or Ami or Smdr;
}

/// <summary>Names of the Service Bus queues and HTTP routes both halves use.</summary>
public static class Routes
{
    /// <summary>Queue of PBX frames; sessions on (SessionId = PBX id), duplicate detection on MessageId.</summary>
    public const string FramesQueue = "pbx-frames";

    /// <summary>Queue of SMS ids to dispatch.</summary>
    public const string SmsQueue = "sms";

    /// <summary>HTTP ingest route on the functions app: POST a JSON array of <see cref="Envelope"/>.</summary>
    public const string IngestPath = "/api/frames";

    /// <summary>HTTP route on the functions app for a relay's <see cref="RelayHeartbeat"/> (HTTP transport).</summary>
    public const string HeartbeatPath = "/api/heartbeat";
}
