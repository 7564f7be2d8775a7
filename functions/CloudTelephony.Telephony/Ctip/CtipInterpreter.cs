using System.Text.Json;
using CloudTelephony.Telephony.Streams;

namespace CloudTelephony.Telephony.Ctip;

/// <summary>
/// The CTIP rules: correlates a Slican PBX's CTIP stream into calls (protocol reference: shared/protocols/ctip.md, CTIP
/// manual v15.01). CTIP has no call id: every message names only an extension, so calls are matched by extension, caller
/// number, dialled number (DID) and time. Event time is the relay's receive time (<see cref="PbxFrame.ReceivedAt"/>, converted
/// to UTC when it carries an offset, so every time of a record — legs, events, transfers — is UTC), which is also the stream
/// clock.
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
/// that call and records a transfer from A. After an unanswered blind transfer the PBX recalls A with a new RING of the
/// same caller (dialled field = the original DID, held field <c>_</c>, ctip.md "Transfer"): the same call, which goes on
/// until the recall ends — answered, the talk continues; unanswered, the call ends when the recall's ringing ends. The
/// caller waits on the line while a transfer target or the recall rings, so an answered call lasts (and talks) until
/// the last such ringing ended, not only until the last conversation stopped.</item>
/// <item><b>Ends</b>: a leg ends on REL, or on <c>STAT ext h</c> (on-hook) of a dialling or talking leg when no REL
/// follows within <see cref="CtipCorrelator.ReleaseGrace"/>. When every leg has ended the call lingers
/// <see cref="CtipCorrelator.ReleaseGrace"/> (or <see cref="CtipCorrelator.RecallWindow"/> after an unanswered transfer)
/// so late releases and recalls still join, then completes when the clock passes that (the next frame, the call sweep or
/// the end of a capture).</item>
/// <item><b>Damage</b>: calls idle longer than <see cref="CorrelatorOptions.RingTimeout"/> (unanswered) or
/// <see cref="CorrelatorOptions.TalkTimeout"/> (answered) of stream time are closed, unanswered ones as
/// <see cref="CallStatus.Unknown"/>. A CONN with nothing before it (collector gap) makes a call of its own (outbound,
/// turned inbound when REL 39 legs follow). A REL for an extension that never rang joins the call it evidently belongs to
/// (REL 39 within <see cref="CtipCorrelator.ReleaseGrace"/> of an answer; other causes while an unanswered inbound call
/// is being released).</item>
/// <item><b>Dispositions</b>: frames that changed a call are <see cref="FrameDisposition.Applied"/>; STAT/ECHO/REL noise that
/// touches no call, replies, link tests and unknown messages are <see cref="FrameDisposition.Ignored"/>.</item>
/// <item><b>Changes</b>: RING of a new call → <see cref="CallChangeKind.Opened"/>; every extension that starts (or starts
/// again) ringing → <see cref="CallChangeKind.Ringing"/>; the first CONN, and a CONN of a ringing member or transfer
/// target → <see cref="CallChangeKind.Answered"/>; a transfer RING → <see cref="CallChangeKind.Transferred"/>; the last leg
/// ending → <see cref="CallChangeKind.Ended"/>. CTIP tells no hold.</item>
/// </list>
/// </remarks>
internal sealed partial class CtipInterpreter(CorrelatorOptions options) : CallInterpreter
{
    private readonly CtipCallIndex _index = new();

    /// <inheritdoc/>
    public override string Protocol => CtipProtocol.Instance.Name;

    /// <inheritdoc/>
    public override FrameOutcome Apply(in PbxFrame received)
    {
        // Every time in a call record is UTC: a frame stamped with an offset (a capture's +02:00 receive times) is
        // converted here, once, so legs, events and transfers never keep the offset.
        var frame = received.ReceivedAt.Offset == TimeSpan.Zero ? received : received with { ReceivedAt = received.ReceivedAt.ToUniversalTime() };
        Stream.MoveClock(frame.ReceivedAt);
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

    /// <summary>The earliest of: an on-hook leg's <see cref="CtipCorrelator.ReleaseGrace"/>, the closing grace (or recall
    /// window), the ring or talk timeout after the last activity.</summary>
    public override DateTimeOffset Deadline(OpenCallState state)
    {
        var call = (CtipOpenCall)state;
        var deadline = call.ClosingSince is { } closing
            ? closing + (call.HasUnansweredTransfer ? CtipCorrelator.RecallWindow : CtipCorrelator.ReleaseGrace)
            : call.LastActivityAt + (call.AnsweredAt is null ? options.RingTimeout : options.TalkTimeout);
        foreach (var leg in call.Legs)
        {
            if (leg.OnHookAt is { } onHook && onHook + CtipCorrelator.ReleaseGrace < deadline)
            {
                deadline = onHook + CtipCorrelator.ReleaseGrace;
            }
        }

        return deadline;
    }

    /// <summary>Ends on-hook legs whose REL did not come; completes the call when its grace or timeout passed.</summary>
    public override Call? OnDeadline(OpenCallState state, DateTimeOffset now)
    {
        var call = (CtipOpenCall)state;
        foreach (var leg in call.Legs)
        {
            if (leg.OnHookAt is { } onHook && now - onHook > CtipCorrelator.ReleaseGrace)
            {
                EndLeg(call, leg, onHook, null);
            }
        }

        if (!IsDue(call, now))
        {
            return null;
        }

        CloseOpenLegs(call);
        return CtipCallBuilder.Build(Stream.Pbx, call);
    }

    /// <inheritdoc/>
    public override Call Flush(OpenCallState state)
    {
        var call = (CtipOpenCall)state;
        CloseOpenLegs(call);
        return CtipCallBuilder.Build(Stream.Pbx, call);
    }

    /// <inheritdoc/>
    public override void Attach(OpenCallState call) => _index.Add((CtipOpenCall)call);

    /// <inheritdoc/>
    public override void Detach(OpenCallState call) => _index.Remove((CtipOpenCall)call);

    /// <inheritdoc/>
    public override string Serialize(OpenCallState call) => JsonSerializer.Serialize((CtipOpenCall)call, CtipStateJson.Default.CtipOpenCall);

    /// <inheritdoc/>
    public override OpenCallState Deserialize(string json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, CtipStateJson.Default.CtipOpenCall) ?? throw new FormatException("CTIP call state is JSON null");
        }
        catch (JsonException ex)
        {
            throw new FormatException($"CTIP call state is not valid: {ex.Message}", ex);
        }
    }

    /// <inheritdoc/>
    public override LegacyStreamState? ReadLegacy(string json) => CtipCorrelatorState.Read(json);

    private bool IsDue(CtipOpenCall call, DateTimeOffset now)
    {
        if (call.ClosingSince is { } closing)
        {
            return now - closing > (call.HasUnansweredTransfer ? CtipCorrelator.RecallWindow : CtipCorrelator.ReleaseGrace);
        }

        var idle = call.AnsweredAt is null ? options.RingTimeout : options.TalkTimeout;
        return now - call.LastActivityAt > idle;
    }

    /// <summary>Ends what is still open: on-hook legs at their on-hook, the rest at the last activity (the call was cut).</summary>
    private static void CloseOpenLegs(CtipOpenCall call)
    {
        foreach (var leg in call.Legs)
        {
            if (leg.OnHookAt is { } onHook)
            {
                call.EndLeg(leg, onHook, null);
            }
            else if (leg.IsOpen)
            {
                call.Cut = true;
                call.EndLeg(leg, call.LastActivityAt, null);
            }
        }
    }
}

/// <summary>The CTIP protocol module: Slican CTIP over TCP 5524, one text line per frame.</summary>
internal sealed class CtipProtocol : PbxProtocol
{
    public static readonly CtipProtocol Instance = new();

    public override string Name => "ctip";

    public override string Title => "Slican CTIP";

    public override int DefaultPort => 5524;

    public override CaptureFraming Framing => CaptureFraming.Lines;

    public override FrameParse Parse(string frame, DateTimeOffset receivedAt, TimeZoneInfo? timeZone = null)
        => CtipParser.Parse(frame) is var message && message is CtipParseError error
            ? new FrameParse(error.Message, null)
            : new FrameParse(null, message.GetType().Name.Replace("Ctip", "", StringComparison.Ordinal));

    protected override CallInterpreter CreateInterpreter(CorrelatorOptions options) => new CtipInterpreter(options);
}

/// <summary>The CTIP correlator's timing rules, and a shortcut to its stream engine (<see cref="PbxProtocols"/> <c>ctip</c>).</summary>
public static class CtipCorrelator
{
    /// <summary>How long after an on-hook a REL may still come (and after the last leg ended, late releases may still join).</summary>
    public static readonly TimeSpan ReleaseGrace = TimeSpan.FromSeconds(2);

    /// <summary>How long a call whose last transfer went unanswered waits for the PBX to recall the transferring extension.</summary>
    public static readonly TimeSpan RecallWindow = TimeSpan.FromSeconds(30);

    /// <summary>A CTIP stream engine, continuing from <paramref name="state"/> when given (any format
    /// <see cref="IPbxProtocol.Restore(string, CorrelatorOptions, string?)"/> reads).</summary>
    /// <param name="pbx">PBX id stamped on every call.</param>
    /// <param name="options">Timeouts.</param>
    /// <param name="state">Saved state, or null/empty to start fresh.</param>
    /// <exception cref="FormatException">The state cannot be read.</exception>
    public static StreamCorrelator Restore(string pbx, CorrelatorOptions options, string? state) => CtipProtocol.Instance.Restore(pbx, options, state);
}
