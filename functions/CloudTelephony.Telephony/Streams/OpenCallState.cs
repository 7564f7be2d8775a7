using System.Text.Json.Serialization;

namespace CloudTelephony.Telephony.Streams;

/// <summary>
/// What the stream engine keeps about every open call, whatever the protocol: its key, its place in the stream and the
/// numbering of its changes. A protocol's call state derives from it and is saved as one unit (one row of
/// <c>ct.open_calls</c>), so a batch writes only the calls it touched.
/// </summary>
internal abstract class OpenCallState
{
    /// <summary>The call key (<see cref="Call.CallKey"/>).</summary>
    public string Key { get; set; } = "";

    /// <summary>Order in which the stream opened its calls (from 0): ties between deadlines and <c>Flush</c> go by it.</summary>
    public long Ordinal { get; set; }

    /// <summary>Changes emitted so far: the <see cref="CallChange.Ordinal"/> of the next one.</summary>
    public int Changes { get; set; }

    /// <summary>Session of the last frame that touched the call (changes caused by time passing are attributed to it).</summary>
    public string? LastSession { get; set; }

    /// <summary>Seq of that frame.</summary>
    public long LastSeq { get; set; }

    /// <summary>An <see cref="CallChangeKind.Ended"/> was emitted and nothing happened since.</summary>
    public bool Ended { get; set; }

    /// <summary>The interpreter's deadline as last taken (never later than the real one: see <see cref="CallInterpreter.Deadline"/>).</summary>
    [JsonIgnore]
    internal DateTimeOffset Deadline { get; set; } = DateTimeOffset.MaxValue;

    /// <summary>Priority of the call's valid entry in the deadline queue (never later than <see cref="Deadline"/>: a
    /// deadline that moves later keeps its entry, which is moved when it comes up); MaxValue when it has none.</summary>
    [JsonIgnore]
    internal DateTimeOffset QueuedDeadline { get; set; } = DateTimeOffset.MaxValue;

    /// <summary>The call's current entry in the deadline queue (older entries are stale); null when it has none.</summary>
    [JsonIgnore]
    internal DeadlineTicket? Ticket { get; set; }

    /// <summary>Position in the engine's list of calls changed since the last delta; -1 when not in it.</summary>
    [JsonIgnore]
    internal int DirtyIndex { get; set; } = -1;

    /// <summary>Waiting for its deadline to be taken (opened or rescheduled in the current step).</summary>
    [JsonIgnore]
    internal bool Touched { get; set; }

    /// <summary>Saved in the store (a delta must delete it when it closes).</summary>
    [JsonIgnore]
    internal bool Persisted { get; set; }

    /// <summary>In the engine's open set (false for a call that opens and completes within one frame, and once closed).</summary>
    [JsonIgnore]
    internal bool InStream { get; set; }

    /// <summary>Completed or merged: no longer open.</summary>
    [JsonIgnore]
    internal bool Closed { get; set; }
}

/// <summary>An entry of the deadline queue: it lets go of its call when the call closes or gets a newer entry, so the queue
/// never keeps closed calls alive.</summary>
internal sealed class DeadlineTicket(OpenCallState call)
{
    /// <summary>The call, or null once the entry is stale.</summary>
    public OpenCallState? Call { get; set; } = call;
}
