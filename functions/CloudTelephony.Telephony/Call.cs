using System.Text.Json.Serialization;

namespace CloudTelephony.Telephony;

/// <summary>Direction of a call as seen from the PBX's users.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CallDirection>))]
public enum CallDirection
{
    /// <summary>From outside (trunk) to an extension.</summary>
    [JsonStringEnumMemberName("inbound")] Inbound,

    /// <summary>From an extension to outside (trunk).</summary>
    [JsonStringEnumMemberName("outbound")] Outbound,

    /// <summary>Extension to extension.</summary>
    [JsonStringEnumMemberName("internal")] Internal,
}

/// <summary>Final state of a call.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CallStatus>))]
public enum CallStatus
{
    /// <summary>A person talked (some leg was connected).</summary>
    [JsonStringEnumMemberName("answered")] Answered,

    /// <summary>Rang and nobody answered (caller hung up, or ring timeout).</summary>
    [JsonStringEnumMemberName("missed")] Missed,

    /// <summary>The called party was busy.</summary>
    [JsonStringEnumMemberName("busy")] Busy,

    /// <summary>Could not be set up: invalid number, congestion, channel unavailable.</summary>
    [JsonStringEnumMemberName("failed")] Failed,

    /// <summary>Answered by voicemail, not by a person (where the protocol can tell).</summary>
    [JsonStringEnumMemberName("voicemail")] Voicemail,

    /// <summary>The stream was cut before the call closed; closed after a timeout with what was known.</summary>
    [JsonStringEnumMemberName("unknown")] Unknown,
}

/// <summary>A transfer within a call.</summary>
/// <param name="From">Extension that transferred.</param>
/// <param name="To">Extension or number the call was transferred to.</param>
/// <param name="At">When the transfer target started ringing (UTC).</param>
/// <param name="Answered">Whether the target answered.</param>
public sealed record CallTransfer(string From, string To, DateTimeOffset At, bool Answered);

/// <summary>One call leg: an extension or external number that took part.</summary>
/// <param name="Endpoint">Extension (<c>101</c>) or external number.</param>
/// <param name="Role"><c>caller</c>, <c>callee</c> (rang as a target), or <c>transfer</c> (rang as a transfer target).</param>
/// <param name="RangAt">When it started ringing (UTC), null for the caller.</param>
/// <param name="AnsweredAt">When it was connected (UTC), null if never.</param>
/// <param name="EndedAt">When its part ended (UTC).</param>
/// <param name="Outcome">How the leg ended, in the protocol's terms mapped to: <c>answered</c>, <c>answered-elsewhere</c>,
/// <c>no-answer</c>, <c>cancel</c>, <c>busy</c>, <c>rejected</c>, <c>failed</c>, <c>unknown</c>.</param>
public sealed record CallParticipant(
    string Endpoint,
    string Role,
    DateTimeOffset? RangAt,
    DateTimeOffset? AnsweredAt,
    DateTimeOffset? EndedAt,
    string? Outcome);

/// <summary>A parsed PBX event that belongs to a call, in order, linked to the frame it came from.</summary>
/// <param name="At">Event time (UTC): the PBX's timestamp where the protocol has one, else the relay's receive time.</param>
/// <param name="Kind">Protocol-neutral kind: <c>ring</c>, <c>answer</c>, <c>release</c>, <c>hangup</c>, <c>dial</c>,
/// <c>digits</c>, <c>transfer</c>, <c>busy</c>, <c>state</c>, <c>bridge</c>, <c>record</c> …</param>
/// <param name="Endpoint">Extension or channel the event is about, if any.</param>
/// <param name="Detail">Short human-readable detail (cause text, digits, peer), or null.</param>
/// <param name="Session">Relay session of the source frame.</param>
/// <param name="Seq">Sequence number of the source frame.</param>
public sealed record CallEvent(DateTimeOffset At, string Kind, string? Endpoint, string? Detail, string Session, long Seq);

/// <summary>
/// A correlated call record (DESIGN.md "call"). All times UTC; durations in seconds, rounded to milliseconds.
/// </summary>
public sealed record Call
{
    /// <summary>PBX id.</summary>
    public required string Pbx { get; init; }

    /// <summary>Identity of the call within its PBX: CTIP <c>session:seq</c> of the first frame, AMI Linkedid, SMDR Call ID.
    /// Deterministic: replaying the same frames gives the same key.</summary>
    public required string CallKey { get; init; }

    /// <summary>Inbound, outbound or internal.</summary>
    public required CallDirection Direction { get; init; }

    /// <summary>Final state.</summary>
    public required CallStatus Status { get; init; }

    /// <summary>Why a missed call was missed where the protocol tells: <c>cancel</c> (caller hung up), <c>noanswer</c>, <c>busy</c>; else null.</summary>
    public string? MissedReason { get; init; }

    /// <summary>Calling number (external number, or extension for outbound/internal); null when withheld or unknown.</summary>
    public string? Caller { get; init; }

    /// <summary>Caller's name as the PBX showed it (CTIP phonebook comment, AMI CallerIDName, SMDR party name), or null.</summary>
    public string? CallerName { get; init; }

    /// <summary>Called number: the DID for inbound, the dialled number for outbound/internal.</summary>
    public string? Called { get; init; }

    /// <summary>The extension that first answered, or null.</summary>
    public string? AnsweredBy { get; init; }

    /// <summary>Every extension that rang, in the order they started ringing, each once.</summary>
    public IReadOnlyList<string> Extensions { get; init; } = [];

    /// <summary>Start: first frame of the call (UTC).</summary>
    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>When the call was first answered (UTC), or null.</summary>
    public DateTimeOffset? AnsweredAt { get; init; }

    /// <summary>End (UTC).</summary>
    public required DateTimeOffset EndedAt { get; init; }

    /// <summary>Seconds from start to answer; from start to end when never answered.</summary>
    public double RingSeconds { get; init; }

    /// <summary>Seconds from answer to end (across transfers); 0 when never answered.</summary>
    public double TalkSeconds { get; init; }

    /// <summary>Transfers in order.</summary>
    public IReadOnlyList<CallTransfer> Transfers { get; init; } = [];

    /// <summary>Digits collected in an IVR, in order (AMI DTMF); null where unknown.</summary>
    public string? IvrDigits { get; init; }

    /// <summary>External trunk (line) the call used, where the protocol names it; else null.</summary>
    public string? Trunk { get; init; }

    /// <summary>Call legs.</summary>
    public IReadOnlyList<CallParticipant> Participants { get; init; } = [];

    /// <summary>The call's events in order, each linked to its frame.</summary>
    public IReadOnlyList<CallEvent> Events { get; init; } = [];

    /// <summary>Seconds between two instants, rounded to milliseconds, never negative.</summary>
    public static double Seconds(DateTimeOffset from, DateTimeOffset to)
        => Math.Max(0, Math.Round((to - from).TotalSeconds, 3));
}
