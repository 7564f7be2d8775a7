using CloudTelephony.Telephony.Ctip;
using Xunit.Abstractions;
using static CloudTelephony.Telephony.Tests.Ctip.CtipCapture;

namespace CloudTelephony.Telephony.Tests.Ctip;

/// <summary>Golden tests on the real capture: the six worked examples of fixtures/ctip/README.md and the damage it names.</summary>
public class CtipCaptureCallTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Millisecond = TimeSpan.FromMilliseconds(1);

    /// <summary>The one call that started at <paramref name="localStart"/> (README times are local +02:00, to the ms).</summary>
    private static Call CallAt(string localStart)
    {
        var start = Local(localStart);
        return Assert.Single(Calls, c => (c.StartedAt - start).Duration() <= Millisecond);
    }

    private static void AssertAbout(double expected, double actual, double tolerance = 0.1)
        => Assert.InRange(actual, expected - tolerance, expected + tolerance);

    private static void AssertAt(string localExpected, DateTimeOffset? actual)
    {
        Assert.NotNull(actual);
        Assert.InRange((actual.Value - Local(localExpected)).Duration(), TimeSpan.Zero, Millisecond);
    }

    [Fact]
    public void Example1_single_extension_answered()
    {
        var call = CallAt("2025-09-02 15:44:19.033");
        Assert.Equal((CallDirection.Inbound, CallStatus.Answered), (call.Direction, call.Status));
        Assert.Equal(("888922230", "618315335", "105"), (call.Caller, call.Called, call.AnsweredBy));
        Assert.Equal(["105"], call.Extensions);
        AssertAt("2025-09-02 15:44:20.608", call.AnsweredAt);
        AssertAt("2025-09-02 15:44:25.814", call.EndedAt);
        AssertAbout(1.575, call.RingSeconds);
        AssertAbout(5.206, call.TalkSeconds);
        Assert.Equal(["ring", "answer", "release"], call.Events.Select(e => e.Kind));
        Assert.Equal("cap1:1", call.CallKey);
    }

    [Fact]
    public void Example2_ring_group_is_one_call_and_rel39_legs_are_not_missed()
    {
        var call = CallAt("2025-09-03 09:07:42.924");
        Assert.Equal((CallDirection.Inbound, CallStatus.Answered), (call.Direction, call.Status));
        Assert.Equal(("693109180", "618386710", "101"), (call.Caller, call.Called, call.AnsweredBy));
        Assert.Equal(["101", "102", "103", "104", "105", "109"], call.Extensions);
        AssertAt("2025-09-03 09:07:57.745", call.AnsweredAt);
        AssertAt("2025-09-03 09:09:53.133", call.EndedAt);
        AssertAbout(14.821, call.RingSeconds);
        AssertAbout(115.388, call.TalkSeconds);
        Assert.Equal(5, call.Participants.Count(p => p.Outcome == "answered-elsewhere"));
        Assert.Contains(call.Events, e => e is { Kind: "release", Endpoint: "102", Detail: "cause 39 picked up elsewhere" });
        Assert.Equal(1, Calls.Count(c => c.Caller == "693109180"));
    }

    [Fact]
    public void Example3_ring_group_nobody_answered_is_missed()
    {
        var call = CallAt("2025-09-03 09:23:36.611");
        Assert.Equal((CallDirection.Inbound, CallStatus.Missed, "cancel"), (call.Direction, call.Status, call.MissedReason));
        Assert.Equal(("734137941", "618315335"), (call.Caller, call.Called));
        Assert.Null(call.AnsweredBy);
        Assert.Null(call.AnsweredAt);
        Assert.Equal(["101", "102", "103", "104", "105", "109"], call.Extensions);
        AssertAt("2025-09-03 09:23:46.531", call.EndedAt);
        AssertAbout(9.92, call.RingSeconds);
        Assert.Equal(0, call.TalkSeconds);
        Assert.All(call.Participants.Where(p => p.Role == "callee"), p => Assert.Equal("no-answer", p.Outcome));
    }

    [Fact]
    public void Example4_internal_call_is_one_call()
    {
        var call = CallAt("2025-09-03 09:32:45.808");
        Assert.Equal((CallDirection.Internal, CallStatus.Answered), (call.Direction, call.Status));
        Assert.Equal(("109", "101", "101"), (call.Caller, call.Called, call.AnsweredBy));
        Assert.Equal(["101"], call.Extensions);
        AssertAt("2025-09-03 09:32:58.289", call.AnsweredAt);
        AssertAt("2025-09-03 09:33:04.987", call.EndedAt);
        AssertAbout(12.481, call.RingSeconds);
        AssertAbout(6.698, call.TalkSeconds);
        Assert.Equal(["dial", "ring", "answer", "answer", "release", "release"], call.Events.Select(e => e.Kind));
        Assert.DoesNotContain(Calls, c => c != call && c.StartedAt >= call.StartedAt && c.StartedAt <= call.EndedAt);
    }

    [Fact]
    public void Example5_internal_call_to_a_busy_extension()
    {
        var call = CallAt("2025-09-03 09:37:28.356");
        Assert.Equal((CallDirection.Internal, CallStatus.Busy), (call.Direction, call.Status));
        Assert.Equal(("109", "101"), (call.Caller, call.Called));
        Assert.Null(call.AnsweredBy);
        Assert.Empty(call.Extensions);
        AssertAt("2025-09-03 09:37:31.757", call.EndedAt);
        AssertAbout(3.401, call.RingSeconds);
        Assert.Contains(call.Participants, p => p is { Endpoint: "101", Outcome: "busy" });

        var busyWith = CallAt("2025-09-03 09:36:45.528");
        Assert.Equal(("606610215", "101", CallStatus.Answered), (busyWith.Caller, busyWith.AnsweredBy, busyWith.Status));
        AssertAt("2025-09-03 09:36:47.960", busyWith.AnsweredAt);
        AssertAt("2025-09-03 09:39:49.157", busyWith.EndedAt);
    }

    [Fact]
    public void Example6_outgoing_call_ended_by_on_hook_only()
    {
        var call = CallAt("2025-09-03 11:43:52.534");
        Assert.Equal((CallDirection.Outbound, CallStatus.Answered), (call.Direction, call.Status));
        Assert.Equal(("101", "0660155133"), (call.Caller, call.Called));
        AssertAt("2025-09-03 11:44:07.873", call.AnsweredAt);
        AssertAt("2025-09-03 11:47:27.651", call.EndedAt);
        AssertAbout(15.339, call.RingSeconds);
        AssertAbout(199.778, call.TalkSeconds);
        Assert.Equal(["dial", "answer", "state"], call.Events.Select(e => e.Kind));
        Assert.Equal("on-hook", call.Events[^1].Detail);
    }

    [Fact]
    public void Ring_group_that_never_closes_becomes_one_unknown_call()
    {
        var call = CallAt("2025-09-02 16:07:27.298");
        Assert.Equal((CallDirection.Inbound, CallStatus.Unknown), (call.Direction, call.Status));
        Assert.Equal(["101", "102", "103", "104", "105", "109"], call.Extensions);
        Assert.All(call.Participants.Where(p => p.Role == "callee"), p => Assert.Equal("unknown", p.Outcome));
        Assert.Equal(1, Calls.Count(c => c.StartedAt.Date == call.StartedAt.Date && c.Caller == "509350184" && c.StartedAt.Hour == 14));
    }

    [Fact]
    public void Stream_time_closes_the_open_ring_group_when_later_frames_arrive()
    {
        var correlator = CtipCorrelator.Restore(Pbx, new CorrelatorOptions(), null);
        var completed = new List<Call>();
        var frames = Frames.TakeWhile(f => f.ReceivedAt < Local("2025-09-03 08:01:31.207")).ToList();
        frames.ForEach(f => correlator.Process(f, completed));
        Assert.Single(completed);
        Assert.Equal(1, correlator.OpenCalls);

        correlator.Process(Frames[frames.Count], completed);
        Assert.Equal(2, completed.Count);
        Assert.Equal(CallStatus.Unknown, completed[1].Status);
    }

    [Fact]
    public void Expire_closes_the_open_ring_group_after_the_ring_timeout()
    {
        var options = new CorrelatorOptions { RingTimeout = TimeSpan.FromMinutes(5) };
        var correlator = CtipCorrelator.Restore(Pbx, options, null);
        var completed = new List<Call>();
        foreach (var frame in Frames.TakeWhile(f => f.ReceivedAt < Local("2025-09-02 16:08:00")))
        {
            correlator.Process(frame, completed);
        }

        completed.Clear();
        correlator.Expire(Local("2025-09-02 16:12:00"), completed);
        Assert.Empty(completed);
        correlator.Expire(Local("2025-09-02 16:13:00"), completed);
        var call = Assert.Single(completed);
        Assert.Equal(CallStatus.Unknown, call.Status);
        Assert.Equal(0, correlator.OpenCalls);
    }

    [Fact]
    public void Invalid_number_fails()
    {
        foreach (var (start, dialled) in new[] { ("2025-09-04 11:15:27.812", "0"), ("2025-09-04 11:51:36.354", "9") })
        {
            var call = CallAt(start);
            Assert.Equal((CallDirection.Outbound, CallStatus.Failed), (call.Direction, call.Status));
            Assert.Equal(("105", dialled), (call.Caller, call.Called));
            Assert.Contains(call.Events, e => e.Detail == "cause 15 invalid number");
        }
    }

    [Fact]
    public void Digit_by_digit_dialling_is_one_outbound_call_named_by_the_CONN_peer()
    {
        var call = CallAt("2025-09-03 13:04:52.218");
        Assert.Equal((CallDirection.Outbound, CallStatus.Answered), (call.Direction, call.Status));
        Assert.Equal("0564694118", call.Called);
        Assert.Equal(10, call.Events.Count(e => e.Kind == "dial"));
        AssertAt("2025-09-03 13:05:18.977", call.AnsweredAt);
        AssertAt("2025-09-03 13:07:02.547", call.EndedAt);
        Assert.DoesNotContain(Calls, c => c.StartedAt > call.StartedAt && c.StartedAt < call.AnsweredAt);
    }

    [Fact]
    public void A_member_that_joins_the_ring_group_late_is_the_same_call()
    {
        var call = CallAt("2025-09-03 13:06:21.077");
        Assert.Equal(["102", "103", "104", "105", "109", "101"], call.Extensions);
        Assert.Equal(("500174654", "101", CallStatus.Answered), (call.Caller, call.AnsweredBy, call.Status));
    }

    [Fact]
    public void Staged_ring_group_is_one_call()
    {
        var call = CallAt("2025-09-03 10:13:39.647");
        Assert.Equal(["104", "109", "101", "102", "103"], call.Extensions);
        Assert.Equal(("101", CallStatus.Answered), (call.AnsweredBy, call.Status));
        AssertAbout(10.965, call.RingSeconds);
    }

    [Fact]
    public void Conn_without_ring_makes_an_inbound_call_from_its_rel39_legs()
    {
        var call = CallAt("2025-09-03 10:37:54.272");
        Assert.Equal((CallDirection.Inbound, CallStatus.Answered), (call.Direction, call.Status));
        Assert.Equal(("508205300", null, "101"), (call.Caller, call.Called, call.AnsweredBy));
        Assert.Equal(["101", "102", "103", "104", "105", "109"], call.Extensions);
        AssertAt("2025-09-03 10:39:12.172", call.EndedAt);
    }

    [Fact]
    public void Releases_of_members_whose_ring_was_lost_join_the_call()
    {
        var call = CallAt("2025-09-04 11:43:03.666");
        Assert.Equal((CallStatus.Missed, "607444114"), (call.Status, call.Caller));
        Assert.Equal(["101", "102", "103", "104", "109"], call.Extensions);
    }

    [Fact]
    public void No_transfer_in_the_capture_and_none_invented()
    {
        // No RING of the capture carries a held field (searched: every RING has '_' there), so it holds no transfer;
        // transfers are covered by CtipTransferTests with lines written per ctip.md.
        Assert.All(Frames.Select(f => CtipParser.Parse(f.Text)).OfType<CtipRing>(), r => Assert.Null(r.Held));
        Assert.All(Calls, c => Assert.Empty(c.Transfers));
    }

    [Fact]
    public void No_rel39_member_is_ever_counted_as_missed()
    {
        foreach (var call in Calls.Where(c => c.Events.Any(e => e.Detail?.StartsWith("cause 39", StringComparison.Ordinal) == true)))
        {
            Assert.Equal(CallStatus.Answered, call.Status);
            Assert.DoesNotContain(call.Participants, p => p.Outcome is "no-answer" or "cancel" && call.Events.Any(
                e => e.Endpoint == p.Endpoint && e.Detail?.StartsWith("cause 39", StringComparison.Ordinal) == true));
        }
    }

    [Fact]
    public void Every_frame_of_the_capture_is_accounted_for()
    {
        var correlator = CtipCorrelator.Restore(Pbx, new CorrelatorOptions(), null);
        var calls = new List<Call>();
        var outcomes = Frames.Select(f => correlator.Process(f, calls).Disposition).ToList();
        correlator.Flush(calls);
        Assert.DoesNotContain(FrameDisposition.ParseError, outcomes);
        Assert.DoesNotContain(FrameDisposition.Duplicate, outcomes);

        var applied = outcomes.Count(o => o == FrameDisposition.Applied);
        var inCalls = calls.Sum(c => c.Events.Select(e => e.Seq).Distinct().Count());
        output.WriteLine($"frames {Frames.Length}, applied {applied}, ignored {outcomes.Count - applied}, events {inCalls}");
        var nonStat = Frames.Count(f => !f.Text.StartsWith("STAT", StringComparison.Ordinal));
        Assert.InRange(applied, nonStat - 2, Frames.Length);
    }

    [Fact]
    public void Whole_capture_summary()
    {
        var calls = Calls;
        foreach (var call in calls.OrderBy(c => c.StartedAt))
        {
            output.WriteLine(Describe(call));
        }

        var table = calls.GroupBy(c => (c.Direction, c.Status)).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count());
        foreach (var ((direction, status), count) in table)
        {
            output.WriteLine($"{direction,-9}{status,-9}{count,4}");
        }

        output.WriteLine($"total {calls.Count}");
        Assert.Equal(calls.Count, calls.Select(c => c.CallKey).Distinct().Count());
        Assert.All(calls.Where(c => c.Direction == CallDirection.Inbound), c => Assert.NotEmpty(c.Extensions));
        Assert.All(calls.Where(c => c.Status == CallStatus.Answered), c => Assert.True(c.AnsweredAt is not null || c.Participants.Any(p => p.Outcome == "answered-elsewhere")));
        Assert.All(calls, c => Assert.True(c.EndedAt >= c.StartedAt && c.Events.Count > 0, Describe(c)));
        Assert.All(calls, c => Assert.Equal(c.Events.OrderBy(e => e.Seq).Select(e => e.Seq), c.Events.Select(e => e.Seq)));
        Assert.Equal(
            new Dictionary<(CallDirection, CallStatus), int>
            {
                [(CallDirection.Inbound, CallStatus.Answered)] = 42,
                [(CallDirection.Inbound, CallStatus.Missed)] = 6,
                [(CallDirection.Inbound, CallStatus.Unknown)] = 1,
                [(CallDirection.Outbound, CallStatus.Answered)] = 13,
                [(CallDirection.Outbound, CallStatus.Missed)] = 8,
                [(CallDirection.Outbound, CallStatus.Failed)] = 2,
                [(CallDirection.Internal, CallStatus.Answered)] = 5,
                [(CallDirection.Internal, CallStatus.Missed)] = 2,
                [(CallDirection.Internal, CallStatus.Busy)] = 1,
            },
            table);
    }
}
