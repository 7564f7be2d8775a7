using CloudTelephony.Telephony.Streams;
using static CloudTelephony.Telephony.Ami.AmiValues;

namespace CloudTelephony.Telephony.Ami;

/// <summary>
/// Reconnect reconciliation: after each login the relay asks <c>CoreShowChannels</c> and forwards the
/// <c>CoreShowChannel</c> list (one per channel the PBX still has, with <c>ActionID</c>, no <c>Timestamp</c>, <c>Duration</c>
/// in whole seconds, the state and the <c>BridgeId</c>) and <c>CoreShowChannelsComplete</c> (relay README; lab captures
/// tests/data/ami/lab q2, q3). Events in the gap between two sessions are lost; the list says what happened in it:
/// <list type="bullet">
/// <item>a channel listed Up that was ringing when the gap began answered in the gap; with another channel of the call in
/// the same bridge, the call answered: placed half-way between the last frame of the call before the resync and the
/// resync (an estimate a later <c>Cdr</c> corrects with its durations);</item>
/// <item>a channel listed Ringing rang;</item>
/// <item>a channel of an open call not listed hung up in the gap, at the same half-way estimate; a call none of whose
/// channels is listed is closed there.</item>
/// </list>
/// A listed channel whose call was never seen (its <c>Newchannel</c> fell into a gap, or the call was in progress when
/// the relay first logged in) opens that call when it is the call's first channel, started <c>Duration</c> before the list;
/// its answer is an estimate a later <c>Cdr</c> corrects.
/// </summary>
internal sealed class AmiResync(AmiCalls calls)
{
    public bool OnCoreShowChannel(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!calls.TryLeg(m["Uniqueid"], out var call, out var leg) && !Lost(m, at, frame, out call, out leg))
        {
            return false;
        }

        var id = ResyncId(m, frame);
        if (call.ResyncId != id)
        {
            // the first channel of the call in this list: what the stream knew of it before the gap ends here
            call.ResyncId = id;
            call.ResyncFrom = call.LastAt;
        }

        leg.ResyncId = id;
        leg.ResyncBridge = NullIfEmpty(m["BridgeId"]);
        var gapAt = HalfWay(call.ResyncFrom ?? call.LastAt, at);
        switch (ParseInt(m["ChannelState"]))
        {
            case 5:
                calls.Ring(call, leg, call.LastAt);
                calls.Alert(call, leg, at);
                break;
            case 6 when leg.AnsweredAt is null:
                leg.AnsweredAt = gapAt;
                if (leg.ResyncBridge is { } bridge)
                {
                    foreach (var other in call.Legs)
                    {
                        if (!ReferenceEquals(other, leg) && other.ResyncId == id && other.ResyncBridge == bridge)
                        {
                            var wasAnswered = call.AnsweredAt is not null;
                            other.AnsweredAt ??= gapAt;
                            calls.MarkAnswered(call, other, gapAt);
                            calls.MarkAnswered(call, leg, gapAt);
                            call.AnswerEstimated |= !wasAnswered && call.AnsweredAt is not null;
                        }
                    }
                }

                break;
        }

        calls.AddEvent(call, at, "state", AmiCalls.EndpointOf(call, leg), "resync " + m.Get("ChannelStateDesc"), frame);
        return true;
    }

    public bool OnComplete(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        var id = ResyncId(m, frame);
        var applied = false;
        foreach (var open in calls.Stream.Calls.OfType<AmiCallState>().Where(c => c.StartedAt < at && c.LastAt <= at).ToList())
        {
            var listed = open.ResyncId == id;
            var gapAt = HalfWay(listed ? open.ResyncFrom ?? open.LastAt : open.LastAt, at);
            var ended = false;
            foreach (var leg in open.Legs)
            {
                if (!leg.HungUp && (!listed || leg.ResyncId != id))
                {
                    leg.HungUp = true;
                    leg.EndedAt = gapAt;
                    ended = true;
                }
            }

            if (!ended)
            {
                continue;
            }

            applied = true;
            calls.AddEvent(open, gapAt, "hangup", AmiCalls.EndpointOf(open, AmiCalls.Origin(open)), listed ? "resync: some channels gone" : "resync: gone", frame);
            if (open.Legs.TrueForAll(l => l.HungUp))
            {
                calls.Close(open, gapAt);
            }
        }

        return applied;
    }

    /// <summary>
    /// A channel the PBX still has whose <c>Newchannel</c> fell into a gap: the call's first channel (Uniqueid =
    /// Linkedid) opens the call, started <c>Duration</c> (whole seconds) before the list; another channel of an open call
    /// joins it. Anything else (a channel of a call never seen) is left alone.
    /// </summary>
    private bool Lost(AmiMessage m, DateTimeOffset at, in PbxFrame frame, out AmiCallState call, out AmiLegState leg)
    {
        call = null!;
        leg = null!;
        var uid = m["Uniqueid"];
        var linked = m["Linkedid"];
        if (uid.IsEmpty || linked.IsEmpty || m.Get("Channel") is not { Length: > 0 } channel)
        {
            return false;
        }

        var started = at - Age(m["Duration"]);
        var existing = calls.FindCall(linked);
        var origin = existing is null;
        if (origin && !uid.SequenceEqual(linked))
        {
            return false;
        }

        call = existing ?? calls.Open(linked.ToString(), started);
        var callerId = Number(m["CallerIDNum"]);
        var context = NullIfEmpty(m["Context"]);
        var kind = calls.NumberPlan.Classify(channel, context, callerId, origin, out var endpoint);
        leg = new AmiLegState
        {
            Uid = uid.ToString(),
            Channel = channel,
            Kind = kind,
            Endpoint = endpoint,
            CallerIdNum = callerId,
            CallerIdName = Number(m["CallerIDName"]),
            Context = context,
            Exten = NullIfEmpty(m["Exten"]),
            CreatedAt = started < call.StartedAt ? call.StartedAt : started,
        };
        calls.AddLeg(call, leg);
        if (origin)
        {
            calls.Stream.Emit(call, CallChangeKind.Opened, started, caller: leg.CallerIdNum, called: AmiCalls.Called(call));
        }

        calls.AddEvent(call, leg.CreatedAt, "state", AmiCalls.EndpointOf(call, leg), "resync new " + channel, frame);
        if (!origin)
        {
            calls.Ring(call, leg, leg.CreatedAt);
        }

        return true;
    }

    /// <summary><c>Duration: 00:00:06</c> (hours:minutes:seconds) → 6 s; zero when unreadable.</summary>
    private static TimeSpan Age(ReadOnlySpan<char> duration)
        => TimeSpan.TryParseExact(duration, @"hh\:mm\:ss", System.Globalization.CultureInfo.InvariantCulture, out var age) ? age : TimeSpan.Zero;

    /// <summary>One resync: the relay session and the action's id (the same ActionID can repeat across sessions).</summary>
    private static string ResyncId(AmiMessage m, in PbxFrame frame) => frame.Session + "/" + m.Get("ActionID");

    private static DateTimeOffset HalfWay(DateTimeOffset from, DateTimeOffset to) => to <= from ? from : from + ((to - from) / 2);
}
