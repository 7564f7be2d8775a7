using Amqp;
using Amqp.Framing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.ServiceBus;

/// <summary>One message taken from a queue by <see cref="QueueReceiver"/>; settle it with Accept, Release or Reject.</summary>
/// <param name="MessageId">properties.message-id (Service Bus MessageId).</param>
/// <param name="SessionId">properties.group-id (Service Bus SessionId), or null.</param>
/// <param name="ContentType">properties.content-type, or null.</param>
/// <param name="Body">The body bytes (Data section or AmqpValue string), or null when the body is something else.</param>
/// <param name="DeliveryCount">How many times it was delivered before (header.delivery-count).</param>
public sealed record ReceivedMessage(string? MessageId, string? SessionId, string? ContentType, byte[]? Body, uint DeliveryCount)
{
    internal Message? Amqp { get; init; }

    internal ReceiverLink? Link { get; init; }
}

/// <summary>
/// Receives from one queue in peek-lock style (unsettled deliveries; the caller accepts after it stored the message,
/// releases to have it redelivered, or rejects to dead-letter it). Used by the functions app's standalone mode and by tests.
/// </summary>
public sealed class QueueReceiver : IAsyncDisposable
{
    private readonly ServiceBusOptions _options;
    private readonly ILogger _logger;
    private readonly int _credit;
    private ServiceBusConnection? _connection;
    private ReceiverLink? _link;

    /// <summary>Creates the receiver; it connects on the first <see cref="ReceiveAsync"/>.</summary>
    /// <param name="options">Namespace, queue and credentials.</param>
    /// <param name="credit">Messages the broker may push ahead (prefetch).</param>
    /// <param name="logger">Logger.</param>
    public QueueReceiver(ServiceBusOptions options, int credit = 200, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _credit = credit;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Waits up to <paramref name="wait"/> for a message; null when none came. Reconnects when the connection broke.</summary>
    public async Task<ReceivedMessage?> ReceiveAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        try
        {
            var link = await EnsureLinkAsync(cancellationToken).ConfigureAwait(false);
            var m = await link.ReceiveAsync(wait).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (m is null)
            {
                return null;
            }

            return new ReceivedMessage(
                m.Properties?.MessageId?.ToString(),
                m.Properties?.GroupId,
                m.Properties?.ContentType?.ToString(),
                FrameMessages.BodyBytes(m),
                m.Header?.DeliveryCount ?? 0)
            {
                Amqp = m,
                Link = link,
            };
        }
        catch (Exception ex) when (ex is AmqpException or ServiceBusException or TimeoutException or IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            await ResetAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Settles <paramref name="message"/> as accepted (removed from the queue).</summary>
    public static void Accept(ReceivedMessage message) => Link(message).Accept(message.Amqp);

    /// <summary>Settles <paramref name="message"/> as released (delivered again later).</summary>
    public static void Release(ReceivedMessage message) => Link(message).Release(message.Amqp);

    /// <summary>Settles <paramref name="message"/> as rejected with <paramref name="condition"/> (dead-lettered by the broker).</summary>
    public static void Reject(ReceivedMessage message, string condition, string description) =>
        Link(message).Reject(message.Amqp, new Error(new Amqp.Types.Symbol(condition)) { Description = description });

    private static ReceiverLink Link(ReceivedMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return message.Link ?? throw new InvalidOperationException("message was not received by a QueueReceiver");
    }

    private async Task<ReceiverLink> EnsureLinkAsync(CancellationToken ct)
    {
        if (_connection is { IsBroken: false } && _link is { IsClosed: false } l)
        {
            return l;
        }

        await ResetAsync().ConfigureAwait(false);
        _connection = await ServiceBusConnection.OpenAsync(_options, _options.Queue, _logger, null, ct).ConfigureAwait(false);
        _link = new ReceiverLink(_connection.Session, "receiver-" + Guid.NewGuid().ToString("N")[..12], _options.Queue);
        _link.SetCredit(_credit, autoRestore: true);
        _logger.LogInformation("receiving from {Host}/{Queue}", _connection.Host, _options.Queue);
        return _link;
    }

    private async Task ResetAsync()
    {
        var c = _connection;
        _connection = null;
        _link = null;
        if (c is not null)
        {
            await c.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await ResetAsync().ConfigureAwait(false);
}
