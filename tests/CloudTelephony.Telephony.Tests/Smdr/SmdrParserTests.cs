using System.Text;
using CloudTelephony.Telephony.Smdr;
using FsCheck;
using FsCheck.Xunit;
using static CloudTelephony.Telephony.Tests.Smdr.SmdrFixtures;

namespace CloudTelephony.Telephony.Tests.Smdr;

public class SmdrParserTests
{
    [Theory]
    [InlineData(Crisisline, 8)]
    [InlineData(Ru, 9)]
    public void Every_fixture_record_parses(string file, int count)
    {
        var lines = Lines(file);
        Assert.Equal(count, lines.Count);
        foreach (var line in lines)
        {
            var r = ParseOk(line, ZoneOf(file));
            Assert.Equal(30, r.FieldCount);
        }
    }

    [Fact]
    public void Misc_first_line_parses_and_the_truncated_15_field_line_is_an_error_value()
    {
        var lines = Lines(Misc);
        Assert.Equal(2, lines.Count);
        Assert.Equal(34, ParseOk(lines[0]).FieldCount);

        var bad = SmdrParser.Parse(lines[1]);
        Assert.False(bad.IsSuccess);
        Assert.Null(bad.Record);
        Assert.Equal("expected at least 17 comma-separated fields (Call Start to Park Time), got 15 (truncated record?)", bad.Error);
    }

    [Fact]
    public void Thirty_field_inbound_record_every_field()
    {
        // crisisline line 1
        var r = ParseOk("2015/03/01 00:54:10,00:00:45,5,16046150477,I,203,,,0,1008741,0,E218,Volunteer9,T9001,Line 1.0,0,0,,,,,,,,,,,,,\r", Vancouver);
        Assert.Equal(30, r.FieldCount);
        Assert.Equal(new DateTime(2015, 3, 1, 0, 54, 10), r.CallStartLocal);
        Assert.Equal(Utc("2015-03-01T08:54:10Z"), r.CallStart); // PST, UTC-8
        Assert.Equal(TimeSpan.Zero, r.CallStart.Offset);
        Assert.Equal(45, r.ConnectedSeconds);
        Assert.Equal(5, r.RingSeconds);
        Assert.Equal("16046150477", r.Caller);
        Assert.Equal(SmdrDirection.Inbound, r.Direction);
        Assert.Equal("203", r.CalledNumber);
        Assert.Null(r.DialledNumber);
        Assert.Null(r.Account);
        Assert.False(r.IsInternal);
        Assert.Equal(1008741, r.CallId);
        Assert.False(r.Continuation);
        Assert.Equal("E218", r.Party1Device);
        Assert.Equal("Volunteer9", r.Party1Name);
        Assert.Equal("T9001", r.Party2Device);
        Assert.Equal("Line 1.0", r.Party2Name);
        Assert.Equal(0, r.HoldSeconds);
        Assert.Equal(0, r.ParkSeconds);
        Assert.Null(r.AuthValid);
        Assert.Null(r.AuthCode);
        Assert.Null(r.UserCharged);
        Assert.Null(r.CallCharge);
        Assert.Null(r.Currency);
        Assert.Null(r.AmountAtLastUserChange);
        Assert.Null(r.CallUnits);
        Assert.Null(r.UnitsAtLastUserChange);
        Assert.Null(r.CostPerUnit);
        Assert.Null(r.MarkUp);
        Assert.Null(r.ExternalTargetingCause);
        Assert.Null(r.ExternalTargeterId);
        Assert.Null(r.ExternalTargetedNumber);
        Assert.Null(r.CallingPartyServerIp);
        Assert.Null(r.CallerExtensionCallId);
        Assert.Null(r.CalledPartyServerIp);
        Assert.Null(r.CalledExtensionCallId);
        Assert.Null(r.RecordTime);
        Assert.Null(r.CallerConsentDirective);
        Assert.Null(r.CallingNumberVerification);
        Assert.Equal(50, r.TotalSeconds);
    }

    [Fact]
    public void Thirty_four_field_record_with_advice_of_charge_and_server_ips()
    {
        var r = ParseOk(Lines(Misc)[0]);
        Assert.Equal(34, r.FieldCount);
        Assert.Equal(Utc("2017-11-09T16:28:27Z"), r.CallStart);
        Assert.Equal(38, r.ConnectedSeconds);
        Assert.Equal(9, r.RingSeconds);
        Assert.Equal("12", r.Caller);
        Assert.Equal(SmdrDirection.Outbound, r.Direction);
        Assert.Equal("99040", r.CalledNumber);
        Assert.Equal("00540299040", r.DialledNumber);
        Assert.False(r.IsInternal);
        Assert.Equal(1009687, r.CallId);
        Assert.Equal("E12", r.Party1Device);
        Assert.Equal("Zim12", r.Party1Name);
        Assert.Equal("T9001", r.Party2Device);
        Assert.Equal("Line 1.1", r.Party2Name);
        Assert.Equal("Zim12", r.UserCharged);
        Assert.Equal(0.0618m, r.CallCharge); // sent as "   0.0618"
        Assert.Null(r.Currency);
        Assert.Equal(1.45m, r.AmountAtLastUserChange); // "0001.45"
        Assert.Equal(1, r.CallUnits);
        Assert.Equal(0, r.UnitsAtLastUserChange);
        Assert.Equal(618m, r.CostPerUnit);
        Assert.Equal(1.00m, r.MarkUp);
        Assert.Equal("U", r.ExternalTargetingCause);
        Assert.Equal("Zim12", r.ExternalTargeterId);
        Assert.Null(r.ExternalTargetedNumber);
        Assert.Equal("192.168.0.130", r.CallingPartyServerIp);
        Assert.Equal("38411", r.CallerExtensionCallId);
        Assert.Equal("192.168.0.130", r.CalledPartyServerIp);
        Assert.Equal("38414", r.CalledExtensionCallId);
        Assert.Null(r.RecordTime);
    }

    [Fact]
    public void Utf8_cyrillic_names_and_external_targeting_are_kept()
    {
        var r = ParseOk(Lines(Ru)[3], Moscow);
        Assert.Equal(1949480, r.CallId);
        Assert.Equal("Тароватова М", r.Party1Name);
        Assert.Equal("U", r.ExternalTargetingCause);
        Assert.Equal("Тароватова М", r.ExternalTargeterId);
        Assert.Null(r.ExternalTargetedNumber);
        Assert.Equal(Utc("2018-09-07T08:06:19Z"), r.CallStart); // MSK, UTC+3
    }

    [Fact]
    public void Sip_caller_and_continuation_flag()
    {
        var r = ParseOk(Lines(Ru)[0], Moscow);
        Assert.Equal("9145661757@172.16.2.10", r.Caller);
        Assert.True(r.Continuation);
        Assert.Equal("2160492", r.DialledNumber);
        Assert.Equal("V9513", r.Party2Device);
        Assert.Equal("VM Channel 13", r.Party2Name);
    }

    private const string Base30 = "2024/07/01 09:15:00,01:02:03,12,201,O,202,202,ACC1,1,3000001,0,E201,Alice,E202,Bob,7,3,1,4321,,,,,,,,,,,";

    [Fact]
    public void Thirty_five_and_thirty_seven_field_records_parse()
    {
        var r35 = ParseOk(Base30 + ",10.0.0.1,111,10.0.0.2,222,2024/07/01 10:17:25", SmdrFixtures.Moscow);
        Assert.Equal(35, r35.FieldCount);
        Assert.Equal(3723, r35.ConnectedSeconds);
        Assert.Equal("ACC1", r35.Account);
        Assert.True(r35.IsInternal);
        Assert.Equal(7, r35.HoldSeconds);
        Assert.Equal(3, r35.ParkSeconds);
        Assert.True(r35.AuthValid);
        Assert.Equal("4321", r35.AuthCode);
        Assert.Equal(Utc("2024-07-01T07:17:25Z"), r35.RecordTime);
        Assert.Null(r35.CallerConsentDirective);

        var r37 = ParseOk(Base30 + ",10.0.0.1,111,10.0.0.2,222,2024/07/01 10:17:25,consent,TN-Validation-Passed-A");
        Assert.Equal(37, r37.FieldCount);
        Assert.Equal("consent", r37.CallerConsentDirective);
        Assert.Equal("TN-Validation-Passed-A", r37.CallingNumberVerification);

        var r40 = ParseOk(Base30 + ",,,,,,,,,,");
        Assert.Equal(40, r40.FieldCount);
        Assert.Null(r40.CallingNumberVerification);
    }

    [Theory]
    [InlineData("2015/02/30 00:54:10", 1, "Call Start")]
    [InlineData("2015-03-01 00:54:10", 1, "Call Start")]
    [InlineData("yesterday", 1, "Call Start")]
    public void Bad_call_start_names_the_field(string start, int field, string name)
    {
        var r = SmdrParser.Parse(start + ",00:00:45,5,1,I,203,,,0,1008741,0,E218,V,T9001,L,0,0,,,,,,,,,,,,,");
        Assert.False(r.IsSuccess);
        Assert.StartsWith($"field {field} ({name}): '{start}'", r.Error);
    }

    [Theory]
    [InlineData(1, "x", "Connected Time")]
    [InlineData(1, "00:61:00", "Connected Time")]
    [InlineData(2, "-5", "Ring Time")]
    [InlineData(4, "X", "Direction")]
    [InlineData(9, "abc", "Call ID")]
    [InlineData(10, "yes", "Continuation")]
    [InlineData(15, "1.5", "Hold Time")]
    [InlineData(16, "p", "Park Time")]
    [InlineData(17, "Y", "AuthValid")]
    [InlineData(20, "0.06x", "Call Charge")]
    [InlineData(23, "one", "Call Units")]
    [InlineData(26, "1.0.0", "Mark Up")]
    public void Bad_field_values_are_error_values_naming_the_field(int index, string value, string name)
    {
        var fields = "2015/03/01 00:54:10,00:00:45,5,1,I,203,,,0,1008741,0,E218,V,T9001,L,0,0,,,,,,,,,,,,,".Split(',');
        fields[index] = value;
        var r = SmdrParser.Parse(string.Join(',', fields));
        Assert.False(r.IsSuccess);
        Assert.Contains($"({name})", r.Error);
        Assert.StartsWith($"field {index + 1} ", r.Error);
    }

    [Fact]
    public void Bad_record_time_names_field_35()
    {
        var r = SmdrParser.Parse(Base30 + ",,,,,2024/13/01 10:17:25");
        Assert.Equal("field 35 (SMDR Record Time): '2024/13/01 10:17:25' is not a date and time YYYY/MM/DD HH:MM:SS", r.Error);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\r\n")]
    [InlineData(",,,,,,,,,,,,,,,,,,,,,,,,,,,,,")]
    [InlineData("0001/01/01 00:00:00,00:00:00,0,,O,,,,0,0,0,,,,,0,0,,,,,,,,,,,,,")]
    public void Edge_lines_never_throw(string line)
    {
        var r = SmdrParser.Parse(line, Moscow);
        Assert.True(r.IsSuccess ^ (r.Error is not null));
    }

    [Fact]
    public void Start_before_utc_range_is_an_error_not_an_exception()
    {
        var r = SmdrParser.Parse("0001/01/01 00:00:00,00:00:00,0,,O,,,,0,0,0,,,,,0,0,,,,,,,,,,,,,", Moscow);
        Assert.Equal("field 1 (Call Start): '0001/01/01 00:00:00' is out of range after conversion to UTC", r.Error);
    }

    [Fact]
    public void Very_long_lines_are_handled()
    {
        var longName = new string('x', 1_000_000);
        var ok = ParseOk($"2015/03/01 00:54:10,00:00:45,5,1,I,203,,,0,1008741,0,E218,{longName},T9001,L,0,0,,,,,,,,,,,,,");
        Assert.Equal(1_000_000, ok.Party1Name!.Length);

        var commas = SmdrParser.Parse(new string(',', 100_000));
        Assert.False(commas.IsSuccess);
        Assert.StartsWith("field 1 (Call Start)", commas.Error);

        var junk = SmdrParser.Parse(new string('9', 100_000));
        Assert.Equal("expected at least 17 comma-separated fields (Call Start to Park Time), got 1 (truncated record?)", junk.Error);
    }

    [Property(MaxTest = 500)]
    public bool Random_text_gives_a_value_never_an_exception(string? text)
    {
        var r = SmdrParser.Parse(text ?? "");
        return r.IsSuccess ^ (r.Error is not null);
    }

    [Property(MaxTest = 500)]
    public bool Random_fields_in_a_valid_frame_give_a_value_never_an_exception(int index, string? value, bool keepTail)
    {
        var fields = Lines(Misc)[0].Split(',').ToList();
        fields[Math.Abs(index % fields.Count)] = value ?? "";
        if (!keepTail)
        {
            fields.RemoveRange(30, fields.Count - 30);
        }

        var r = SmdrParser.Parse(string.Join(',', fields), Vancouver);
        return r.IsSuccess ^ (r.Error is not null);
    }

    [Property(MaxTest = 300)]
    public bool Random_bytes_decoded_as_utf8_never_throw(byte[] bytes)
    {
        var r = SmdrParser.Parse(Encoding.UTF8.GetString(bytes ?? []));
        return r.IsSuccess ^ (r.Error is not null);
    }
}
