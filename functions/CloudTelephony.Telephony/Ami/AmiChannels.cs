using CloudTelephony.Telephony.Streams;
using static CloudTelephony.Telephony.Ami.AmiValues;

namespace CloudTelephony.Telephony.Ami;

/// <summary>
/// Channels and dials: <c>Newchannel</c> opens a call (new Linkedid) or adds a leg; <c>Newstate</c>, <c>DialBegin</c>,
/// <c>DialEnd</c> ring and answer legs; <c>Hangup</c> ends them and closes the call with its last channel; <c>DTMFEnd</c>
/// collects IVR digits; <c>Newexten VoiceMail</c> marks voicemail; <c>Hold</c>/<c>Unhold</c> are held/resumed changes.
/// Trunk or extension is decided here, once per channel (rules in <see cref="AmiInterpreter"/>'s remarks).
/// </summary>
internal sealed class AmiChannels(AmiCalls calls)
{
    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");

    public bool OnNewchannel(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!m.TryGet("Uniqueid", out var uidSpan) || uidSpan.IsEmpty || calls.HasLeg(uidSpan))
        {
            return false;
        }

        var linked = m["Linkedid"];
        if (linked.IsEmpty)
        {
            linked = uidSpan;
        }

        var call = calls.FindCall(linked);
        var opened = call is null;
        call ??= calls.Open(linked.ToString(), at);
        var leg = NewLeg(m, uidSpan.ToString(), at, opened);
        calls.AddLeg(call, leg);
        if (opened)
        {
            calls.Stream.Emit(call, CallChangeKind.Opened, at, caller: leg.CallerIdNum, called: AmiCalls.Called(call));
        }

        calls.AddEvent(call, at, "state", AmiCalls.EndpointOf(call, leg), "new " + leg.Channel, frame);
        return true;
    }

    public bool OnNewstate(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!calls.TryLeg(m["Uniqueid"], out var call, out var leg))
        {
            return false;
        }

        var state = ParseInt(m["ChannelState"]);
        switch (state)
        {
            case 5:
                calls.Alert(call, leg, at);
                calls.AddEvent(call, at, "ring", AmiCalls.EndpointOf(call, leg), null, frame);
                break;
            case 6:
                leg.AnsweredAt ??= at;
                calls.AddEvent(call, at, "answer", AmiCalls.EndpointOf(call, leg), null, frame);
                break;
            default:
                calls.AddEvent(call, at, "state", AmiCalls.EndpointOf(call, leg), m.Get("ChannelStateDesc"), frame);
                break;
        }

        return true;
    }

    public bool OnDialBegin(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!calls.TryLeg(m["DestUniqueid"], out var call, out var dest) && !calls.TryLegByName(m["DestChannel"], out call, out dest))
        {
            return false;
        }

        var dialer = m["Uniqueid"];
        AmiLegState? from = null;
        if (!dialer.IsEmpty && calls.TryLeg(dialer, out var dialerCall, out var dialerLeg) && ReferenceEquals(dialerCall, call))
        {
            from = dialerLeg;
            dest.DialedBy = from.Uid;
        }

        if (dialer.IsEmpty && m["Channel"].IsEmpty && ReferenceEquals(dest, call.Legs[0]) && call.Legs.Count == 1
            && dest.Kind == LegKind.Extension && RecalledBy(call, dest) is { } transferred)
        {
            // a blonde transfer's recall: the PBX rings the transferer again on a channel with a Linkedid of its own
            // while the transferer's old channel (its hangup held back) is still in the call (tests/data/ami/lab b2, b3, b5)
            calls.Merge(transferred, call, at);
            call = transferred;
        }
        else if (dialer.IsEmpty && m["Channel"].IsEmpty && ReferenceEquals(dest, call.Legs[0]))
        {
            // Originate (click-to-call): the PBX dials the caller's own phone first
            call.Originated = true;
        }
        else if (call.Originated && call.OriginUid is null && from is { Kind: LegKind.Local } && dest.Kind != LegKind.Local
                 && call.Legs[0].Kind == LegKind.Local && AmiCalls.PairKey(from.Channel) == AmiCalls.PairKey(call.Legs[0].Channel))
        {
            // Originate of Local/201@from-internal: the phone its ;2 half rings is the caller (its answer is ring time)
            call.OriginUid = dest.Uid;
        }

        dest.DialString ??= m.Get("DialString");
        if (dest.Kind == LegKind.Extension && calls.NumberPlan.DialsOut(dest))
        {
            // "which side dials long numbers": a channel dialled with an outside number is a trunk, whatever its name
            dest.Kind = LegKind.Trunk;
            dest.Endpoint = AmiNumberPlan.EndpointName(dest.Channel);
        }

        calls.Ring(call, dest, at);
        if (from is null || from.Kind != LegKind.Local)
        {
            call.Dialled = true;
        }

        if (dest.IsReal)
        {
            var pending = call.Transfers.Count > 0 ? call.Transfers[^1] : null;
            if (pending is { Pending: true } && !ReferenceEquals(dest, AmiCalls.Origin(call)))
            {
                dest.Role = "transfer";
                if (!pending.TargetRang)
                {
                    pending.TargetRang = true;
                    pending.At = at;
                }
            }
            else if (from is not null && RedirectedFrom(call, from, dest) is { } transferer)
            {
                // AMI Redirect of the caller's channel: no transfer event, the phone that talked with it hung up and the
                // caller's channel dials again (fixtures/ami/asterisk20 g2_redirect_transfer)
                dest.Role = "transfer";
                var fromExt = AmiCalls.EndpointOf(call, transferer) ?? "";
                var to = AmiCalls.EndpointOf(call, dest) ?? "";
                call.Transfers.Add(new AmiTransferState { From = fromExt, To = to, At = at, TargetRang = true });
                calls.Transferred(call, fromExt, to, at);
            }
        }

        calls.AddEvent(call, at, "dial", AmiCalls.EndpointOf(call, dest), m.Get("DialString"), frame);
        return true;
    }

    public bool OnDialEnd(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!calls.TryLeg(m["DestUniqueid"], out var call, out var dest) && !calls.TryLegByName(m["DestChannel"], out call, out dest))
        {
            return false;
        }

        var status = Status(m["DialStatus"]);
        if (status == "ANSWER" && calls.TryLeg(m["Uniqueid"], out var dialCall, out _) && !ReferenceEquals(dialCall, call)
            && ReferenceEquals(dest, AmiCalls.Origin(call)) && dest.Kind == LegKind.Extension && dialCall.StartedAt <= call.StartedAt)
        {
            // call pickup (*8, Pickup(), SIP Replaces): the picker's channel started a call of its own (own Linkedid) and the
            // ringing call's dial now names it as answered (tests/data/ami/lab p1–p7): it joins the picked-up call, which it
            // answers now (its own Up was the PBX answering its pickup code), and its own call is no call
            calls.Merge(dialCall, call, at);
            call = dialCall;
            dest.AnsweredAt = at;
            dest.Picked = true;
        }

        dest.DialStatus = status;
        var dialerIsLocal = m["Channel"].StartsWith("Local/", StringComparison.OrdinalIgnoreCase);
        if (!dialerIsLocal && status is not null && status != "ANSWER")
        {
            call.DialStatuses.Add(status);
        }

        if (status == "ANSWER")
        {
            calls.MarkAnswered(call, dest, at);
        }

        calls.AddEvent(call, at, status == "BUSY" ? "busy" : "dial", AmiCalls.EndpointOf(call, dest), status, frame);
        return true;
    }

    public bool OnHangup(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!calls.TryLeg(m["Uniqueid"], out var call, out var leg) || leg.HungUp)
        {
            return false;
        }

        leg.HungUp = true;
        leg.EndedAt = at;
        var causeSpan = m["Cause"];
        leg.Cause = causeSpan.IsEmpty ? null : ParseInt(causeSpan);
        var txt = m["Cause-txt"];
        calls.AddEvent(call, at, "hangup", AmiCalls.EndpointOf(call, leg), txt.IsEmpty ? causeSpan.ToString() : string.Concat(causeSpan, " ", txt), frame);
        foreach (var l in call.Legs)
        {
            if (!l.HungUp)
            {
                return true;
            }
        }

        calls.Close(call, at);
        return true;
    }

    public bool OnDtmfEnd(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!calls.TryLeg(m["Uniqueid"], out var call, out var leg))
        {
            return false;
        }

        var digit = m["Digit"];
        var isIvr = ReferenceEquals(leg, AmiCalls.Origin(call)) && call.AnsweredAt is null
            && m["Direction"].Equals("Received", StringComparison.OrdinalIgnoreCase) && !digit.IsEmpty;
        if (isIvr)
        {
            call.Digits = string.Concat(call.Digits, digit);
        }

        calls.AddEvent(call, at, "digits", AmiCalls.EndpointOf(call, leg), digit.ToString(), frame);
        return true;
    }

    public bool OnVoicemail(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!calls.TryLeg(m["Uniqueid"], out var call, out var leg))
        {
            return false;
        }

        if (call.AnsweredAt is null && !call.Voicemail)
        {
            call.Voicemail = true;
            calls.AddEvent(call, at, "state", AmiCalls.EndpointOf(call, leg), "voicemail " + m.Get("AppData"), frame);
            return true;
        }

        calls.Touch(call, at);
        return false;
    }

    /// <summary><c>OriginateResponse</c> <c>Failure</c> of a click-to-call whose callback leg was never answered: its
    /// <c>Exten</c> is the number the call was for (never dialled); matched to the open originated call by channel
    /// (<c>Local/201@from-internal</c>, <c>PJSIP/201</c>: the name without its sequence suffix).</summary>
    public bool OnOriginateResponse(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (m.Get("Exten") is not { Length: > 0 } exten || exten == "s" || m.Get("Channel") is not { Length: > 0 } channel)
        {
            return false;
        }

        AmiCallState? found = null;
        foreach (var open in calls.Stream.Calls)
        {
            if (open is AmiCallState c && c.Originated && c.OriginateExten is null && BaseName(c.Legs[0].Channel) == channel
                && (found is null || c.StartedAt > found.StartedAt))
            {
                found = c;
            }
        }

        if (found is null)
        {
            return false;
        }

        if (AmiCalls.Origin(found).Exten is null or "s" && found.Legs.Exists(l => l.Kind == LegKind.Extension))
        {
            found.OriginateExten = exten;
        }

        calls.AddEvent(found, at, "state", AmiCalls.EndpointOf(found, AmiCalls.Origin(found)), "originate " + m.Get("Response") + " " + exten, frame);
        return true;
    }

    /// <summary><c>Local/201@from-internal-00000008;1</c> → <c>Local/201@from-internal</c>; <c>PJSIP/201-00000020</c> → <c>PJSIP/201</c>.</summary>
    private static string BaseName(string channel)
    {
        var name = AmiCalls.PairKey(channel);
        var dash = name.LastIndexOf('-');
        return dash > 0 && dash < name.Length - 1 && name.AsSpan(dash + 1).ContainsAnyExcept(HexDigits) is false ? name[..dash] : name;
    }

    /// <summary><c>Hold</c> / <c>Unhold</c> (Asterisk 12+, the channel put on or taken off hold): activity and a
    /// <see cref="CallChangeKind.Held"/> / <see cref="CallChangeKind.Resumed"/> change; not a call-record event.</summary>
    public bool OnHold(AmiMessage m, DateTimeOffset at, bool held)
    {
        if (!calls.TryLeg(m["Uniqueid"], out var call, out var leg))
        {
            return false;
        }

        calls.Touch(call, at);
        calls.Stream.Emit(call, held ? CallChangeKind.Held : CallChangeKind.Resumed, at, extension: AmiCalls.EndpointOf(call, leg));
        return false;
    }

    /// <summary>Any other event naming a channel of an open call (RTCP, VarSet, DialState, ...) is activity only.</summary>
    public bool OnOther(AmiMessage m, DateTimeOffset at)
    {
        if (m.TryGet("Uniqueid", out var uid) && calls.TryLeg(uid, out var call, out _))
        {
            calls.Touch(call, at);
        }

        return false;
    }

    /// <summary>The open call (other than <paramref name="recall"/>'s own, and older) with an unanswered transfer from the
    /// extension <paramref name="leg"/> rings, whose transferer channel has not hung up yet: the call a recall belongs to.</summary>
    private AmiCallState? RecalledBy(AmiCallState recall, AmiLegState leg)
    {
        AmiCallState? found = null;
        foreach (var open in calls.Stream.Calls)
        {
            if (open is AmiCallState c && !ReferenceEquals(c, recall) && c.StartedAt <= recall.StartedAt
                && c.Transfers.Exists(t => !t.Answered && t.From == leg.Endpoint)
                && c.Legs.Exists(l => l.Kind == LegKind.Extension && !l.HungUp && l.Endpoint == leg.Endpoint && l.AnsweredAt is not null)
                && (found is null || c.StartedAt > found.StartedAt))
            {
                found = c;
            }
        }

        return found;
    }

    /// <summary>When <paramref name="dialler"/> dials <paramref name="dest"/> after a person answered the call, outside
    /// any bridge, and the extension it last talked with (not <paramref name="dest"/>) is gone: that extension, whose call
    /// was redirected; else null.</summary>
    private static AmiLegState? RedirectedFrom(AmiCallState call, AmiLegState dialler, AmiLegState dest)
    {
        if (call.AnsweredAt is null || dialler.Kind == LegKind.Local || dialler.BridgedWith is not { } peerUid)
        {
            return null;
        }

        if (InBridge(call, dialler))
        {
            return null;
        }

        var peer = call.Legs.Find(l => l.Uid == peerUid);
        var party = peer is null ? null : AmiCalls.Resolve(call, peer);
        return party is { Kind: LegKind.Extension, AnsweredAt: not null } && party.IsReal && !ReferenceEquals(party, dest)
            && !ReferenceEquals(party, AmiCalls.Origin(call)) && (party.HungUp || !InBridge(call, party)) ? party : null;
    }

    private static bool InBridge(AmiCallState call, AmiLegState leg)
    {
        foreach (var members in call.Bridges.Values)
        {
            if (members.Contains(leg.Uid))
            {
                return true;
            }
        }

        return false;
    }

    private AmiLegState NewLeg(AmiMessage m, string uid, DateTimeOffset at, bool origin)
    {
        var channel = m.Get("Channel") ?? "";
        var context = NullIfEmpty(m["Context"]);
        var callerId = Number(m["CallerIDNum"]);
        var kind = calls.NumberPlan.Classify(channel, context, callerId, origin, out var endpoint);
        return new AmiLegState
        {
            Uid = uid,
            Channel = channel,
            Kind = kind,
            Endpoint = endpoint,
            CallerIdNum = callerId,
            CallerIdName = Number(m["CallerIDName"]),
            Context = context,
            Exten = NullIfEmpty(m["Exten"]),
            CreatedAt = at,
        };
    }
}
