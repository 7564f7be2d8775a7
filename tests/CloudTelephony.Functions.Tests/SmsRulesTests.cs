using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;
using Npgsql;

namespace CloudTelephony.Functions.Tests;

/// <summary>SMS rules evaluated while the real CTIP capture is ingested into real PostgreSQL through the HTTP pipeline.</summary>
public sealed class SmsRulesTests : IAsyncLifetime
{
    // The capture runs 2025-09-02 … 2025-09-04; "now" is set after its end, and the rules' age limit is off.
    private static readonly DateTimeOffset Now = new(2025, 9, 4, 12, 0, 0, TimeSpan.Zero);
    private readonly ManualClock _clock = new(Now);
    private readonly SmsAppServer _server;

    public SmsRulesTests() => _server = new SmsAppServer(_clock, new Dictionary<string, string?> { ["Sms:RuleMaxAgeMinutes"] = "0" });

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    private Task<long> AddRuleAsync(string? ext, string? digits, string onlyIf, string text, int quietSeconds, string? pbx = null)
        => _server.ExecAsync("""
            INSERT INTO ct.sms_rules (enterprise_id, pbx, landing_ext, ivr_digits, only_if, text, quiet_seconds)
            VALUES ((SELECT id FROM ct.enterprises WHERE name = 'default'), @pbx, @ext, @digits, @only_if, @text, @quiet) RETURNING id
            """, ("pbx", (object?)pbx ?? DBNull.Value), ("ext", (object?)ext ?? DBNull.Value), ("digits", (object?)digits ?? DBNull.Value),
            ("only_if", onlyIf), ("text", text), ("quiet", quietSeconds));

    private async Task IngestCaptureAsync()
    {
        foreach (var chunk in Capture.Ctip().Chunk(37))
        {
            Assert.Equal(HttpStatusCode.OK, (await _server.PostFramesAsync(chunk)).StatusCode);
        }
    }

    private async Task<List<(string To, string CallKey, string Text, DateTimeOffset Due)>> SmsAsync(long rule)
    {
        await using var cmd = _server.Db.DataSource.CreateCommand("""
            SELECT o.to_number, c.call_key, o.text, o.next_attempt_at FROM ct.sms_out o JOIN ct.calls c ON c.id = o.call_id
             WHERE o.origin_rule_id = @rule ORDER BY c.ended_at
            """);
        cmd.Parameters.AddWithValue("rule", rule);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<(string, string, string, DateTimeOffset)>();
        while (await r.ReadAsync())
        {
            rows.Add((r.GetString(0), r.GetString(1), r.GetString(2), r.GetFieldValue<DateTimeOffset>(3)));
        }

        return rows;
    }

    [Fact]
    public async Task An_IngestFrames_invocation_hands_the_new_sms_ids_to_its_sms_queue_output_binding()
    {
        var rule = await AddRuleAsync("105", null, "missed", "Przepraszamy, oddzwonimy.", 0);
        var invocation = HostPayloads.ServiceBusBatch([.. Capture.Ctip().Select(e => new HostPayloads.Message(JsonSerializer.Serialize(e, ContractsJson.Default.Envelope), e.MessageId, e.Pbx))]);

        var response = await _server.Http.PostAsync("/IngestFrames", new StringContent(invocation, System.Text.Encoding.UTF8, "application/json"));
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var queued = body.RootElement.GetProperty("Outputs").GetProperty("outSms").EnumerateArray().Select(v => long.Parse(v.GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var rows = await _server.ExecAsync("SELECT count(*) FROM ct.sms_out WHERE origin_rule_id = @rule AND id = ANY(@ids)", ("rule", rule), ("ids", queued.ToArray()));
        Assert.NotEmpty(queued);
        Assert.Equal(queued.Count, rows);
        Assert.Equal((await SmsAsync(rule)).Count, queued.Count);
    }

    [Fact]
    public async Task Missed_calls_landing_on_105_text_each_mobile_caller_once_even_when_ingested_twice()
    {
        var rule = await AddRuleAsync("105", null, "missed", "Przepraszamy, oddzwonimy.", 0);

        await IngestCaptureAsync();
        await IngestCaptureAsync();
        var again = await _server.PostFramesAsync(Capture.Ctip());
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);

        // The five missed inbound calls that rang 105 (the 14:07 call of 2025-09-02 ended 'unknown', not 'missed').
        var sms = await SmsAsync(rule);
        Assert.Equal(["+48734137941", "+48516543118", "+48504322515", "+48667314121", "+48888922230"], sms.Select(s => s.To));
        Assert.All(sms, s => Assert.Equal(("Przepraszamy, oddzwonimy.", Now), (s.Text, s.Due)));
        Assert.Equal(5, await _server.ExecAsync("SELECT count(*) FROM ct.sms_out"));

        // The same calls stored again (a re-completed call, a sweep) add nothing: unique (rule, call).
        var calls = CorrelateCapture();
        await using var conn = await _server.Db.DataSource.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await FrameStore.UpsertCallsAsync(conn, tx, calls, default);
        var created = await _server.Services.GetRequiredService<SmsRules>().ApplyAsync(conn, tx, "slican", calls, default);
        await tx.CommitAsync();
        Assert.Empty(created);
        Assert.Equal(5, await _server.ExecAsync("SELECT count(*) FROM ct.sms_out"));
    }

    [Fact]
    public async Task The_quiet_period_keeps_a_second_sms_from_the_same_rule_to_the_same_number()
    {
        var always = await AddRuleAsync("101", null, "answered", "Dziękujemy za rozmowę.", 0);
        var hourly = await AddRuleAsync("101", null, "answered", "Dziękujemy (raz na godzinę).", 3600);

        await IngestCaptureAsync();

        var all = await SmsAsync(always);
        var quiet = await SmsAsync(hourly);
        // 734137941 called again 24 min later and 500174654 4 min later: the hourly rule skips those second calls;
        // 509350184 and 660942375 called again after more than an hour: texted twice by both rules.
        Assert.Equal(all.Count - 2, quiet.Count);
        Assert.Equal(2, all.Count(s => s.To == "+48734137941"));
        Assert.Single(quiet, s => s.To == "+48734137941");
        Assert.Single(quiet, s => s.To == "+48500174654");
        Assert.Equal(2, quiet.Count(s => s.To == "+48509350184"));
        Assert.Equal(2, quiet.Count(s => s.To == "+48660942375"));

        // Only mobile callers: every answered inbound call on 101 whose caller is a mobile number.
        var expected = CorrelateCapture()
            .Where(c => c.Direction == CallDirection.Inbound && c.Status == CallStatus.Answered && c.Extensions.Contains("101"))
            .Count(c => SmsNumbers.Normalize(c.Caller, "PL") is { Mobile: true });
        Assert.Equal(expected, all.Count);
        Assert.True(expected < 37, "some callers of the capture are landlines");
    }

    [Fact]
    public async Task In_night_hours_rule_sms_wait_until_the_morning()
    {
        _clock.Now = new DateTimeOffset(2025, 9, 4, 23, 30, 0, TimeSpan.FromHours(2)); // 21:30 UTC, Warsaw summer time
        await _server.ExecAsync("UPDATE ct.enterprises SET time_zone = 'Europe/Warsaw' WHERE name = 'default'");
        await _server.ExecAsync("""
            INSERT INTO ct.sms_settings (enterprise_id, night_start, night_end)
            SELECT id, '22:00', '07:30' FROM ct.enterprises WHERE name = 'default'
            """);
        var rule = await AddRuleAsync("105", null, "missed", "Oddzwonimy rano.", 0);

        await IngestCaptureAsync();

        var sms = await SmsAsync(rule);
        Assert.Equal(5, sms.Count);
        Assert.All(sms, s => Assert.Equal(new DateTimeOffset(2025, 9, 5, 5, 30, 0, TimeSpan.Zero), s.Due));

        // The sweep at 06:00 local leaves them; at 07:30 local they are due.
        var dispatcher = _server.Services.GetRequiredService<SmsDispatcher>();
        _clock.Now = new DateTimeOffset(2025, 9, 5, 6, 0, 0, TimeSpan.FromHours(2));
        Assert.Equal(0, (await dispatcher.SweepAsync(default)).Due);
        _clock.Now = new DateTimeOffset(2025, 9, 5, 7, 30, 0, TimeSpan.FromHours(2));
        Assert.Equal(new SmsSweepResult(5, 5, 0, 0, 0), await dispatcher.SweepAsync(default));
    }

    [Fact]
    public async Task Calls_older_than_the_age_limit_trigger_nothing()
    {
        var server = new SmsAppServer(_clock, new Dictionary<string, string?> { ["Sms:RuleMaxAgeMinutes"] = "60" });
        await server.InitializeAsync();
        try
        {
            await server.ExecAsync("""
                INSERT INTO ct.sms_rules (enterprise_id, landing_ext, only_if, text) SELECT id, '105', 'any', 'x' FROM ct.enterprises WHERE name = 'default'
                """);
            foreach (var chunk in Capture.Ctip().Chunk(500))
            {
                await server.PostFramesAsync(chunk);
            }

            // "now" is 2025-09-04 12:00Z; only calls that ended from 11:00Z on would count, and the capture has none that rang 105 then.
            Assert.Equal(0, await server.ExecAsync("SELECT count(*) FROM ct.sms_out"));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Ivr_digits_answered_or_missed_and_landlines_are_respected()
    {
        await _server.ExecAsync("INSERT INTO ct.pbxes (id, enterprise_id, protocol) SELECT 'ast', id, 'ami' FROM ct.enterprises WHERE name = 'default'");
        var press2 = await AddRuleAsync(null, "2", "any", "Serwis: serwis@example.com", 0);
        var missedOn7 = await AddRuleAsync("7", null, "missed", "Oddzwonimy.", 0, pbx: "ast");
        var t = Now.AddMinutes(-5);
        Call NewCall(string key, string caller, CallStatus status, string? digits, params string[] exts) => new()
        {
            Pbx = "ast", CallKey = key, Direction = CallDirection.Inbound, Status = status, Caller = caller, Called = "221234567",
            Extensions = exts, StartedAt = t, EndedAt = t.AddSeconds(30), IvrDigits = digits,
            AnsweredBy = status == CallStatus.Answered ? exts.FirstOrDefault() : null, AnsweredAt = status == CallStatus.Answered ? t.AddSeconds(5) : null,
        };
        List<Call> calls =
        [
            NewCall("a", "600100200", CallStatus.Answered, "21", "7"), // digits 2… → press2; answered → not missedOn7
            NewCall("b", "+48 601 100 200", CallStatus.Missed, "3", "7"), // missed on 7 → missedOn7 only
            NewCall("c", "221234567", CallStatus.Missed, "2", "7"), // Warsaw landline → nothing
            NewCall("d", "0048602100200", CallStatus.Busy, null, "8"), // no digits, not on 7 → nothing
            NewCall("e", "48603100200", CallStatus.Voicemail, "2", "7"), // both rules (voicemail counts as missed)
            NewCall("f", "abc", CallStatus.Missed, "2", "7"), // not a number → nothing
        ];

        await using var conn = await _server.Db.DataSource.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await StreamStore.LockAsync(conn, tx, "ast", "ami", default);
        await FrameStore.UpsertCallsAsync(conn, tx, calls, default);
        var created = await _server.Services.GetRequiredService<SmsRules>().ApplyAsync(conn, tx, "ast", calls, default);
        await tx.CommitAsync();

        Assert.Equal(4, created.Count);
        Assert.Equal([("+48600100200", "a"), ("+48603100200", "e")], (await SmsAsync(press2)).Select(s => (s.To, s.CallKey)));
        Assert.Equal([("+48601100200", "b"), ("+48603100200", "e")], (await SmsAsync(missedOn7)).Select(s => (s.To, s.CallKey)));
    }

    private static List<Call> CorrelateCapture()
    {
        var correlator = Correlators.Create(Protocols.Ctip, "slican", new CorrelatorOptions { TimeZone = TimeZoneInfo.Utc });
        var calls = new List<Call>();
        foreach (var e in Capture.Ctip())
        {
            correlator.Process(new PbxFrame(e.Pbx, e.Session, e.Seq, e.ReceivedAt, e.Frame), calls);
        }

        return calls;
    }
}

/// <summary>Night hours arithmetic (local window, may wrap midnight, DST).</summary>
public sealed class NightHoursTests
{
    [Theory]
    [InlineData("2025-09-04T23:30:00+02:00", "22:00", "07:00", "2025-09-05T05:00:00Z")] // evening part of a wrapping night
    [InlineData("2025-09-05T03:00:00+02:00", "22:00", "07:00", "2025-09-05T05:00:00Z")] // morning part
    [InlineData("2025-09-05T07:00:00+02:00", "22:00", "07:00", "2025-09-05T05:00:00Z")] // the end itself is day
    [InlineData("2025-09-05T12:00:00+02:00", "22:00", "07:00", "2025-09-05T10:00:00Z")] // day: now
    [InlineData("2025-09-05T01:00:00+02:00", "00:30", "06:00", "2025-09-05T04:00:00Z")] // window not wrapping
    [InlineData("2025-03-30T01:30:00+01:00", "22:00", "02:30", "2025-03-30T01:30:00Z")] // 02:30 does not exist that day → 03:30 CEST
    [InlineData("2025-12-01T23:00:00+01:00", "22:00", "07:00", "2025-12-02T06:00:00Z")] // winter time
    public void Sms_created_at_night_are_due_at_its_end(string now, string start, string end, string expected)
    {
        var due = NightHours.NotBefore(DateTimeOffset.Parse(now, System.Globalization.CultureInfo.InvariantCulture),
            TimeOnly.Parse(start, System.Globalization.CultureInfo.InvariantCulture), TimeOnly.Parse(end, System.Globalization.CultureInfo.InvariantCulture), "Europe/Warsaw");

        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), due);
    }

    [Fact]
    public void No_night_hours_means_now()
    {
        var now = DateTimeOffset.UtcNow;
        Assert.Equal(now, NightHours.NotBefore(now, null, null, "Europe/Warsaw"));
    }
}

/// <summary>Number normalisation used by the API and the rules.</summary>
public sealed class SmsNumbersTests
{
    [Theory]
    [InlineData("600 100 200", "+48600100200", true)]
    [InlineData("+48 600-100-200", "+48600100200", true)]
    [InlineData("0048600100200", "+48600100200", true)]
    [InlineData("48600100200", "+48600100200", true)]
    [InlineData("221234567", "+48221234567", false)] // Warsaw landline
    [InlineData("+4915112345678", "+4915112345678", true)] // German mobile
    public void Numbers_are_normalised_to_e164_with_their_type(string raw, string e164, bool mobile)
        => Assert.Equal((e164, mobile), SmsNumbers.Normalize(raw, "PL"));

    [Theory]
    [InlineData("")]
    [InlineData("12")]
    [InlineData("abc")]
    [InlineData("+48 123")]
    public void Invalid_numbers_are_null(string raw) => Assert.Null(SmsNumbers.Normalize(raw, "PL"));
}
