using System.Runtime.ExceptionServices;
using Azure.Messaging.ServiceBus;
using CloudTelephony.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.ServiceBus;

/// <summary>
/// Sends envelopes to one queue through the SDK's <see cref="ServiceBusSender"/>: the messages of each PBX (SessionId)
/// are packed into <see cref="ServiceBusMessageBatch"/>es (size limit from the link: the queue's max message size)
/// and each batch is one AMQP transfer of the batched format <c>0x80013700</c>. Connection, CBS token renewal and
/// retries of a transient failure are the SDK's (<see cref="ServiceBusOptions.MaxRetries"/>).
/// </summary>
/// <remarks>
/// The SDK does not promise that concurrent sends on one sender reach the queue in call order, and its retries may
/// resend a batch after a later one went through. So the order of each PBX is kept here: the batches of one session
/// are sent one after the other, each after the previous one was accepted, and sends of different sessions overlap.
/// Sends that must not overtake each other across calls go through one <see cref="SendSequence"/>.
/// </remarks>
public sealed class FrameSender : IAsyncDisposable
{
    private readonly ServiceBusClient? _ownedClient;
    private readonly ServiceBusSender _sender;
    private readonly ILogger _logger;
    private long _transfers;

    /// <summary>Creates the sender on <paramref name="client"/> (not owned); nothing is opened before the first send.</summary>
    public FrameSender(ServiceBusClient client, string queue, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        _sender = client.CreateSender(queue);
        _logger = logger ?? NullLogger.Instance;
        Queue = queue;
        Host = client.FullyQualifiedNamespace;
    }

    /// <summary>Creates the sender and its own client from <paramref name="options"/> (disposed with the sender).</summary>
    public FrameSender(ServiceBusOptions options, ILogger? logger = null)
        : this(CreateClient(options, out var client), options.Queue, logger) => _ownedClient = client;

    /// <summary>The queue messages go to.</summary>
    public string Queue { get; }

    /// <summary>The namespace host.</summary>
    public string Host { get; }

    /// <summary>Transfers (message batches) the broker accepted so far.</summary>
    public long Transfers => Interlocked.Read(ref _transfers);

    /// <summary>Starts a new <see cref="SendSequence"/> (after a failure: for the resend from the oldest unacknowledged frame).</summary>
    public SendSequence StartSequence() => new(this);

    /// <summary>
    /// Sends <paramref name="batch"/> and returns when the broker accepted every message; each PBX's envelopes reach
    /// the queue in the order of <paramref name="batch"/>. Throws the SDK's exception when a send failed (after its
    /// retries): <see cref="UnauthorizedAccessException"/> (token refused by <c>$cbs</c>),
    /// <see cref="ServiceBusException"/> with its <see cref="ServiceBusException.Reason"/>, or the transport's.
    /// </summary>
    public Task SendAsync(IReadOnlyList<Envelope> batch, CancellationToken cancellationToken) => StartSequence().SendAsync(batch, cancellationToken);

    /// <summary>Sends one heartbeat (its own session <c>relay:&lt;id&gt;</c>, so it never waits for frames).</summary>
    public async Task SendAsync(RelayHeartbeat heartbeat, CancellationToken cancellationToken)
    {
        await _sender.SendMessageAsync(FrameMessages.ToMessage(heartbeat), cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _transfers);
    }

    /// <summary>Sends the messages of one session in order, as few <see cref="ServiceBusMessageBatch"/>es as fit, each after the previous one was accepted.</summary>
    internal async Task SendSessionAsync(IReadOnlyList<ServiceBusMessage> messages, CancellationToken cancellationToken)
    {
        var i = 0;
        while (i < messages.Count)
        {
            using var batch = await _sender.CreateMessageBatchAsync(cancellationToken).ConfigureAwait(false);
            while (i < messages.Count && batch.TryAddMessage(messages[i]))
            {
                i++;
            }

            if (batch.Count == 0)
            {
                throw new ServiceBusException(
                    $"message {messages[i].MessageId} ({messages[i].Body.ToMemory().Length} bytes) does not fit into a message batch of {batch.MaxSizeInBytes} bytes (the queue's max message size)",
                    ServiceBusFailureReason.MessageSizeExceeded,
                    Queue);
            }

            await _sender.SendMessagesAsync(batch, cancellationToken).ConfigureAwait(false);
            Interlocked.Increment(ref _transfers);
            _logger.LogTrace("sent {Count} messages of session {Session} to {Queue}", batch.Count, messages[0].SessionId, Queue);
        }
    }

    /// <summary>
    /// True when <paramref name="failure"/> is a refusal that retrying soon will not fix: credentials or rights
    /// (<see cref="UnauthorizedAccessException"/>), a missing or disabled queue, a message too large, a full queue.
    /// </summary>
    public static bool IsRejection(Exception failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        return Root(failure) switch
        {
            UnauthorizedAccessException => true,
            ServiceBusException { Reason: ServiceBusFailureReason.MessagingEntityNotFound or ServiceBusFailureReason.MessagingEntityDisabled or ServiceBusFailureReason.MessageSizeExceeded or ServiceBusFailureReason.QuotaExceeded } => true,
            InvalidOperationException and not ObjectDisposedException => true, // amqp:not-allowed, e.g. a message without SessionId for a session queue
            _ => false,
        };
    }

    /// <summary>A short name of what failed, for log lines: <c>Unauthorized</c>, the SDK's failure reason (<c>ServiceCommunicationProblem</c>, …) or the exception type.</summary>
    public static string ConditionOf(Exception failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        return Root(failure) switch
        {
            UnauthorizedAccessException => "Unauthorized",
            ServiceBusException s => s.Reason.ToString(),
            var e => e.GetType().Name,
        };
    }

    /// <summary>The failure a <see cref="SendRefusedException"/> stands for, else <paramref name="failure"/>.</summary>
    public static Exception Root(Exception failure) => failure is SendRefusedException { InnerException: { } inner } ? Root(inner) : failure;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _sender.DisposeAsync().ConfigureAwait(false);
        if (_ownedClient is not null)
        {
            await _ownedClient.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static ServiceBusClient CreateClient(ServiceBusOptions options, out ServiceBusClient client)
    {
        ArgumentNullException.ThrowIfNull(options);
        client = options.CreateClient();
        return client;
    }
}

/// <summary>
/// Sends through one <see cref="FrameSender"/> that must reach the queue in call order per PBX, several calls in
/// flight at once (the relay's forwarder pipelining outbox batches): a call's messages of PBX p are sent after those
/// of every earlier call of the sequence for p were accepted; different PBXes go in parallel. Once a send failed the
/// sequence starts no more sends: each later call throws <see cref="SendRefusedException"/> for what it did not send,
/// so the caller waits for what is in flight, goes back to the oldest unacknowledged message and resends from there in
/// a new sequence (<see cref="FrameSender.StartSequence"/>). Resending is safe: MessageIds let the broker drop duplicates.
/// </summary>
public sealed class SendSequence
{
    private readonly FrameSender _sender;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Task> _last = new(StringComparer.Ordinal);
    private Exception? _failure;

    internal SendSequence(FrameSender sender) => _sender = sender;

    /// <summary>The first failure of a send in this sequence (then no later send starts), or null.</summary>
    public Exception? Failure
    {
        get
        {
            lock (_lock)
            {
                return _failure;
            }
        }
    }

    /// <summary>
    /// Sends <paramref name="batch"/> after the earlier calls' messages of the same PBXes; completes when the broker
    /// accepted every message, throws the first failure (in the order of <paramref name="batch"/>'s PBXes) otherwise.
    /// </summary>
    /// <exception cref="SendRefusedException">An earlier send of the sequence failed; this part was not sent.</exception>
    public Task SendAsync(IReadOnlyList<Envelope> batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0)
        {
            return Task.CompletedTask;
        }

        var sessions = new Dictionary<string, List<ServiceBusMessage>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var e in batch)
        {
            if (!sessions.TryGetValue(e.Pbx, out var list))
            {
                sessions[e.Pbx] = list = [];
                order.Add(e.Pbx);
            }

            list.Add(FrameMessages.ToMessage(e));
        }

        var sends = new Task[order.Count];
        lock (_lock)
        {
            for (var i = 0; i < order.Count; i++)
            {
                var session = order[i];
                var previous = _last.GetValueOrDefault(session) ?? Task.CompletedTask;
                sends[i] = SendAfterAsync(previous, session, sessions[session], cancellationToken);
                _last[session] = sends[i];
            }
        }

        return sends.Length == 1 ? sends[0] : FirstFailureAsync(sends);
    }

    private async Task SendAfterAsync(Task previous, string session, List<ServiceBusMessage> messages, CancellationToken cancellationToken)
    {
        await previous.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var failure = Failure;
        if (failure is not null)
        {
            throw new SendRefusedException($"{messages.Count} messages of session {session} not sent to {_sender.Queue}: an earlier send of this sequence failed ({failure.Message})", failure);
        }

        try
        {
            await _sender.SendSessionAsync(messages, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            lock (_lock)
            {
                _failure ??= ex;
            }

            throw;
        }
    }

    /// <summary>Waits for every send; throws the first failure in send order.</summary>
    private static async Task FirstFailureAsync(Task[] sends)
    {
        await Task.WhenAll(sends).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var s in sends)
        {
            if (s.Exception?.InnerException is { } ex)
            {
                ExceptionDispatchInfo.Throw(ex);
            }

            if (s.IsCanceled)
            {
                await s.ConfigureAwait(false); // throws the cancellation
            }
        }
    }
}

/// <summary>A send a <see cref="SendSequence"/> did not start because an earlier one failed; <see cref="Exception.InnerException"/> is that failure.</summary>
public sealed class SendRefusedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SendRefusedException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public SendRefusedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with the earlier failure.</summary>
    public SendRefusedException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
