namespace CloudTelephony.Telephony.Tests.Ami;

/// <summary>The real captures (sweeney/asterisk-mqtt, MIT) and the HAND-MADE ones, correlated end to end.</summary>
public class AmiCaptureTests
{
    private static DateTimeOffset T(string iso) => DateTimeOffset.Parse(iso, System.Globalization.CultureInfo.InvariantCulture);

    private static DateTimeOffset Ms(int i) => AmiTestKit.BaseTime.AddMilliseconds(i);

    private static string[] Legs(Call c) => [.. c.Participants.Select(p => $"{p.Endpoint}/{p.Role}/{p.Outcome}")];

    private static Call Single(List<Call> calls)
    {
        Assert.Single(calls);
        return calls[0];
    }

    // ---- REAL captures (no Timestamp headers: event time = synthetic receivedAt = base + frame index in ms) ----

    [Fact]
    public void Real_answered_call_1986_to_21()
    {
        var frames = AmiTestKit.Fixture("sweeney-asterisk-mqtt_answered-outbound.txt");
        Assert.Equal(23, frames.Count);
        var (calls, outcomes, c) = AmiTestKit.Run(frames, flush: false);
        Assert.DoesNotContain(outcomes, o => o.Disposition == FrameDisposition.ParseError);
        Assert.Equal(0, c.OpenCalls);
        var call = Single(calls);
        Assert.Equal("1770888509.40", call.CallKey);

        // The capture is named "answered-outbound" by its author (outbound from the phone 1986's point of view), but both
        // ends are PJSIP extensions in from-internal: by the project's definition this is an internal call.
        Assert.Equal(CallDirection.Internal, call.Direction);
        Assert.Equal(CallStatus.Answered, call.Status);
        Assert.Null(call.MissedReason);
        Assert.Equal("1986", call.Caller);
        Assert.Equal("21", call.Called);
        Assert.Equal("21", call.AnsweredBy);
        Assert.Equal(["21"], call.Extensions);
        Assert.Null(call.Trunk);
        Assert.Equal(Ms(0), call.StartedAt);
        Assert.Equal(Ms(9), call.AnsweredAt);      // Newstate Up of PJSIP/21 (frame 10)
        Assert.Equal(Ms(22), call.EndedAt);        // last Hangup (frame 23)
        Assert.Equal(0.009, call.RingSeconds);
        Assert.Equal(0.013, call.TalkSeconds);
        Assert.Equal(["1986/caller/answered", "21/callee/answered"], Legs(call));
        Assert.Empty(call.Transfers);
        Assert.Equal(13, call.Events.Count);
        Assert.All(call.Events, e => Assert.Equal("s1", e.Session));
        Assert.Equal(["state", "state", "dial", "ring", "answer", "dial", "answer", "bridge", "bridge", "bridge", "bridge", "hangup", "hangup"],
            call.Events.Select(e => e.Kind));
    }

    [Fact]
    public void Real_caller_cancel_is_one_missed_call_with_reason_cancel()
    {
        var frames = AmiTestKit.Fixture("sweeney-asterisk-mqtt_unanswered-cancel.txt");
        Assert.Equal(15, frames.Count);
        var (calls, _, c) = AmiTestKit.Run(frames, flush: false);
        Assert.Equal(0, c.OpenCalls);
        var call = Single(calls);
        Assert.Equal("1770888559.46", call.CallKey);
        Assert.Equal(CallDirection.Internal, call.Direction);
        Assert.Equal(CallStatus.Missed, call.Status);
        Assert.Equal("cancel", call.MissedReason);   // DialEnd DialStatus CANCEL; Hangup Cause 127
        Assert.Equal("1986", call.Caller);
        Assert.Equal("21", call.Called);
        Assert.Null(call.AnsweredBy);
        Assert.Equal(["21"], call.Extensions);
        Assert.Null(call.AnsweredAt);
        Assert.Equal(Ms(14), call.EndedAt);
        Assert.Equal(0.014, call.RingSeconds);
        Assert.Equal(0, call.TalkSeconds);
        Assert.Equal(["1986/caller/cancel", "21/callee/cancel"], Legs(call));
    }

    [Fact]
    public void Real_hunt_group_of_six_unanswered_legs_is_one_missed_call()
    {
        var frames = AmiTestKit.Fixture("sweeney-asterisk-mqtt_unanswered-huntgroup.txt");
        Assert.Equal(53, frames.Count);
        var (calls, _, c) = AmiTestKit.Run(frames, flush: false);
        Assert.Equal(0, c.OpenCalls);
        var call = Single(calls);
        Assert.Equal("1770888635.49", call.CallKey);
        Assert.Equal(CallDirection.Internal, call.Direction);
        Assert.Equal(CallStatus.Missed, call.Status);
        Assert.Equal("noanswer", call.MissedReason);  // six DialEnd NOANSWER, legs Hangup Cause 0
        Assert.Equal("1986", call.Caller);
        Assert.Equal("666", call.Called);
        Assert.Equal(["11", "12", "21", "41", "42", "51"], call.Extensions);
        Assert.Equal(7, call.Participants.Count);
        Assert.All(call.Participants.Skip(1), p => Assert.Equal("no-answer", p.Outcome));
        Assert.Equal(Ms(52), call.EndedAt);
    }

    // ---- HAND-MADE shared fixture ----

    [Fact]
    public void Handmade_ringgroup_blind_transfer_and_missed()
    {
        // Where this hand-made file disagrees with Asterisk's documented behaviour we trust the documentation:
        //  * 201's Hangup carries Cause 26 "Answered elsewhere", but Dial() only sets that cause with its 'c' option and
        //    the AppData is "PJSIP/201&PJSIP/202,20" (app_dial docs: "c - If the Dial() application cancels this call,
        //    always set HANGUPCAUSE to 'answered elsewhere'"). We do not rely on the cause: 201's outcome comes from DialEnd CANCEL
        //    while 202 answered, which is "answered-elsewhere" either way.
        //  * A Uniqueid is "<epoch of channel creation>.<counter>", yet 203's Uniqueid 1714985146.104 predates its
        //    Newchannel (Timestamp 1714985153.46), and call 2's Linkedid 1714985430.110 (and its Cdr StartTime 08:50:30)
        //    is 26 s before its Newchannel Timestamp 1714985456.35. Times come from the Timestamp headers
        //    (timestampevents=yes), never from Uniqueids, so call 2 starts at 08:50:56.353 UTC.
        //  * Newexten is raised with class DIALPLAN (Privilege "dialplan,all"), not "call,all" as written here; the
        //    correlator does not use Newexten or the Privilege header, so nothing changes.
        //  * The Cdr events come after the last Hangup (as cdr_manager posts them): they find no open call and are
        //    Ignored - the two calls are not double-counted.
        var frames = AmiTestKit.Fixture("HANDMADE_ast18_ringgroup-blindxfer_and_missed.txt");
        var (calls, outcomes, c) = AmiTestKit.Run(frames, flush: false);
        Assert.Equal(0, c.OpenCalls);
        Assert.Equal(2, calls.Count);
        Assert.DoesNotContain(outcomes, o => o.Disposition == FrameDisposition.ParseError);
        Assert.Equal(FrameDisposition.Ignored, outcomes[0].Disposition);   // login Response
        var cdr = Enumerable.Range(0, frames.Count).Where(i => frames[i].Text.StartsWith("Event: Cdr", StringComparison.Ordinal)).ToList();
        Assert.Equal(5, cdr.Count);
        Assert.All(cdr, i => Assert.Equal(FrameDisposition.Ignored, outcomes[i].Disposition));

        var a = calls[0];
        Assert.Equal("1714985100.101", a.CallKey);
        Assert.Equal(CallDirection.Inbound, a.Direction);
        Assert.Equal(CallStatus.Answered, a.Status);
        Assert.Equal("5551234567", a.Caller);
        Assert.Equal("4155550100", a.Called);
        Assert.Equal("trunk-provider", a.Trunk);
        Assert.Equal("202", a.AnsweredBy);                 // the first answerer, not the transfer target
        Assert.Equal(["201", "202", "203"], a.Extensions);
        Assert.Equal(T("2024-05-06T08:45:00.124233Z"), a.StartedAt);     // Timestamp header, microseconds kept
        Assert.Equal(T("2024-05-06T08:45:08.140233Z"), a.AnsweredAt);   // 202 Newstate Up
        Assert.Equal(T("2024-05-06T08:48:06.349232Z"), a.EndedAt);      // 203's Hangup, the last channel
        Assert.Equal(8.016, a.RingSeconds);
        Assert.Equal(178.209, a.TalkSeconds);              // talk time continues across the transfer
        var t = Assert.Single(a.Transfers);
        Assert.Equal(new CallTransfer("202", "203", T("2024-05-06T08:45:53.465232Z"), true), t);
        Assert.Equal(["5551234567/caller/answered", "201/callee/answered-elsewhere", "202/callee/answered", "203/transfer/answered"], Legs(a));

        var b = calls[1];
        Assert.Equal("1714985430.110", b.CallKey);
        Assert.Equal(CallStatus.Missed, b.Status);
        Assert.Equal("noanswer", b.MissedReason);
        Assert.Equal("5559876543", b.Caller);
        Assert.Equal(["201", "202"], b.Extensions);
        Assert.Equal(T("2024-05-06T08:50:56.353231Z"), b.StartedAt);
        Assert.Equal(T("2024-05-06T08:51:16.363231Z"), b.EndedAt);
        Assert.Equal(20.01, b.RingSeconds);
        Assert.Equal(["5559876543/caller/no-answer", "201/callee/no-answer", "202/callee/no-answer"], Legs(b));
    }

    // ---- our HAND-MADE samples (samples/ami/README.md) ----

    [Fact]
    public void Handmade_attended_transfer_is_one_call_with_the_consultation_merged()
    {
        var (calls, _, c) = AmiTestKit.Run(AmiTestKit.Sample("HANDMADE_ast18_attended-transfer.txt"), flush: false);
        Assert.Equal(0, c.OpenCalls);
        var call = Single(calls);                          // the consultation call 1767261640.203 is not a call of its own
        Assert.Equal("1767261600.201", call.CallKey);
        Assert.Equal(CallDirection.Inbound, call.Direction);
        Assert.Equal(CallStatus.Answered, call.Status);
        Assert.Equal("48601111222", call.Caller);
        Assert.Equal("4155550100", call.Called);
        Assert.Equal("202", call.AnsweredBy);
        Assert.Equal(["202", "203"], call.Extensions);
        Assert.Equal(T("2026-01-01T10:00:00.002Z"), call.StartedAt);
        Assert.Equal(T("2026-01-01T10:00:06.085999Z"), call.AnsweredAt);
        Assert.Equal(T("2026-01-01T10:02:55.184997Z"), call.EndedAt);
        Assert.Equal(169.099, call.TalkSeconds);
        Assert.Equal([new CallTransfer("202", "203", T("2026-01-01T10:00:40.094999Z"), true)], call.Transfers);
        // Bob's second channel (the consultation) is not a participant; no ghost legs
        Assert.Equal(["48601111222/caller/answered", "202/callee/answered", "203/transfer/answered"], Legs(call));
        Assert.Contains(call.Events, e => e.Kind == "transfer" && e.Detail == "attended to 203");
    }

    [Fact]
    public void After_an_attended_transfer_channels_of_the_merged_linkedid_join_the_surviving_call()
    {
        var frames = AmiTestKit.Sample("HANDMADE_ast18_attended-transfer.txt");
        var transfer = frames.FindIndex(f => f.Text.StartsWith("Event: AttendedTransfer", StringComparison.Ordinal));
        var at = frames[transfer].ReceivedAt;
        string Block(string ev, string extra) =>
            $"Event: {ev}\r\nPrivilege: call,all\r\nTimestamp: 1767261660.500000\r\nChannel: PJSIP/206-000001ff\r\nChannelState: 0\r\n"
            + $"CallerIDNum: 206\r\nContext: from-internal\r\nExten: s\r\nUniqueid: 1767261660.299\r\nLinkedid: 1767261640.203{extra}";
        var extraFrames = new[] { Block("Newchannel", ""), Block("Hangup", "\r\nCause: 16") }
            .Select(t => new PbxFrame("pbx1", "s1", 0, at, t));
        var stream = frames.Take(transfer + 1).Concat(extraFrames).Concat(frames.Skip(transfer + 1))
            .Select((f, i) => f with { Seq = i + 1 }).ToList();
        var (calls, _, c) = AmiTestKit.Run(stream, flush: false);
        Assert.Equal(0, c.OpenCalls);
        var call = Single(calls);
        Assert.Equal("1767261600.201", call.CallKey);
        Assert.Contains(call.Participants, p => p.Endpoint == "206");
        Assert.Equal(["202", "203"], call.Extensions);     // 206 never rang
    }

    [Fact]
    public void Handmade_queue_answered_by_agent()
    {
        var (calls, _, c) = AmiTestKit.Run(AmiTestKit.Sample("HANDMADE_ast18_queue-agent.txt"), flush: false);
        Assert.Equal(0, c.OpenCalls);
        var call = Single(calls);
        Assert.Equal("1767265200.301", call.CallKey);
        Assert.Equal(CallDirection.Inbound, call.Direction);
        Assert.Equal(CallStatus.Answered, call.Status);
        Assert.Equal("48602222333", call.Caller);
        Assert.Equal("4155550200", call.Called);
        Assert.Equal("201", call.AnsweredBy);
        Assert.Equal(["201", "202"], call.Extensions);     // ringall: both rang, 202 is not a missed call
        Assert.Equal(T("2026-01-01T11:00:09.623999Z"), call.AnsweredAt);
        Assert.Equal(T("2026-01-01T11:01:44.639998Z"), call.EndedAt);
        Assert.Equal(9.622, call.RingSeconds);             // queue wait counts as ringing (Asterisk answered, not a person)
        Assert.Equal(95.016, call.TalkSeconds);
        Assert.Equal(["48602222333/caller/answered", "201/callee/answered", "202/callee/answered-elsewhere"], Legs(call));
        Assert.Contains(call.Events, e => e.Kind == "answer" && e.Endpoint == "201" && e.Detail == "500 hold 10s ring 10s");
        Assert.Contains(call.Events, e => e.Kind == "release" && e.Detail == "agent talk 95s");
    }

    [Fact]
    public void Handmade_ivr_digits_then_unanswered_blind_transfer()
    {
        var (calls, _, c) = AmiTestKit.Run(AmiTestKit.Sample("HANDMADE_ast18_ivr-digits-blindxfer.txt"), flush: false);
        Assert.Equal(0, c.OpenCalls);
        var call = Single(calls);
        Assert.Equal("1767268800.401", call.CallKey);
        Assert.Equal(CallStatus.Answered, call.Status);
        Assert.Equal("31", call.IvrDigits);                // DTMFEnd Received on the trunk channel before a person answered
        Assert.Equal("4155550300", call.Called);
        Assert.Equal("204", call.AnsweredBy);
        Assert.Equal(["204", "205"], call.Extensions);
        Assert.Equal(T("2026-01-01T12:00:13.109999Z"), call.AnsweredAt);
        Assert.Equal(13.108, call.RingSeconds);            // IVR time counts until a person answers
        Assert.Equal(42.087, call.TalkSeconds);
        Assert.Equal([new CallTransfer("204", "205", T("2026-01-01T12:00:43.121998Z"), false)], call.Transfers);
        Assert.Equal(["48603333444/caller/answered", "204/callee/answered", "205/transfer/cancel"], Legs(call));
        Assert.Equal(["3", "1"], call.Events.Where(e => e.Kind == "digits").Select(e => e.Detail));
    }

    [Fact]
    public void Handmade_local_channel_ring_group_has_no_ghost_legs()
    {
        var (calls, _, c) = AmiTestKit.Run(AmiTestKit.Sample("HANDMADE_ast18_local-ringgroup.txt"), flush: false);
        Assert.Equal(0, c.OpenCalls);
        Assert.Equal(2, calls.Count);

        var a = calls[0];
        Assert.Equal("1767272400.501", a.CallKey);
        Assert.Equal(CallStatus.Answered, a.Status);
        Assert.Equal("202", a.AnsweredBy);
        Assert.Equal(["201", "202"], a.Extensions);
        Assert.Equal(T("2026-01-01T13:00:05.622998Z"), a.AnsweredAt);
        Assert.Equal(T("2026-01-01T13:01:09.853996Z"), a.EndedAt);
        Assert.Equal(64.231, a.TalkSeconds);
        Assert.Equal(["48604444555/caller/answered", "201/callee/answered-elsewhere", "202/callee/answered"], Legs(a));

        var b = calls[1];
        Assert.Equal("1767272499.521", b.CallKey);
        Assert.Equal(CallStatus.Missed, b.Status);
        // the PJSIP legs end with DialEnd CANCEL from their Local ;2 halves; the real result is the top-level NOANSWER
        Assert.Equal("noanswer", b.MissedReason);
        Assert.Equal(["201", "202"], b.Extensions);
        Assert.Equal(20.134, b.RingSeconds);
        Assert.Equal(["48605555666/caller/no-answer", "201/callee/no-answer", "202/callee/no-answer"], Legs(b));
    }

    [Fact]
    public void Replay_sample_is_the_real_capture()
    {
        Assert.Equal(
            File.ReadAllText(CloudTelephony.Tests.TestPaths.Fixture("ami", "sweeney-asterisk-mqtt_answered-outbound.txt")),
            File.ReadAllText(CloudTelephony.Tests.TestPaths.Sample("ami", "sweeney-asterisk-mqtt_answered-outbound.txt")));
    }
}
