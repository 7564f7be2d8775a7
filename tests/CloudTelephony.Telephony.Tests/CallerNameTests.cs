using CloudTelephony.Telephony.Tests.Ami;
using CloudTelephony.Telephony.Tests.Ctip;

namespace CloudTelephony.Telephony.Tests;

/// <summary>The caller's name as the PBX showed it: CTIP RING comment, AMI CallerIDName.</summary>
public sealed class CallerNameTests
{
    [Fact]
    public void Ctip_takes_the_phonebook_name_from_the_ring_comment()
    {
        var first = CtipCapture.Calls.Single(c => c.StartedAt == CtipCapture.Local("2025-09-02 15:44:19.03303"));

        // The PBX writes spaces as "_" (manual p.23); the pseudonymised "Person_1" reads back as "Person 1".
        Assert.Equal("Person 1", first.CallerName);
    }

    [Fact]
    public void Ctip_leaves_the_name_empty_when_the_comment_only_repeats_the_number()
    {
        var group = CtipCapture.Calls.Single(c => c.StartedAt == CtipCapture.Local("2025-09-03 09:07:42.924412"));

        Assert.Null(group.CallerName);
    }

    [Fact]
    public void Ami_takes_the_originating_channels_caller_id_name()
    {
        var (calls, _, _) = AmiTestKit.Run(AmiTestKit.Sample("HANDMADE_ast18_attended-transfer.txt"));

        Assert.Equal("Jan Kowalski", Assert.Single(calls).CallerName);
    }
}
