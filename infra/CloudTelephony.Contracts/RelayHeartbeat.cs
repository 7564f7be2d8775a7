using System.Text.Json.Serialization;

namespace CloudTelephony.Contracts;

/// <summary>
/// What a relay reports about itself every minute, through the same transport as its frames (a Service Bus message
/// with Subject <c>heartbeat</c> in session <c>relay:&lt;id&gt;</c>, or <c>POST /api/heartbeat</c>).
/// </summary>
/// <param name="Kind">Always <see cref="KindValue"/>: tells a heartbeat from an envelope in the same queue.</param>
/// <param name="RelayId">The relay's name (<c>Relay:RelayId</c>).</param>
/// <param name="Version">The relay's version.</param>
/// <param name="SentAt">When the relay sent it (UTC).</param>
/// <param name="Pbxes">Each PBX connection's state.</param>
/// <param name="FramesSent">Frames the broker (or ingest) accepted since the relay started.</param>
/// <param name="OutboxDepth">Frames waiting in the outbox.</param>
/// <param name="OutboxOldestAt">Receive time of the oldest waiting frame (UTC), or null when none.</param>
/// <param name="OutboxAtCap">True while the outbox is full (alarm: connectors wait).</param>
/// <param name="DeadLetters">
/// Envelopes the receiver refused with "do not retry" (HTTP 400, 413, 422) and the relay set aside in its outbox's
/// dead-letter table (with status and answer) so that delivery went on behind them; 0 when none. Optional (0 when absent).
/// </param>
/// <param name="DeadLetterOldestAt">When the oldest dead-lettered envelope was set aside (UTC), or null when none. Optional.</param>
public sealed record RelayHeartbeat(
    string Kind,
    string RelayId,
    string Version,
    DateTimeOffset SentAt,
    IReadOnlyList<PbxHeartbeat> Pbxes,
    long FramesSent,
    long OutboxDepth,
    DateTimeOffset? OutboxOldestAt,
    bool OutboxAtCap,
    long DeadLetters = 0,
    DateTimeOffset? DeadLetterOldestAt = null)
{
    /// <summary>The <see cref="Kind"/> of heartbeats.</summary>
    public const string KindValue = "heartbeat";

    /// <summary>Service Bus MessageId: <c>heartbeat:&lt;relay&gt;:&lt;unix ms&gt;</c>.</summary>
    [JsonIgnore]
    public string MessageId => $"heartbeat:{RelayId}:{SentAt.ToUnixTimeMilliseconds()}";

    /// <summary>Service Bus SessionId of a relay's heartbeats: <c>relay:&lt;relay&gt;</c>.</summary>
    [JsonIgnore]
    public string SessionId => $"relay:{RelayId}";
}

/// <summary>One PBX connection in a <see cref="RelayHeartbeat"/>.</summary>
/// <param name="Pbx">PBX id.</param>
/// <param name="State">connecting, logging in, connected, refused: reason, backing off: reason, ...</param>
/// <param name="Since">When it entered that state (UTC).</param>
/// <param name="LastFrameAt">When the last frame arrived (UTC), or null.</param>
/// <param name="FramesReceived">Frames received since the relay started.</param>
public sealed record PbxHeartbeat(string Pbx, string State, DateTimeOffset Since, DateTimeOffset? LastFrameAt, long FramesReceived);
