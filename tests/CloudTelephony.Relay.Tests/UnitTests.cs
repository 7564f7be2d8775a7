using CloudTelephony.Contracts;
using CloudTelephony.Relay.Ctip;
using CloudTelephony.Relay.Hosting;

namespace CloudTelephony.Relay.Tests;

public sealed class UnitTests
{
    [Theory]
    [InlineData("aNA 1", "not logged in (NA 1)")]
    [InlineData("aNA 11", "wrong key (NA 11)")]
    [InlineData("aNA 12", "no key (NA 12)")]
    [InlineData("aNA 19", "CTI not permitted (NA 19)")]
    [InlineData("aNA 20", "too many bad-key attempts (NA 20)")]
    [InlineData("aNA 42", "refused (NA 42)")]
    [InlineData("aNA", "refused (NA)")]
    [InlineData("aNAK", "refused (NAK)")]
    [InlineData("aERROR", "syntax error (ERROR)")]
    public void Login_refusals_are_described(string reply, string expected) =>
        Assert.Equal(expected, CtipReplies.DescribeRefusal(reply));

    [Theory]
    [InlineData("aOK NCP 1.23 15", true, true)]
    [InlineData("aOK", true, true)]
    [InlineData("aNA 11", false, true)]
    [InlineData("aRING 101_ 693109180 0 618386710 _ 693109180", false, false)]
    [InlineData("aOKX", false, false)]
    public void Replies_are_told_from_events(string line, bool ok, bool reply)
    {
        Assert.Equal(ok, CtipReplies.IsOk(line));
        Assert.Equal(reply, CtipReplies.IsReply(line));
    }

    [Fact]
    public void Session_ids_are_time_stamped_and_unique()
    {
        var at = new DateTimeOffset(2025, 9, 2, 15, 44, 19, TimeSpan.FromHours(2));
        var a = PbxSessions.NewSessionId(at);
        var b = PbxSessions.NewSessionId(at);
        Assert.Matches("^20250902T134419Z-[0-9a-f]{6}$", a);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Receive_times_are_utc_milliseconds()
    {
        var t = PbxSessions.TruncateToMilliseconds(new DateTimeOffset(2025, 9, 2, 15, 44, 19, TimeSpan.FromHours(2)).AddTicks(1_234_567));
        Assert.Equal(new DateTimeOffset(2025, 9, 2, 13, 44, 19, 123, TimeSpan.Zero), t);
        Assert.Equal(TimeSpan.Zero, t.Offset);
    }

    [Theory]
    [InlineData("2s", 2_000)]
    [InlineData("500ms", 500)]
    [InlineData("1m", 60_000)]
    [InlineData("1.5", 1_500)]
    [InlineData("00:00:05", 5_000)]
    public void Durations_parse(string text, double ms)
    {
        Assert.True(RelayCli.TryParseDuration(text, out var value));
        Assert.Equal(ms, value.TotalMilliseconds);
    }

    [Fact]
    public void Durations_reject_garbage() => Assert.False(RelayCli.TryParseDuration("soon", out _));
}
