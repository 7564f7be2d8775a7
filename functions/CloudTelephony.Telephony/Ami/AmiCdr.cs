namespace CloudTelephony.Telephony.Ami;

/// <summary>
/// <c>Cdr</c> events (cdr_manager) are a cross-check only: for a call still open they add a <c>record</c> event and can
/// supply an answer that no other event showed (AnswerTime in the Asterisk host's local time, whole seconds); they never
/// open a call or add a leg. Usually they arrive after the call closed and are then ignored.
/// </summary>
internal sealed class AmiCdr(AmiCalls calls)
{
    public bool OnCdr(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!calls.TryLeg(m["UniqueID"], out var call, out var leg))
        {
            return false;
        }

        var disposition = m.Get("Disposition");
        if (call.AnsweredAt is null && disposition == "ANSWERED" && calls.TryLegByName(m["DestinationChannel"], out var dc, out var dest) && ReferenceEquals(dc, call))
        {
            var answered = calls.ParseLocal(m["AnswerTime"]) ?? at;
            dest.AnsweredAt ??= answered;
            calls.MarkAnswered(call, dest, answered);
        }

        calls.AddEvent(call, at, "record", AmiCalls.EndpointOf(call, leg), disposition, frame);
        return true;
    }
}
