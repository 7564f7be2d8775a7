using Amqp;
using Amqp.Framing;
using CloudTelephony.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.ServiceBus;

/// <summary>
/// Sends envelopes to one queue: one <see cref="ServiceBusConnection"/> per namespace (opened lazily, rebuilt after a
/// failure) and one <see cref="SenderLink"/>. A batch is written as many unsettled transfers in flight on the same
/// link, in order, so each PBX's order is kept on the wire; <see cref="SendAsync(IReadOnlyList{Envelope}, CancellationToken)"/>
/// returns when the broker accepted every one of them and throws otherwise (the caller keeps the batch and sends it
/// again: MessageIds make that safe).
/// </summary>
/// <remarks>
/// Calls may overlap: each call's transfers are written after those of every earlier call (wire order = call order, the
/// order is taken when the call starts), and a call waits for its settlements without holding up later calls, so the
/// next batch is on the wire while the broker settles the previous one. The forwarder and the heartbeat share the
/// sender. Sends that must not overtake each other across a failure go through a <see cref="SendSequence"/>.
/// </remarks>
public sealed class QueueSender : IAsyncDisposable
{
    private readonly ServiceBusOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private Task _lastWrite = Task.CompletedTask;
    private ServiceBusConnection? _connection;
    private SenderLink? _link;
    private int _connects;

    /// <summary>Creates the sender; nothing is opened before the first <see cref="SendAsync(IReadOnlyList{Envelope}, CancellationToken)"/>.</summary>
    public QueueSender(ServiceBusOptions options, ILogger? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Connections opened so far (1 when nothing ever broke).</summary>
    public int Connects => Volatile.Read(ref _connects);

    /// <summary>Starts a new <see cref="SendSequence"/> (after a failure: for the resend from the oldest unaccepted message).</summary>
    public SendSequence StartSequence() => new();

    /// <summary>
    /// Sends <paramref name="batch"/> and waits until the broker settled every message. Throws
    /// <see cref="ServiceBusException"/> when one was rejected (with its condition), or the transport's exception when
    /// the connection failed; in both cases the connection is dropped and rebuilt on the next call.
    /// </summary>
    public Task SendAsync(IReadOnlyList<Envelope> batch, CancellationToken cancellationToken) => SendAsync(batch, null, cancellationToken);

    /// <summary>
    /// Sends <paramref name="batch"/> as one message per envelope, in order, after the transfers of every earlier call,
    /// and waits until the broker settled every message; later calls are written meanwhile.
    /// </summary>
    /// <param name="batch">The envelopes, in the order they must reach the queue; an empty batch returns at once.</param>
    /// <param name="sequence">
    /// When not null: nothing is written if an earlier send of the sequence failed, or if earlier unsettled sends of it
    /// went out on a connection that is gone (see <see cref="SendSequence"/>); a failure of this send fails the sequence.
    /// </param>
    /// <param name="cancellationToken">Stops waiting (for the turn to write, for the settlements); what was written stays written.</param>
    /// <returns>A task that completes when the broker accepted every message of <paramref name="batch"/>.</returns>
    /// <exception cref="ServiceBusException">
    /// A message was rejected (<see cref="ServiceBusException.Condition"/> = the broker's condition, e.g.
    /// <c>amqp:link:message-size-exceeded</c>), attaching the link was refused, or <paramref name="sequence"/> refused the
    /// send (condition of the earlier failure, or <c>amqp:connection:forced</c>).
    /// </exception>
    /// <exception cref="TimeoutException">Not settled within <see cref="ServiceBusOptions.OperationTimeoutSeconds"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <remarks>Any other exception is the transport's (connection lost, ...). After every failure but a cancellation the connection is dropped and rebuilt by the next call.</remarks>
    public Task SendAsync(IReadOnlyList<Envelope> batch, SendSequence? sequence, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return SendCoreAsync([.. batch.Select(FrameMessages.ToMessage)], sequence, cancellationToken);
    }

    /// <summary>
    /// Sends <paramref name="messages"/> in order, all in flight at once, and waits until every one was accepted (see
    /// <see cref="SendAsync(IReadOnlyList{Envelope}, SendSequence?, CancellationToken)"/>, without a sequence). The forwarder
    /// and the heartbeat share one connection: the transfers go out between those of other calls, never interleaved.
    /// </summary>
    public Task SendMessagesAsync(IReadOnlyList<Message> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        return SendCoreAsync(messages, null, cancellationToken);
    }

    private async Task SendCoreAsync(IReadOnlyList<Message> batch, SendSequence? sequence, CancellationToken cancellationToken)
    {
        if (batch.Count == 0)
        {
            return;
        }

        // the turn to write is taken now, before the first await: transfers go out in call order
        var written = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task previous;
        lock (_lock)
        {
            previous = _lastWrite;
            _lastWrite = written.Task;
        }

        ServiceBusConnection? used = null;
        try
        {
            await WaitForTurnAsync(previous, written, cancellationToken).ConfigureAwait(false);
            Task[] sends;
            try
            {
                sequence?.ThrowIfFailed(_options.Queue);
                var (connection, link) = await EnsureLinkAsync(cancellationToken).ConfigureAwait(false);
                sequence?.Admit(connection, _options.Queue);
                used = connection;
                sends = Write(link, batch);
            }
            finally
            {
                written.TrySetResult();
            }

            await SettleAsync(used, batch, sends, cancellationToken).ConfigureAwait(false);
            sequence?.Settled(null);
        }
        catch (Exception ex)
        {
            if (used is null)
            {
                sequence?.Fail(ex); // nothing written
            }
            else
            {
                sequence?.Settled(ex);
                if (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    await ResetAsync(used).ConfigureAwait(false);
                }
            }

            throw;
        }
    }

    /// <summary>Waits until every earlier call wrote its transfers; when cancelled, the turn passes on only after them.</summary>
    private static async Task WaitForTurnAsync(Task previous, TaskCompletionSource written, CancellationToken cancellationToken)
    {
        try
        {
            await previous.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _ = previous.ContinueWith(static (_, w) => ((TaskCompletionSource)w!).TrySetResult(), written, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }
    }

    /// <summary>Hands every message to the link (AMQPNetLite writes transfers in call order); a message that could not be handed over fails, and so does the rest.</summary>
    private static Task[] Write(SenderLink link, IReadOnlyList<Message> batch)
    {
        var sends = new Task[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            try
            {
                sends[i] = link.SendAsync(batch[i]);
            }
            catch (Exception ex) when (ex is AmqpException or ObjectDisposedException or InvalidOperationException)
            {
                for (var j = i; j < batch.Count; j++)
                {
                    sends[j] = Task.FromException(ex);
                }

                break;
            }
        }

        return sends;
    }

    private async Task SettleAsync(ServiceBusConnection connection, IReadOnlyList<Message> batch, Task[] sends, CancellationToken cancellationToken)
    {
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
                        $"message {batch[i].Properties?.MessageId} not accepted by {connection.Host}/{_options.Queue}: {ex.Message}",
                        ex);
                }
            }

            throw;
        }
    }

    private async Task<(ServiceBusConnection Connection, SenderLink Link)> EnsureLinkAsync(CancellationToken ct)
    {
        ServiceBusConnection? stale;
        lock (_lock)
        {
            if (_connection is { IsBroken: false } current && _link is { IsClosed: false } currentLink)
            {
                return (current, currentLink);
            }

            stale = _connection;
            _connection = null;
            _link = null;
        }

        if (stale is not null)
        {
            await stale.DisposeAsync().ConfigureAwait(false);
        }

        var connection = await ServiceBusConnection.OpenAsync(_options, _options.Queue, _logger, _time, ct).ConfigureAwait(false);
        Interlocked.Increment(ref _connects);
        SenderLink link;
        try
        {
            link = await AttachAsync(connection, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || ct.IsCancellationRequested)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        lock (_lock)
        {
            _connection = connection;
            _link = link;
        }

        _logger.LogInformation("connected to {Host}, sending to queue {Queue} ({Auth})", connection.Host, _options.Queue, AuthName);
        return (connection, link);
    }

    private async Task<SenderLink> AttachAsync(ServiceBusConnection connection, CancellationToken ct)
    {
        var attached = new TaskCompletionSource<Error?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var link = new SenderLink(
            connection.Session,
            "relay-" + Guid.NewGuid().ToString("N")[..12],
            new Target { Address = _options.Queue },
            (l, attach) => attached.TrySetResult(attach.Target is null ? l.Error ?? new Error(ErrorCode.NotFound) { Description = $"queue '{_options.Queue}' refused the link" } : null));
        link.AddClosedCallback((_, error) => attached.TrySetResult(error ?? new Error(ErrorCode.DetachForced)));
        var refusal = await attached.Task.WaitAsync(TimeSpan.FromSeconds(_options.OperationTimeoutSeconds), ct).ConfigureAwait(false);
        if (refusal is not null || link.IsClosed)
        {
            var error = refusal ?? link.Error;
            throw new ServiceBusException(
                error?.Condition?.ToString() ?? "amqp:detach-forced",
                $"attaching a sender to {connection.Host}/{_options.Queue} failed: {error?.Condition} {error?.Description}");
        }

        return link;
    }

    private string AuthName => _options.SaslPlain ? "SASL PLAIN" : _options.UseEntraId ? "Entra ID via CBS" : "SAS via CBS";

    /// <summary>Drops <paramref name="failed"/> when it is still the current connection (null: whatever is current), so the next call opens a new one.</summary>
    /// <remarks>Its unsettled transfers (of this and of other calls) fail when it closes.</remarks>
    private async Task ResetAsync(ServiceBusConnection? failed)
    {
        ServiceBusConnection? c;
        lock (_lock)
        {
            if (failed is not null && !ReferenceEquals(_connection, failed))
            {
                return; // already dropped, maybe replaced by a newer connection that must stay
            }

            c = _connection;
            _connection = null;
            _link = null;
        }

        if (c is not null)
        {
            await c.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await ResetAsync(null).ConfigureAwait(false);
}
