using CloudTelephony.Tests;

namespace CloudTelephony.Telephony.Tests.Ami;

/// <summary>
/// Reconnect reconciliation against the lab's relay views (tests/data/ami/lab q2, q3: what a relay user received across
/// three sessions, the gaps between them real): <c>CoreShowChannel</c> lists after each login place an answer lost in a
/// gap, close a call whose hangups fell into one, and open a call whose <c>Newchannel</c> did.
/// </summary>
public class AmiResyncTests
{
    private static readonly string Lab = Path.Combine(TestPaths.RepoRoot, "tests", "data", "ami", "lab");

    private static List<PbxFrame> Frames(string file) => AmiTestKit.Frames(Path.Combine(Lab, file), "capture");

    [Fact]
    public void An_answer_in_the_gap_is_placed_by_the_resync_and_corrected_by_the_Cdr_durations()
    {
        // truth: answered by 201 after 5.01 s, talk 15.02 s; the answer (~5 s) fell between sessions 2 and 3
        var call = AmiTestKit.Run(Frames("q2_relay_gap_answer_in_gap.relay.jsonl"), flush: false).Calls.Single();
        Assert.Equal(CallStatus.Answered, call.Status);
        Assert.Equal("201", call.AnsweredBy);
        Assert.InRange(call.RingSeconds, 4.51, 5.51);
        Assert.InRange(call.TalkSeconds, 14.52, 15.52);
    }

    [Fact]
    public void Without_the_Cdr_the_answer_stays_half_way_through_the_gap()
    {
        var frames = Frames("q2_relay_gap_answer_in_gap.relay.jsonl").Where(f => !f.Text.StartsWith("Event: Cdr", StringComparison.Ordinal)).ToList();
        var call = AmiTestKit.Run(frames, flush: false).Calls.Single();
        var listUp = frames.First(f => f.Text.Contains("ChannelStateDesc: Up", StringComparison.Ordinal) && f.Text.StartsWith("Event: CoreShowChannel", StringComparison.Ordinal)).ReceivedAt;
        var listRinging = frames.Last(f => f.Text.Contains("ChannelStateDesc: Ringing", StringComparison.Ordinal) && f.Text.StartsWith("Event: CoreShowChannel", StringComparison.Ordinal)).ReceivedAt;
        Assert.True(call.AnsweredAt > listRinging && call.AnsweredAt < listUp, $"answer {call.AnsweredAt:O} not between {listRinging:O} and {listUp:O}");
    }

    [Fact]
    public void A_call_whose_hangups_fell_in_the_gap_is_closed_by_the_empty_list()
    {
        // truth: talk 7.52 s; session 3's CoreShowChannelsComplete has ListItems 0
        var (calls, _, correlator) = AmiTestKit.Run(Frames("q3_relay_gap_hangup_in_gap.relay.jsonl"), flush: false);
        Assert.Equal(0, correlator.OpenCalls);
        var call = calls.Single();
        Assert.Equal(CallStatus.Answered, call.Status);
        Assert.InRange(call.TalkSeconds, 7.02, 8.02);
    }

    [Fact]
    public void A_call_whose_start_fell_in_the_gap_is_opened_from_the_list()
    {
        // q2 without its first session: the call's Newchannel, DialBegin and ringing are lost; session 2 lists both channels
        var frames = Frames("q2_relay_gap_answer_in_gap.relay.jsonl");
        var second = frames.FindIndex(f => f.Text.StartsWith("Event: CoreShowChannel\r\n", StringComparison.Ordinal) || f.Text.StartsWith("Event: CoreShowChannel\n", StringComparison.Ordinal));
        var call = AmiTestKit.Run(frames.Skip(second - 1), flush: false).Calls.Single();
        Assert.Equal("1796120156.67", call.CallKey);
        Assert.Equal(CallDirection.Inbound, call.Direction);
        Assert.Equal("201", call.AnsweredBy);
        Assert.Equal(["201"], call.Extensions);
        Assert.InRange(call.RingSeconds, 4.51, 5.51);   // start = list time - Duration (whole seconds); answer from the Cdr
        Assert.InRange(call.TalkSeconds, 14.52, 15.52);
    }
}
