using System.Text.Json;
using CloudTelephony.Telephony.Ctip;
using CloudTelephony.Telephony.Streams;

namespace CloudTelephony.Telephony.Tests.Ctip;

/// <summary>
/// Issue #14.10: a blind transfer that nobody answers, and the PBX's recall of the transferring extension.
/// </summary>
/// <remarks>
/// The real Slican capture (fixtures/ctip, 855 lines) holds no transfer, so every line here is CONSTRUCTED, from ctip.md
/// "Call identity … Transfer" (flash + digits, <c>RING C caller 0 /C /A _</c>, <c>REL A 1</c> when A hangs up; an
/// unanswered C recalls A with a new RING of the caller) and from real line shapes: the inbound RING of the capture
/// (<c>RING 101_ 693109180 0 618386710 _ 693109180</c>: caller, port 0, DID, held <c>_</c>, phonebook comment), the transfer
/// RING quoted in ctip.md from the DUMP (<c>RING 109_ 519084071 0 /109 /101 _</c>), CONN/REL/ECHO as the capture sends
/// them. The recall RING is the inbound RING shape again (dialled field = the original DID, held <c>_</c>). Times are
/// given as the capture stamps them, local +02:00, to prove the record comes out in UTC.
/// </remarks>
public class CtipRecallTests
{
    private static readonly DateTimeOffset Local = new(2025, 9, 5, 10, 0, 0, TimeSpan.FromHours(2));
    private static readonly DateTimeOffset Utc = Local.ToUniversalTime();

    private static List<PbxFrame> Script(params (double At, string Line)[] lines)
        => [.. lines.Select((l, i) => new PbxFrame("p", "s", i + 1, Local.AddSeconds(l.At), l.Line))];

    /// <summary>101 answers an inbound call, blind-transfers it to 109 (flash, 109, hangs up); 109 rings 30 s unanswered.</summary>
    private static readonly (double, string)[] TransferNobodyAnswers =
    [
        (0, "RING 101_ 519084071 0 618386710 _ 519084071"),
        (4, "CONN 101_ 519084071 0"),
        (30, "ECHO 101_ /"),
        (31, "ECHO 101_ 109"),
        (31.2, "RING 109_ 519084071 0 /109 /101 _"),
        (32, "REL 101_ 1"),
    ];

    private static (List<Call> Calls, List<CallChange> Changes) Run(List<PbxFrame> frames)
    {
        var engine = CtipCorrelator.Restore("p", new CorrelatorOptions(), null);
        var changes = new CallChangeList();
        foreach (var f in frames)
        {
            engine.Process(f, changes);
        }

        engine.Flush(changes);
        return (changes.Completed, changes.Changes);
    }

    [Fact]
    public void An_unanswered_recall_is_the_same_call_and_it_ends_when_the_recall_ends()
    {
        var (calls, changes) = Run(Script([.. TransferNobodyAnswers,
            (62, "RING 101_ 519084071 0 618386710 _ 519084071"),   // the PBX recalls 101 (same caller, original DID)
            (62.1, "REL 109_ 1"),                                   // and stops ringing 109
            (80, "REL 101_ 35")]));                                 // nobody takes the recall; the caller is released

        var call = Assert.Single(calls);
        Assert.Equal((CallDirection.Inbound, CallStatus.Answered, "101"), (call.Direction, call.Status, call.AnsweredBy));
        Assert.Equal(["101", "109"], call.Extensions);
        Assert.Equal(Utc.AddSeconds(80), call.EndedAt);            // not 101's REL at 32 s: the recall is part of the call
        Assert.Equal(4, call.RingSeconds);
        Assert.Equal(76, call.TalkSeconds);                        // the caller was on the line (held) until the recall ended
        Assert.Equal([new CallTransfer("101", "109", Utc.AddSeconds(31.2), false)], call.Transfers);
        Assert.Contains(call.Participants, p => p is { Endpoint: "109", Role: "transfer", Outcome: "no-answer" });
        Assert.Contains(call.Events, e => e is { Kind: "ring", Endpoint: "101" } && e.Detail!.StartsWith("recall", StringComparison.Ordinal));

        // ringing per extension that rang (101 twice: first ring and recall), answered once, the transfer, one end
        Assert.Equal(
            ["Opened", "Ringing 101", "Answered 101", "Transferred 101>109", "Ringing 109", "Ringing 101", "Ended", "Completed"],
            changes.Select(Describe));
        Assert.Equal(Utc.AddSeconds(80), changes.Single(c => c.Kind == CallChangeKind.Ended).At);
    }

    [Fact]
    public void An_answered_recall_continues_the_talk_to_its_end()
    {
        var (calls, _) = Run(Script([.. TransferNobodyAnswers,
            (61.9, "REL 109_ 35"),
            (62, "RING 101_ 519084071 0 618386710 _ 519084071"),
            (65, "CONN 101_ 519084071 0"),
            (125, "REL 101_ 1")]));

        var call = Assert.Single(calls);
        Assert.Equal((CallStatus.Answered, "101"), (call.Status, call.AnsweredBy));
        Assert.Equal(Utc.AddSeconds(125), call.EndedAt);
        Assert.Equal(121, call.TalkSeconds);
        Assert.False(Assert.Single(call.Transfers).Answered);
    }

    [Fact]
    public void The_caller_hanging_up_while_the_target_rings_ends_the_call_there()
    {
        var (calls, _) = Run(Script([.. TransferNobodyAnswers, (50, "REL 109_ 1")]));

        var call = Assert.Single(calls);
        Assert.Equal(Utc.AddSeconds(50), call.EndedAt);            // the caller waited from 101's hang-up until 50 s
        Assert.Equal(46, call.TalkSeconds);
    }

    [Fact]
    public void Every_time_of_a_record_is_utc_even_when_frames_carry_an_offset()
    {
        var (calls, changes) = Run(Script([.. TransferNobodyAnswers,
            (62, "RING 101_ 519084071 0 618386710 _ 519084071"), (62.1, "REL 109_ 1"), (80, "REL 101_ 35")]));

        var call = Assert.Single(calls);
        var times = new List<DateTimeOffset?> { call.StartedAt, call.AnsweredAt, call.EndedAt };
        times.AddRange(call.Transfers.Select(t => (DateTimeOffset?)t.At));
        times.AddRange(call.Participants.SelectMany(p => new[] { p.RangAt, p.AnsweredAt, p.EndedAt }));
        times.AddRange(call.Events.Select(e => (DateTimeOffset?)e.At));
        times.AddRange(changes.Select(c => (DateTimeOffset?)c.At));
        Assert.All(times.OfType<DateTimeOffset>(), t => Assert.Equal(TimeSpan.Zero, t.Offset));
        var json = JsonSerializer.Serialize(call, new JsonSerializerOptions(JsonSerializerDefaults.Web));
        Assert.Contains("\"at\":\"2025-09-05T08:00:31", json);   // the transfer, as stored and served
        Assert.DoesNotContain("+02:00", json);
    }

    [Fact]
    public void Any_batch_split_with_state_saves_gives_the_same_recall_call()
    {
        var frames = Script([.. TransferNobodyAnswers,
            (62, "RING 101_ 519084071 0 618386710 _ 519084071"), (62.1, "REL 109_ 1"), (80, "REL 101_ 35")]);
        var onePass = JsonSerializer.Serialize(Run(frames).Calls);
        for (var cut = 1; cut < frames.Count; cut++)
        {
            var calls = new List<Call>();
            var first = CtipCorrelator.Restore("p", new CorrelatorOptions(), null);
            foreach (var f in frames.Take(cut))
            {
                first.Process(f, calls);
            }

            var second = CtipCorrelator.Restore("p", new CorrelatorOptions(), first.SaveState());
            foreach (var f in frames)   // the first batch again (duplicates), then the rest
            {
                second.Process(f, calls);
            }

            second.Flush(calls);
            Assert.Equal(onePass, JsonSerializer.Serialize(calls));
        }
    }

    private static string Describe(CallChange c) => c.Kind switch
    {
        CallChangeKind.Ringing => $"Ringing {c.Extension}",
        CallChangeKind.Answered => $"Answered {c.Extension}",
        CallChangeKind.Transferred => $"Transferred {c.From}>{c.To}",
        _ => c.Kind.ToString(),
    };
}
