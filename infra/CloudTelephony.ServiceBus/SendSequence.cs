namespace CloudTelephony.ServiceBus;

/// <summary>
/// Sends through one <see cref="QueueSender"/> that must reach the queue in call order, several in flight at once (the
/// relay's forwarder pipelining outbox batches). The sender writes them on one connection, in call order, and once one
/// of them failed it writes none of the later ones: each later <see cref="QueueSender.SendAsync(IReadOnlyList{Contracts.Envelope}, SendSequence?, CancellationToken)"/>
/// of the sequence throws without sending, so the caller can wait for everything in flight, go back to the oldest
/// unaccepted message and resend from there in a new sequence (<see cref="QueueSender.StartSequence"/>).
/// </summary>
/// <remarks>
/// A send of the sequence is also refused when the connection its earlier, still unsettled sends went out on is gone:
/// writing it on a new connection would let it overtake them. When nothing of the sequence is in flight it may move to
/// a new connection. What was already written before a failure may still be accepted by the broker (transfers in
/// flight cannot be called back); resending it is safe because MessageIds make the broker drop duplicates.
/// </remarks>
public sealed class SendSequence
{
    private readonly Lock _lock = new();
    private ServiceBusConnection? _connection;
    private int _unsettled;
    private Exception? _failure;

    internal SendSequence()
    {
    }

    /// <summary>The first failure of a send in this sequence (then no later send is written), or null.</summary>
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

    /// <summary>Sends written and not settled yet.</summary>
    public int Unsettled
    {
        get
        {
            lock (_lock)
            {
                return _unsettled;
            }
        }
    }

    /// <summary>Throws when an earlier send failed (nothing may be written after it).</summary>
    internal void ThrowIfFailed(string queue)
    {
        lock (_lock)
        {
            if (_failure is { } failure)
            {
                throw Refused(queue, failure);
            }
        }
    }

    /// <summary>
    /// Admits a send about to be written on <paramref name="connection"/>: throws (and fails the sequence) when an earlier
    /// send failed, or when earlier sends are unsettled on another connection; else counts it as unsettled.
    /// </summary>
    internal void Admit(ServiceBusConnection connection, string queue)
    {
        lock (_lock)
        {
            if (_failure is { } failure)
            {
                throw Refused(queue, failure);
            }

            if (_unsettled > 0 && !ReferenceEquals(_connection, connection))
            {
                _failure = new ServiceBusException(
                    "amqp:connection:forced",
                    $"not sent to {connection.Host}/{queue}: the connection {_unsettled} earlier sends of this sequence went out on was lost before they settled; sending after them on a new connection could overtake them");
                throw _failure;
            }

            _connection = connection;
            _unsettled++;
        }
    }

    /// <summary>Records the outcome of an admitted send (<paramref name="failure"/> null: accepted).</summary>
    internal void Settled(Exception? failure)
    {
        lock (_lock)
        {
            _failure ??= failure;
            _unsettled--;
        }
    }

    /// <summary>Records a send that failed before it was admitted.</summary>
    internal void Fail(Exception failure)
    {
        lock (_lock)
        {
            _failure ??= failure;
        }
    }

    private static ServiceBusException Refused(string queue, Exception failure) => new(
        ServiceBusConnection.ConditionOf(failure) ?? failure.GetType().Name,
        $"not sent to {queue}: an earlier send of this sequence failed ({failure.Message})",
        failure);
}
