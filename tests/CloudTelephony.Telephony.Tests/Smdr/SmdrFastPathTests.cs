using CloudTelephony.Telephony.Smdr;

namespace CloudTelephony.Telephony.Tests.Smdr;

/// <summary>The hand-written field splitter and the correlator's string sharing give the same results as the plain code.</summary>
public class SmdrFastPathTests
{
    private const string Head = "2024/07/01 09:15:00,01:02:03,12,201,O,202,202,ACC1,1,3000001,0,E201,Alice,E202,Bob,7,3,1,4321";

    [Fact]
    public void Text_fields_match_a_plain_split_at_every_length_and_field_count()
    {
        var rnd = new Random(42);
        for (var i = 0; i < 2000; i++)
        {
            var extra = rnd.Next(11, 30); // 30 … 49 fields in all
            var tail = Enumerable.Range(0, extra).Select(_ => new string('x', rnd.Next(0, 20)) + (rnd.Next(3) == 0 ? "é ü" : "")).ToArray();
            var line = Head + "," + string.Join(',', tail);
            var expected = line.Split(',');
            foreach (var numeric in (int[])[20, 22, 23, 24, 25, 26, 34]) // charges, units and SMDR Record Time: not free text
            {
                if (numeric < expected.Length)
                {
                    expected[numeric] = "";
                }
            }

            line = string.Join(',', expected);

            var r = SmdrParser.Parse(line + (i % 2 == 0 ? "\r\n" : "")).Record!;
            Assert.Equal(expected.Length, r.FieldCount);
            Assert.Equal(Nul(expected[19]), r.UserCharged);
            Assert.Equal(Nul(expected[21]), r.Currency);
            Assert.Equal(Nul(expected[27]), r.ExternalTargetingCause);
            Assert.Equal(Nul(expected[29]), r.ExternalTargetedNumber);
            Assert.Equal(Field(expected, 33), r.CalledExtensionCallId);
            Assert.Equal(Field(expected, 35), r.CallerConsentDirective);
            Assert.Equal(Field(expected, 36), r.CallingNumberVerification);
        }
    }

    [Fact]
    public void Short_records_report_the_real_field_count()
    {
        for (var n = 1; n < SmdrParser.MinFields; n++)
        {
            var line = string.Join(',', Enumerable.Repeat("abcdefghij", n));
            Assert.Equal($"expected at least 17 comma-separated fields (Call Start to Park Time), got {n} (truncated record?)", SmdrParser.Parse(line).Error);
        }
    }

    [Fact]
    public void Correlated_records_repeat_the_parser_text_and_detail()
    {
        var lines = new[]
        {
            "2015/03/01 00:54:10,00:00:45,5,16046150477,I,203,,,0,1008741,0,E218,Volunteer9,T9001,Line 1.0,0,0,,,,,,,,,,,,,",
            "2015/03/01 01:06:28,01:03:37,126,6044301510,I,203,,,0,1008742,0,E218,Volunteer9,T9001,Line 1.0,12345,7,,,,,,,,,,,,,",
            "2018/09/07 11:06:53,00:00:27,0,9145661757@172.16.2.10,I,4209,2160492,,0,1949529,1,T9017,Line 17.1,V9513,VM Channel 13,0,0,,,,,,,,,,,,,",
            "2018/09/07 11:06:53,00:00:00,0,9145661757@172.16.2.10,I,4666,2160492,,0,1949529,0,T9017,Line 17.1,V9513,VM Channel 13,0,0,,,,,,,,,,,,,",
            "2018/09/07 11:07:20,00:00:00,0,,O,,78007750775,,1,1949565,0,E3776,,,,0,0,,,,,,,,,,,,,",
        };
        var c = SmdrCorrelator.Restore("p", new CorrelatorOptions(), null);
        var calls = new List<Call>();
        for (var i = 0; i < 3; i++)
        {
            foreach (var (line, seq) in lines.Select((l, k) => (l, k + 1)))
            {
                Assert.Equal(FrameDisposition.Applied, c.Process(new PbxFrame("p", $"s{i}", seq, DateTimeOffset.UnixEpoch, line), calls).Disposition);
            }
        }

        var records = lines.Select(l => SmdrParser.Parse(l).Record!).ToList();
        var perRound = calls.Count / 3;
        for (var k = 0; k < calls.Count; k++)
        {
            var call = calls[k];
            var segs = records.Where(r => r.CallId.ToString(System.Globalization.CultureInfo.InvariantCulture) == call.CallKey).ToList();
            Assert.Equal(segs.Count, call.Events.Count);
            for (var e = 0; e < segs.Count; e++)
            {
                var r = segs[e];
                Assert.Equal(
                    $"{r.Party1Device} {r.Party1Name} / {r.Party2Device} {r.Party2Name}; ring {r.RingSeconds}s connected {r.ConnectedSeconds}s hold {r.HoldSeconds}s park {r.ParkSeconds}s; called {r.CalledNumber}; continuation {(r.Continuation ? 1 : 0)}",
                    call.Events[e].Detail);
            }

            var same = calls[k % perRound];
            Assert.Equal(same with { Events = call.Events, Participants = call.Participants, Extensions = call.Extensions, Transfers = call.Transfers }, call);
            Assert.Equal(same.Transfers, call.Transfers);
            Assert.Equal(same.Extensions, call.Extensions);
            Assert.Equal(same.Participants, call.Participants);
        }
    }

    private static string? Nul(string s) => s.Length == 0 ? null : s;

    private static string? Field(string[] fields, int i) => i < fields.Length ? Nul(fields[i]) : null;
}
