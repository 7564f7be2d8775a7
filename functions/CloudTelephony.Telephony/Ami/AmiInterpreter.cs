using System.Text.Json;
using CloudTelephony.Telephony.Streams;

namespace CloudTelephony.Telephony.Ami;

/// <summary>
/// The AMI rules: correlates an Asterisk Manager Interface event stream (Asterisk 12+ bridging events; written against the Asterisk 18
/// AMI event reference, docs.asterisk.org/Asterisk_18_Documentation/API_Documentation/AMI_Events/) into calls.
/// See shared/protocols/ami.md ("Identity and correlation", "Events for call records", "Answered / missed from AMI").
/// </summary>
/// <remarks>
/// <para><b>Identity.</b> A call is keyed by <c>Linkedid</c> (the Uniqueid of the oldest channel of the call); a leg
/// (participant) by <c>Uniqueid</c>. Only <c>Newchannel</c> opens a call or adds a leg; later events are routed by their
/// channel's Uniqueid, so a leg stays with its call even after Asterisk rewrites its Linkedid when bridges join.
/// An <c>AttendedTransfer</c> between two Linkedids (phone-driven transfer: the consultation call is a call of its own)
/// merges the younger call into the older one; later channels of the merged Linkedid join the survivor.
/// Calls already in progress when the stream starts (no <c>Newchannel</c> seen) are not recorded.</para>
/// <para><b>Local channels.</b> <c>Local/…;1</c> / <c>;2</c> halves are tracked (the call closes only when they are
/// gone too) but never become participants or extensions; the real channel a <c>;2</c> half dials is the leg.</para>
/// <para><b>Trunk or extension.</b> By the PBX's number plan (<see cref="CorrelatorOptions.TrunkEndpoints"/>,
/// <see cref="CorrelatorOptions.ExtensionPattern"/>, <see cref="CorrelatorOptions.InternalContexts"/>) or, without one, by
/// the stream's evidence: rules in <see cref="AmiNumberPlan"/>. An extension is reported by its number (the caller id of
/// an account such as <c>PJSIP/150010002</c>).</para>
/// <para><b>Direction.</b> Origin (first channel) is a trunk → inbound; else a trunk leg took part (or a click-to-call was
/// for an outside number) → outbound; else internal.</para>
/// <para><b>Click-to-call.</b> An <c>Originate</c> (<c>DialBegin</c> with no dialling channel) of <c>Local/201@ctx</c>:
/// the phone the Local half rings is the caller and its answer is ring time; the far end answering is the answer; when the
/// phone never answers, <c>OriginateResponse</c> <c>Exten</c> is the number called. A call of Local channels only is no
/// call record.</para>
/// <para><b>Transfers.</b> Blind (<c>BlindTransfer</c>: the next dials are its targets); attended (<c>AttendedTransfer</c>;
/// target from <c>TransferTarget*</c> or, when absent, the party in the consultation bridge <c>SecondBridgeUniqueid</c>
/// reached through Local <c>;1</c>/<c>;2</c>); a consultation whose target rang but no <c>AttendedTransfer</c> came (busy,
/// taken back) is a transfer not answered; blonde transfers' recalls and re-tries (new Linkedid) join the call when they
/// enter its bridge, and an unanswered recall (the PBX ringing the transferer on a new Linkedid while its old channel is
/// held) joins the call whose transfer from that extension is unanswered; AMI <c>Redirect</c> (no event): the caller's channel, out of any bridge after the phone it talked
/// with is gone, dials again.</para>
/// <para><b>Pickup.</b> The picker's channel (<c>*8</c>, <c>Pickup()</c>, SIP Replaces) opens a call of its own; the
/// <c>DialEnd ANSWER</c> of the ringing call naming it merges that call into the picked-up one, answered by the picker
/// then; the phone that only rang is answered elsewhere; extensions are the phones that rang (with <c>Newstate</c>
/// Ringing in the stream: those that reached it, answered or were busy; a DND 480, a 302 forward or an unreachable phone
/// did not).</para>
/// <para><b>Reconnects.</b> <c>CoreShowChannel</c>/<c>CoreShowChannelsComplete</c> after each relay login reconcile the
/// open calls (<see cref="AmiResync"/>).</para>
/// <para><b>Answer.</b> A leg answered when a <c>DialEnd</c> with <c>DialStatus: ANSWER</c> names it, an
/// <c>AgentConnect</c> names it, or it is in a bridge with another channel while Up. The call's answerer is the first
/// non-origin, non-Local leg that answered (<see cref="Call.AnsweredBy"/> = its extension; null when it is a trunk,
/// e.g. outbound calls). Asterisk answering the caller itself (IVR, queue music: <c>Newstate 6</c> on the origin) is not
/// an answer by a person. Talk time runs from the first answer to the end, across transfers.</para>
/// <para><b>Not answered.</b> From the <c>DialStatus</c> of top-level dials (dialler not a Local channel; a queue
/// abandon counts as CANCEL): any CANCEL → missed/<c>cancel</c>; else NOANSWER → missed/<c>noanswer</c>; else BUSY →
/// busy; else CONGESTION/CHANUNAVAIL → failed. No dial at all: inbound → missed (<c>cancel</c> if the caller hung up
/// first, else <c>noanswer</c>); outbound/internal → failed. A ring group of N legs is one call; unanswered legs are
/// participants with outcome <c>answered-elsewhere</c>/<c>no-answer</c>/…, never calls of their own.</para>
/// <para><b>Close.</b> A call is emitted when the last channel it holds hangs up. A call with no activity for
/// <see cref="CorrelatorOptions.RingTimeout"/> (not answered) or <see cref="CorrelatorOptions.TalkTimeout"/> (answered),
/// measured on the stream clock (event times), is closed: status answered if it was, else
/// unknown; a flush does the same for every open call. Any event naming a channel of an open call (RTCP
/// reports included) counts as activity.</para>
/// <para><b>Roles.</b> Like wazo-call-logd's role interpretors, each concern has its own class, all sharing
/// <see cref="AmiCalls"/>: <see cref="AmiChannels"/> (channels and dials), <see cref="AmiBridges"/> (bridges and
/// transfers), <see cref="AmiQueues"/> (queues and agents), <see cref="AmiCdr"/> (CDR cross-check),
/// <see cref="AmiResync"/> (reconnect reconciliation), <see cref="AmiNumberPlan"/> (trunk or extension),
/// <see cref="AmiCallBuilder"/> (the final record).</para>
/// <para><b>Changes.</b> A new Linkedid → <see cref="CallChangeKind.Opened"/>; a real extension other than the caller
/// really ringing (Newstate 5 Ringing; not a dial a DND phone refused at once) → <see cref="CallChangeKind.Ringing"/>, one per member of a ring
/// group or queue; the first answer (by the extension, or null for the far end) and a transfer target answering →
/// <see cref="CallChangeKind.Answered"/>; Blind/AttendedTransfer → <see cref="CallChangeKind.Transferred"/>; Hold/Unhold
/// → <see cref="CallChangeKind.Held"/>/<see cref="CallChangeKind.Resumed"/>; a consultation call merged →
/// <see cref="CallChangeKind.Merged"/>; the last hangup → <see cref="CallChangeKind.Ended"/>.</para>
/// <para><b>Cdr events</b> (cdr_manager) are a cross-check only: for a call still open they add a <c>record</c> event
/// and can supply an answer that no other event showed (from the record's durations: <see cref="AmiCdr"/>); they never
/// open a call or add a leg (no double counting).
/// Usually they arrive after the call closed and are then <see cref="FrameDisposition.Ignored"/>.</para>
/// <para><b>Voicemail.</b> A <c>Newexten</c> running the <c>VoiceMail</c> application on a channel of a call no person
/// answered makes it <see cref="CallStatus.Voicemail"/> (the <see cref="Call.MissedReason"/> still tells why nobody
/// answered).</para>
/// <para><b>IVR digits.</b> <c>DTMFEnd</c> with <c>Direction: Received</c> on the origin channel before a person
/// answered.</para>
/// </remarks>
internal sealed class AmiInterpreter : CallInterpreter
{
    private readonly CorrelatorOptions _options;
    private readonly AmiMessage _msg = new();
    private AmiCalls _calls = null!;
    private AmiChannels _channels = null!;
    private AmiBridges _bridges = null!;
    private AmiQueues _queues = null!;
    private AmiCdr _cdr = null!;
    private AmiResync _resync = null!;

    public AmiInterpreter(CorrelatorOptions options) => _options = options;

    /// <inheritdoc/>
    public override string Protocol => AmiProtocol.Instance.Name;

    /// <inheritdoc/>
    protected override void OnAttached()
    {
        _calls = new AmiCalls(Stream, _options);
        _channels = new AmiChannels(_calls);
        _bridges = new AmiBridges(_calls);
        _queues = new AmiQueues(_calls);
        _cdr = new AmiCdr(_calls);
        _resync = new AmiResync(_calls);
    }

    /// <inheritdoc/>
    public override FrameOutcome Apply(in PbxFrame frame)
    {
        var receivedAt = frame.ReceivedAt.ToUniversalTime();
        if (!AmiParser.TryParse(frame.Text, receivedAt, _msg, out var error))
        {
            return FrameOutcome.Failed(error!);
        }

        var m = _msg;
        if (m.Kind != AmiMessageKind.Event)
        {
            return FrameOutcome.Ignored;
        }

        var at = m.At;
        Stream.MoveClock(at);
        return Dispatch(m, at, frame) ? FrameOutcome.Applied : FrameOutcome.Ignored;
    }

    /// <summary>The ring timeout (not answered) or talk timeout (answered) after the call's last activity.</summary>
    public override DateTimeOffset Deadline(OpenCallState state)
        => state is AmiCallState call ? call.LastAt + (call.AnsweredAt is null ? _options.RingTimeout : _options.TalkTimeout) : DateTimeOffset.MaxValue;

    /// <inheritdoc/>
    public override Call? OnDeadline(OpenCallState call, DateTimeOffset now) => Flush(call);

    /// <inheritdoc/>
    public override Call Flush(OpenCallState state) => state is AmiCallState call ? AmiCallBuilder.Build(Stream.Pbx, call, call.LastAt, timedOut: true) : throw new ArgumentException("not an AMI call", nameof(state));

    /// <inheritdoc/>
    public override void Attach(OpenCallState call) => _calls.Attach((AmiCallState)call);

    /// <inheritdoc/>
    public override void Detach(OpenCallState call) => _calls.Detach((AmiCallState)call);

    /// <inheritdoc/>
    public override string Serialize(OpenCallState call) => JsonSerializer.Serialize((AmiCallState)call, AmiStateJson.Default.AmiCallState);

    /// <inheritdoc/>
    public override OpenCallState Deserialize(string json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, AmiStateJson.Default.AmiCallState) ?? throw new FormatException("AMI call state is JSON null");
        }
        catch (JsonException ex)
        {
            throw new FormatException($"AMI call state cannot be read: {ex.Message}", ex);
        }
    }

    /// <inheritdoc/>
    public override LegacyStreamState? ReadLegacy(string json) => AmiStateDto.Read(json);

    private bool Dispatch(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        switch (m.NameSpan)
        {
            case "Newchannel":
                return _channels.OnNewchannel(m, at, frame);
            case "Newstate":
                return _channels.OnNewstate(m, at, frame);
            case "DialBegin":
                return _channels.OnDialBegin(m, at, frame);
            case "DialEnd":
                return _channels.OnDialEnd(m, at, frame);
            case "Hangup":
                return _channels.OnHangup(m, at, frame);
            case "DTMFEnd":
                return _channels.OnDtmfEnd(m, at, frame);
            case "Newexten" when m["Application"].Equals("VoiceMail", StringComparison.OrdinalIgnoreCase):
                return _channels.OnVoicemail(m, at, frame);
            case "Hold":
                return _channels.OnHold(m, at, held: true);
            case "Unhold":
                return _channels.OnHold(m, at, held: false);
            case "BridgeEnter":
                return _bridges.OnBridge(m, at, frame, enter: true);
            case "BridgeLeave":
                return _bridges.OnBridge(m, at, frame, enter: false);
            case "BlindTransfer":
                return _bridges.OnBlindTransfer(m, at, frame);
            case "AttendedTransfer":
                return _bridges.OnAttendedTransfer(m, at, frame);
            case "QueueCallerJoin":
            case "QueueCallerLeave":
            case "QueueCallerAbandon":
                return _queues.OnQueueCaller(m, at, frame);
            case "AgentCalled":
            case "AgentConnect":
            case "AgentComplete":
            case "AgentRingNoAnswer":
                return _queues.OnAgent(m, at, frame);
            case "OriginateResponse":
                return _channels.OnOriginateResponse(m, at, frame);
            case "Cdr":
                return _cdr.OnCdr(m, at, frame);
            case "CoreShowChannel":
                return _resync.OnCoreShowChannel(m, at, frame);
            case "CoreShowChannelsComplete":
                return _resync.OnComplete(m, at, frame);
            default:
                return _channels.OnOther(m, at);
        }
    }
}

/// <summary>The AMI protocol module: Asterisk Manager Interface over TCP 5038, one event block per frame.</summary>
internal sealed class AmiProtocol : PbxProtocol
{
    public static readonly AmiProtocol Instance = new();

    public override string Name => "ami";

    public override string Title => "Asterisk AMI";

    public override int DefaultPort => 5038;

    public override CaptureFraming Framing => CaptureFraming.Blocks;

    public override FrameParse Parse(string frame, DateTimeOffset receivedAt, TimeZoneInfo? timeZone = null)
    {
        var parsed = AmiParser.Parse(frame, receivedAt);
        return parsed.Ok ? new FrameParse(null, parsed.Message!.Name) : new FrameParse(parsed.Error, null);
    }

    protected override CallInterpreter CreateInterpreter(CorrelatorOptions options) => new AmiInterpreter(options);
}

/// <summary>A shortcut to the AMI stream engine (<see cref="PbxProtocols"/> <c>ami</c>).</summary>
public static class AmiCorrelator
{
    /// <summary>An AMI stream engine, continuing from <paramref name="state"/> when given.</summary>
    /// <param name="pbx">PBX id stamped on every call.</param>
    /// <param name="options">Correlation settings.</param>
    /// <param name="state">Saved state (any format <see cref="IPbxProtocol.Restore(string, CorrelatorOptions, string?)"/> reads), or null/empty to start fresh.</param>
    /// <exception cref="FormatException">State JSON that cannot be read.</exception>
    public static StreamCorrelator Restore(string pbx, CorrelatorOptions options, string? state) => AmiProtocol.Instance.Restore(pbx, options, state);
}
