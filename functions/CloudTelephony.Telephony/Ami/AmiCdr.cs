namespace CloudTelephony.Telephony.Ami;

/// <summary>
/// <c>Cdr</c> events (cdr_manager) are a cross-check only: for a call still open they add a <c>record</c> event and can
/// supply an answer that no other event showed, or correct one a reconnect resync estimated; they never open a call or add
/// a leg. Usually they arrive after the call closed and are then ignored.
/// </summary>
/// <remarks>
/// The Cdr's <c>StartTime</c>/<c>AnswerTime</c> are the Asterisk host's local time in whole seconds (not necessarily the
/// PBX's configured zone: tests/data/ami/lab w1–w4), so the answer is placed from the record's own durations: the Cdr
/// channel's start + (<c>Duration</c> − <c>BillableSeconds</c>), and only when <c>AnswerTime</c> is missing or unreadable as
/// well from there; never before the start nor after the Cdr event.
/// </remarks>
internal sealed class AmiCdr(AmiCalls calls)
{
    public bool OnCdr(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!calls.TryLeg(m["UniqueID"], out var call, out var leg))
        {
            return false;
        }

        var disposition = m.Get("Disposition");
        if ((call.AnsweredAt is null || call.AnswerEstimated) && disposition == "ANSWERED"
            && calls.TryLegByName(m["DestinationChannel"], out var dc, out var dest) && ReferenceEquals(dc, call))
        {
            var duration = AmiValues.ParseInt(m["Duration"]);
            var billable = AmiValues.ParseInt(m["BillableSeconds"]);
            DateTimeOffset? answered = duration >= 0 && billable >= 0 && billable <= duration
                ? leg.CreatedAt.AddSeconds(duration - billable)
                : calls.ParseLocal(m["AnswerTime"]);
            if (answered is { } a)
            {
                a = a < leg.CreatedAt ? leg.CreatedAt : a > at ? at : a;
                if (call.AnswerEstimated && call.AnsweredAt is not null)
                {
                    // a resync placed the answer half-way through the gap: the record's durations say better
                    call.AnsweredAt = a;
                    dest.AnsweredAt = a;
                    call.AnswerEstimated = false;
                }
                else if (call.AnsweredAt is null)
                {
                    dest.AnsweredAt ??= a;
                    calls.MarkAnswered(call, dest, a);
                }
            }
        }

        calls.AddEvent(call, at, "record", AmiCalls.EndpointOf(call, leg), disposition, frame);
        return true;
    }
}
