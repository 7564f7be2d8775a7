using CloudTelephony.Telephony.Streams;
using CloudTelephony.Telephony.Smdr;
using static CloudTelephony.Telephony.Tests.Smdr.SmdrFixtures;

namespace CloudTelephony.Telephony.Tests.Smdr;

public class SmdrCorrelatorTests
{
    private static Call One(List<Call> calls, string key) => Assert.Single(calls, c => c.CallKey == key);

    [Fact]
    public void Factory_creates_the_smdr_correlator()
    {
        var c = Correlators.Create("smdr", "ipo");
        Assert.Same(PbxProtocols.Get("smdr"), PbxProtocols.Find(c.Protocol));
        Assert.Equal("smdr", c.Protocol);
        Assert.Equal("ipo", c.Pbx);
        Assert.Equal(0, c.OpenCalls);
    }

    [Fact]
    public void Crisisline_eight_records_eight_calls_in_emission_order()
    {
        var (calls, outcomes) = Run(Crisisline);
        Assert.All(outcomes, o => Assert.Equal(FrameDisposition.Applied, o.Disposition));
        // emitted at call end: 1008745 (started 01:21:24) comes before 1008744 (started 01:18:00)
        Assert.Equal(["1008741", "1008742", "1008743", "1008745", "1008744", "1008746", "1008749", "1008747"], calls.Select(c => c.CallKey));
        Assert.True(calls[3].StartedAt > calls[4].StartedAt);
        Assert.All(calls, c => Assert.Equal(CallDirection.Inbound, c.Direction));
        Assert.All(calls, c => Assert.Equal("ipo", c.Pbx));
    }

    [Fact]
    public void Answered_inbound_crisisline_1008741()
    {
        var c = One(Run(Crisisline).Calls, "1008741");
        Assert.Equal(CallStatus.Answered, c.Status);
        Assert.Equal(CallDirection.Inbound, c.Direction);
        Assert.Equal("16046150477", c.Caller);
        Assert.Equal("203", c.Called); // no DDI on this line: falls back to Called Number
        Assert.Equal("218", c.AnsweredBy);
        Assert.Equal(["218"], c.Extensions);
        Assert.Equal("T9001", c.Trunk);
        Assert.Equal(Utc("2015-03-01T08:54:10Z"), c.StartedAt);
        Assert.Equal(Utc("2015-03-01T08:54:15Z"), c.AnsweredAt);
        Assert.Equal(Utc("2015-03-01T08:55:00Z"), c.EndedAt);
        Assert.Equal(5, c.RingSeconds);
        Assert.Equal(45, c.TalkSeconds);
        Assert.Empty(c.Transfers);
        Assert.Null(c.MissedReason);
        Assert.Null(c.IvrDigits);
        Assert.Equal(
            [
                new CallParticipant("16046150477", "caller", null, Utc("2015-03-01T08:54:15Z"), Utc("2015-03-01T08:55:00Z"), null),
                new CallParticipant("218", "callee", Utc("2015-03-01T08:54:10Z"), Utc("2015-03-01T08:54:15Z"), Utc("2015-03-01T08:55:00Z"), "answered"),
            ],
            c.Participants);
        var e = Assert.Single(c.Events);
        Assert.Equal(new CallEvent(Utc("2015-03-01T08:55:00Z"), "record", "218",
            "E218 Volunteer9 / T9001 Line 1.0; ring 5s connected 45s hold 0s park 0s; called 203; continuation 0", "s1", 1), e);
    }

    [Theory]
    [InlineData("1008745", "2015-03-01T09:21:24Z", 18, "T9015", 4)]
    [InlineData("1008749", "2015-03-01T09:39:34Z", 13, "T9015", 7)]
    public void Missed_inbound_crisisline(string key, string start, int ring, string trunk, long seq)
    {
        var c = One(Run(Crisisline).Calls, key);
        Assert.Equal(CallStatus.Missed, c.Status);
        Assert.Null(c.MissedReason);
        Assert.Null(c.AnsweredBy);
        Assert.Null(c.AnsweredAt);
        Assert.Equal(Utc(start), c.StartedAt);
        Assert.Equal(Utc(start).AddSeconds(ring), c.EndedAt);
        Assert.Equal(ring, c.RingSeconds);
        Assert.Equal(0, c.TalkSeconds);
        Assert.Equal("206", c.Called);
        Assert.Equal(["206"], c.Extensions); // E206 "Vol N VM" is a user, not a voicemail channel
        Assert.Equal(trunk, c.Trunk);
        Assert.Equal("no-answer", c.Participants[1].Outcome);
        Assert.Equal("206", c.Participants[1].Endpoint);
        Assert.Equal(seq, Assert.Single(c.Events).Seq);
    }

    [Fact]
    public void Voicemail_with_trunk_as_party1_and_withheld_caller_crisisline_1008746()
    {
        var c = One(Run(Crisisline).Calls, "1008746");
        Assert.Equal(CallStatus.Voicemail, c.Status);
        Assert.Null(c.Caller); // empty Caller field = withheld
        Assert.Null(c.AnsweredBy); // voicemail is not a person
        Assert.Equal("T9001", c.Trunk);
        Assert.Empty(c.Extensions);
        Assert.Equal("203", c.Called);
        Assert.Equal(Utc("2015-03-01T09:27:10Z"), c.StartedAt);
        Assert.Equal(Utc("2015-03-01T09:27:31Z"), c.AnsweredAt);
        Assert.Equal(Utc("2015-03-01T09:27:45Z"), c.EndedAt);
        Assert.Equal(21, c.RingSeconds);
        Assert.Equal(14, c.TalkSeconds);
        Assert.Equal(
            [
                new CallParticipant("T9001", "caller", null, Utc("2015-03-01T09:27:31Z"), Utc("2015-03-01T09:27:45Z"), null),
                new CallParticipant("V9542", "callee", Utc("2015-03-01T09:27:10Z"), Utc("2015-03-01T09:27:31Z"), Utc("2015-03-01T09:27:45Z"), "answered"),
            ],
            c.Participants);
    }

    [Fact]
    public void Withheld_caller_answered_crisisline_1008743()
    {
        var c = One(Run(Crisisline).Calls, "1008743");
        Assert.Null(c.Caller);
        Assert.Equal(CallStatus.Answered, c.Status);
        Assert.Equal("217", c.AnsweredBy);
        Assert.Equal(319, c.TalkSeconds); // 00:05:19
        Assert.Equal(Utc("2015-03-01T09:12:25Z").AddSeconds(6 + 319), c.EndedAt);
    }

    [Fact]
    public void Continuation_and_transfer_ru_1949529_is_one_call()
    {
        var (calls, outcomes) = Run(Ru, flush: false);
        Assert.Equal(9, outcomes.Count);
        Assert.Equal(8, calls.Count); // 9 records, 1949529 has two
        Assert.Equal("1949529", calls[0].CallKey);

        var c = One(calls, "1949529");
        Assert.Equal(CallDirection.Inbound, c.Direction);
        Assert.Equal("9145661757", c.Caller); // SIP number@ip → number
        Assert.Equal("2160492", c.Called); // DDI (Dialled Number), not the target 4209
        Assert.Equal(CallStatus.Voicemail, c.Status); // only the auto-attendant channel V9513 was connected
        Assert.Null(c.AnsweredBy);
        Assert.Equal("T9017", c.Trunk);
        Assert.Empty(c.Extensions);
        Assert.Equal(Utc("2018-09-07T08:06:53Z"), c.StartedAt);
        Assert.Equal(Utc("2018-09-07T08:06:53Z"), c.AnsweredAt);
        Assert.Equal(Utc("2018-09-07T08:07:20Z"), c.EndedAt);
        Assert.Equal(0, c.RingSeconds);
        Assert.Equal(27, c.TalkSeconds);
        Assert.Equal([new CallTransfer("V9513", "4666", Utc("2018-09-07T08:07:20Z"), false)], c.Transfers);
        Assert.Equal(
            [
                new CallParticipant("9145661757", "caller", null, Utc("2018-09-07T08:06:53Z"), Utc("2018-09-07T08:07:20Z"), null),
                new CallParticipant("V9513", "callee", Utc("2018-09-07T08:06:53Z"), Utc("2018-09-07T08:06:53Z"), Utc("2018-09-07T08:07:20Z"), "answered"),
                new CallParticipant("4666", "transfer", Utc("2018-09-07T08:07:20Z"), null, Utc("2018-09-07T08:07:20Z"), "no-answer"),
            ],
            c.Participants);
        Assert.Equal([1L, 2L], c.Events.Select(e => e.Seq));
        Assert.All(c.Events, e => Assert.Equal("record", e.Kind));
    }

    [Fact]
    public void Continuation_record_keeps_the_call_open()
    {
        var c = Correlators.Create("smdr", "ipo", new CorrelatorOptions { TimeZone = Moscow });
        var calls = new List<Call>();
        var frames = Frames(Ru);
        Assert.Equal(FrameOutcome.Applied, c.Process(frames[0], calls));
        Assert.Empty(calls);
        Assert.Equal(1, c.OpenCalls);
        c.Process(frames[1], calls);
        Assert.Single(calls);
        Assert.Equal(0, c.OpenCalls);
    }

    [Fact]
    public void Outbound_answered_with_cyrillic_name_ru_1949480()
    {
        var c = One(Run(Ru).Calls, "1949480");
        Assert.Equal(CallDirection.Outbound, c.Direction);
        Assert.Equal(CallStatus.Answered, c.Status);
        Assert.Equal("4731", c.Caller);
        Assert.Equal("69145869202", c.Called);
        Assert.Null(c.AnsweredBy); // the far end answered, not an extension
        Assert.Empty(c.Extensions);   // the calling extension did not ring (#14.6)
        Assert.Equal("T9017", c.Trunk);
        Assert.Equal(Utc("2018-09-07T08:06:19Z"), c.StartedAt);
        Assert.Equal(Utc("2018-09-07T08:06:19Z"), c.AnsweredAt);
        Assert.Equal(Utc("2018-09-07T08:06:57Z"), c.EndedAt);
        Assert.Equal(38, c.TalkSeconds);
        Assert.Equal("69145869202", c.Participants[1].Endpoint);
        Assert.Contains("E4731 Тароватова М / T9017 Line 17.4", c.Events[0].Detail);
    }

    [Fact]
    public void Virtual_spp_rows_are_unanswered_outbound()
    {
        var calls = Run(Ru).Calls.Where(c => c.Events[0].Detail!.Contains("VIRTUAL SPP")).ToList();
        Assert.Equal(["1949565", "1949566", "1949567", "1949568", "1949569", "1949570"], calls.Select(c => c.CallKey));
        Assert.All(calls, c =>
        {
            Assert.Equal(CallDirection.Outbound, c.Direction); // Is Internal = 1 but no second party and an external number
            Assert.Equal(CallStatus.Missed, c.Status);
            Assert.Null(c.Caller);
            Assert.Equal("78007750775", c.Called);
            Assert.Null(c.Trunk);
            Assert.Equal(0, c.TalkSeconds);
            Assert.Equal(c.StartedAt, c.EndedAt);
        });
        Assert.Empty(calls[0].Extensions);   // the calling extension did not ring (#14.6)
        Assert.Equal(Utc("2018-09-07T08:07:20Z"), calls[0].StartedAt);
    }

    [Fact]
    public void Thirty_four_field_outbound_misc_line_and_parse_error_line()
    {
        var (calls, outcomes) = Run(Misc);
        Assert.Equal(FrameDisposition.Applied, outcomes[0].Disposition);
        Assert.Equal(FrameDisposition.ParseError, outcomes[1].Disposition);
        Assert.Equal("expected at least 17 comma-separated fields (Call Start to Park Time), got 15 (truncated record?)", outcomes[1].Error);
        var c = Assert.Single(calls);
        Assert.Equal("1009687", c.CallKey);
        Assert.Equal(CallDirection.Outbound, c.Direction);
        Assert.Equal(CallStatus.Answered, c.Status);
        Assert.Equal("12", c.Caller);
        Assert.Equal("00540299040", c.Called);
        Assert.Equal("T9001", c.Trunk);
        Assert.Equal(Utc("2017-11-09T16:28:27Z"), c.StartedAt);
        Assert.Equal(Utc("2017-11-09T16:28:36Z"), c.AnsweredAt);
        Assert.Equal(Utc("2017-11-09T16:29:14Z"), c.EndedAt);
        Assert.Equal(9, c.RingSeconds);
        Assert.Equal(38, c.TalkSeconds);
    }

    [Fact]
    public void Internal_call_with_transfer_and_hold()
    {
        string[] lines =
        [
            "2024/07/01 09:00:00,00:01:00,4,201,O,202,202,,1,3000001,1,E201,Alice,E202,Bob,10,0,,,,,,,,,,,,,",
            "2024/07/01 09:00:00,00:02:00,6,201,O,202,202,,1,3000001,0,E201,Alice,E203,Carol,0,5,,,,,,,,,,,,,",
        ];
        var c = Correlators.Create("smdr", "ipo");
        var calls = new List<Call>();
        for (var i = 0; i < lines.Length; i++)
        {
            c.Process(new PbxFrame("ipo", "s", i + 1, DateTimeOffset.UnixEpoch, lines[i]), calls);
        }

        var call = Assert.Single(calls);
        Assert.Equal(CallDirection.Internal, call.Direction);
        Assert.Equal(CallStatus.Answered, call.Status);
        Assert.Equal("201", call.Caller);
        Assert.Equal("202", call.AnsweredBy);
        Assert.Equal(["202", "203"], call.Extensions);   // 201 called: it did not ring (#14.6)
        Assert.Equal(Utc("2024-07-01T09:00:04Z"), call.AnsweredAt);
        // segment 1: 4 + 60 + 10 = 74 s; segment 2: 6 + 120 + 5 = 131 s
        Assert.Equal(Utc("2024-07-01T09:03:25Z"), call.EndedAt);
        Assert.Equal(180, call.TalkSeconds);
        Assert.Equal([new CallTransfer("202", "203", Utc("2024-07-01T09:01:14Z"), true)], call.Transfers);
        Assert.Null(call.Trunk);
    }

    [Fact]
    public void Avaya_style_transfer_to_voicemail_is_answered_by_the_person_first()
    {
        string[] lines =
        [
            "2008/06/28 09:30:57,00:00:13,7,01707392200,I,299999,299999,,0,1000014160,1,E4750,John Smith,T9002,LINE 1.2,11,0,,,,,,,,,,,,,",
            "2008/06/28 09:30:57,00:00:21,0,01707392200,I,299999,299999,,0,1000014160,0,V9502,VM Channel 2,T9002,LINE 1.2,0,0,,,,,,,,,,,,,",
        ];
        var c = Correlators.Create("smdr", "ipo");
        var calls = new List<Call>();
        for (var i = 0; i < lines.Length; i++)
        {
            c.Process(new PbxFrame("ipo", "s", i + 1, DateTimeOffset.UnixEpoch, lines[i]), calls);
        }

        var call = Assert.Single(calls);
        Assert.Equal(CallStatus.Answered, call.Status);
        Assert.Equal("4750", call.AnsweredBy);
        Assert.Equal([new CallTransfer("4750", "V9502", Utc("2008-06-28T09:31:28Z"), true)], call.Transfers);
        Assert.Equal(34, call.TalkSeconds);
    }

    [Fact]
    public void Duplicates_change_nothing()
    {
        var c = Correlators.Create("smdr", "ipo", new CorrelatorOptions { TimeZone = Moscow });
        var calls = new List<Call>();
        var frames = Frames(Ru);
        c.Process(frames[0], calls);
        var state = c.SaveState();
        Assert.Equal(FrameOutcome.Duplicate, c.Process(frames[0], calls));
        Assert.Equal(state, c.SaveState());
        c.Process(frames[1], calls);
        Assert.Equal(FrameOutcome.Duplicate, c.Process(frames[1], calls));
        Assert.Equal(FrameOutcome.Duplicate, c.Process(frames[0], calls));
        Assert.Single(calls);

        // a new session starts its own watermark
        Assert.Equal(FrameOutcome.Applied, c.Process(frames[2] with { Session = "s2", Seq = 1 }, calls));
    }

    [Fact]
    public void Unclosed_call_is_closed_as_unknown_by_stream_time_expire_or_flush()
    {
        string open1 = "2020/01/01 10:00:00,00:01:00,5,0123456789,I,201,5551000,,0,2000001,1,E201,Alice,T9002,Line 2.1,0,0,,,,,,,,,,,,,";
        string later = "2020/01/01 14:01:06,00:00:10,3,0123,I,201,,,0,2000002,0,E201,Alice,T9002,Line 2.1,0,0,,,,,,,,,,,,,";
        string open2 = "2020/01/01 14:05:00,00:00:30,2,0777,I,202,,,0,2000003,1,E202,Bob,T9002,Line 2.2,0,0,,,,,,,,,,,,,";
        var c = Correlators.Create("smdr", "ipo");
        var calls = new List<Call>();
        c.Process(new PbxFrame("ipo", "s", 1, default, open1), calls);
        c.Process(new PbxFrame("ipo", "s", 2, default, later), calls);
        // 2000001 ended 10:01:05; the clock is 14:01:19 > 10:01:05 + 4 h → closed before 2000002
        Assert.Equal(["2000001", "2000002"], calls.Select(x => x.CallKey));
        Assert.Equal(CallStatus.Unknown, calls[0].Status);
        Assert.Equal("0123456789", calls[0].Caller);
        Assert.Equal("201", calls[0].AnsweredBy);
        Assert.Equal(Utc("2020-01-01T10:01:05Z"), calls[0].EndedAt);

        c.Process(new PbxFrame("ipo", "s", 3, default, open2), calls);
        Assert.Equal(1, c.OpenCalls);
        c.Expire(Utc("2020-01-01T18:05:32Z"), calls); // exactly 4 h after its end: not yet
        Assert.Equal(1, c.OpenCalls);
        c.Expire(Utc("2020-01-01T18:05:33Z"), calls);
        Assert.Equal(0, c.OpenCalls);
        Assert.Equal(CallStatus.Unknown, calls[^1].Status);

        c.Process(new PbxFrame("ipo", "s", 4, default, open2.Replace("2000003", "2000004")), calls);
        c.Flush(calls);
        Assert.Equal("2000004", calls[^1].CallKey);
        Assert.Equal(CallStatus.Unknown, calls[^1].Status);
        Assert.Equal(0, c.OpenCalls);
    }

    [Fact]
    public void State_round_trips_open_calls_and_watermarks()
    {
        var options = new CorrelatorOptions { TimeZone = Moscow };
        var frames = Frames(Ru);
        var a = Correlators.Create("smdr", "ipo", options);
        var calls = new List<Call>();
        a.Process(frames[0], calls);
        var state = a.SaveState();
        Assert.Contains("\"watermarks\":{\"s1\":{\"seq\":1,", state);

        var b = Correlators.Create("smdr", "ipo", options, state);
        Assert.Equal(1, b.OpenCalls);
        Assert.Equal(state, b.SaveState());
        Assert.Equal(FrameOutcome.Duplicate, b.Process(frames[0], calls));
        b.Process(frames[1], calls);
        var restored = Assert.Single(calls);

        var reference = Run(Ru).Calls[0];
        Assert.Equal(Json([reference]), Json([restored]));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"version\":2}")]
    [InlineData("{\"version\":1,\"open\":[{\"callId\":1,\"records\":[{\"session\":\"s\",\"seq\":1,\"frame\":\"garbage\"}]}]}")]
    public void Bad_state_is_a_format_exception(string state)
        => Assert.Throws<FormatException>(() => Correlators.Create("smdr", "ipo", null, state));
}
