using CloudTelephony.Telephony.Ami;

namespace CloudTelephony.Telephony.Tests.Ami;

public class AmiCorrelatorTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>A tiny stream builder: one AMI block per call, seq counted, Timestamp header from the given offset.</summary>
    private sealed class Stream(string session = "s1")
    {
        public List<PbxFrame> Frames { get; } = [];

        public Stream Ev(double at, string name, params (string Key, string Value)[] fields)
        {
            var lines = new List<string> { "Event: " + name, "Privilege: call,all", "Timestamp: " + (T0.ToUnixTimeMilliseconds() / 1000.0 + at).ToString("F6", System.Globalization.CultureInfo.InvariantCulture) };
            lines.AddRange(fields.Select(f => f.Key + ": " + f.Value));
            Frames.Add(new PbxFrame("pbx1", session, Frames.Count + 1, T0.AddSeconds(at), string.Join("\r\n", lines)));
            return this;
        }

        public Stream Chan(double at, string name, string channel, string uid, string linked, string num, string context, string exten, params (string, string)[] extra)
            => Ev(at, name, [("Channel", channel), ("CallerIDNum", num), ("Context", context), ("Exten", exten), ("Uniqueid", uid), ("Linkedid", linked), .. extra]);

        public Stream Dial(double at, string name, string from, string fromUid, string to, string toUid, string linked, string? status = null)
            => Ev(at, name, [("Channel", from), ("Uniqueid", fromUid), ("Linkedid", linked), ("DestChannel", to), ("DestUniqueid", toUid), ("DestLinkedid", linked),
                .. status is null ? new[] { ("DialString", to) } : [("DialStatus", status)]]);
    }

    private static Stream Outbound(string result)
    {
        var s = new Stream();
        s.Chan(0, "Newchannel", "PJSIP/201-00000001", "100.1", "100.1", "201", "from-internal", "0048221234567");
        s.Chan(0.01, "Newchannel", "PJSIP/provider-00000002", "100.2", "100.1", "0048221234567", "from-pstn", "s");
        s.Dial(0.02, "DialBegin", "PJSIP/201-00000001", "100.1", "PJSIP/provider-00000002", "100.2", "100.1");
        s.Dial(3, "DialEnd", "PJSIP/201-00000001", "100.1", "PJSIP/provider-00000002", "100.2", "100.1", result);
        if (result == "ANSWER")
        {
            s.Chan(3.01, "BridgeEnter", "PJSIP/201-00000001", "100.1", "100.1", "201", "from-internal", "0048221234567", ("BridgeUniqueid", "b1"));
            s.Chan(3.02, "BridgeEnter", "PJSIP/provider-00000002", "100.2", "100.1", "0048221234567", "from-pstn", "s", ("BridgeUniqueid", "b1"));
        }

        s.Chan(63, "Hangup", "PJSIP/provider-00000002", "100.2", "100.1", "0048221234567", "from-pstn", "s", ("Cause", "16"));
        s.Chan(63.01, "Hangup", "PJSIP/201-00000001", "100.1", "100.1", "201", "from-internal", "0048221234567", ("Cause", "16"));
        return s;
    }

    [Fact]
    public void Outbound_answered_call_names_trunk_and_dialled_number()
    {
        var (calls, _, _) = AmiTestKit.Run(Outbound("ANSWER").Frames, flush: false);
        var c = Assert.Single(calls);
        Assert.Equal(CallDirection.Outbound, c.Direction);
        Assert.Equal(CallStatus.Answered, c.Status);
        Assert.Equal("201", c.Caller);
        Assert.Equal("0048221234567", c.Called);
        Assert.Equal("provider", c.Trunk);
        Assert.Null(c.AnsweredBy);                       // the external party answered, not an extension
        Assert.Empty(c.Extensions);
        Assert.Equal(3, c.RingSeconds);
        Assert.Equal(60.01, c.TalkSeconds);
        Assert.Equal(["201/caller/answered", "0048221234567/callee/answered"], c.Participants.Select(p => $"{p.Endpoint}/{p.Role}/{p.Outcome}"));
    }

    [Theory]
    [InlineData("BUSY", CallStatus.Busy, null)]
    [InlineData("CONGESTION", CallStatus.Failed, null)]
    [InlineData("CHANUNAVAIL", CallStatus.Failed, null)]
    [InlineData("NOANSWER", CallStatus.Missed, "noanswer")]
    [InlineData("CANCEL", CallStatus.Missed, "cancel")]
    public void Dial_status_decides_unanswered_calls(string dialStatus, CallStatus status, string? reason)
    {
        var (calls, _, _) = AmiTestKit.Run(Outbound(dialStatus).Frames, flush: false);
        var c = Assert.Single(calls);
        Assert.Equal(status, c.Status);
        Assert.Equal(reason, c.MissedReason);
        Assert.Equal(0, c.TalkSeconds);
    }

    [Fact]
    public void Trunk_endpoints_option_overrides_the_heuristic()
    {
        var frames = AmiTestKit.Fixture("sweeney-asterisk-mqtt_answered-outbound.txt");
        var byName = AmiTestKit.Run(frames, new CorrelatorOptions { TrunkEndpoints = ["PJSIP/21"] }, flush: false).Calls.Single();
        Assert.Equal(CallDirection.Outbound, byName.Direction);
        Assert.Equal("21", byName.Trunk);
        Assert.Null(byName.AnsweredBy);

        var byEndpoint = AmiTestKit.Run(frames, new CorrelatorOptions { TrunkEndpoints = ["1986"] }, flush: false).Calls.Single();
        Assert.Equal(CallDirection.Inbound, byEndpoint.Direction);
        Assert.Equal("1986", byEndpoint.Trunk);
        Assert.Equal("21", byEndpoint.AnsweredBy);

        // a context entry: the hand-made file's trunk legs are in from-trunk
        var byContext = AmiTestKit.Run(AmiTestKit.Fixture("HANDMADE_ast18_ringgroup-blindxfer_and_missed.txt"),
            new CorrelatorOptions { TrunkEndpoints = ["from-trunk"] }, flush: false).Calls;
        Assert.All(byContext, c => Assert.Equal(CallDirection.Inbound, c.Direction));
    }

    [Fact]
    public void Duplicates_and_parse_errors()
    {
        var frames = AmiTestKit.Fixture("sweeney-asterisk-mqtt_unanswered-cancel.txt");
        var c = AmiCorrelator.Restore("pbx1", new CorrelatorOptions(), null);
        var calls = new List<Call>();
        Assert.Equal(FrameDisposition.Applied, c.Process(frames[0], calls).Disposition);
        Assert.Equal(FrameDisposition.Duplicate, c.Process(frames[0], calls).Disposition);
        var bad = c.Process(new PbxFrame("pbx1", "s1", 2, AmiTestKit.BaseTime, "garbage without colon"), calls);
        Assert.Equal(FrameDisposition.ParseError, bad.Disposition);
        Assert.Contains("no ':'", bad.Error, StringComparison.Ordinal);
        Assert.Equal(FrameDisposition.Duplicate, c.Process(frames[1], calls).Disposition);   // seq 2 was taken by the bad frame
        foreach (var f in frames.Skip(2))
        {
            c.Process(f, calls);
        }

        Assert.Single(calls);
        Assert.Equal(FrameDisposition.Applied, c.Process(frames[0] with { Session = "s2" }, calls).Disposition);  // new session, own watermark
        Assert.Equal(FrameDisposition.Ignored, c.Process(new PbxFrame("pbx1", "s2", 2, T0, "Response: Success\r\nPing: Pong"), calls).Disposition);
    }

    [Fact]
    public void Ring_timeout_closes_a_stale_call_as_unknown_via_a_later_frame()
    {
        var s = new Stream();
        s.Chan(0, "Newchannel", "PJSIP/trunk-00000001", "200.1", "200.1", "5551000", "from-trunk", "4155550100");
        s.Chan(5, "Newstate", "PJSIP/trunk-00000001", "200.1", "200.1", "5551000", "from-trunk", "4155550100", ("ChannelState", "4"));
        s.Ev(5 + 601, "PeerStatus", ("Peer", "PJSIP/201"), ("PeerStatus", "Reachable"));
        var (calls, _, c) = AmiTestKit.Run(s.Frames, flush: false);
        var call = Assert.Single(calls);
        Assert.Equal(CallStatus.Unknown, call.Status);
        Assert.Equal(T0.AddSeconds(5), call.EndedAt);    // last activity
        Assert.Equal(0, c.OpenCalls);
    }

    [Fact]
    public void Expire_and_flush_keep_what_is_known()
    {
        var frames = Outbound("ANSWER").Frames.Take(6).ToList();   // answered, no hangups yet
        var c = AmiCorrelator.Restore("pbx1", new CorrelatorOptions(), null);
        var calls = new List<Call>();
        frames.ForEach(f => c.Process(f, calls));
        c.Expire(T0.AddHours(1), calls);
        Assert.Empty(calls);                              // talk timeout is 4 h
        c.Expire(T0.AddHours(5), calls);
        var call = Assert.Single(calls);
        Assert.Equal(CallStatus.Answered, call.Status);
        Assert.Equal(T0.AddSeconds(3.02), call.EndedAt);

        var c2 = AmiCorrelator.Restore("pbx1", new CorrelatorOptions(), null);
        var flushed = new List<Call>();
        AmiTestKit.Fixture("sweeney-asterisk-mqtt_unanswered-huntgroup.txt").Take(30).ToList().ForEach(f => c2.Process(f, flushed));
        Assert.Equal(1, c2.OpenCalls);
        c2.Flush(flushed);
        Assert.Equal(CallStatus.Unknown, Assert.Single(flushed).Status);
        Assert.Equal(0, c2.OpenCalls);
    }

    [Fact]
    public void Cdr_is_a_cross_check_that_can_supply_a_missing_answer()
    {
        var s = new Stream();
        s.Chan(0, "Newchannel", "PJSIP/trunk-00000001", "300.1", "300.1", "5551000", "from-trunk", "4155550100");
        s.Chan(0.1, "Newchannel", "PJSIP/201-00000002", "300.2", "300.1", "201", "from-internal", "s");
        s.Dial(0.2, "DialBegin", "PJSIP/trunk-00000001", "300.1", "PJSIP/201-00000002", "300.2", "300.1");
        s.Chan(30, "Hangup", "PJSIP/201-00000002", "300.2", "300.1", "201", "from-internal", "s", ("Cause", "16"));
        s.Ev(30.1, "Cdr", ("Source", "5551000"), ("Channel", "PJSIP/trunk-00000001"), ("DestinationChannel", "PJSIP/201-00000002"),
            ("AnswerTime", "2026-03-01 12:00:05"), ("Disposition", "ANSWERED"), ("UniqueID", "300.1"));
        s.Chan(30.2, "Hangup", "PJSIP/trunk-00000001", "300.1", "300.1", "5551000", "from-trunk", "4155550100", ("Cause", "16"));
        s.Ev(30.3, "Cdr", ("Disposition", "ANSWERED"), ("UniqueID", "300.1"));   // after close: ignored, no second call
        var (calls, outcomes, _) = AmiTestKit.Run(s.Frames, flush: false);
        var c = Assert.Single(calls);
        Assert.Equal(CallStatus.Answered, c.Status);
        Assert.Equal("201", c.AnsweredBy);
        Assert.Equal(T0.AddSeconds(5), c.AnsweredAt);
        Assert.Contains(c.Events, e => e.Kind == "record" && e.Detail == "ANSWERED");
        Assert.Equal(FrameDisposition.Ignored, outcomes[^1].Disposition);
    }

    [Fact]
    public void Unanswered_call_that_reaches_voicemail()
    {
        var s = new Stream();
        s.Chan(0, "Newchannel", "PJSIP/trunk-00000001", "400.1", "400.1", "5551000", "from-pstn", "4155550100");
        s.Chan(0.1, "Newchannel", "PJSIP/201-00000002", "400.2", "400.1", "201", "from-internal", "s");
        s.Dial(0.2, "DialBegin", "PJSIP/trunk-00000001", "400.1", "PJSIP/201-00000002", "400.2", "400.1");
        s.Dial(20.2, "DialEnd", "PJSIP/trunk-00000001", "400.1", "PJSIP/201-00000002", "400.2", "400.1", "NOANSWER");
        s.Chan(20.3, "Hangup", "PJSIP/201-00000002", "400.2", "400.1", "201", "from-internal", "s", ("Cause", "0"));
        s.Chan(20.4, "Newexten", "PJSIP/trunk-00000001", "400.1", "400.1", "5551000", "from-pstn", "4155550100", ("Application", "VoiceMail"), ("AppData", "201@default,u"));
        s.Chan(20.5, "Newstate", "PJSIP/trunk-00000001", "400.1", "400.1", "5551000", "from-pstn", "4155550100", ("ChannelState", "6"));
        s.Chan(45, "Hangup", "PJSIP/trunk-00000001", "400.1", "400.1", "5551000", "from-pstn", "4155550100", ("Cause", "16"));
        var c = Assert.Single(AmiTestKit.Run(s.Frames, flush: false).Calls);
        Assert.Equal(CallStatus.Voicemail, c.Status);
        Assert.Equal("noanswer", c.MissedReason);
        Assert.Null(c.AnsweredBy);
        Assert.Equal(["201"], c.Extensions);
        Assert.Equal(["5551000/caller/voicemail", "201/callee/no-answer"], c.Participants.Select(p => $"{p.Endpoint}/{p.Role}/{p.Outcome}"));
    }

    [Fact]
    public void Bad_state_json_is_a_format_exception()
    {
        Assert.Throws<FormatException>(() => Correlators.Create("ami", "p", null, "{not json"));
        Assert.Equal(0, Correlators.Create("ami", "p", null, "").OpenCalls);
        Assert.Equal("ami", Correlators.Create("ami", "p").Protocol);
    }
}
