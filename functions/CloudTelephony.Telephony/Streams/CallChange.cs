namespace CloudTelephony.Telephony.Streams;

/// <summary>What happened to a call (DESIGN.md "Live call events"; issue #15 turns these into CloudEvents).</summary>
public enum CallChangeKind
{
    /// <summary>The call's first frame: <see cref="CallChange.Caller"/> and <see cref="CallChange.Called"/> as known then.</summary>
    Opened,

    /// <summary>An extension started ringing (<see cref="CallChange.Extension"/>); one change per extension that rings, ring
    /// groups and queues included; again when the PBX rings it anew (a transfer recall).</summary>
    Ringing,

    /// <summary>A party answered: the call's first answer (<see cref="CallChange.Extension"/> = the extension, null when
    /// the far end of an outbound call answered) or a transfer target taking the call.</summary>
    Answered,

    /// <summary>The call was handed on from <see cref="CallChange.From"/> to <see cref="CallChange.To"/>.</summary>
    Transferred,

    /// <summary>The PBX put <see cref="CallChange.Extension"/>'s party on hold (AMI <c>Hold</c>; CTIP and SMDR do not tell live).</summary>
    Held,

    /// <summary>The hold of <see cref="CallChange.Extension"/> ended (AMI <c>Unhold</c>).</summary>
    Resumed,

    /// <summary>The last party left. The record may still wait a short grace for late frames (CTIP releases and transfer
    /// recalls); a call that rings again afterwards (recall) ends again later.</summary>
    Ended,

    /// <summary>The final record (<see cref="CallChange.Call"/>); the call is no longer open. Always after an
    /// <see cref="Ended"/>.</summary>
    Completed,

    /// <summary>The call was found to be part of another call (AMI attended transfer between two Linkedids): it continues as
    /// <see cref="CallChange.To"/> (a call key) and completes under that key; this key gets no <see cref="Completed"/>.</summary>
    Merged,
}

/// <summary>
/// One change of one call, emitted by a protocol interpreter through the stream engine. Deterministic: the same frames
/// give the same changes with the same <see cref="Ordinal"/>s, whatever the batch split, replays (frames at or below a
/// session's watermark emit nothing) or state saves and restores in between; so (<see cref="Pbx"/>,
/// <see cref="CallKey"/>, <see cref="Ordinal"/>) — <see cref="Id"/> — identifies a change across redeliveries.
/// </summary>
/// <param name="Kind">What happened.</param>
/// <param name="Pbx">PBX id.</param>
/// <param name="CallKey">The call's key (<see cref="Call.CallKey"/>).</param>
/// <param name="Ordinal">Position of this change among the call's changes, from 0, in order.</param>
/// <param name="At">When it happened in the call (UTC): the protocol's event time.</param>
/// <param name="Session">Relay session of the frame that caused it (for changes caused by time passing — timeouts, the
/// end of a grace — the call's last frame).</param>
/// <param name="Seq">Sequence number of that frame.</param>
public readonly record struct CallChange(CallChangeKind Kind, string Pbx, string CallKey, int Ordinal, DateTimeOffset At, string Session, long Seq)
{
    /// <summary><see cref="CallChangeKind.Ringing"/>: the extension; <see cref="CallChangeKind.Answered"/>: who answered
    /// (null = the far end); <see cref="CallChangeKind.Held"/>/<see cref="CallChangeKind.Resumed"/>: whose party.</summary>
    public string? Extension { get; init; }

    /// <summary><see cref="CallChangeKind.Transferred"/>: the extension that transferred.</summary>
    public string? From { get; init; }

    /// <summary><see cref="CallChangeKind.Transferred"/>: the extension or number the call went to;
    /// <see cref="CallChangeKind.Merged"/>: the key of the call it continues as.</summary>
    public string? To { get; init; }

    /// <summary><see cref="CallChangeKind.Opened"/> and <see cref="CallChangeKind.Ringing"/>: the calling number as known.</summary>
    public string? Caller { get; init; }

    /// <summary><see cref="CallChangeKind.Opened"/> and <see cref="CallChangeKind.Ringing"/>: the called number (DID) as known.</summary>
    public string? Called { get; init; }

    /// <summary><see cref="CallChangeKind.Completed"/>: the final record.</summary>
    public Call? Call { get; init; }

    /// <summary><c>pbx:callKey:ordinal</c>: the same change gets the same id on any redelivery.</summary>
    public string Id => $"{Pbx}:{CallKey}:{Ordinal}";
}

/// <summary>Receives the changes a stream engine emits, in order (per call in the order they happened).</summary>
public interface ICallChangeSink
{
    /// <summary>False when the sink keeps only <see cref="CallChangeKind.Completed"/> changes: the engine then skips
    /// building the others (their ordinals are still counted).</summary>
    bool WantsEveryChange => true;

    /// <summary>One change.</summary>
    void Add(in CallChange change);
}

/// <summary>Collects every change, and the completed calls apart (for handlers that only need records).</summary>
public sealed class CallChangeList : ICallChangeSink
{
    /// <summary>Every change in emission order.</summary>
    public List<CallChange> Changes { get; } = [];

    /// <summary>The <see cref="CallChange.Call"/> of every <see cref="CallChangeKind.Completed"/> change, in order.</summary>
    public List<Call> Completed { get; } = [];

    /// <inheritdoc/>
    public void Add(in CallChange change)
    {
        Changes.Add(change);
        if (change.Kind == CallChangeKind.Completed)
        {
            Completed.Add(change.Call!);
        }
    }

    /// <summary>Forgets everything collected.</summary>
    public void Clear()
    {
        Changes.Clear();
        Completed.Clear();
    }
}

/// <summary>A sink that keeps only completed calls, adding them to <see cref="Target"/> (the <see cref="ICallCorrelator"/> facade).</summary>
public sealed class CompletedCallSink : ICallChangeSink
{
    /// <summary>Where completed calls go.</summary>
    public ICollection<Call>? Target { get; set; }

    /// <inheritdoc/>
    public bool WantsEveryChange => false;

    /// <inheritdoc/>
    public void Add(in CallChange change)
    {
        if (change.Kind == CallChangeKind.Completed)
        {
            Target?.Add(change.Call!);
        }
    }
}
