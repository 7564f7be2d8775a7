using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Tenancy;
namespace CloudTelephony.Functions.Sms;

/// <summary>One SMS handed to a provider.</summary>
/// <param name="Id">Our <c>sms_out</c> id (providers use it as an idempotency key where they can).</param>
/// <param name="To">Recipient, E.164 (<c>+48600100200</c>).</param>
/// <param name="Text">Message text.</param>
public sealed record SmsMessage(long Id, string To, string Text);

/// <summary>How a provider request ended.</summary>
public enum SmsSendKind
{
    /// <summary>The provider accepted the message.</summary>
    Sent,

    /// <summary>May work later: timeout, connection failure, HTTP 429/5xx, throttling, provider-side internal error,
    /// an answer we could not read.</summary>
    Transient,

    /// <summary>Will never work as sent: bad number, bad credentials, no credit, rejected text.</summary>
    Permanent,
}

/// <summary>Outcome of one provider request.</summary>
/// <param name="Kind">Sent, transient or permanent failure.</param>
/// <param name="MessageId">The provider's message id when sent.</param>
/// <param name="Code">The provider's (or our) error code on failure, e.g. <c>http-429</c>, <c>timeout</c>, <c>101</c>.</param>
/// <param name="Reason">Human-readable reason on failure.</param>
public sealed record SmsSendResult(SmsSendKind Kind, string? MessageId, string? Code, string? Reason)
{
    /// <summary>Accepted with <paramref name="messageId"/>.</summary>
    public static SmsSendResult Sent(string? messageId) => new(SmsSendKind.Sent, messageId, null, null);

    /// <summary>A failure worth retrying.</summary>
    public static SmsSendResult Transient(string code, string reason) => new(SmsSendKind.Transient, null, code, reason);

    /// <summary>A failure not worth retrying.</summary>
    public static SmsSendResult Permanent(string code, string reason) => new(SmsSendKind.Permanent, null, code, reason);
}

/// <summary>An SMS gateway. Implementations never throw for provider or network failures: they answer a typed
/// <see cref="SmsSendResult"/> (only cancellation of <c>ct</c> throws).</summary>
public interface ISmsProvider
{
    /// <summary>Provider name stored with each attempt (<c>smsapi</c>, <c>webhook</c>, <c>log</c>).</summary>
    string Name { get; }

    /// <summary>Sends one SMS.</summary>
    Task<SmsSendResult> SendAsync(SmsMessage message, CancellationToken ct);
}
