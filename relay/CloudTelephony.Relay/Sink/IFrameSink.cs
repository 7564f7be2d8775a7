using CloudTelephony.Contracts;

namespace CloudTelephony.Relay.Sink;

/// <summary>
/// Where connectors put the envelopes they read. The call returns when the envelope is safely buffered; when the
/// buffer is full it waits (backpressure onto the PBX socket) — frames are never dropped.
/// </summary>
/// <remarks>
/// Implemented by <see cref="Outbox.SqliteOutbox"/>, the durable SQLite outbox (DESIGN.md "Reliability rules"): append =
/// a row committed to the WAL before the call returns. Connectors and forwarders only see these two interfaces.
/// </remarks>
public interface IFrameSink
{
    /// <summary>Appends one envelope; waits while the buffer is full. Envelopes of one session must be appended in seq order.</summary>
    ValueTask AppendAsync(Envelope envelope, CancellationToken cancellationToken);

    /// <summary>
    /// Appends <paramref name="envelopes"/> (one session, in seq order: e.g. every line of one socket read) and returns
    /// when all of them are safely buffered. The outbox commits them together, so a connector pays one commit per read
    /// instead of one per line. The list is not kept after the call returns. The default appends them one by one.
    /// </summary>
    async ValueTask AppendAsync(IReadOnlyList<Envelope> envelopes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelopes);
        foreach (var envelope in envelopes)
        {
            await AppendAsync(envelope, cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>
/// The forwarder's side of the buffer, a queue with a read position ahead of its acknowledged end: batches are read in
/// append order (several may be handed out and in flight at once), acknowledged strictly in the order they were read
/// (only then are they removed for good), and after a failure the read position is moved back to the oldest
/// unacknowledged envelope (<see cref="RewindAsync"/>) so everything not acknowledged is read, and sent, again in order.
/// </summary>
/// <remarks>
/// One forwarder drives a source: <see cref="ReadBatchAsync(int, TimeSpan, CancellationToken)"/> calls must not overlap each other, and
/// <see cref="RewindAsync"/> must not overlap a read. <see cref="AcknowledgeAsync"/> may run while a read is waiting,
/// and several acknowledgements may be pending at once as long as they were started in read order.
/// </remarks>
public interface IFrameSource
{
    /// <summary>
    /// Waits for at least one envelope past the read position, then waits up to <paramref name="linger"/> for more
    /// (<see cref="TimeSpan.Zero"/>: return at once) and returns up to <paramref name="maxCount"/> envelopes in append
    /// order. The read position moves past them: the next call returns the envelopes after them, even before this batch
    /// is acknowledged. The batch stays stored until <see cref="AcknowledgeAsync"/>. An empty list means the source is
    /// complete (nothing will ever come).
    /// </summary>
    /// <param name="maxCount">Most envelopes in the batch, at least 1.</param>
    /// <param name="linger">How long to wait for more envelopes after the first one is there; zero or positive.</param>
    /// <param name="cancellationToken">Cancels the wait; a cancelled call hands out nothing (the read position stays).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxCount"/> is less than 1.</exception>
    /// <exception cref="InvalidOperationException">Another <see cref="ReadBatchAsync(int, TimeSpan, CancellationToken)"/> call is still running.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled while waiting.</exception>
    ValueTask<IReadOnlyList<Envelope>> ReadBatchAsync(int maxCount, TimeSpan linger, CancellationToken cancellationToken);

    /// <summary>
    /// As <see cref="ReadBatchAsync(int, TimeSpan, CancellationToken)"/>, and the batch also stops before its envelopes'
    /// JSON would exceed <paramref name="maxBytes"/> (the first envelope always goes, however big), so a batch stays below
    /// the receiver's request size limit. The default ignores <paramref name="maxBytes"/>.
    /// </summary>
    /// <param name="maxCount">Most envelopes in the batch, at least 1.</param>
    /// <param name="maxBytes">Most bytes of envelope JSON in the batch, at least 1.</param>
    /// <param name="linger">How long to wait for more envelopes after the first one is there.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    ValueTask<IReadOnlyList<Envelope>> ReadBatchAsync(int maxCount, long maxBytes, TimeSpan linger, CancellationToken cancellationToken) =>
        ReadBatchAsync(maxCount, linger, cancellationToken);

    /// <summary>
    /// Sets <paramref name="envelope"/> (of a batch handed out and not yet acknowledged) aside in the dead-letter store
    /// with the receiver's answer, because the receiver said not to retry it (HTTP 400, 413, 422). The batch is then
    /// acknowledged as usual, so delivery goes on behind it. Returns when the dead letter is stored. The default throws
    /// <see cref="NotSupportedException"/>.
    /// </summary>
    /// <param name="envelope">The refused envelope.</param>
    /// <param name="status">The HTTP status of the answer.</param>
    /// <param name="reason">The answer (status line and body, shortened).</param>
    /// <param name="cancellationToken">Stops waiting for the store (the dead letter may still be stored).</param>
    ValueTask DeadLetterAsync(Envelope envelope, int status, string reason, CancellationToken cancellationToken) =>
        ValueTask.FromException(new NotSupportedException($"{GetType().Name} has no dead-letter store"));

    /// <summary>
    /// Marks <paramref name="batch"/> as delivered: it is removed for good. Batches must be acknowledged in the order
    /// <see cref="ReadBatchAsync(int, TimeSpan, CancellationToken)"/> returned them, each once; the order is checked when the call starts, so the next
    /// acknowledgement may be started before this one completed. Returns when the removal is stored.
    /// </summary>
    /// <param name="batch">The oldest batch returned by <see cref="ReadBatchAsync(int, TimeSpan, CancellationToken)"/> and not yet acknowledged (the same instance).</param>
    /// <param name="cancellationToken">Stops waiting for the removal to be stored (the removal itself still happens).</param>
    /// <exception cref="InvalidOperationException">
    /// <paramref name="batch"/> is not the oldest unacknowledged batch handed out (acknowledged out of order or twice, not
    /// from this source, or handed out before a <see cref="RewindAsync"/>).
    /// </exception>
    ValueTask AcknowledgeAsync(IReadOnlyList<Envelope> batch, CancellationToken cancellationToken);

    /// <summary>
    /// Moves the read position back to the oldest unacknowledged envelope, after a failed delivery: the next
    /// <see cref="ReadBatchAsync(int, TimeSpan, CancellationToken)"/> returns it again, followed by everything after it, in append order. Batches handed out
    /// and not acknowledged are forgotten (acknowledging one of them afterwards throws). Waits for acknowledgements that
    /// are still being stored. The default implementation throws <see cref="NotSupportedException"/>: a source that
    /// cannot go back can only be driven one batch at a time, and is never rewound.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting for pending acknowledgements; the read position is then unchanged.</param>
    /// <exception cref="InvalidOperationException">A <see cref="ReadBatchAsync(int, TimeSpan, CancellationToken)"/> call is still running.</exception>
    /// <exception cref="NotSupportedException">The source cannot go back (the default implementation).</exception>
    ValueTask RewindAsync(CancellationToken cancellationToken) =>
        ValueTask.FromException(new NotSupportedException($"{GetType().Name} cannot go back to its oldest unacknowledged envelope"));
}
