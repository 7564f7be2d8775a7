using CloudTelephony.Telephony.Ami;

namespace CloudTelephony.Telephony.Tests.Ami;

public class AmiParserTests
{
    private static readonly DateTimeOffset Received = new(2026, 3, 1, 12, 0, 0, 250, TimeSpan.Zero);

    private static AmiMessage Ok(string text)
    {
        var r = AmiParser.Parse(text, Received);
        Assert.True(r.Ok, r.Error);
        return r.Message!;
    }

    [Fact]
    public void Event_with_crlf_fields_and_fast_lookup()
    {
        var m = Ok("Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/201-00000032\r\nUniqueid: 1714985100.102\r\nCause: 26\r\nCause-txt: Answered elsewhere");
        Assert.Equal(AmiMessageKind.Event, m.Kind);
        Assert.Equal("Hangup", m.Name);
        Assert.True(m.IsEvent("Hangup"));
        Assert.Equal(6, m.Count);
        Assert.Equal("1714985100.102", m.Get("Uniqueid"));
        Assert.Equal("Answered elsewhere", m.Get("cause-TXT"));      // keys are case-insensitive, like astman_get_header
        Assert.True(m.TryGet("Cause", out var cause) && cause.SequenceEqual("26"));
        Assert.Null(m.Get("Linkedid"));
        Assert.True(m["Nope"].IsEmpty);
        Assert.Equal("Privilege", m.KeyAt(1).ToString());
    }

    [Fact]
    public void Bare_lf_and_trailing_blank_line_are_tolerated()
    {
        var m = Ok("Event: Newstate\nChannelState: 5\nUniqueid: 1.2\n\n");
        Assert.Equal(3, m.Count);
        Assert.Equal("5", m.Get("ChannelState"));
    }

    [Fact]
    public void Repeated_keys_are_a_multimap_in_order()
    {
        var m = Ok("Event: VarSet\r\nChanVariable: A=1\r\nChanVariable: B=2\r\nChanVariable: \r\nUniqueid: 9.9");
        Assert.Equal(["A=1", "B=2", ""], m.GetAll("ChanVariable"));
        Assert.Equal("A=1", m.Get("ChanVariable"));                 // first wins for single lookups
        Assert.Empty(m.GetAll("Missing"));
    }

    [Fact]
    public void Empty_values_are_kept_as_empty()
    {
        var m = Ok("Event: Newchannel\r\nAccountCode: \r\nExten:\r\nContext: from-internal");
        Assert.True(m.TryGet("AccountCode", out var a) && a.IsEmpty);
        Assert.Equal("", m.Get("Exten"));
        Assert.Equal("from-internal", m.Get("Context"));
    }

    [Fact]
    public void Utf8_caller_names_survive()
    {
        var m = Ok("Event: Newchannel\r\nCallerIDName: Łucja Żółć — 日本\r\nCallerIDNum: 48602222333");
        Assert.Equal("Łucja Żółć — 日本", m.Get("CallerIDName"));
    }

    [Fact]
    public void Values_may_contain_colons()
    {
        var m = Ok("Event: DialBegin\r\nDialString: 21/sip:21@10.0.0.1:5060");
        Assert.Equal("21/sip:21@10.0.0.1:5060", m.Get("DialString"));
    }

    [Fact]
    public void Timestamp_header_gives_utc_event_time_with_microseconds()
    {
        var m = Ok("Event: Newchannel\r\nPrivilege: call,all\r\nTimestamp: 1714985100.124233\r\nUniqueid: 1714985100.101");
        Assert.True(m.HasTimestamp);
        Assert.Equal(DateTimeOffset.Parse("2024-05-06T08:45:00.124233Z", System.Globalization.CultureInfo.InvariantCulture), m.At);
        Assert.Equal(TimeSpan.Zero, m.At.Offset);
    }

    [Theory]
    [InlineData("Event: Newstate\r\nUniqueid: 1.1")]
    [InlineData("Event: Newstate\r\nTimestamp: not-a-number")]
    [InlineData("Event: Newstate\r\nTimestamp: 12.34.56")]
    [InlineData("Event: Newstate\r\nTimestamp: ")]
    public void Missing_or_bad_timestamp_falls_back_to_receive_time(string text)
    {
        var m = Ok(text);
        Assert.False(m.HasTimestamp);
        Assert.Equal(Received, m.At);
    }

    [Theory]
    [InlineData("1714985100", "2024-05-06T08:45:00Z")]
    [InlineData("1714985100.5", "2024-05-06T08:45:00.5Z")]
    [InlineData("0.000001", "1970-01-01T00:00:00.000001Z")]
    public void Epoch_parsing(string text, string iso)
    {
        Assert.True(AmiParser.TryParseEpoch(text, out var at));
        Assert.Equal(DateTimeOffset.Parse(iso, System.Globalization.CultureInfo.InvariantCulture), at);
    }

    [Fact]
    public void Responses_banner_and_actions_have_kinds()
    {
        Assert.Equal(AmiMessageKind.Response, Ok("Response: Success\r\nActionID: login-1\r\nMessage: Authentication accepted").Kind);
        Assert.Equal("Success", Ok("Response: Success\r\nMessage: Pong").Name);
        Assert.Equal(AmiMessageKind.Action, Ok("Action: Ping\r\nActionID: 7").Kind);
        Assert.Equal(AmiMessageKind.Other, Ok("Foo: bar").Kind);
        var banner = Ok("Asterisk Call Manager/7.0.3");
        Assert.Equal(AmiMessageKind.Banner, banner.Kind);
        Assert.Equal("7.0.3", banner.ValueAt(0).ToString());
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   \r\n  ", "empty")]
    [InlineData("Event: Hangup\r\nthis line has no colon", "no ':'")]
    [InlineData("Event: Hangup\r\n: value without key", "empty key")]
    [InlineData("Event: Hangup\r\nCause: 1\0\u0001\u0002", "binary")]
    [InlineData("\u0016\u0003\u0001\u0002\u0000", "binary")]
    [InlineData("Event: A\r\nX: 1\r\n\r\nEvent: B", "blank line")]
    public void Damaged_blocks_give_error_values_not_exceptions(string text, string expected)
    {
        var r = AmiParser.Parse(text, Received);
        Assert.False(r.Ok);
        Assert.Null(r.Message);
        Assert.Contains(expected, r.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Null_text_is_an_error_value()
    {
        Assert.False(AmiParser.Parse(null, Received).Ok);
    }

    [Fact]
    public void Every_block_of_every_fixture_parses()
    {
        foreach (var path in Directory.GetFiles(CloudTelephony.Tests.TestPaths.Fixture("ami"), "*.txt")
                     .Concat(Directory.GetFiles(CloudTelephony.Tests.TestPaths.Sample("ami"), "*.txt")))
        {
            foreach (var f in AmiTestKit.Frames(path))
            {
                var r = AmiParser.Parse(f.Text, f.ReceivedAt);
                Assert.True(r.Ok, $"{Path.GetFileName(path)} #{f.Seq}: {r.Error}");
                Assert.Equal(f.Text.Split("\r\n").Length, r.Message!.Count);
            }
        }
    }
}
