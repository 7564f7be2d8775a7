using System.Runtime.InteropServices;
using System.Text.Json;

namespace CloudTelephony.Telephony.Streams;

/// <summary>The stream engine working for one protocol's interpreter (see <see cref="StreamCorrelator"/>). Not generic on
/// purpose: shared generic code over reference types pays runtime lookups on the hot path; interpreters cast the
/// <see cref="OpenCallState"/> they get to their own sealed call type.</summary>
internal sealed class StreamEngine : StreamCorrelator
{
    private readonly CallInterpreter _interpreter;
    private readonly Dictionary<string, SessionMark> _watermarks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OpenCallState> _calls = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OpenCallState>.AlternateLookup<ReadOnlySpan<char>> _callsBySpan;
    private readonly PriorityQueue<DeadlineTicket, (DateTimeOffset Deadline, long Ordinal)> _deadlines = new();
    private readonly List<OpenCallState> _pending = [];
    private readonly List<OpenCallState> _dirty = [];
    private readonly List<string> _deleted = [];
    private ICallChangeSink? _sink;
    private bool _everyChange = true;
    private ICallChangeSink? _lastSink;
    private bool _inFrame;
    private string _frameSession = "";
    private long _frameSeq;
    private DateTimeOffset? _clock;
    private long _nextOrdinal;
    private DateTimeOffset _pruneAfter = DateTimeOffset.MinValue;

    private StreamEngine(string pbx, CallInterpreter interpreter)
        : base(pbx)
    {
        _interpreter = interpreter;
        _callsBySpan = _calls.GetAlternateLookup<ReadOnlySpan<char>>();
        interpreter.AttachTo(this);
    }

    /// <inheritdoc/>
    public override string Protocol => _interpreter.Protocol;

    /// <inheritdoc/>
    public override int OpenCalls => _calls.Count;

    /// <inheritdoc/>
    public override DateTimeOffset? Clock => _clock;

    /// <inheritdoc/>
    public override int Sessions => _watermarks.Count;

    /// <summary>The open calls, in no particular order.</summary>
    public IEnumerable<OpenCallState> Calls => _calls.Values;

    /// <summary>
    /// A correlator for <paramref name="interpreter"/>'s protocol, continuing from saved state: a whole-state or
    /// stream-level document of format 2 plus the open calls saved apart (<paramref name="calls"/>), or a protocol's
    /// format-1 document.
    /// </summary>
    /// <exception cref="FormatException">The state cannot be read, or is another protocol's.</exception>
    public static StreamEngine Restore(string pbx, CallInterpreter interpreter, string? state, IEnumerable<string>? calls)
    {
        var stream = new StreamEngine(pbx, interpreter);
        if (!string.IsNullOrWhiteSpace(state))
        {
            if (StreamStateDocument.IsCurrent(state))
            {
                stream.LoadCurrent(state);
            }
            else
            {
                stream.LoadLegacy(state);
            }
        }

        foreach (var json in calls ?? [])
        {
            stream.Load(interpreter.Deserialize(json), persisted: true);
        }

        return stream;
    }

    // ---- frames ---------------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public override FrameOutcome Process(in PbxFrame frame, ICallChangeSink changes)
    {
        var session = frame.Session ?? "";
        if (!AdvanceWatermark(session, frame.Seq, frame.ReceivedAt))
        {
            return FrameOutcome.Duplicate;
        }

        _sink = changes;
        if (!ReferenceEquals(changes, _lastSink))
        {
            _lastSink = changes;
            _everyChange = changes.WantsEveryChange;
        }

        _inFrame = true;
        _frameSession = session;
        _frameSeq = frame.Seq;
        var outcome = _interpreter.Apply(frame);   // interpreters never throw on frames (their contract)
        _inFrame = false;
        FlushPending();
        _sink = null;
        if (_deadlines.Count > (2 * _calls.Count) + 1024)
        {
            CompactDeadlines();
        }

        return outcome;
    }

    /// <inheritdoc/>
    public override void Expire(DateTimeOffset now, ICallChangeSink changes)
    {
        _sink = changes;
        _lastSink = changes;
        _everyChange = changes.WantsEveryChange;
        try
        {
            ExpireDue(now);
            FlushPending();
        }
        finally
        {
            _sink = null;
        }
    }

    /// <inheritdoc/>
    public override void Flush(ICallChangeSink changes)
    {
        _sink = changes;
        _lastSink = changes;
        _everyChange = changes.WantsEveryChange;
        try
        {
            FlushPending();
            foreach (var call in _calls.Values.OrderBy(c => c.Ordinal).ToList())
            {
                Close(call, _interpreter.Flush(call));
            }

            _deadlines.Clear();
        }
        finally
        {
            _sink = null;
        }
    }

    // ---- services for interpreters ----------------------------------------------------------------------------------

    /// <summary>False while the current sink keeps only completed calls (see <see cref="ICallChangeSink.WantsEveryChange"/>):
    /// an interpreter may skip work that only produces other changes, as long as the call's later changes do not depend
    /// on it (SMDR, which emits a call's changes when it completes).</summary>
    public bool WantsEveryChange => _everyChange;

    /// <summary>The open call with key <paramref name="key"/>.</summary>
    public bool TryFind(ReadOnlySpan<char> key, out OpenCallState call) => _callsBySpan.TryGetValue(key, out call!);

    /// <summary>Opens <paramref name="call"/> (its <see cref="OpenCallState.Key"/> set) as the stream's newest call and
    /// indexes it with the interpreter; its deadline is taken when the frame is done (or the clock moves). A call with the
    /// same key still open is replaced (its protocol reused a key).</summary>
    public void Open(OpenCallState call)
    {
        call.Ordinal = _nextOrdinal++;
        Register(call, persisted: false);
        Touch(call);
        Reschedule(call);
    }

    /// <summary>Marks <paramref name="call"/> changed by the frame being applied (or by time passing): it is saved with
    /// the next delta, and its last frame becomes the current frame. Its deadline is not looked at again until its queue
    /// entry comes up (deadlines that move later cost nothing); see <see cref="Reschedule"/>.</summary>
    public void Touch(OpenCallState call)
    {
        if (_inFrame)
        {
            call.LastSession = _frameSession;
            call.LastSeq = _frameSeq;
        }

        if (call.InStream)
        {
            MarkDirty(call);
        }
    }

    /// <summary>The interpreter changed <paramref name="call"/> in a way that can bring its deadline forward (a release
    /// grace started): the engine takes the deadline again when the frame is done, or before the clock moves.</summary>
    public void Reschedule(OpenCallState call)
    {
        if (call.InStream && !call.Touched)
        {
            call.Touched = true;
            _pending.Add(call);
        }
    }

    /// <summary>
    /// Emits a change of <paramref name="call"/> (and touches it). A call that was <see cref="CallChangeKind.Ended"/>
    /// and changes again is live again; a second <see cref="CallChangeKind.Ended"/> in a row is not emitted.
    /// Works on calls that never entered the open set too (a one-frame SMDR call).
    /// </summary>
    public void Emit(OpenCallState call, CallChangeKind kind, DateTimeOffset at, string? extension = null, string? from = null, string? to = null,
        string? caller = null, string? called = null, Call? record = null)
    {
        Touch(call);
        if (kind == CallChangeKind.Ended)
        {
            if (call.Ended)
            {
                return;
            }

            call.Ended = true;
        }
        else if (kind is not (CallChangeKind.Completed or CallChangeKind.Merged))
        {
            call.Ended = false;
        }

        var sink = _sink;
        var ordinal = call.Changes++;
        if (sink is null || (!_everyChange && kind != CallChangeKind.Completed))
        {
            return;
        }

        sink.Add(new CallChange(kind, Pbx, call.Key, ordinal, at.ToUniversalTime(), call.LastSession ?? "", call.LastSeq)
        {
            Extension = extension,
            From = from,
            To = to,
            Caller = caller,
            Called = called,
            Call = record,
        });
    }

    /// <summary>Completes <paramref name="call"/> with its final <paramref name="record"/>: emits
    /// <see cref="CallChangeKind.Ended"/> (unless it already did) and <see cref="CallChangeKind.Completed"/>, removes it from
    /// the open set and from the interpreter's indexes (<see cref="CallInterpreter.Detach"/>).</summary>
    public void Close(OpenCallState call, Call record)
    {
        if (!call.Ended)
        {
            Emit(call, CallChangeKind.Ended, record.EndedAt);
        }

        Emit(call, CallChangeKind.Completed, record.EndedAt, record: record);
        if (call.InStream)
        {
            Unregister(call);
            _interpreter.Detach(call);
        }
    }

    /// <summary>Drops <paramref name="call"/> without a record (it turned out to be no call, e.g. AMI Local channels with
    /// no party): emits <see cref="CallChangeKind.Ended"/> (unless it already did) and removes it like <see cref="Close"/>.</summary>
    public void Discard(OpenCallState call, DateTimeOffset at)
    {
        if (!call.Ended)
        {
            Emit(call, CallChangeKind.Ended, at);
        }

        if (call.InStream)
        {
            Unregister(call);
            _interpreter.Detach(call);
        }
    }

    /// <summary><paramref name="from"/> turned out to be part of <paramref name="into"/>: emits
    /// <see cref="CallChangeKind.Merged"/> and removes it from the open set. The interpreter moves its indexes itself.</summary>
    public void Absorb(OpenCallState from, OpenCallState into, DateTimeOffset at)
    {
        Emit(from, CallChangeKind.Merged, at, to: into.Key);
        Unregister(from);
        Touch(into);
    }

    /// <summary>
    /// The frame being applied says the stream's time is <paramref name="time"/>: every call whose deadline is before it
    /// is handed to the interpreter (<see cref="CallInterpreter.OnDeadline"/>), in deadline order, and the clock
    /// moves forward to it (never back). A frame whose time is behind the clock (a PBX clock set back, captures of other
    /// days) expires nothing the clock passed but it did not.
    /// </summary>
    public void MoveClock(DateTimeOffset time)
    {
        if (_clock is null || time > _clock)
        {
            _clock = time;
        }

        if (_pending.Count == 0 && (!_deadlines.TryPeek(out _, out var next) || next.Deadline >= time))
        {
            return;   // nothing due: the common case, kept cheap
        }

        ExpireDue(time);
    }

    // ---- state ------------------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public override string SaveState()
    {
        FlushPending();
        var document = StreamDocument();
        document.Calls = [.. _calls.Values.OrderBy(c => c.Ordinal).Select(c => JsonDocument.Parse(_interpreter.Serialize(c)).RootElement.Clone())];
        return JsonSerializer.Serialize(document, StreamStateJson.Default.StreamStateDocument);
    }

    /// <inheritdoc/>
    public override StreamDelta TakeDelta()
    {
        FlushPending();
        var upserts = new List<OpenCallRow>(_dirty.Count);
        foreach (var call in _dirty)
        {
            call.DirtyIndex = -1;
            Schedule(call);   // the saved deadline is the exact one (the call sweep selects streams by it)
            upserts.Add(new OpenCallRow(call.Key, _interpreter.Serialize(call), call.Deadline));
            call.Persisted = true;
        }

        _dirty.Clear();
        var deletes = _deleted.ToArray();
        _deleted.Clear();
        return new StreamDelta(JsonSerializer.Serialize(StreamDocument(), StreamStateJson.Default.StreamStateDocument), upserts, deletes);
    }

    private StreamStateDocument StreamDocument() => new()
    {
        Protocol = Protocol,
        Clock = _clock,
        NextOrdinal = _nextOrdinal,
        Watermarks = new SortedDictionary<string, SessionMark>(_watermarks, StringComparer.Ordinal),
    };

    private void LoadCurrent(string state)
    {
        StreamStateDocument document;
        try
        {
            document = JsonSerializer.Deserialize(state, StreamStateJson.Default.StreamStateDocument)
                ?? throw new FormatException("stream state is JSON null");
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{Protocol} stream state cannot be read: {ex.Message}", ex);
        }

        if (document.Protocol != Protocol)
        {
            throw new FormatException($"stream state of protocol '{document.Protocol}' cannot continue a '{Protocol}' stream");
        }

        _clock = document.Clock;
        _nextOrdinal = document.NextOrdinal;
        foreach (var (session, mark) in document.Watermarks)
        {
            _watermarks[session] = mark;
        }

        foreach (var call in document.Calls ?? [])
        {
            Load(_interpreter.Deserialize(call.GetRawText()), persisted: false);
        }
    }

    private void LoadLegacy(string state)
    {
        var legacy = _interpreter.ReadLegacy(state)
            ?? throw new FormatException($"not a {Protocol} correlator state document");
        _clock = legacy.Clock;
        foreach (var (session, seq, seen) in legacy.Watermarks)
        {
            _watermarks[session] = new SessionMark { Seq = seq, LastSeenAt = seen ?? DateTimeOffset.MinValue };
        }

        foreach (var call in legacy.Calls)
        {
            call.Ordinal = _nextOrdinal++;
            Load(call, persisted: false);
            MarkDirty(call);
        }
    }

    private void Load(OpenCallState call, bool persisted)
    {
        if (call.Ordinal >= _nextOrdinal)
        {
            _nextOrdinal = call.Ordinal + 1;
        }

        Register(call, persisted);
        Schedule(call);
    }

    private void Register(OpenCallState call, bool persisted)
    {
        ref var slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_calls, call.Key, out var exists);
        if (exists && slot is { } previous)
        {
            Forget(previous);
            _interpreter.Detach(previous);
        }

        slot = call;
        call.InStream = true;
        call.Closed = false;
        call.Persisted = persisted;
        _interpreter.Attach(call);
    }

    private void Unregister(OpenCallState call)
    {
        if (_calls.TryGetValue(call.Key, out var current) && ReferenceEquals(current, call))
        {
            _calls.Remove(call.Key);
        }

        Forget(call);
    }

    /// <summary>A call leaves the open set: no longer saved, no longer in the deadline queue.</summary>
    private void Forget(OpenCallState call)
    {
        call.InStream = false;
        call.Closed = true;
        if (call.Persisted)
        {
            _deleted.Add(call.Key);
            call.Persisted = false;
        }

        if (call.Ticket is { } ticket)
        {
            ticket.Call = null;
            call.Ticket = null;
        }

        call.QueuedDeadline = DateTimeOffset.MaxValue;
        var i = call.DirtyIndex;
        if (i >= 0)
        {
            var last = _dirty[^1];
            _dirty[i] = last;
            last.DirtyIndex = i;
            _dirty.RemoveAt(_dirty.Count - 1);
            call.DirtyIndex = -1;
        }
    }

    private void MarkDirty(OpenCallState call)
    {
        if (call.DirtyIndex < 0)
        {
            call.DirtyIndex = _dirty.Count;
            _dirty.Add(call);
        }
    }

    // ---- watermarks, deadlines ----------------------------------------------------------------------------------------

    private bool AdvanceWatermark(string session, long seq, DateTimeOffset receivedAt)
    {
        if (_watermarks.TryGetValue(session, out var mark))
        {
            if (seq <= mark.Seq)
            {
                return false;
            }

            mark.Seq = seq;
            mark.LastSeenAt = receivedAt;
            return true;
        }

        PruneWatermarks(receivedAt);
        _watermarks[session] = new SessionMark { Seq = seq, LastSeenAt = receivedAt };
        return true;
    }

    /// <summary>Drops sessions not seen for <see cref="StreamCorrelator.WatermarkRetention"/> (kept up to a day longer:
    /// it scans at most once per day of stream time, and only when the oldest session may have become stale).</summary>
    private void PruneWatermarks(DateTimeOffset now)
    {
        if (now <= _pruneAfter)
        {
            return;
        }

        List<string>? stale = null;
        var oldest = DateTimeOffset.MaxValue;
        foreach (var (session, mark) in _watermarks)
        {
            if (mark.LastSeenAt == DateTimeOffset.MinValue)
            {
                mark.LastSeenAt = now;
            }

            if (now - mark.LastSeenAt > WatermarkRetention)
            {
                (stale ??= []).Add(session);
            }
            else if (mark.LastSeenAt < oldest)
            {
                oldest = mark.LastSeenAt;
            }
        }

        stale?.ForEach(session => _watermarks.Remove(session));

        // next scan when the oldest may be stale, and at most once per stream day
        var day = now + TimeSpan.FromDays(1);
        _pruneAfter = oldest != DateTimeOffset.MaxValue && oldest + WatermarkRetention > day ? oldest + WatermarkRetention : day;
    }

    private void ExpireDue(DateTimeOffset now)
    {
        FlushPending();
        var inFrame = _inFrame;
        _inFrame = false;   // what time does to a call belongs to that call's last frame
        try
        {
            while (_deadlines.TryPeek(out var ticket, out var due) && due.Deadline < now)
            {
                _deadlines.Dequeue();
                if (ticket.Call is not { } call)
                {
                    continue;   // stale: the call closed or has a newer entry
                }

                ticket.Call = null;
                call.Ticket = null;
                call.QueuedDeadline = DateTimeOffset.MaxValue;   // its queue entry is used up
                var actual = _interpreter.Deadline(call);
                call.Deadline = actual;
                if (actual > due.Deadline)
                {
                    // the deadline moved later since the entry was queued: queue it where it is now (maybe still due,
                    // then it comes up again in its turn)
                    Enqueue(call, actual);
                    continue;
                }

                if (_interpreter.OnDeadline(call, now) is { } record)
                {
                    Close(call, record);
                    continue;
                }

                var next = _interpreter.Deadline(call);
                call.Deadline = next;
                if (next >= now)
                {
                    Enqueue(call, next);
                }
                else
                {
                    // the interpreter left it due: look again at the next clock move, not in this loop
                    Reschedule(call);
                }
            }
        }
        finally
        {
            _inFrame = inFrame;
        }
    }

    /// <summary>Takes the deadlines of calls opened or rescheduled since the last time.</summary>
    private void FlushPending()
    {
        var pending = _pending;
        if (pending.Count == 0)
        {
            return;
        }

        foreach (var call in CollectionsMarshal.AsSpan(pending))
        {
            call.Touched = false;
            if (call.InStream)
            {
                Schedule(call);
            }
        }

        pending.Clear();
    }

    /// <summary>Takes the call's deadline from its interpreter; queues it only when it comes before its queued entry.</summary>
    private void Schedule(OpenCallState call)
    {
        var deadline = _interpreter.Deadline(call);
        call.Deadline = deadline;
        if (deadline < call.QueuedDeadline)
        {
            Enqueue(call, deadline);
        }
    }

    private void Enqueue(OpenCallState call, DateTimeOffset deadline)
    {
        if (call.Ticket is { } old)
        {
            old.Call = null;
            call.Ticket = null;
        }

        call.QueuedDeadline = deadline;
        if (deadline != DateTimeOffset.MaxValue)
        {
            var ticket = new DeadlineTicket(call);
            call.Ticket = ticket;
            _deadlines.Enqueue(ticket, (deadline, call.Ordinal));
        }
    }

    /// <summary>Rebuilds the deadline queue when stale entries (deadlines that moved earlier, calls closed) outnumber the
    /// open calls.</summary>
    private void CompactDeadlines()
    {
        _deadlines.Clear();
        foreach (var call in _calls.Values)
        {
            call.QueuedDeadline = DateTimeOffset.MaxValue;
            Enqueue(call, call.Deadline);
        }
    }
}
