using CloudTelephony.Telephony;
using CloudTelephony.Telephony.Streams;
using Npgsql;

namespace CloudTelephony.Functions.Ingest;

/// <summary>Why a stream was correlated.</summary>
public enum CorrelationOrigin
{
    /// <summary>A batch of frames from a relay (IngestHttp, IngestFrames, the standalone queue consumer).</summary>
    Ingest,

    /// <summary>The call sweep: time passed on a quiet stream (timeouts, graces).</summary>
    Sweep,

    /// <summary>An archived day replayed through a fresh engine (history: the live stream is not touched).</summary>
    Restore,

    /// <summary>An old collector's log back-filled through the PBX's live stream (<c>admin import</c>): like
    /// <see cref="Ingest"/>, but the calls are history (rules that act on recent calls skip them by age).</summary>
    Import,
}

/// <summary>
/// What correlating one PBX's part of a transaction produced, handed to every <see cref="ICallChangeHandler"/> inside
/// that transaction, after its frames and completed calls were stored (so handlers can reference <c>ct.calls</c> rows).
/// </summary>
public sealed class CallChangeContext
{
    private readonly Dictionary<string, List<long>> _outbox = new(StringComparer.Ordinal);

    /// <summary>The open transaction's connection.</summary>
    public required NpgsqlConnection Connection { get; init; }

    /// <summary>The transaction: whatever a handler writes commits or rolls back with the calls.</summary>
    public required NpgsqlTransaction Transaction { get; init; }

    /// <summary>PBX id.</summary>
    public required string Pbx { get; init; }

    /// <summary>The stream's protocol.</summary>
    public required string Protocol { get; init; }

    /// <summary>Why the stream was correlated.</summary>
    public required CorrelationOrigin Origin { get; init; }

    /// <summary>Every call change, in the order the engine emitted them (per call in the order they happened; ids from
    /// <see cref="CallChange.Id"/> are the same on any redelivery).</summary>
    public required IReadOnlyList<CallChange> Changes { get; init; }

    /// <summary>The calls completed (already upserted into <c>ct.calls</c>), in order.</summary>
    public required IReadOnlyList<Call> Completed { get; init; }

    /// <summary>Rows created in outbox tables in this transaction, by outbox name (<c>sms</c>, …); handed after the
    /// commit to the <see cref="IOutboxHandOff"/> of that name.</summary>
    public IReadOnlyDictionary<string, List<long>> Outbox => _outbox;

    /// <summary>Records that this transaction created row <paramref name="id"/> of outbox <paramref name="outbox"/>.</summary>
    public void Created(string outbox, long id)
    {
        if (!_outbox.TryGetValue(outbox, out var ids))
        {
            _outbox[outbox] = ids = [];
        }

        ids.Add(id);
    }
}

/// <summary>
/// Reacts to call changes inside the ingest transaction (the SMS rules; live call events write their outbox here too).
/// Registered as singletons; run in registration order for every PBX part of every batch, sweep and restore.
/// A handler that throws fails the transaction: nothing of the batch is stored and the sender retries.
/// </summary>
public interface ICallChangeHandler
{
    /// <summary>Handles one PBX's changes, writing only through <see cref="CallChangeContext.Transaction"/>.</summary>
    Task HandleAsync(CallChangeContext context, CancellationToken ct);
}

/// <summary>Dispatches rows of one outbox in-process as soon as the transaction that created them committed (the
/// outbox's sweep is the safety net for rows whose hand-off was lost).</summary>
public interface IOutboxHandOff
{
    /// <summary>The outbox this hand-off serves (<see cref="CallChangeContext.Created"/>'s name).</summary>
    string Outbox { get; }

    /// <summary>Rows committed just now.</summary>
    void Enqueue(IReadOnlyList<long> ids);
}
