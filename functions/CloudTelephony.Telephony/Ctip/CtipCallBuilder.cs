namespace CloudTelephony.Telephony.Ctip;

/// <summary>Turns a finished <see cref="CtipOpenCall"/> into the <see cref="Call"/> record.</summary>
internal static class CtipCallBuilder
{
    public static Call Build(string pbx, CtipOpenCall call)
    {
        var status = Status(call, out var missedReason);
        var endedAt = EndedAt(call);
        return new Call
        {
            Pbx = pbx,
            CallKey = call.Key,
            Direction = call.Direction,
            Status = status,
            MissedReason = missedReason,
            Caller = call.Caller,
            CallerName = call.CallerName,
            Called = call.Called,
            AnsweredBy = call.AnsweredBy,
            Extensions = [.. call.Extensions],
            StartedAt = Utc(call.StartedAt),
            AnsweredAt = Utc(call.AnsweredAt),
            EndedAt = Utc(endedAt),
            RingSeconds = Call.Seconds(call.StartedAt, call.AnsweredAt ?? endedAt),
            TalkSeconds = call.AnsweredAt is { } answered ? Call.Seconds(answered, endedAt) : 0,
            Transfers = [.. call.Transfers.Select(t => t.At.Offset == TimeSpan.Zero ? t : t with { At = t.At.ToUniversalTime() })],
            Participants = Participants(call, status, missedReason, Utc(endedAt)),
            Events = call.Events.Exists(e => e.At.Offset != TimeSpan.Zero)
                ? [.. call.Events.Select(e => e with { At = e.At.ToUniversalTime() })]
                : [.. call.Events],
        };
    }

    /// <summary>Records are UTC throughout; a call restored from state saved before frames were converted on arrival (or
    /// from a format-1 document) may still hold the capture's offset.</summary>
    private static DateTimeOffset Utc(DateTimeOffset t) => t.Offset == TimeSpan.Zero ? t : t.ToUniversalTime();

    private static DateTimeOffset? Utc(DateTimeOffset? t) => t is { } v ? Utc(v) : null;

    /// <summary>Answered when a leg connected (or a member was released as picked up elsewhere, its CONN lost); else from the
    /// legs' REL causes: the caller's busy / failure first, then any unanswered ring = missed, then busy, failed.</summary>
    private static CallStatus Status(CtipOpenCall call, out string? missedReason)
    {
        missedReason = null;
        if (call.AnsweredAt is not null || call.Legs.Exists(l => l.Outcome == "answered-elsewhere"))
        {
            return CallStatus.Answered;
        }

        if (call.Cut)
        {
            return CallStatus.Unknown;
        }

        var callerOutcome = call.Legs.Find(l => l.Role == "caller")?.Outcome;
        if (callerOutcome is "busy" or "failed")
        {
            return callerOutcome == "busy" ? CallStatus.Busy : CallStatus.Failed;
        }

        if (call.Legs.Exists(l => l.Outcome is "no-answer" or "cancel"))
        {
            missedReason = call.Legs.Exists(l => l.EndCause == CtipReleaseCause.NoAnswer) ? "noanswer" : "cancel";
            return CallStatus.Missed;
        }

        if (call.Legs.Exists(l => l.Outcome is "busy" or "rejected"))
        {
            return CallStatus.Busy;
        }

        return call.Legs.Exists(l => l.Outcome == "failed") ? CallStatus.Failed : CallStatus.Unknown;
    }

    /// <summary>Answered: when the conversation last stopped, or later when a transfer target or recall rang on while the
    /// caller waited (<see cref="CtipOpenCall.WaitedUntil"/>); else when the last leg ended.</summary>
    private static DateTimeOffset EndedAt(CtipOpenCall call)
    {
        if (call.AnsweredAt is not null && call.TalkEndedAt is { } talkEnded)
        {
            return call.WaitedUntil is { } waited && waited > talkEnded ? waited : talkEnded;
        }

        DateTimeOffset? last = null;
        foreach (var leg in call.Legs)
        {
            if (leg.EndedAt > last || last is null)
            {
                last = leg.EndedAt;
            }
        }

        return last ?? call.LastActivityAt;
    }

    private static List<CallParticipant> Participants(CtipOpenCall call, CallStatus status, string? missedReason, DateTimeOffset endedAt)
    {
        var farEndOutcome = status switch
        {
            CallStatus.Answered => "answered",
            CallStatus.Missed => missedReason == "noanswer" ? "no-answer" : "cancel",
            CallStatus.Busy => "busy",
            CallStatus.Failed => "failed",
            _ => "unknown",
        };
        var participants = new List<CallParticipant>(call.Legs.Count + 1);
        if (call.Direction == CallDirection.Inbound && call.Caller is { } caller)
        {
            participants.Add(new CallParticipant(caller, "caller", null, Utc(call.AnsweredAt), endedAt, farEndOutcome));
        }

        foreach (var leg in call.Legs)
        {
            participants.Add(new CallParticipant(leg.Extension, leg.Role, Utc(leg.RangAt), Utc(leg.AnsweredAt), Utc(leg.EndedAt), leg.Outcome ?? "unknown"));
        }

        var calledNeverRang = call.Direction == CallDirection.Outbound
            || (call.Direction == CallDirection.Internal && !call.Legs.Exists(l => l.Role != "caller"));
        if (calledNeverRang && call.Called is { } called)
        {
            participants.Add(new CallParticipant(called, "callee", null, Utc(call.AnsweredAt), endedAt, farEndOutcome));
        }

        return participants;
    }
}
