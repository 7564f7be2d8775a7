using CloudTelephony.Telephony.Ctip;

namespace CloudTelephony.Telephony.Tests.Ctip;

/// <summary>Situations the capture lacks, written line by line per shared/protocols/ctip.md.</summary>
public class CtipScenarioTests
{
    private static readonly DateTimeOffset Day = new(2025, 9, 5, 8, 0, 0, TimeSpan.Zero);

    /// <summary>Frames of session "s" from (seconds after 08:00 UTC, line) pairs.</summary>
    private static List<PbxFrame> Script(params (double At, string Line)[] lines)
        => [.. lines.Select((l, i) => new PbxFrame("p", "s", i + 1, Day.AddSeconds(l.At), l.Line))];

    private static Call Single(params (double At, string Line)[] lines) => Assert.Single(CtipCapture.Correlate(Script(lines)));

    [Fact]
    public void Blind_transfer_answered_by_the_target()
    {
        var call = Single(
            (0, "RING 101_ 519084071 0 618386710 _ 519084071"),
            (5, "CONN 101_ 519084071 0"),
            (30, "ECHO 101_ /"),
            (31, "ECHO 101_ 1"),
            (31.5, "ECHO 101_ 0"),
            (32, "ECHO 101_ 9"),
            (32.2, "RING 109_ 519084071 0 /109 /101 _"),
            (34, "REL 101_ 1"),
            (40, "CONN 109_ 519084071 0"),
            (100, "REL 109_ 1"));

        Assert.Equal((CallDirection.Inbound, CallStatus.Answered), (call.Direction, call.Status));
        Assert.Equal(("519084071", "618386710", "101"), (call.Caller, call.Called, call.AnsweredBy));
        Assert.Equal(["101", "109"], call.Extensions);
        Assert.Equal([new CallTransfer("101", "109", Day.AddSeconds(32.2), true)], call.Transfers);
        Assert.Equal(5, call.RingSeconds);
        Assert.Equal(95, call.TalkSeconds);
        Assert.Equal(Day.AddSeconds(100), call.EndedAt);
        Assert.Contains(call.Participants, p => p is { Endpoint: "109", Role: "transfer", Outcome: "answered" });
        Assert.Equal(4, call.Events.Count(e => e.Kind == "dial"));
    }

    [Fact]
    public void Unanswered_transfer_recalls_the_transferring_extension_in_the_same_call()
    {
        var call = Single(
            (0, "RING 101_ 519084071 0 618386710 _ 519084071"),
            (5, "CONN 101_ 519084071 0"),
            (30, "ECHO 101_ /109"),
            (30.2, "RING 109_ 519084071 0 /109 /101 _"),
            (31, "REL 101_ 1"),
            (60, "REL 109_ 35"),
            (60.1, "RING 101_ 519084071 0 618386710 _ 519084071"),
            (63, "CONN 101_ 519084071 0"),
            (90, "REL 101_ 1"));

        Assert.Equal((CallStatus.Answered, "101"), (call.Status, call.AnsweredBy));
        Assert.Equal([new CallTransfer("101", "109", Day.AddSeconds(30.2), false)], call.Transfers);
        Assert.Equal(["101", "109"], call.Extensions);
        Assert.Equal(85, call.TalkSeconds);
        Assert.Contains(call.Participants, p => p is { Endpoint: "109", Outcome: "no-answer" });
        Assert.Contains(call.Events, e => e.Detail?.StartsWith("recall", StringComparison.Ordinal) == true);
    }

    [Fact]
    public void Transfer_of_an_internal_call()
    {
        var call = Single(
            (0, "ECHO 103_ /101"),
            (0.1, "RING 101_ /103 0 /101 _ Anna"),
            (2, "CONN 101_ /103 0"),
            (2.01, "CONN 103_ /101 0"),
            (10, "ECHO 101_ /105"),
            (10.1, "RING 105_ /103 0 /105 /101 _"),
            (11, "REL 101_ 1"),
            (15, "CONN 105_ /103 0"),
            (40, "REL 105_ 1"),
            (40.05, "REL 103_ 1"));

        Assert.Equal((CallDirection.Internal, CallStatus.Answered), (call.Direction, call.Status));
        Assert.Equal(("103", "101", "101"), (call.Caller, call.Called, call.AnsweredBy));
        Assert.Equal(["101", "105"], call.Extensions);
        Assert.Equal([new CallTransfer("101", "105", Day.AddSeconds(10.1), true)], call.Transfers);
        Assert.Equal(Day.AddSeconds(40), call.EndedAt);
    }

    [Fact]
    public void Ring_group_member_that_is_busy_does_not_make_the_call_busy()
    {
        var call = Single(
            (0, "RING 102_ 667314121 0 618386710 _ 667314121"),
            (0.1, "RING 103_ 667314121 0 618386710 _ 667314121"),
            (60, "REL 103_ 17"),
            (60.1, "REL 102_ 1"));
        Assert.Equal((CallStatus.Missed, "cancel"), (call.Status, call.MissedReason));
        Assert.Contains(call.Participants, p => p is { Endpoint: "103", Outcome: "busy" });
    }

    [Fact]
    public void Rejected_and_busy_causes()
    {
        Assert.Equal(CallStatus.Busy, Single((0, "RING 102_ 600 0 618 _ _"), (3, "REL 102_ 16")).Status);
        Assert.Equal(CallStatus.Busy, Single((0, "ECHO 102_ 0600"), (3, "REL 102_ 17")).Status);
        Assert.Equal(CallStatus.Failed, Single((0, "ECHO 102_ /7"), (3, "REL 102_ 15")).Status);
        var noAnswer = Single((0, "RING 102_ 600 0 618 _ _"), (30, "REL 102_ 35"));
        Assert.Equal((CallStatus.Missed, "noanswer"), (noAnswer.Status, noAnswer.MissedReason));
    }

    [Fact]
    public void Conn_out_of_nowhere_does_not_crash()
    {
        var outbound = Single((0, "CONN 101_ 0505224415 0"), (60, "REL 101_ 1"));
        Assert.Equal((CallDirection.Outbound, CallStatus.Answered, "0505224415"), (outbound.Direction, outbound.Status, outbound.Called));
        Assert.Equal(60, outbound.TalkSeconds);

        var internalCall = Single((0, "CONN 101_ /109 0"), (0.01, "CONN 109_ /101 0"), (9, "REL 101_ 1"), (9.05, "REL 109_ 1"));
        Assert.Equal((CallDirection.Internal, "101", "109"), (internalCall.Direction, internalCall.Caller, internalCall.Called));
        Assert.Equal(9, internalCall.TalkSeconds, 2);
    }

    [Fact]
    public void Concurrent_calls_from_different_callers_stay_apart()
    {
        var calls = CtipCapture.Correlate(Script(
            (0, "RING 101_ 600000001 0 618386710 _ _"),
            (0.1, "RING 102_ 600000001 0 618386710 _ _"),
            (1, "RING 103_ 600000002 0 618386710 _ _"),
            (3, "CONN 102_ 600000001 0"),
            (3.02, "REL 101_ 39"),
            (5, "CONN 103_ 600000002 0"),
            (20, "REL 103_ 1"),
            (30, "REL 102_ 1")));
        Assert.Equal(2, calls.Count);
        Assert.Contains(calls, c => c is { Caller: "600000001", AnsweredBy: "102", TalkSeconds: 27 } && c.Extensions.SequenceEqual(["101", "102"]));
        Assert.Contains(calls, c => c is { Caller: "600000002", AnsweredBy: "103", TalkSeconds: 15 });
    }

    [Fact]
    public void Replies_link_tests_and_noise_are_ignored_and_garbage_is_a_parse_error()
    {
        var correlator = CtipCorrelator.Restore("p", new CorrelatorOptions(), null);
        var calls = new List<Call>();
        var frames = Script(
            (0, "aOK NCP 1.23 15"),
            (1, "t"),
            (2, "STAT 101_ H f d l a p c q"),
            (3, "REL 104_ 1"),
            (4, "aDRDY 101_"),
            (5, "RING 10"),
            (6, "\u0002\u0003garbage"));
        var outcomes = frames.Select(f => correlator.Process(f, calls)).ToList();
        Assert.Equal(
            [FrameDisposition.Ignored, FrameDisposition.Ignored, FrameDisposition.Ignored, FrameDisposition.Ignored,
             FrameDisposition.Ignored, FrameDisposition.ParseError, FrameDisposition.ParseError],
            outcomes.Select(o => o.Disposition));
        Assert.Contains("truncated", outcomes[5].Error, StringComparison.Ordinal);
        Assert.Empty(calls);
        Assert.Equal(0, correlator.OpenCalls);
    }

    [Fact]
    public void On_hook_without_release_ends_the_call_at_flush_too()
    {
        var call = Single((0, "ECHO 101_ 0505224415"), (10, "CONN 101_ 0505224415 0"), (70, "STAT 101_ h f d l a p c q"));
        Assert.Equal((CallStatus.Answered, 60.0), (call.Status, call.TalkSeconds));
        Assert.Equal(Day.AddSeconds(70), call.EndedAt);
    }

    [Fact]
    public void Release_soon_after_on_hook_gives_the_end()
    {
        var call = Single((0, "ECHO 101_ 0505224415"), (10, "CONN 101_ 0505224415 0"), (70, "STAT 101_ h f d l a p c q"), (70.5, "REL 101_ 1"));
        Assert.Equal(Day.AddSeconds(70.5), call.EndedAt);
        Assert.Equal(["dial", "answer", "state", "release"], call.Events.Select(e => e.Kind));
    }

    [Fact]
    public void Connected_call_with_a_lost_end_is_closed_by_the_talk_timeout()
    {
        var correlator = CtipCorrelator.Restore("p", new CorrelatorOptions { TalkTimeout = TimeSpan.FromHours(1) }, null);
        var calls = new List<Call>();
        foreach (var frame in Script((0, "RING 101_ 600 0 618 _ _"), (4, "CONN 101_ 600 0")))
        {
            correlator.Process(frame, calls);
        }

        correlator.Expire(Day.AddMinutes(59), calls);
        Assert.Empty(calls);
        correlator.Expire(Day.AddMinutes(61), calls);
        var call = Assert.Single(calls);
        Assert.Equal((CallStatus.Answered, "101", 4.0), (call.Status, call.AnsweredBy, call.RingSeconds));
        Assert.Contains(call.Participants, p => p is { Endpoint: "101", Outcome: "answered" });
    }

    [Fact]
    public void Bad_state_is_a_format_exception()
        => Assert.Throws<FormatException>(() => Correlators.Create("ctip", "p", null, "{not json"));

    [Fact]
    public void Correlators_factory_makes_a_ctip_correlator()
    {
        var correlator = Correlators.Create("ctip", "p");
        Assert.Equal(("ctip", "p", 0), (correlator.Protocol, correlator.Pbx, correlator.OpenCalls));
    }
}
