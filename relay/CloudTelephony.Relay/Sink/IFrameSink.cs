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
/// The forwarder's side of the buffer: read a batch, deliver it, then acknowledge it. Until acknowledged, the same
/// batch is returned again by <see cref="ReadBatchAsync"/> (peek / delete-after-settle, like the outbox will do).
/// </summary>
public interface IFrameSource
{
    /// <summary>
    /// Waits for at least one envelope, then waits up to <paramref name="linger"/> for more and returns up to
    /// <paramref name="maxCount"/> in append order. Returns the unacknowledged batch again if there is one.
    /// </summary>
    ValueTask<IReadOnlyList<Envelope>> ReadBatchAsync(int maxCount, TimeSpan linger, CancellationToken cancellationToken);

    /// <summary>Marks the batch last returned by <see cref="ReadBatchAsync"/> as delivered; it is removed for good.</summary>
    ValueTask AcknowledgeAsync(IReadOnlyList<Envelope> batch, CancellationToken cancellationToken);
}
