namespace CloudTelephony.Telephony.Streams;

/// <summary>
/// A protocol's rules: turns its parsed frames into changes of open calls, through the services of the
/// <see cref="StreamEngine"/> it is attached to (open, touch, emit, close, move the clock). Everything the
/// protocols share — watermarks, the stream clock, deadlines and expiry, flush, saving — is the engine's. The calls it
/// gets are always of its own <see cref="OpenCallState"/> subclass (one protocol per engine).
/// </summary>
internal abstract class CallInterpreter
{
    /// <summary>The engine this interpreter works for; set once by the engine's constructor.</summary>
    protected StreamEngine Stream { get; private set; } = null!;

    /// <summary>Wire name of the protocol.</summary>
    public abstract string Protocol { get; }

    internal void AttachTo(StreamEngine stream)
    {
        Stream = stream;
        OnAttached();
    }

    /// <summary>Called once <see cref="Stream"/> is set, before any call is loaded.</summary>
    protected virtual void OnAttached()
    {
    }

    /// <summary>
    /// Applies one frame that passed the watermark check. Calls <see cref="StreamEngine.MoveClock"/> at the
    /// point where the protocol's rules say the frame's time is known (which expires the calls due before it), and
    /// touches every call it changes. Never throws on bad input.
    /// </summary>
    public abstract FrameOutcome Apply(in PbxFrame frame);

    /// <summary>When the engine must next look at <paramref name="call"/> even if no frame touches it (timeouts, graces);
    /// <see cref="DateTimeOffset.MaxValue"/> for never. The engine takes it when the call opens and looks again only when
    /// the time comes (a deadline that moved later is then simply queued again): a change that can bring it
    /// <em>forward</em> must be followed by <see cref="StreamEngine.Reschedule"/>.</summary>
    public abstract DateTimeOffset Deadline(OpenCallState call);

    /// <summary>Time passed <paramref name="call"/>'s <see cref="Deadline"/> (stream time <paramref name="now"/>): updates
    /// it and returns the final record when it closes now, else null (the engine then asks for its new deadline).</summary>
    public abstract Call? OnDeadline(OpenCallState call, DateTimeOffset now);

    /// <summary>The record of <paramref name="call"/> closed as it stands (end of a capture).</summary>
    public abstract Call Flush(OpenCallState call);

    /// <summary>Indexes <paramref name="call"/> (opened, or loaded from saved state).</summary>
    public abstract void Attach(OpenCallState call);

    /// <summary>Forgets <paramref name="call"/> (completed, or merged into another call).</summary>
    public abstract void Detach(OpenCallState call);

    /// <summary>One call's state as JSON (a row of <c>ct.open_calls</c>).</summary>
    public abstract string Serialize(OpenCallState call);

    /// <summary>Reads what <see cref="Serialize"/> wrote.</summary>
    /// <exception cref="FormatException">Not this protocol's call state.</exception>
    public abstract OpenCallState Deserialize(string json);

    /// <summary>
    /// Reads the one-document-per-PBX state this protocol's correlator saved before the stream engine (format 1), so an
    /// existing database continues; null when <paramref name="json"/> is not that format.
    /// </summary>
    /// <exception cref="FormatException">The document is format 1 but cannot be read.</exception>
    public abstract LegacyStreamState? ReadLegacy(string json);
}

/// <summary>What a format-1 state document held, in the engine's terms.</summary>
/// <param name="Clock">Stream clock, if the protocol kept one.</param>
/// <param name="Watermarks">Last seq per session (and when it was seen, where known).</param>
/// <param name="Calls">Open calls in their old order (they get ordinals in this order).</param>
internal sealed record LegacyStreamState(DateTimeOffset? Clock, IReadOnlyList<(string Session, long Seq, DateTimeOffset? LastSeenAt)> Watermarks, IReadOnlyList<OpenCallState> Calls);
