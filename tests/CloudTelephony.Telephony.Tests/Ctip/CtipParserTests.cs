using CloudTelephony.Telephony.Ctip;
using FsCheck.Xunit;

namespace CloudTelephony.Telephony.Tests.Ctip;

public class CtipParserTests
{
    [Fact]
    public void Every_line_of_the_real_capture_parses_with_and_without_the_marker()
    {
        foreach (var frame in CtipCapture.Frames)
        {
            foreach (var line in new[] { frame.Text, "a" + frame.Text + "\r\n" })
            {
                var message = CtipParser.Parse(line);
                Assert.False(message is CtipParseError or CtipUnknown, $"{line}: {message}");
            }
        }
    }

    [Fact]
    public void Ring_from_an_external_caller_to_a_DID()
    {
        var ring = Assert.IsType<CtipRing>(CtipParser.Parse("aRING 105_ 888922230 0 618315335 _ Person_1\r\n"));
        Assert.Equal(new CtipRing("105", "888922230", "0", "618315335", null, "Person 1"), ring);
        Assert.False(ring.CallerIsInternal);
    }

    [Fact]
    public void Internal_ring_and_transfer_ring_with_held_field()
    {
        var internalRing = Assert.IsType<CtipRing>(CtipParser.Parse("RING 109_ /101 0 /109 _ Serwis"));
        Assert.True(internalRing.CallerIsInternal);
        Assert.Equal("/101", internalRing.Caller);
        Assert.Equal("/109", internalRing.Dialed);
        Assert.Null(internalRing.Held);

        var transfer = Assert.IsType<CtipRing>(CtipParser.Parse("RING 109_ 519084071 0 /109 /101 _"));
        Assert.Equal("/101", transfer.Held);
        Assert.Null(transfer.Comment);

        var unknownCaller = Assert.IsType<CtipRing>(CtipParser.Parse("RING 21__ _ 0 618386710 - _"));
        Assert.Equal("21", unknownCaller.Extension);
        Assert.Null(unknownCaller.Caller);
        Assert.Null(unknownCaller.Held);
    }

    [Fact]
    public void Polish_names_in_the_comment_are_text_not_damage()
    {
        var utf = Assert.IsType<CtipRing>(CtipParser.Parse("RING 101_ 600 0 618 _ Łódź_Żółw"));
        Assert.Equal("Łódź Żółw", utf.Comment);

        // cp1250 bytes read as latin-1 (the relay's decoding) give odd but printable letters, incl. C1 code points
        var latin1 = Assert.IsType<CtipRing>(CtipParser.Parse("RING 101_ 600 0 618 _ \u00a3\u00f3d\u009f_\u008cl\u00b9sk"));
        Assert.Equal("\u00a3\u00f3d\u009f \u008cl\u00b9sk", latin1.Comment);
    }

    [Fact]
    public void Conn_rel_echo()
    {
        Assert.Equal(new CtipConn("101", "0505224415", "0"), CtipParser.Parse("CONN 101_ 0505224415 0"));
        Assert.Equal(new CtipConn("109", "/101", "0"), CtipParser.Parse("aCONN 109_ /101 0"));
        Assert.Equal(new CtipRel("102", 39), CtipParser.Parse("REL 102_ 39"));
        Assert.Equal(new CtipEcho("101", "/"), CtipParser.Parse("ECHO 101_ /"));
        Assert.Equal(new CtipEcho("101", "0505224415"), CtipParser.Parse("aECHO 101_ 0505224415\n"));
        Assert.Equal(new CtipEcho("12345", "*72#"), CtipParser.Parse("ECHO 12345 *72#"));
    }

    [Theory]
    [InlineData(1, "normal release")]
    [InlineData(2, "phone locked")]
    [InlineData(3, "time limit")]
    [InlineData(4, "charge limit")]
    [InlineData(5, "no permission")]
    [InlineData(6, "service accepted")]
    [InlineData(7, "service rejected")]
    [InlineData(10, "dial timeout")]
    [InlineData(15, "invalid number")]
    [InlineData(16, "rejected by callee")]
    [InlineData(17, "callee busy")]
    [InlineData(18, "callee out of order")]
    [InlineData(25, "CLIR / urgent / private call denied")]
    [InlineData(26, "CLIR / urgent / private call denied")]
    [InlineData(27, "CLIR / urgent / private call denied")]
    [InlineData(28, "CLIR / urgent / private call denied")]
    [InlineData(31, "service state")]
    [InlineData(32, "service state")]
    [InlineData(33, "service state")]
    [InlineData(35, "no answer")]
    [InlineData(38, "forwarded")]
    [InlineData(39, "picked up elsewhere")]
    [InlineData(40, "do not disturb")]
    [InlineData(46, "trunk-call limit")]
    [InlineData(47, "wake-up done")]
    [InlineData(99, "unknown cause")]
    public void Every_release_cause_of_the_manual_has_its_meaning(int cause, string meaning)
    {
        var rel = Assert.IsType<CtipRel>(CtipParser.Parse($"aREL 104_ {cause}"));
        Assert.Equal(cause, rel.Cause);
        Assert.Equal(meaning, rel.CauseText);
    }

    [Fact]
    public void Stat_flags()
    {
        Assert.Equal(
            new CtipStat("101", CtipHook.OffHook, false, false, false, false, false, false, false),
            CtipParser.Parse("STAT 101_ H f d l a p c q"));
        Assert.Equal(
            new CtipStat("21", CtipHook.OutOfOrder, true, true, true, true, true, true, true),
            CtipParser.Parse("aSTAT 21__ o F D L A P C Q"));
        Assert.Equal(CtipHook.OnHook, Assert.IsType<CtipStat>(CtipParser.Parse("STAT 105_ h f D l a p c q")).Hook);
    }

    [Fact]
    public void Messages_not_in_the_capture()
    {
        Assert.Equal(new CtipCallWaiting("101", "693109180", "Jan Kowalski"), CtipParser.Parse("aCW 101_ 693109180 Jan_Kowalski"));
        Assert.Equal(new CtipCallWaiting("101", null, null), CtipParser.Parse("aCW 101_ _ _"));
        Assert.Equal(new CtipDialReady("102"), CtipParser.Parse("aDRDY 102_"));
        Assert.Equal(new CtipCharge("101", "1.23"), CtipParser.Parse("aAOC 101_ 1.23"));
        Assert.Equal(new CtipUserTag("103", "IVR 2 sprzedaz"), CtipParser.Parse("aUTAG 103_ IVR 2 sprzedaz"));
        Assert.Equal(new CtipRecording(CtipRecordingEvent.Begin, "101", "1234501", null, null), CtipParser.Parse("aRECB 101_ 1234501"));
        Assert.Equal(new CtipRecording(CtipRecordingEvent.Cancel, "101", "1234501", null, null), CtipParser.Parse("aRECC 101_ 1234501"));
        Assert.Equal(
            new CtipRecording(CtipRecordingEvent.End, "101", "1234501", "192.168.1.10", "/rec/2025/1234501.wav"),
            CtipParser.Parse("aRECE 101_ 1234501 192.168.1.10 /rec/2025/1234501.wav"));
        Assert.Same(CtipLinkTest.Instance, CtipParser.Parse("t\r\n"));
    }

    [Fact]
    public void Replies()
    {
        Assert.Equal(
            new CtipReply(CtipReplyKind.Ok, null, "NCP-000 NO03914 v1.23.0140/15 2025.10.10 01:54'59"),
            CtipParser.Parse("aOK NCP-000 NO03914 v1.23.0140/15 2025.10.10 01:54'59"));
        Assert.Equal(new CtipReply(CtipReplyKind.Ok, null, "NCP 1.23 15"), CtipParser.Parse("aOK NCP 1.23 15"));
        Assert.Equal(new CtipReply(CtipReplyKind.Error, null, ""), CtipParser.Parse("aERROR"));
        var na = Assert.IsType<CtipReply>(CtipParser.Parse("aNA 11"));
        Assert.Equal((CtipReplyKind.NotAllowed, 11, "wrong key"), (na.Kind, na.Code, na.CodeText));
        Assert.Equal(new CtipReply(CtipReplyKind.NotAllowed, null, ""), CtipParser.Parse("aNA"));
    }

    [Fact]
    public void Unknown_but_well_formed_messages_are_flagged_as_unknown()
        => Assert.Equal(new CtipUnknown("SMSA", "G001 5"), CtipParser.Parse("aSMSA G001 5"));

    public static TheoryData<string, string> DamagedLines => new()
    {
        { "RING 10", "truncated" },
        { "RING 101_ 693109180", "truncated" },
        { "aCONN", "truncated" },
        { "REL 105_", "truncated" },
        { "REL 105_ x1", "cause" },
        { "REL 105_ -1", "cause" },
        { "STAT 101_ H f d l", "truncated" },
        { "STAT 101_ X f d l a p c q", "hook" },
        { "STAT 101_ H f d l a p c z", "flag" },
        { "ECHO 101_ 12a", "digits" },
        { "RING abc_ 600 0 618 _ x", "extension" },
        { "RING ____ 600 0 618 _ x", "extension" },
        { "RING 101_ 6OO 0 618 _ x", "caller" },
        { "NA eleven", "code" },
        { "", "empty" },
        { "\r\n", "empty" },
        { "\u0001\u0002\u00ff\u0000RING", "binary" },
        { "RING 101_ 600 0 618 _ \ufffd\ufffd", "binary" },
        { "RI\tNG 101_", "binary" },
        { "hello world", "not a CTIP message" },
        { "ring 101_ 600 0 618 _ x", "not a CTIP message" },
        { "aRING 101_ 600 0 618 _ " + new string('x', 10 * 1024), "too long" },
    };

    [Theory]
    [MemberData(nameof(DamagedLines))]
    public void Damaged_lines_give_a_readable_error(string line, string reason)
    {
        var error = Assert.IsType<CtipParseError>(CtipParser.Parse(line));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Null_is_an_empty_line() => Assert.IsType<CtipParseError>(CtipParser.Parse((string?)null));

    [Property(MaxTest = 500)]
    public bool Never_throws_on_any_text(string? text) => CtipParser.Parse(text) is not null;

    [Property(MaxTest = 500)]
    public bool Never_throws_on_mutated_real_lines(int lineSeed, int position, char replacement, bool cut)
    {
        var frames = CtipCapture.Frames;
        var line = frames[(int)((uint)lineSeed % (uint)frames.Length)].Text;
        var at = (int)((uint)position % (uint)line.Length);
        var damaged = cut ? line[..at] : string.Concat(line.AsSpan(0, at), [replacement], line.AsSpan(at + 1));
        return CtipParser.Parse(damaged) is not null;
    }
}
