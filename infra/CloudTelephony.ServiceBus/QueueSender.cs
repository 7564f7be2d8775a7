using Amqp;
using Amqp.Framing;
using CloudTelephony.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.ServiceBus;

/// <summary>
/// Sends envelopes to one queue: one <see cref="ServiceBusConnection"/> per namespace (opened lazily, rebuilt after a
/// failure) and one <see cref="SenderLink"/>. A batch is written as many unsettled transfers in flight on the same
/// link, in order, so each PBX's order is kept on the wire; <see cref="SendAsync"/> returns when the broker accepted
/// every one of them and throws otherwise (the caller keeps the batch and sends it again: MessageIds make that safe).
/// </summary>
public sealed class QueueSender : IAsyncDisposable
{
    private readonly ServiceBusOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ServiceBusConnection? _connection;
    private SenderLink? _link;

    /// <summary>Creates the sender; nothing is opened before the first <see cref="SendAsync"/>.</summary>
    public QueueSender(ServiceBusOptions options, ILogger? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Connections opened so far (1 when nothing ever broke).</summary>
    public int Connects { get; private set; }

    /// <summary>
    /// Sends <paramref name="batch"/> and waits until the broker settled every message. Throws
    /// <see cref="ServiceBusException"/> when one was rejected (with its condition), or the transport's exception when
    /// the connection failed; in both cases the connection is dropped and rebuilt on the next call.
    /// </summary>
    public Task SendAsync(IReadOnlyList<Envelope> batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return SendMessagesAsync([.. batch.Select(FrameMessages.ToMessage)], cancellationToken);
    }

    /// <summary>
    /// Sends <paramref name="messages"/> in order, all in flight at once, and waits until every one was accepted (see
    /// <see cref="SendAsync"/>). Calls are serialized: the forwarder and the heartbeat share one connection.
    /// </summary>
    public async Task SendMessagesAsync(IReadOnlyList<Message> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
        {
            return;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await SendLockedAsync(messages, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task SendLockedAsync(IReadOnlyList<Message> batch, CancellationToken cancellationToken)
    {
        try
        {
            var link = await EnsureLinkAsync(cancellationToken).ConfigureAwait(false);
            var sends = new Task[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                sends[i] = link.SendAsync(batch[i]);
            }

            var all = Task.WhenAll(sends);
            try
            {
                await all.WaitAsync(TimeSpan.FromSeconds(_options.OperationTimeoutSeconds), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception) when (all.IsFaulted)
            {
                // report the first failure in send order (the one that explains the rest)
                for (var i = 0; i < sends.Length; i++)
                {
                    if (sends[i].Exception?.InnerException is { } ex)
                    {
                        throw new ServiceBusException(
                            ServiceBusConnection.ConditionOf(ex) ?? ex.GetType().Name,
                            $"message {batch[i].Properties?.MessageId} not accepted by {_connection?.Host}/{_options.Queue}: {ex.Message}",
                            ex);
                    }
                }

                throw;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            await ResetAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task<SenderLink> EnsureLinkAsync(CancellationToken ct)
    {
        if (_connection is { IsBroken: false } && _link is { IsClosed: false } link)
        {
            return link;
        }

        await ResetAsync().ConfigureAwait(false);
        _connection = await ServiceBusConnection.OpenAsync(_options, _options.Queue, _logger, _time, ct).ConfigureAwait(false);
        Connects++;
        var attached = new TaskCompletionSource<Error?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _link = new SenderLink(
            _connection.Session,
            "relay-" + Guid.NewGuid().ToString("N")[..12],
            new Target { Address = _options.Queue },
            (l, attach) => attached.TrySetResult(attach.Target is null ? l.Error ?? new Error(ErrorCode.NotFound) { Description = $"queue '{_options.Queue}' refused the link" } : null));
        _link.AddClosedCallback((_, error) => attached.TrySetResult(error ?? new Error(ErrorCode.DetachForced)));
        var refusal = await attached.Task.WaitAsync(TimeSpan.FromSeconds(_options.OperationTimeoutSeconds), ct).ConfigureAwait(false);
        if (refusal is not null || _link.IsClosed)
        {
            var error = refusal ?? _link.Error;
            throw new ServiceBusException(
                error?.Condition?.ToString() ?? "amqp:detach-forced",
                $"attaching a sender to {_connection.Host}/{_options.Queue} failed: {error?.Condition} {error?.Description}");
        }

        _logger.LogInformation("connected to {Host}, sending to queue {Queue} ({Auth})", _connection.Host, _options.Queue, AuthName);
        return _link;
    }

    private string AuthName => _options.SaslPlain ? "SASL PLAIN" : _options.UseEntraId ? "Entra ID via CBS" : "SAS via CBS";

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
    public async ValueTask DisposeAsync()
    {
        await ResetAsync().ConfigureAwait(false);
        _gate.Dispose();
    }
}
