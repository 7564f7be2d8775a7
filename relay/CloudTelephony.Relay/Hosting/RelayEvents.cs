using Microsoft.Extensions.Logging;

namespace CloudTelephony.Relay.Hosting;

/// <summary>
/// The EventIds of the relay's important log events, stable across releases so that log queries and alerts can select
/// them (<c>EventId</c> in JSON logs, <c>[id]</c> in the console format). 1xxx PBX links, 2xxx outbox, 3xxx delivery,
/// 4xxx configuration.
/// </summary>
public static class RelayEvents
{
    /// <summary>A PBX connection is logged in and streaming.</summary>
    public static readonly EventId LinkUp = new(1000, "LinkUp");

    /// <summary>A PBX refused the login (wrong key, authentication failed, no answer); the relay waits long before trying again.</summary>
    public static readonly EventId LoginRefused = new(1001, "LoginRefused");

    /// <summary>A PBX link was lost (connect failed, closed, dead link, protocol error); the relay reconnects with backoff.</summary>
    public static readonly EventId LinkLost = new(1002, "LinkLost");

    /// <summary>A frame broke a framing limit (line too long, binary or NUL bytes) and was forwarded cut or escaped, flagged for the receiver.</summary>
    public static readonly EventId FrameFlagged = new(1003, "FrameFlagged");

    /// <summary>An SMDR connection was refused (source not allowed, too many connections) — rate limited.</summary>
    public static readonly EventId ConnectionRefused = new(1004, "ConnectionRefused");

    /// <summary>The outbox reached its cap (whole or one PBX's share); connectors wait, nothing is dropped.</summary>
    public static readonly EventId OutboxAtCap = new(2000, "OutboxAtCap");

    /// <summary>A batch could not be delivered (connection error, 5xx, timeout); it is kept and retried.</summary>
    public static readonly EventId BatchFailed = new(3000, "BatchFailed");

    /// <summary>The receiver answered "do not retry" (400, 413, 422) for an envelope; it went to the outbox's dead-letter table.</summary>
    public static readonly EventId DeadLettered = new(3001, "DeadLettered");

    /// <summary>The receiver rejected a batch with another 4xx (our bug or a wrong key); kept and retried slowly.</summary>
    public static readonly EventId BatchRejected = new(3002, "BatchRejected");

    /// <summary>A configuration key of an earlier release was used; it still works in this release.</summary>
    public static readonly EventId DeprecatedSetting = new(4000, "DeprecatedSetting");
}
