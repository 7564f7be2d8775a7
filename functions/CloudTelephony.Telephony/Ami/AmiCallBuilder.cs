namespace CloudTelephony.Telephony.Ami;

/// <summary>
/// The final record of an AMI call (rules in <see cref="AmiInterpreter"/>'s remarks: direction from the origin and trunk
/// legs, answered / not answered from the answer and the top-level DialStatuses, legs and their outcomes).
/// </summary>
internal static class AmiCallBuilder
{
    /// <summary>The call record of <paramref name="call"/> ending at <paramref name="endedAt"/>; <paramref name="timedOut"/>
    /// when it closed by timeout or flush (status answered if it was, else unknown).</summary>
    public static Call Build(string pbx, AmiCallState call, DateTimeOffset endedAt, bool timedOut)
    {
        var origin = AmiCalls.Origin(call);
        var real = call.Legs.Where(l => l.IsReal).ToList();
        var trunkLeg = real.FirstOrDefault(l => l.Kind == LegKind.Trunk && !ReferenceEquals(l, origin));
        var direction = origin.Kind == LegKind.Trunk ? CallDirection.Inbound
            : trunkLeg is not null ? CallDirection.Outbound
            : call.OriginateExten is { } number && AmiNumberPlan.IsOutsideNumber(number) ? CallDirection.Outbound   // a click-to-call never dialled
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
        // extensions that rang: with Newstate Ringing in the stream, only phones that reached it, answered or were busy (a
        // busy phone was offered the call); a DND phone (480: Cause 19 without Ringing) or a 302 forward (Cause 23) was not
        foreach (var l in real.Where(l => l.Kind == LegKind.Extension && !ReferenceEquals(l, origin) && l.RangAt is not null
                     && (!call.SawRinging || l.Alerted || l.AnsweredAt is not null || l.DialStatus == "BUSY" || l.Cause == 17))
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
                AmiCalls.EndpointOf(call, l) ?? l.Endpoint,
                isOrigin ? "caller" : l.Role,
                isOrigin ? null : l.RangAt,
                isOrigin ? answeredAt : l.AnsweredAt,
                l.EndedAt ?? (timedOut ? endedAt : null),
                isOrigin ? CallerOutcome(status, missedReason) : LegOutcome(call, l)));
        }

        return new Call
        {
            Pbx = pbx,
            CallKey = call.Key,
            Direction = direction,
            Status = status,
            MissedReason = missedReason,
            Caller = origin.CallerIdNum,
            CallerName = origin.CallerIdName is { } name && name != origin.CallerIdNum ? name : null,
            Called = AmiCalls.Called(call) ?? (direction == CallDirection.Outbound ? DialledNumber(trunkLeg?.DialString) : null),
            AnsweredBy = call.AnsweredBy,
            Extensions = extensions,
            StartedAt = call.StartedAt,
            AnsweredAt = answeredAt,
            EndedAt = endedAt,
            RingSeconds = Call.Seconds(call.StartedAt, answeredAt ?? endedAt),
            TalkSeconds = answeredAt is null ? 0 : Call.Seconds(answeredAt.Value, endedAt),
            Transfers = Transfers(call),
            IvrDigits = call.Digits,
            Trunk = origin.Kind == LegKind.Trunk ? origin.Endpoint : trunkLeg?.Endpoint,
            Participants = participants,
            Events = call.Events,
        };
    }

    /// <summary>The call's transfers, plus each consultation whose target rang with no transfer to that target (an attended
    /// transfer the target refused or the transferer took back: no <c>AttendedTransfer</c> event).</summary>
    private static List<CallTransfer> Transfers(AmiCallState call)
    {
        var list = call.Transfers.Select(t => new CallTransfer(t.From, t.To, t.At, t.Answered)).ToList();
        foreach (var c in call.Consultations ?? [])
        {
            var from = call.Legs.Find(l => l.Uid == c.FromUid);
            var local = call.Legs.Find(l => l.Uid == c.LocalUid);
            if (from is null || local is null || AmiCalls.Resolve(call, local) is not { Kind: not LegKind.Local, RangAt: { } rang } target
                || ReferenceEquals(target, from))
            {
                continue;
            }

            var to = AmiCalls.EndpointOf(call, target) ?? target.Endpoint;
            if (!list.Exists(t => t.To == to))
            {
                list.Add(new CallTransfer(AmiCalls.EndpointOf(call, from) ?? from.Endpoint, to, rang, target.AnsweredAt is not null));
            }
        }

        return list;
    }

    /// <summary>The number in a trunk dial string: <c>0048221112233@provider</c> → <c>0048221112233</c>,
    /// <c>PJSIP/0048221112233@provider</c> → the same; null when empty.</summary>
    internal static string? DialledNumber(string? dialString)
    {
        if (string.IsNullOrEmpty(dialString))
        {
            return null;
        }

        var at = dialString.IndexOf('@');
        var number = at < 0 ? dialString : dialString[..at];
        var slash = number.LastIndexOf('/');
        number = slash < 0 ? number : number[(slash + 1)..];
        return number.Length == 0 ? dialString : number;
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
                var pair = AmiCalls.PairKey(dialer.Channel);
                var one = call.Legs.Find(l => l.Kind == LegKind.Local && l.Uid != dialer.Uid && AmiCalls.PairKey(l.Channel) == pair);
                if (one?.DialStatus is { } top && top != "ANSWER")
                {
                    status = top;
                }
            }
        }

        // "answered elsewhere" only when another leg answered while this one rang (a ring-group loser), not when the
        // caller hung up on a transfer target after an earlier answer
        var elsewhere = call.Legs.Any(o => !ReferenceEquals(o, leg) && o.IsReal && !ReferenceEquals(o, AmiCalls.Origin(call))
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
}
