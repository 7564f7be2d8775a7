using System.Collections.Concurrent;

namespace CloudTelephony.Relay.Status;

/// <summary>Where a PBX connection is in its life cycle.</summary>
public enum PbxConnectionState
{
    /// <summary>Not started yet.</summary>
    Idle,

    /// <summary>Opening the TCP connection.</summary>
    Connecting,

    /// <summary>Connected, identifying (WHO) and logging in (LOGA).</summary>
    LoggingIn,

    /// <summary>Logged in and streaming frames.</summary>
    Connected,

    /// <summary>The PBX refused the login; waiting (long) before trying again. <see cref="PbxStatus.Detail"/> says why.</summary>
    Refused,

    /// <summary>The connection failed or dropped; waiting before reconnecting. <see cref="PbxStatus.Detail"/> says why.</summary>
    BackingOff,

    /// <summary>The relay is shutting down.</summary>
    Stopped,

    /// <summary>SMDR: the relay listens and waits for the PBX to connect (no connection of this PBX open).</summary>
    Listening,
}

/// <summary>An immutable snapshot of one PBX connection, for logs, tests and (later) heartbeats.</summary>
/// <param name="Pbx">PBX id.</param>
/// <param name="State">Current state.</param>
/// <param name="Detail">Human-readable reason for the state (e.g. <c>wrong key (NA 11)</c>), or null.</param>
/// <param name="Session">Current or last session id, or null before the first connection.</param>
/// <param name="PbxIdentity">The PBX's answer to WHO (e.g. <c>NCP-000 NO03914 v1.23.0140/15 ...</c>), or null.</param>
/// <param name="Since">When the state was entered (UTC).</param>
/// <param name="NextAttemptAt">When the next connection attempt is due (UTC), while refused or backing off.</param>
/// <param name="LastFrameAt">When the last frame was received (UTC), or null.</param>
/// <param name="FramesReceived">Frames received since the relay started (all sessions).</param>
/// <param name="Sessions">TCP connections opened since the relay started.</param>
public sealed record PbxStatus(
    string Pbx,
    PbxConnectionState State,
    string? Detail,
    string? Session,
    string? PbxIdentity,
    DateTimeOffset Since,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset? LastFrameAt,
    long FramesReceived,
    long Sessions)
{
    /// <summary>One-line description, e.g. <c>refused: wrong key (NA 11)</c> or <c>connected</c>.</summary>
    public override string ToString() => State switch
    {
        PbxConnectionState.Refused => $"refused: {Detail}",
        PbxConnectionState.BackingOff => $"backing off: {Detail}",
        _ => State.ToString().ToLowerInvariant(),
    };
}

/// <summary>A snapshot of the durable outbox, for logs, tests and heartbeats.</summary>
/// <param name="Depth">Frames in the outbox (committed or being committed) and not yet acknowledged by the broker.</param>
/// <param name="Capacity">The cap (<c>Relay:Outbox:MaxFrames</c>).</param>
/// <param name="AtCap">True while the outbox is full: the alarm is raised and connectors wait.</param>
/// <param name="OldestPendingAt">When the oldest pending frame was received (UTC), or null when empty or unknown.</param>
/// <param name="Forwarded">Frames acknowledged by the forwarder since start.</param>
/// <param name="DeadLetters">Envelopes in the dead-letter table (refused by the receiver with "do not retry").</param>
/// <param name="DeadLetterOldestAt">When the oldest dead letter was set aside (UTC), or null.</param>
public sealed record OutboxStatus(long Depth, long Capacity, bool AtCap, DateTimeOffset? OldestPendingAt, long Forwarded, long DeadLetters = 0, DateTimeOffset? DeadLetterOldestAt = null);

/// <summary>In-memory status of every PBX connection of this relay; thread-safe, updated by the connectors.</summary>
public sealed class RelayStatus
{
    private OutboxStatus _outbox = new(0, 0, false, null, 0);

    /// <summary>The outbox as last reported by it.</summary>
    public OutboxStatus Outbox => Volatile.Read(ref _outbox);

    /// <summary>Called by the outbox whenever its depth or alarm changes.</summary>
    public void SetOutbox(OutboxStatus status) => Volatile.Write(ref _outbox, status);

    private readonly ConcurrentDictionary<string, PbxStatus> _pbxes = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    /// <summary>Creates an empty status board.</summary>
    public RelayStatus(TimeProvider? time = null) => _time = time ?? TimeProvider.System;

    /// <summary>Snapshots of every known PBX connection.</summary>
    public IReadOnlyCollection<PbxStatus> All => _pbxes.Values.ToArray();

    /// <summary>The snapshot of <paramref name="pbx"/>, or null when it never reported.</summary>
    public PbxStatus? Get(string pbx) => _pbxes.TryGetValue(pbx, out var s) ? s : null;

    /// <summary>Applies <paramref name="change"/> atomically to the status of <paramref name="pbx"/>.</summary>
    public PbxStatus Update(string pbx, Func<PbxStatus, PbxStatus> change) =>
        _pbxes.AddOrUpdate(
            pbx,
            static (id, arg) => arg.change(new PbxStatus(id, PbxConnectionState.Idle, null, null, null, arg.now, null, null, 0, 0)),
            static (_, old, arg) => arg.change(old),
            (change, now: _time.GetUtcNow()));

    /// <summary>Moves <paramref name="pbx"/> to <paramref name="state"/> with <paramref name="detail"/>, stamping <see cref="PbxStatus.Since"/>.</summary>
    public PbxStatus SetState(string pbx, PbxConnectionState state, string? detail = null, DateTimeOffset? nextAttemptAt = null)
    {
        var now = _time.GetUtcNow();
        return Update(pbx, s => s with { State = state, Detail = detail, Since = now, NextAttemptAt = nextAttemptAt });
    }
}
