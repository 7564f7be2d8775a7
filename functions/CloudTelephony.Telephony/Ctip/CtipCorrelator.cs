using System.Text.Json;

namespace CloudTelephony.Telephony.Ctip;

/// <summary>
/// Correlates a Slican PBX's CTIP stream into calls (protocol reference: shared/protocols/ctip.md, CTIP manual v15.01).
/// CTIP has no call id: every message names only an extension, so calls are matched by extension, caller number, dialled
/// number (DID) and time. Event time is the relay's receive time (<see cref="PbxFrame.ReceivedAt"/>, UTC).
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><b>Inbound</b>: a RING with an external (or unknown) caller opens a call; further RINGs with the same caller and
/// DID while nobody has answered are the same ring group (all at once or in stages). The member that gets CONN answered it;
/// members released with cause 39 were "picked up elsewhere" and are not missed.</item>
/// <item><b>Outbound</b>: ECHO of a number not starting with <c>/</c> opens a call; more ECHOs before CONN append digits
/// (digit-by-digit dialling); the CONN peer (full number with the trunk prefix) replaces them.</item>
/// <item><b>Internal</b>: <c>ECHO A /B</c> (or a RING with caller <c>/A</c>) opens a call; <c>RING B /A</c>, <c>CONN B</c>,
/// <c>CONN A</c> join it. REL 17 on the caller = busy, REL 15 = failed (invalid number).</item>
/// <item><b>Transfers</b>: a RING whose held field names an extension in a call (<c>RING C caller 0 /C /A</c>) adds C to
/// that call and records a transfer from A; a later RING of A for the same caller after an unanswered transfer is the
/// recall, same call.</item>
/// <item><b>Ends</b>: a leg ends on REL, or on <c>STAT ext h</c> (on-hook) of a dialling or talking leg when no REL
/// follows within <see cref="ReleaseGrace"/>. When every leg has ended the call lingers <see cref="ReleaseGrace"/>
/// (or <see cref="RecallWindow"/> after an unanswered transfer) so late releases and recalls still join, then completes
/// on the next frame past that, on <see cref="Expire"/> or <see cref="Flush"/>.</item>
/// <item><b>Damage</b>: calls idle longer than <see cref="CorrelatorOptions.RingTimeout"/> (unanswered) or
/// <see cref="CorrelatorOptions.TalkTimeout"/> (answered) of stream time are closed, unanswered ones as
/// <see cref="CallStatus.Unknown"/>. A CONN with nothing before it (collector gap) makes a call of its own (outbound,
/// turned inbound when REL 39 legs follow). A REL for an extension that never rang joins the call it evidently belongs to
/// (REL 39 within <see cref="ReleaseGrace"/> of an answer; other causes while an unanswered inbound call is being released).</item>
/// <item><b>Dispositions</b>: frames that changed a call are <see cref="FrameDisposition.Applied"/>; STAT/ECHO/REL noise that
/// touches no call, replies, link tests and unknown messages are <see cref="FrameDisposition.Ignored"/>.</item>
/// </list>
/// </remarks>
public sealed partial class CtipCorrelator : ICallCorrelator
{
    /// <summary>How long after an on-hook a REL may still come (and after the last leg ended, late releases may still join).</summary>
    public static readonly TimeSpan ReleaseGrace = TimeSpan.FromSeconds(2);

    /// <summary>How long a call whose last transfer went unanswered waits for the PBX to recall the transferring extension.</summary>
    public static readonly TimeSpan RecallWindow = TimeSpan.FromSeconds(30);

    /// <summary>Watermarks of sessions not seen for this long (stream time) are dropped when a new session starts.</summary>
    public static readonly TimeSpan WatermarkRetention = TimeSpan.FromDays(7);

    private readonly CorrelatorOptions options;
    private readonly CtipCorrelatorState state;

    private CtipCorrelator(string pbx, CorrelatorOptions options, CtipCorrelatorState state)
    {
        Pbx = pbx;
        this.options = options;
        this.state = state;
    }

    /// <inheritdoc/>
    public string Protocol => "ctip";

    /// <inheritdoc/>
    public string Pbx { get; }

    /// <inheritdoc/>
    public int OpenCalls => state.Calls.Count;

    /// <summary>Creates a correlator, continuing from <paramref name="state"/> (JSON from <see cref="SaveState"/>) when given.</summary>
    /// <param name="pbx">PBX id stamped on every call.</param>
    /// <param name="options">Timeouts.</param>
    /// <param name="state">Saved state, or null/empty to start fresh.</param>
    /// <exception cref="FormatException">The state JSON cannot be read.</exception>
    public static CtipCorrelator Restore(string pbx, CorrelatorOptions options, string? state)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(state))
        {
            return new CtipCorrelator(pbx, options, new CtipCorrelatorState());
        }

        try
        {
            var restored = JsonSerializer.Deserialize(state, CtipStateJson.Default.CtipCorrelatorState)
                ?? throw new FormatException("CTIP correlator state is JSON null");
            return new CtipCorrelator(pbx, options, restored);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"CTIP correlator state is not valid: {ex.Message}", ex);
        }
    }

    /// <inheritdoc/>
    public string SaveState() => JsonSerializer.Serialize(state, CtipStateJson.Default.CtipCorrelatorState);

    /// <inheritdoc/>
    public FrameOutcome Process(in PbxFrame frame, ICollection<Call> completed)
    {
        if (!AdvanceWatermark(frame))
        {
            return FrameOutcome.Duplicate;
        }

        var now = frame.ReceivedAt;
        if (state.StreamTime is null || now > state.StreamTime)
        {
            state.StreamTime = now;
        }

        Sweep(state.StreamTime.Value, completed);
        var message = CtipParser.Parse(frame.Text);
        if (message is CtipParseError error)
        {
            return FrameOutcome.Failed(error.Message);
        }

        var applied = message switch
        {
            CtipRing ring => OnRing(ring, frame),
            CtipConn conn => OnConn(conn, frame),
            CtipRel rel => OnRel(rel, frame),
            CtipEcho echo => OnEcho(echo, frame),
            CtipStat stat => OnStat(stat, frame),
            _ => false,
        };
        return applied ? FrameOutcome.Applied : FrameOutcome.Ignored;
    }

    /// <inheritdoc/>
    public void Expire(DateTimeOffset now, ICollection<Call> completed) => Sweep(now, completed);

    /// <inheritdoc/>
    public void Flush(ICollection<Call> completed)
    {
        foreach (var call in state.Calls)
        {
            CloseOpenLegs(call);
            completed.Add(CtipCallBuilder.Build(Pbx, call));
        }

        state.Calls.Clear();
    }

    private bool AdvanceWatermark(in PbxFrame frame)
    {
        if (state.Watermarks.TryGetValue(frame.Session, out var mark))
        {
            if (frame.Seq <= mark.Seq)
            {
                return false;
            }

            mark.Seq = frame.Seq;
            mark.LastSeenAt = frame.ReceivedAt;
            return true;
        }

        PruneWatermarks(frame.ReceivedAt);
        state.Watermarks[frame.Session] = new SessionWatermark { Seq = frame.Seq, LastSeenAt = frame.ReceivedAt };
        return true;
    }

    private void PruneWatermarks(DateTimeOffset now)
    {
        List<string>? stale = null;
        foreach (var (session, mark) in state.Watermarks)
        {
            if (now - mark.LastSeenAt > WatermarkRetention)
            {
                (stale ??= []).Add(session);
            }
        }

        stale?.ForEach(session => state.Watermarks.Remove(session));
    }
}
