namespace CloudTelephony.Telephony.Ami;

/// <summary>
/// Queues and agents (app_queue): <c>QueueCallerJoin</c>/<c>Leave</c>/<c>Abandon</c> on the caller's channel (an abandon
/// counts as a cancelled dial); <c>AgentCalled</c> rings, <c>AgentConnect</c> answers, <c>AgentRingNoAnswer</c> and
/// <c>AgentComplete</c> end a member's part. Agents reached through Local channels are credited to the real channel.
/// </summary>
internal sealed class AmiQueues(AmiCalls calls)
{
    public bool OnQueueCaller(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!calls.TryLeg(m["Uniqueid"], out var call, out var leg))
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

        calls.AddEvent(call, at, "state", AmiCalls.EndpointOf(call, leg), detail, frame);
        return true;
    }

    public bool OnAgent(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!calls.TryLeg(m["DestUniqueid"], out var call, out var agent) && !calls.TryLeg(m["Uniqueid"], out call, out agent))
        {
            return false;
        }

        var real = AmiCalls.Resolve(call, agent) ?? agent;
        string kind;
        string? detail;
        switch (m.NameSpan)
        {
            case "AgentCalled":
                calls.Ring(call, real, at);
                kind = "ring";
                detail = m.Get("Queue");
                break;
            case "AgentConnect":
                real.AnsweredAt ??= at;
                calls.MarkAnswered(call, real, at);
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

        calls.AddEvent(call, at, kind, AmiCalls.EndpointOf(call, real), detail, frame);
        return true;
    }
}
