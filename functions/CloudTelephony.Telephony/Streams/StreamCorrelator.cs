namespace CloudTelephony.Telephony.Streams;

/// <summary>
/// The stream engine of one PBX: turns its frames, in order, into <see cref="CallChange"/>s through the PBX's protocol
/// interpreter (<see cref="PbxProtocols"/>). Not thread-safe: one instance per PBX stream.
/// </summary>
/// <remarks>
/// <para>What every protocol shares lives here, once:</para>
/// <list type="bullet">
/// <item><b>Watermarks.</b> Per relay session the last seq applied; a frame at or below it is a
/// <see cref="FrameDisposition.Duplicate"/> and changes nothing, so replays and any split of the stream into batches give
/// the same changes. One pruning rule: when a new session starts, sessions not seen for <see cref="WatermarkRetention"/>
/// (by receive time) are dropped.</item>
/// <item><b>Stream clock</b> (<see cref="Clock"/>): the latest time the protocol's frames carried (CTIP: receive time; AMI:
/// event time; SMDR: the PBX's record times). It drives timeouts, never the wall clock.</item>
/// <item><b>Deadlines.</b> Each open call has one deadline (its interpreter says when: a ring or talk timeout, a release
/// grace); calls whose deadline the clock passed are handed to the interpreter in deadline order (ties: the order the
/// calls opened) before the frame that moved the clock is applied. Cost per frame does not depend on the number of open
/// calls.</item>
/// <item><b>State.</b> The stream-level state (watermarks, clock) and each open call are saved apart:
/// <see cref="TakeDelta"/> gives only what changed since the last delta, so a batch writes the calls it touched.
/// <see cref="SaveState"/> gives everything in one document.</item>
/// </list>
/// </remarks>
public abstract class StreamCorrelator : ICallCorrelator
{
    /// <summary>Watermarks of sessions not seen for this long (receive time) are dropped when a new session starts.</summary>
    public static readonly TimeSpan WatermarkRetention = TimeSpan.FromDays(7);

    private readonly CompletedCallSink _completed = new();

    private protected StreamCorrelator(string pbx) => Pbx = pbx;

    /// <inheritdoc/>
    public abstract string Protocol { get; }

    /// <inheritdoc/>
    public string Pbx { get; }

    /// <inheritdoc/>
    public abstract int OpenCalls { get; }

    /// <summary>Stream clock (UTC): the latest time the stream's frames carried; null before the first.</summary>
    public abstract DateTimeOffset? Clock { get; }

    /// <summary>Sessions with a watermark.</summary>
    public abstract int Sessions { get; }

    /// <summary>Applies one frame; the changes it causes (including timeouts of other calls whose deadline its time
    /// passed) go to <paramref name="changes"/>. Never throws on bad input.</summary>
    /// <returns>What happened to the frame; parse errors carry a readable message.</returns>
    public abstract FrameOutcome Process(in PbxFrame frame, ICallChangeSink changes);

    /// <summary>Hands every call whose deadline is before <paramref name="now"/> (UTC, stream time; the clock does not
    /// move) to its protocol: timeouts and graces that ended.</summary>
    public abstract void Expire(DateTimeOffset now, ICallChangeSink changes);

    /// <summary>Closes every open call as it stands, in the order they opened (end of an offline capture).</summary>
    public abstract void Flush(ICallChangeSink changes);

    /// <summary>Everything — stream state and every open call — as one JSON document, for
    /// <see cref="IPbxProtocol.Restore(string, CorrelatorOptions, string?)"/>. Deterministic for a given state.</summary>
    public abstract string SaveState();

    /// <summary>
    /// What changed since the correlator was restored or the last delta was taken: the stream-level state, the open calls
    /// changed (with their deadlines) and the keys of calls no longer open. Applying the deltas in order to a store and
    /// restoring from it (<see cref="IPbxProtocol.Restore(string, CorrelatorOptions, string?, IEnumerable{string})"/>) gives a correlator that
    /// behaves exactly like this one. After a restore from a format-1 document the first delta holds every call.
    /// </summary>
    public abstract StreamDelta TakeDelta();

    /// <inheritdoc/>
    public FrameOutcome Process(in PbxFrame frame, ICollection<Call> completed)
    {
        _completed.Target = completed;
        return Process(frame, _completed);
    }

    /// <inheritdoc/>
    public void Expire(DateTimeOffset now, ICollection<Call> completed)
    {
        _completed.Target = completed;
        Expire(now, _completed);
    }

    /// <inheritdoc/>
    public void Flush(ICollection<Call> completed)
    {
        _completed.Target = completed;
        Flush(_completed);
    }
}

/// <summary>What a batch changed in a stream's saved state (see <see cref="StreamCorrelator.TakeDelta"/>).</summary>
/// <param name="StreamState">The new stream-level state document (small: watermarks, clock, counters).</param>
/// <param name="Upserts">Open calls to insert or replace.</param>
/// <param name="Deletes">Keys of calls to remove (completed or merged); applied before <paramref name="Upserts"/>.</param>
public sealed record StreamDelta(string StreamState, IReadOnlyList<OpenCallRow> Upserts, IReadOnlyList<string> Deletes);

/// <summary>One saved open call.</summary>
/// <param name="Key">Call key.</param>
/// <param name="State">The call's state JSON.</param>
/// <param name="Deadline">When the call is due even without frames (UTC, stream time); <see cref="DateTimeOffset.MaxValue"/> for never.</param>
public readonly record struct OpenCallRow(string Key, string State, DateTimeOffset Deadline);
