using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace CloudTelephony.Telephony.Ami;

/// <summary>
/// Correlates an Asterisk Manager Interface event stream (Asterisk 12+ bridging events; written against the Asterisk 18
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
/// <para><b>Trunk or extension.</b> With <see cref="CorrelatorOptions.TrunkEndpoints"/> set, a channel is a trunk when
/// an entry equals its channel-name prefix (<c>PJSIP/provider</c> matches <c>PJSIP/provider-0000002a</c>), its endpoint
/// name (<c>provider</c>) or its <c>Newchannel</c> context (<c>from-pstn</c>); anything else is an extension.
/// With the list empty the default heuristic is: a channel whose <c>Newchannel</c> context looks like a trunk context
/// (<c>from-trunk*</c>, <c>from-pstn*</c>, <c>from-external*</c>, <c>from-did*</c>, <c>from-provider*</c>, or any context
/// containing <c>trunk</c> or <c>pstn</c>) is a trunk; otherwise an endpoint that is 1–6 digits, or any channel in a
/// <c>from-internal*</c> context, is an extension; anything else (a named endpoint such as <c>PJSIP/sipgate</c>) is a trunk.</para>
/// <para><b>Direction.</b> Origin (first channel) is a trunk → inbound; else a trunk leg took part → outbound; else internal.</para>
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
/// measured in event time of later frames or by <see cref="Expire"/>, is closed: status answered if it was, else
/// unknown; <see cref="Flush"/> does the same for every open call. Any event naming a channel of an open call (RTCP
/// reports included) counts as activity.</para>
/// <para><b>Cdr events</b> (cdr_manager) are a cross-check only: for a call still open they add a <c>record</c> event
/// and can supply an answer that no other event showed; they never open a call or add a leg (no double counting).
/// Usually they arrive after the call closed and are then <see cref="FrameDisposition.Ignored"/>.</para>
/// <para><b>Voicemail.</b> A <c>Newexten</c> running the <c>VoiceMail</c> application on a channel of a call no person
/// answered makes it <see cref="CallStatus.Voicemail"/> (the <see cref="Call.MissedReason"/> still tells why nobody
/// answered).</para>
/// <para><b>IVR digits.</b> <c>DTMFEnd</c> with <c>Direction: Received</c> on the origin channel before a person
/// answered.</para>
/// </remarks>
public sealed class AmiCorrelator : ICallCorrelator
{
    private readonly CorrelatorOptions _options;
    private readonly AmiMessage _msg = new();
    private readonly Dictionary<string, long> _watermarks;
    private readonly Dictionary<string, AmiCallState> _calls = new(StringComparer.Ordinal);
    private readonly Dictionary<string, AmiCallState>.AlternateLookup<ReadOnlySpan<char>> _callsBySpan;
    private readonly Dictionary<string, string> _aliases;
    private readonly Dictionary<string, (AmiCallState Call, AmiLegState Leg)> _legs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (AmiCallState Call, AmiLegState Leg)>.AlternateLookup<ReadOnlySpan<char>> _legsBySpan;
    private DateTimeOffset _minDeadline = DateTimeOffset.MaxValue;

    private AmiCorrelator(string pbx, CorrelatorOptions options, AmiStateDto state)
    {
        Pbx = pbx;
        _options = options;
        _watermarks = new Dictionary<string, long>(state.Watermarks, StringComparer.Ordinal);
        _aliases = new Dictionary<string, string>(state.Aliases, StringComparer.Ordinal);
        _callsBySpan = _calls.GetAlternateLookup<ReadOnlySpan<char>>();
        _legsBySpan = _legs.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var call in state.Calls)
        {
            _calls[call.Key] = call;
            foreach (var leg in call.Legs)
            {
                _legs[leg.Uid] = (call, leg);
            }

            TrackDeadline(call);
        }
    }

    /// <inheritdoc/>
    public string Protocol => "ami";

    /// <inheritdoc/>
    public string Pbx { get; }

    /// <inheritdoc/>
    public int OpenCalls => _calls.Count;

    /// <summary>Creates a correlator, continuing from <paramref name="state"/> (JSON from <see cref="SaveState"/>) when given.</summary>
    /// <param name="pbx">PBX id stamped on every call.</param>
    /// <param name="options">Correlation settings.</param>
    /// <param name="state">Saved state, or null/empty to start fresh.</param>
    /// <exception cref="FormatException">State JSON that cannot be read.</exception>
    public static AmiCorrelator Restore(string pbx, CorrelatorOptions options, string? state)
    {
        ArgumentNullException.ThrowIfNull(options);
        var dto = new AmiStateDto();
        if (!string.IsNullOrWhiteSpace(state))
        {
            try
            {
                dto = JsonSerializer.Deserialize(state, AmiStateJson.Default.AmiStateDto) ?? throw new FormatException("AMI state JSON is null");
            }
            catch (JsonException ex)
            {
                throw new FormatException($"AMI state JSON cannot be read: {ex.Message}", ex);
            }
        }

        return new AmiCorrelator(pbx, options, dto);
    }

    /// <inheritdoc/>
    public string SaveState()
    {
        var dto = new AmiStateDto
        {
            Watermarks = new Dictionary<string, long>(_watermarks.OrderBy(kv => kv.Key, StringComparer.Ordinal)),
            Aliases = new Dictionary<string, string>(_aliases.OrderBy(kv => kv.Key, StringComparer.Ordinal)),
            Calls = [.. _calls.Values.OrderBy(c => c.StartedAt).ThenBy(c => c.Key, StringComparer.Ordinal)],
        };
        return JsonSerializer.Serialize(dto, AmiStateJson.Default.AmiStateDto);
    }

    /// <inheritdoc/>
    public FrameOutcome Process(in PbxFrame frame, ICollection<Call> completed)
    {
        ref var wm = ref CollectionsMarshal.GetValueRefOrAddDefault(_watermarks, frame.Session, out var seen);
        if (seen && frame.Seq <= wm)
        {
            return FrameOutcome.Duplicate;
        }

        wm = frame.Seq;
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
        if (at > _minDeadline)
        {
            Expire(at, completed);
        }

        var applied = Apply(m, at, frame, completed);
        return applied ? FrameOutcome.Applied : FrameOutcome.Ignored;
    }

    /// <inheritdoc/>
    public void Expire(DateTimeOffset now, ICollection<Call> completed)
    {
        if (_calls.Count == 0)
        {
            _minDeadline = DateTimeOffset.MaxValue;
            return;
        }

        List<(DateTimeOffset Deadline, AmiCallState Call)>? stale = null;
        var min = DateTimeOffset.MaxValue;
        foreach (var call in _calls.Values)
        {
            var deadline = Deadline(call);
            if (deadline < now)
            {
                (stale ??= []).Add((deadline, call));
            }
            else if (deadline < min)
            {
                min = deadline;
            }
        }

        _minDeadline = min;
        if (stale is null)
        {
            return;
        }

        foreach (var (_, call) in stale.OrderBy(s => s.Deadline).ThenBy(s => s.Call.Key, StringComparer.Ordinal))
        {
            Close(call, call.LastAt, timedOut: true, completed);
        }
    }

    /// <inheritdoc/>
    public void Flush(ICollection<Call> completed)
    {
        foreach (var call in _calls.Values.OrderBy(c => c.StartedAt).ThenBy(c => c.Key, StringComparer.Ordinal).ToList())
        {
            Close(call, call.LastAt, timedOut: true, completed);
        }

        _minDeadline = DateTimeOffset.MaxValue;
    }

    private bool Apply(AmiMessage m, DateTimeOffset at, in PbxFrame frame, ICollection<Call> completed)
    {
        var name = m.NameSpan;
        switch (name)
        {
            case "Newchannel":
                return OnNewchannel(m, at, frame);
            case "Newstate":
                return OnNewstate(m, at, frame);
            case "DialBegin":
                return OnDialBegin(m, at, frame);
            case "DialEnd":
                return OnDialEnd(m, at, frame);
            case "BridgeEnter":
                return OnBridge(m, at, frame, enter: true);
            case "BridgeLeave":
                return OnBridge(m, at, frame, enter: false);
            case "Hangup":
                return OnHangup(m, at, frame, completed);
            case "BlindTransfer":
                return OnBlindTransfer(m, at, frame);
            case "AttendedTransfer":
                return OnAttendedTransfer(m, at, frame);
            case "DTMFEnd":
                return OnDtmfEnd(m, at, frame);
            case "QueueCallerJoin":
            case "QueueCallerLeave":
            case "QueueCallerAbandon":
                return OnQueueCaller(m, at, frame);
            case "AgentCalled":
            case "AgentConnect":
            case "AgentComplete":
            case "AgentRingNoAnswer":
                return OnAgent(m, at, frame);
            case "Cdr":
                return OnCdr(m, at, frame);
            case "Newexten" when m["Application"].Equals("VoiceMail", StringComparison.OrdinalIgnoreCase):
                return OnVoicemail(m, at, frame);
            default:
                // Anything else naming a channel of an open call (RTCP, VarSet, DialState, ...) is activity only.
                if (m.TryGet("Uniqueid", out var uid) && _legsBySpan.TryGetValue(uid, out var found))
                {
                    Touch(found.Call, at);
                }

                return false;
        }
    }

    // ---- events -------------------------------------------------------------------------------------------------

    private bool OnNewchannel(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!m.TryGet("Uniqueid", out var uidSpan) || uidSpan.IsEmpty || _legsBySpan.ContainsKey(uidSpan))
        {
            return false;
        }

        var linked = m["Linkedid"];
        if (linked.IsEmpty)
        {
            linked = uidSpan;
        }

        var call = FindCall(linked);
        if (call is null)
        {
            var key = linked.ToString();
            call = new AmiCallState { Key = key, StartedAt = at, LastAt = at };
            _calls[key] = call;
        }

        var leg = NewLeg(m, uidSpan.ToString(), at);
        call.Legs.Add(leg);
        _legs[leg.Uid] = (call, leg);
        AddEvent(call, at, "state", EndpointOf(call, leg), "new " + leg.Channel, frame);
        return true;
    }

    private bool OnNewstate(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!TryLeg(m["Uniqueid"], out var call, out var leg))
        {
            return false;
        }

        var state = ParseInt(m["ChannelState"]);
        switch (state)
        {
            case 5:
                leg.RangAt ??= at;
                AddEvent(call, at, "ring", EndpointOf(call, leg), null, frame);
                break;
            case 6:
                leg.AnsweredAt ??= at;
                AddEvent(call, at, "answer", EndpointOf(call, leg), null, frame);
                break;
            default:
                AddEvent(call, at, "state", EndpointOf(call, leg), m.Get("ChannelStateDesc"), frame);
                break;
        }

        return true;
    }

    private bool OnDialBegin(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!TryLeg(m["DestUniqueid"], out var call, out var dest) && !TryLegByName(m["DestChannel"], out call, out dest))
        {
            return false;
        }

        var dialer = m["Uniqueid"];
        AmiLegState? from = null;
        if (!dialer.IsEmpty && _legsBySpan.TryGetValue(dialer, out var d) && ReferenceEquals(d.Call, call))
        {
            from = d.Leg;
            dest.DialedBy = from.Uid;
        }

        dest.RangAt ??= at;
        dest.DialString ??= m.Get("DialString");
        if (from is null || from.Kind != LegKind.Local)
        {
            call.Dialled = true;
        }

        if (dest.IsReal)
        {
            var pending = call.Transfers.Count > 0 ? call.Transfers[^1] : null;
            if (pending is { Pending: true } && !ReferenceEquals(dest, Origin(call)))
            {
                dest.Role = "transfer";
                if (!pending.TargetRang)
                {
                    pending.TargetRang = true;
                    pending.At = at;
                }
            }
        }

        AddEvent(call, at, "dial", EndpointOf(call, dest), m.Get("DialString"), frame);
        return true;
    }

    private bool OnDialEnd(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!TryLeg(m["DestUniqueid"], out var call, out var dest) && !TryLegByName(m["DestChannel"], out call, out dest))
        {
            return false;
        }

        var status = Status(m["DialStatus"]);
        dest.DialStatus = status;
        var dialerIsLocal = m["Channel"].StartsWith("Local/", StringComparison.OrdinalIgnoreCase);
        if (!dialerIsLocal && status is not null && status != "ANSWER")
        {
            call.DialStatuses.Add(status);
        }

        if (status == "ANSWER")
        {
            MarkAnswered(call, dest, at);
        }

        AddEvent(call, at, status == "BUSY" ? "busy" : "dial", EndpointOf(call, dest), status, frame);
        return true;
    }

    private bool OnBridge(AmiMessage m, DateTimeOffset at, in PbxFrame frame, bool enter)
    {
        if (!TryLeg(m["Uniqueid"], out var call, out var leg))
        {
            return false;
        }

        var bridgeSpan = m["BridgeUniqueid"];
        var bridges = call.Bridges.GetAlternateLookup<ReadOnlySpan<char>>();
        if (!bridges.TryGetValue(bridgeSpan, out var members))
        {
            members = [];
            call.Bridges[bridgeSpan.ToString()] = members;
        }

        if (enter)
        {
            if (!members.Contains(leg.Uid))
            {
                members.Add(leg.Uid);
            }

            if (members.Count >= 2)
            {
                foreach (var uid in members)
                {
                    if (_legs.TryGetValue(uid, out var other) && !other.Leg.HungUp && ReferenceEquals(other.Call, call))
                    {
                        other.Leg.AnsweredAt ??= at;
                        MarkAnswered(call, other.Leg, at);
                    }
                }
            }
        }
        else
        {
            members.Remove(leg.Uid);
            if (members.Count == 0)
            {
                bridges.Remove(bridgeSpan);
            }
        }

        AddEvent(call, at, "bridge", EndpointOf(call, leg), enter ? "enter" : "leave", frame);
        return true;
    }

    private bool OnHangup(AmiMessage m, DateTimeOffset at, in PbxFrame frame, ICollection<Call> completed)
    {
        if (!TryLeg(m["Uniqueid"], out var call, out var leg) || leg.HungUp)
        {
            return false;
        }

        leg.HungUp = true;
        leg.EndedAt = at;
        var causeSpan = m["Cause"];
        leg.Cause = causeSpan.IsEmpty ? null : ParseInt(causeSpan);
        var txt = m["Cause-txt"];
        AddEvent(call, at, "hangup", EndpointOf(call, leg), txt.IsEmpty ? causeSpan.ToString() : string.Concat(causeSpan, " ", txt), frame);
        foreach (var l in call.Legs)
        {
            if (!l.HungUp)
            {
                return true;
            }
        }

        Close(call, at, timedOut: false, completed);
        return true;
    }

    private bool OnBlindTransfer(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!TryLeg(m["TransfererUniqueid"], out var call, out var transferer) && !TryLeg(m["TransfereeUniqueid"], out call, out transferer))
        {
            return false;
        }

        var ok = m["Result"].Equals("Success", StringComparison.OrdinalIgnoreCase);
        var to = m.Get("Extension") ?? "";
        if (ok)
        {
            call.Transfers.Add(new AmiTransferState { From = EndpointOf(call, transferer) ?? "", To = to, At = at, Pending = true });
        }

        AddEvent(call, at, "transfer", EndpointOf(call, transferer), (ok ? "blind to " : "blind failed to ") + to, frame);
        return true;
    }

    private bool OnAttendedTransfer(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        var hasFirst = TryLeg(m["OrigTransfererUniqueid"], out var c1, out var t1);
        var hasSecond = TryLeg(m["SecondTransfererUniqueid"], out var c2, out var t2);
        if (!hasFirst && !hasSecond)
        {
            return false;
        }

        var ok = m["Result"].Equals("Success", StringComparison.OrdinalIgnoreCase) && !m["DestType"].Equals("Fail", StringComparison.OrdinalIgnoreCase);
        var call = hasFirst ? c1 : c2;
        var transferer = hasFirst ? t1 : t2;
        if (!ok)
        {
            AddEvent(call, at, "transfer", EndpointOf(call, transferer), "attended failed", frame);
            return true;
        }

        if (hasFirst && hasSecond && !ReferenceEquals(c1, c2))
        {
            // The consultation call (the younger Linkedid) becomes part of the older call.
            var older = c1.StartedAt <= c2.StartedAt ? c1 : c2;
            var younger = ReferenceEquals(older, c1) ? c2 : c1;
            Merge(older, younger);
            call = older;
        }

        // The transferer's channel in the consultation is not a participant of its own.
        // (the younger of the transferer's two channels; none when both headers name the same channel)
        var consultTransferer = hasFirst && hasSecond && !ReferenceEquals(t1, t2) ? (t1.CreatedAt <= t2.CreatedAt ? t2 : t1) : null;
        if (consultTransferer is not null && !ReferenceEquals(consultTransferer, Origin(call)))
        {
            consultTransferer.Consult = true;
        }

        AmiLegState? target = null;
        if (TryLeg(m["TransferTargetUniqueid"], out var tc, out var tl) && ReferenceEquals(tc, call))
        {
            target = tl;
        }
        else if (consultTransferer is not null)
        {
            // the party the transferer's consultation channel talked to
            target = call.Legs.FirstOrDefault(l => l.IsReal && !l.HungUp && !ReferenceEquals(l, Origin(call))
                && (l.DialedBy == consultTransferer.Uid || consultTransferer.DialedBy == l.Uid));
        }

        var from = EndpointOf(call, hasFirst ? t1 : t2) ?? "";
        if (target is not null)
        {
            target.Role = "transfer";
            call.Transfers.Add(new AmiTransferState
            {
                From = from,
                To = EndpointOf(call, target) ?? "",
                At = target.RangAt ?? at,
                Answered = target.AnsweredAt is not null,
                TargetRang = true,
            });
        }
        else
        {
            call.Transfers.Add(new AmiTransferState { From = from, To = m.Get("TransferTargetCallerIDNum") ?? "", At = at });
        }

        AddEvent(call, at, "transfer", from, "attended to " + (target is null ? "?" : EndpointOf(call, target)), frame);
        return true;
    }

    private bool OnDtmfEnd(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!TryLeg(m["Uniqueid"], out var call, out var leg))
        {
            return false;
        }

        var digit = m["Digit"];
        var isIvr = ReferenceEquals(leg, Origin(call)) && call.AnsweredAt is null
            && m["Direction"].Equals("Received", StringComparison.OrdinalIgnoreCase) && !digit.IsEmpty;
        if (isIvr)
        {
            call.Digits = string.Concat(call.Digits, digit);
        }

        AddEvent(call, at, "digits", EndpointOf(call, leg), digit.ToString(), frame);
        return true;
    }

    private bool OnQueueCaller(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!TryLeg(m["Uniqueid"], out var call, out var leg))
        {
            return false;
        }

        var queue = m.Get("Queue");
        string detail;
        switch (m.NameSpan)
        {
            case "QueueCallerJoin":
                call.Queue ??= queue;
                detail = "queue " + queue + " join";
                break;
            case "QueueCallerAbandon":
                call.DialStatuses.Add("CANCEL");
                detail = "queue " + queue + " abandon";
                break;
            default:
                detail = "queue " + queue + " leave";
                break;
        }

        AddEvent(call, at, "state", EndpointOf(call, leg), detail, frame);
        return true;
    }

    private bool OnAgent(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!TryLeg(m["DestUniqueid"], out var call, out var agent) && !TryLeg(m["Uniqueid"], out call, out agent))
        {
            return false;
        }

        var real = Resolve(call, agent) ?? agent;
        string kind;
        string? detail;
        switch (m.NameSpan)
        {
            case "AgentCalled":
                real.RangAt ??= at;
                kind = "ring";
                detail = m.Get("Queue");
                break;
            case "AgentConnect":
                real.AnsweredAt ??= at;
                MarkAnswered(call, real, at);
                kind = "answer";
                detail = $"{m.Get("Queue")} hold {m.Get("HoldTime")}s ring {m.Get("RingTime")}s";
                break;
            case "AgentRingNoAnswer":
                real.DialStatus ??= "NOANSWER";
                kind = "state";
                detail = "ring no answer";
                break;
            default:
                kind = "release";
                detail = $"{m.Get("Reason")} talk {m.Get("TalkTime")}s";
                break;
        }

        AddEvent(call, at, kind, EndpointOf(call, real), detail, frame);
        return true;
    }

    private bool OnCdr(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!TryLeg(m["UniqueID"], out var call, out var leg))
        {
            return false;
        }

        var disposition = m.Get("Disposition");
        if (call.AnsweredAt is null && disposition == "ANSWERED" && TryLegByName(m["DestinationChannel"], out var dc, out var dest) && ReferenceEquals(dc, call))
        {
            var answered = ParseLocal(m["AnswerTime"]) ?? at;
            dest.AnsweredAt ??= answered;
            MarkAnswered(call, dest, answered);
        }

        AddEvent(call, at, "record", EndpointOf(call, leg), disposition, frame);
        return true;
    }

    private bool OnVoicemail(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!TryLeg(m["Uniqueid"], out var call, out var leg))
        {
            return false;
        }

        if (call.AnsweredAt is null && !call.Voicemail)
        {
            call.Voicemail = true;
            AddEvent(call, at, "state", EndpointOf(call, leg), "voicemail " + m.Get("AppData"), frame);
            return true;
        }

        Touch(call, at);
        return false;
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    private AmiLegState NewLeg(AmiMessage m, string uid, DateTimeOffset at)
    {
        var channel = m.Get("Channel") ?? "";
        var context = NullIfEmpty(m["Context"]);
        var kind = Classify(channel, context, out var endpoint);
        return new AmiLegState
        {
            Uid = uid,
            Channel = channel,
            Kind = kind,
            Endpoint = endpoint,
            CallerIdNum = Number(m["CallerIDNum"]),
            CallerIdName = Number(m["CallerIDName"]),
            Context = context,
            Exten = NullIfEmpty(m["Exten"]),
            CreatedAt = at,
        };
    }

    private LegKind Classify(string channel, string? context, out string endpoint)
    {
        var slash = channel.IndexOf('/');
        var resource = slash < 0 ? channel : channel[(slash + 1)..];
        if (channel.StartsWith("Local/", StringComparison.OrdinalIgnoreCase))
        {
            var atSign = resource.IndexOf('@');
            endpoint = atSign < 0 ? resource : resource[..atSign];
            return LegKind.Local;
        }

        var dash = resource.LastIndexOf('-');
        endpoint = dash > 0 ? resource[..dash] : resource;
        var trunks = _options.TrunkEndpoints;
        if (trunks.Count > 0)
        {
            foreach (var t in trunks)
            {
                if (channel.Equals(t, StringComparison.OrdinalIgnoreCase)
                    || (channel.StartsWith(t, StringComparison.OrdinalIgnoreCase) && channel.Length > t.Length && channel[t.Length] == '-')
                    || endpoint.Equals(t, StringComparison.OrdinalIgnoreCase)
                    || (context is not null && context.Equals(t, StringComparison.OrdinalIgnoreCase)))
                {
                    return LegKind.Trunk;
                }
            }

            return LegKind.Extension;
        }

        if (context is not null && IsTrunkContext(context))
        {
            return LegKind.Trunk;
        }

        if ((endpoint.Length is >= 1 and <= 6 && endpoint.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0)
            || (context is not null && context.StartsWith("from-internal", StringComparison.OrdinalIgnoreCase)))
        {
            return LegKind.Extension;
        }

        return LegKind.Trunk;
    }

    private static bool IsTrunkContext(string context) =>
        context.StartsWith("from-trunk", StringComparison.OrdinalIgnoreCase)
        || context.StartsWith("from-pstn", StringComparison.OrdinalIgnoreCase)
        || context.StartsWith("from-external", StringComparison.OrdinalIgnoreCase)
        || context.StartsWith("from-did", StringComparison.OrdinalIgnoreCase)
        || context.StartsWith("from-provider", StringComparison.OrdinalIgnoreCase)
        || context.Contains("trunk", StringComparison.OrdinalIgnoreCase)
        || context.Contains("pstn", StringComparison.OrdinalIgnoreCase);

    private AmiCallState? FindCall(ReadOnlySpan<char> linkedid)
    {
        if (_callsBySpan.TryGetValue(linkedid, out var call))
        {
            return call;
        }

        if (_aliases.Count > 0 && _aliases.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(linkedid, out var key) && _calls.TryGetValue(key, out call))
        {
            return call;
        }

        return null;
    }

    private bool TryLeg(ReadOnlySpan<char> uid, out AmiCallState call, out AmiLegState leg)
    {
        if (!uid.IsEmpty && _legsBySpan.TryGetValue(uid, out var found))
        {
            call = found.Call;
            leg = found.Leg;
            return true;
        }

        call = null!;
        leg = null!;
        return false;
    }

    private bool TryLegByName(ReadOnlySpan<char> channel, out AmiCallState call, out AmiLegState leg)
    {
        if (!channel.IsEmpty)
        {
            foreach (var c in _calls.Values)
            {
                for (var i = c.Legs.Count - 1; i >= 0; i--)
                {
                    if (channel.SequenceEqual(c.Legs[i].Channel))
                    {
                        call = c;
                        leg = c.Legs[i];
                        return true;
                    }
                }
            }
        }

        call = null!;
        leg = null!;
        return false;
    }

    private static AmiLegState Origin(AmiCallState call) => call.Legs[0];

    /// <summary>For a Local ;1/;2 half: the real channel its partner dialled (the answered one first); else the leg.</summary>
    private static AmiLegState? Resolve(AmiCallState call, AmiLegState leg)
    {
        if (leg.Kind != LegKind.Local)
        {
            return leg;
        }

        var pair = PairKey(leg.Channel);
        AmiLegState? best = null;
        foreach (var l in call.Legs)
        {
            if (l.Kind == LegKind.Local || l.DialedBy is null)
            {
                continue;
            }

            var dialer = call.Legs.Find(x => x.Uid == l.DialedBy);
            if (dialer is { Kind: LegKind.Local } && PairKey(dialer.Channel) == pair)
            {
                if (l.AnsweredAt is not null)
                {
                    return l;
                }

                best ??= l;
            }
        }

        return best;
    }

    private static string PairKey(string channel)
    {
        var semi = channel.LastIndexOf(';');
        return semi < 0 ? channel : channel[..semi];
    }

    private void MarkAnswered(AmiCallState call, AmiLegState leg, DateTimeOffset at)
    {
        if (leg.Kind == LegKind.Local)
        {
            var real = Resolve(call, leg);
            if (real is null || real.Kind == LegKind.Local)
            {
                return;
            }

            leg = real;
        }

        leg.AnsweredAt ??= at;
        if (ReferenceEquals(leg, Origin(call)) || leg.Consult)
        {
            return;
        }

        if (call.AnsweredAt is null)
        {
            // the leg's own answer (Newstate Up) when seen, else the event that showed the answer
            call.AnsweredAt = leg.AnsweredAt < at ? leg.AnsweredAt : at;
            call.AnsweredBy = leg.Kind == LegKind.Extension ? leg.Endpoint : null;
        }

        if (leg.Role == "transfer" && call.Transfers.Count > 0)
        {
            var t = call.Transfers[^1];
            if (t.Pending || !t.Answered)
            {
                t.Answered = true;
                t.Pending = false;
            }
        }
    }

    private void Merge(AmiCallState into, AmiCallState from)
    {
        foreach (var leg in from.Legs)
        {
            into.Legs.Add(leg);
            _legs[leg.Uid] = (into, leg);
        }

        foreach (var (id, members) in from.Bridges)
        {
            if (!into.Bridges.TryGetValue(id, out var list))
            {
                into.Bridges[id] = [.. members];
            }
            else
            {
                list.AddRange(members.Where(u => !list.Contains(u)));
            }
        }

        into.Events = [.. into.Events.Concat(from.Events).OrderBy(e => e.At).ThenBy(e => e.Seq)];
        into.Dialled |= from.Dialled;
        into.LastAt = into.LastAt > from.LastAt ? into.LastAt : from.LastAt;
        into.MergedKeys.Add(from.Key);
        into.MergedKeys.AddRange(from.MergedKeys);
        _calls.Remove(from.Key);
        _aliases[from.Key] = into.Key;
        foreach (var k in from.MergedKeys)
        {
            _aliases[k] = into.Key;
        }
    }

    private void AddEvent(AmiCallState call, DateTimeOffset at, string kind, string? endpoint, string? detail, in PbxFrame frame)
    {
        call.Events.Add(new CallEvent(at, kind, endpoint, detail, frame.Session, frame.Seq));
        Touch(call, at);
    }

    private void Touch(AmiCallState call, DateTimeOffset at)
    {
        if (at > call.LastAt)
        {
            call.LastAt = at;
        }

        TrackDeadline(call);
    }

    private void TrackDeadline(AmiCallState call)
    {
        var d = Deadline(call);
        if (d < _minDeadline)
        {
            _minDeadline = d;
        }
    }

    private DateTimeOffset Deadline(AmiCallState call)
    {
        var timeout = call.AnsweredAt is null ? _options.RingTimeout : _options.TalkTimeout;
        return call.LastAt + timeout;
    }

    private static string? EndpointOf(AmiCallState call, AmiLegState leg)
    {
        if (leg.Kind == LegKind.Trunk)
        {
            // the external party: the caller's number on an inbound trunk leg, the dialled number on an outbound one
            return ReferenceEquals(leg, Origin(call)) ? leg.CallerIdNum : Called(call) ?? leg.Endpoint;
        }

        return leg.Endpoint;
    }

    private static string? Called(AmiCallState call)
    {
        var exten = Origin(call).Exten;
        return exten is null || exten == "s" ? null : exten;
    }

    private void Close(AmiCallState call, DateTimeOffset endedAt, bool timedOut, ICollection<Call> completed)
    {
        _calls.Remove(call.Key);
        foreach (var leg in call.Legs)
        {
            _legs.Remove(leg.Uid);
        }

        foreach (var k in call.MergedKeys)
        {
            _aliases.Remove(k);
        }

        completed.Add(Build(call, endedAt, timedOut));
    }

    private Call Build(AmiCallState call, DateTimeOffset endedAt, bool timedOut)
    {
        var origin = Origin(call);
        var real = call.Legs.Where(l => l.IsReal).ToList();
        var trunkLeg = real.FirstOrDefault(l => l.Kind == LegKind.Trunk && !ReferenceEquals(l, origin));
        var direction = origin.Kind == LegKind.Trunk ? CallDirection.Inbound
            : trunkLeg is not null ? CallDirection.Outbound
            : CallDirection.Internal;

        CallStatus status;
        string? missedReason = null;
        if (call.AnsweredAt is not null)
        {
            status = CallStatus.Answered;
        }
        else if (call.Voicemail)
        {
            status = CallStatus.Voicemail;
            if (call.DialStatuses.Count > 0)
            {
                var (rang, reason) = NotAnswered(call, origin, direction);
                missedReason = rang == CallStatus.Busy ? "busy" : reason;
            }
        }
        else if (timedOut)
        {
            status = CallStatus.Unknown;
        }
        else
        {
            (status, missedReason) = NotAnswered(call, origin, direction);
        }

        var answeredAt = call.AnsweredAt;
        if (endedAt < call.StartedAt)
        {
            endedAt = call.StartedAt;
        }

        var extensions = new List<string>();
        foreach (var l in real.Where(l => l.Kind == LegKind.Extension && !ReferenceEquals(l, origin) && l.RangAt is not null)
                     .OrderBy(l => l.RangAt))
        {
            if (!extensions.Contains(l.Endpoint))
            {
                extensions.Add(l.Endpoint);
            }
        }

        var participants = new List<CallParticipant>(real.Count);
        foreach (var l in real)
        {
            var isOrigin = ReferenceEquals(l, origin);
            participants.Add(new CallParticipant(
                EndpointOf(call, l) ?? l.Endpoint,
                isOrigin ? "caller" : l.Role,
                isOrigin ? null : l.RangAt,
                isOrigin ? answeredAt : l.AnsweredAt,
                l.EndedAt ?? (timedOut ? endedAt : null),
                isOrigin ? CallerOutcome(status, missedReason) : LegOutcome(call, l)));
        }

        return new Call
        {
            Pbx = Pbx,
            CallKey = call.Key,
            Direction = direction,
            Status = status,
            MissedReason = missedReason,
            Caller = origin.CallerIdNum,
            CallerName = origin.CallerIdName is { } name && name != origin.CallerIdNum ? name : null,
            Called = Called(call) ?? (direction == CallDirection.Outbound ? trunkLeg?.DialString : null),
            AnsweredBy = call.AnsweredBy,
            Extensions = extensions,
            StartedAt = call.StartedAt,
            AnsweredAt = answeredAt,
            EndedAt = endedAt,
            RingSeconds = Call.Seconds(call.StartedAt, answeredAt ?? endedAt),
            TalkSeconds = answeredAt is null ? 0 : Call.Seconds(answeredAt.Value, endedAt),
            Transfers = [.. call.Transfers.Select(t => new CallTransfer(t.From, t.To, t.At, t.Answered))],
            IvrDigits = call.Digits,
            Trunk = origin.Kind == LegKind.Trunk ? origin.Endpoint : trunkLeg?.Endpoint,
            Participants = participants,
            Events = call.Events,
        };
    }

    private static (CallStatus, string?) NotAnswered(AmiCallState call, AmiLegState origin, CallDirection direction)
    {
        var s = call.DialStatuses;
        if (s.Contains("CANCEL"))
        {
            return (CallStatus.Missed, "cancel");
        }

        if (s.Contains("NOANSWER"))
        {
            return (CallStatus.Missed, "noanswer");
        }

        if (s.Contains("BUSY"))
        {
            return (CallStatus.Busy, null);
        }

        if (s.Contains("CONGESTION") || s.Contains("CHANUNAVAIL"))
        {
            return (CallStatus.Failed, null);
        }

        if (call.Dialled || direction == CallDirection.Inbound)
        {
            // rang (or reached the PBX) with no dial result: who hung up first tells cancel from no answer
            var callerFirst = origin.EndedAt is { } oe && call.Legs.All(l => ReferenceEquals(l, origin) || l.EndedAt is null || l.EndedAt >= oe);
            return (CallStatus.Missed, callerFirst ? "cancel" : "noanswer");
        }

        return (CallStatus.Failed, null);
    }

    private static string CallerOutcome(CallStatus status, string? missedReason) => status switch
    {
        CallStatus.Answered => "answered",
        CallStatus.Busy => "busy",
        CallStatus.Failed => "failed",
        CallStatus.Missed => missedReason == "cancel" ? "cancel" : "no-answer",
        CallStatus.Voicemail => "voicemail",
        _ => "unknown",
    };

    private static string LegOutcome(AmiCallState call, AmiLegState leg)
    {
        if (leg.AnsweredAt is not null)
        {
            return "answered";
        }

        var status = leg.DialStatus;
        if (status == "CANCEL" && leg.DialedBy is not null)
        {
            // a leg dialled by a Local ;2 half inherits the result of the top-level dial of its ;1 half
            var dialer = call.Legs.Find(l => l.Uid == leg.DialedBy);
            if (dialer is { Kind: LegKind.Local })
            {
                var pair = PairKey(dialer.Channel);
                var one = call.Legs.Find(l => l.Kind == LegKind.Local && l.Uid != dialer.Uid && PairKey(l.Channel) == pair);
                if (one?.DialStatus is { } top && top != "ANSWER")
                {
                    status = top;
                }
            }
        }

        // "answered elsewhere" only when another leg answered while this one rang (a ring-group loser), not when the
        // caller hung up on a transfer target after an earlier answer
        var elsewhere = call.Legs.Any(o => !ReferenceEquals(o, leg) && o.IsReal && !ReferenceEquals(o, Origin(call))
            && o.AnsweredAt is { } oa && oa >= (leg.RangAt ?? leg.CreatedAt) && (leg.EndedAt is null || oa <= leg.EndedAt));
        return status switch
        {
            "CANCEL" => elsewhere ? "answered-elsewhere" : "cancel",
            "NOANSWER" => "no-answer",
            "BUSY" => "busy",
            "CONGESTION" or "CHANUNAVAIL" => "failed",
            _ => leg.Cause switch
            {
                26 => "answered-elsewhere",
                17 => "busy",
                21 => "rejected",
                18 or 19 => "no-answer",
                _ => elsewhere ? "answered-elsewhere" : "unknown",
            },
        };
    }

    private static string? Status(ReadOnlySpan<char> s) => s switch
    {
        "ANSWER" => "ANSWER",
        "NOANSWER" => "NOANSWER",
        "CANCEL" => "CANCEL",
        "BUSY" => "BUSY",
        "CONGESTION" => "CONGESTION",
        "CHANUNAVAIL" => "CHANUNAVAIL",
        "" => null,
        _ => s.ToString(),
    };

    private DateTimeOffset? ParseLocal(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty || !DateTime.TryParseExact(text, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
        {
            return null;
        }

        var offset = _options.TimeZone.GetUtcOffset(local);
        return new DateTimeOffset(local, offset).ToUniversalTime();
    }

    private static int ParseInt(ReadOnlySpan<char> s) => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : -1;

    private static string? NullIfEmpty(ReadOnlySpan<char> s) => s.IsEmpty ? null : s.ToString();

    private static string? Number(ReadOnlySpan<char> s) => s.IsEmpty || s.SequenceEqual("<unknown>") ? null : s.ToString();
}
