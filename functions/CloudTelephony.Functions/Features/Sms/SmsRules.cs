using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Telephony;
using Npgsql;

namespace CloudTelephony.Functions.Sms;

/// <summary>
/// Turns stored calls into SMS for the enterprise's rules (<c>ct.sms_rules</c>), inside the transaction that stores the
/// calls, so a call and the SMS it triggers are committed together or not at all.
/// <para>A rule matches an <b>inbound</b> call whose caller is known when</para>
/// <list type="bullet">
/// <item>the call <b>landed</b> on the rule's extension: the extension rang during the call (it is in
/// <see cref="Call.Extensions"/>, which includes the extension that answered) — for CTIP this is how the Slican collector's
/// <c>ivr_map</c> inferred the IVR choice, from where the IVR routed the call; or</item>
/// <item>the caller's IVR digits (<see cref="Call.IvrDigits"/>, AMI) start with the rule's digits (<c>2</c> matches
/// <c>2</c> and <c>21</c>);</item>
/// <item>and <c>only_if</c> holds: <c>answered</c> = status answered; <c>missed</c> = status missed, busy or voicemail
/// (nobody took the call); <c>any</c> = every status.</item>
/// </list>
/// <para>The SMS goes to the caller only when the caller's number is a mobile number (libphonenumber type MOBILE or
/// FIXED_LINE_OR_MOBILE, national numbers read in the enterprise's region); at most once per (rule, call) (unique key,
/// so ingesting the same frames again adds nothing); not when the same rule already texted the same number for a call
/// that ended within <c>quiet_seconds</c> of this one; and, inside the enterprise's night hours, the row is created NEW
/// but due at the end of the night. Calls older than <see cref="SmsOptions.RuleMaxAgeMinutes"/> are ignored.</para>
/// </summary>
public sealed class SmsRules(SmsOptions options, TimeProvider clock, ILogger<SmsRules> logger)
{
    /// <summary>First key of the advisory locks that serialise rule hits per rule (quiet period across concurrent PBX streams).</summary>
    private const int LockSpace = 0x534D53; // "SMS"

    private sealed record Rule(long Id, long EnterpriseId, string? LandingExt, string? IvrDigits, string OnlyIf, string Text,
        int QuietSeconds, string Region, TimeOnly? NightStart, TimeOnly? NightEnd, string TimeZone);

    /// <summary>Evaluates the rules of <paramref name="pbx"/>'s enterprise for calls just upserted in <paramref name="tx"/>.</summary>
    /// <returns>Ids of the SMS rows created (to dispatch once the transaction has committed).</returns>
    /// <exception cref="NpgsqlException">The database failed (the caller's transaction fails with it).</exception>
    public async Task<IReadOnlyList<long>> ApplyAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, IReadOnlyList<Call> calls, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var candidates = calls
            .Where(c => c.Direction == CallDirection.Inbound && !string.IsNullOrEmpty(c.Caller) && c.Pbx == pbx)
            .Where(c => options.RuleMaxAgeMinutes <= 0 || now - c.EndedAt <= TimeSpan.FromMinutes(options.RuleMaxAgeMinutes))
            .GroupBy(c => c.CallKey).Select(g => g.Last())
            .OrderBy(c => c.EndedAt).ThenBy(c => c.CallKey, StringComparer.Ordinal)
            .ToList();
        if (candidates.Count == 0)
        {
            return [];
        }

        var rules = await LoadRulesAsync(conn, tx, pbx, ct);
        if (rules.Count == 0)
        {
            return [];
        }

        var hits = new List<(Call Call, Rule Rule, string To)>();
        foreach (var call in candidates)
        {
            foreach (var rule in rules.Where(r => Matches(r, call)))
            {
                if (SmsNumbers.Normalize(call.Caller, rule.Region) is not { } number)
                {
                    logger.LogDebug("rule {Rule}: caller {Caller} of call {Key} is not a valid number", rule.Id, call.Caller, call.CallKey);
                }
                else if (!number.Mobile)
                {
                    logger.LogDebug("rule {Rule}: caller {Caller} of call {Key} is not a mobile number", rule.Id, number.E164, call.CallKey);
                }
                else
                {
                    hits.Add((call, rule, number.E164));
                }
            }
        }

        if (hits.Count == 0)
        {
            return [];
        }

        var callIds = await CallIdsAsync(conn, tx, pbx, hits.Select(h => h.Call.CallKey).Distinct().ToArray(), ct);
        foreach (var ruleId in hits.Select(h => h.Rule.Id).Distinct().Order())
        {
            await using var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@space, @rule)", conn, tx);
            lockCmd.Parameters.AddWithValue("space", LockSpace);
            lockCmd.Parameters.AddWithValue("rule", unchecked((int)ruleId));
            await lockCmd.ExecuteNonQueryAsync(ct);
        }

        var created = new List<long>();
        foreach (var (call, rule, to) in hits)
        {
            var dueAt = NightHours.NotBefore(now, rule.NightStart, rule.NightEnd, rule.TimeZone);
            if (await InsertAsync(conn, tx, rule, callIds[call.CallKey], to, call.EndedAt, dueAt, ct) is { } id)
            {
                created.Add(id);
                logger.LogInformation("rule {Rule} fired for call {Key} of {Pbx}: sms {Id} to {To}, due {Due:O}", rule.Id, call.CallKey, pbx, id, to, dueAt);
            }
        }

        return created;
    }

    private static bool Matches(Rule rule, Call call)
    {
        var when = rule.OnlyIf switch
        {
            "answered" => call.Status == CallStatus.Answered,
            "missed" => call.Status is CallStatus.Missed or CallStatus.Busy or CallStatus.Voicemail,
            _ => true,
        };
        var lands = rule.LandingExt is { } ext
            ? call.Extensions.Contains(ext, StringComparer.Ordinal)
            : rule.IvrDigits is { } digits && call.IvrDigits is { } pressed && pressed.StartsWith(digits, StringComparison.Ordinal);
        return when && lands;
    }

    private async Task<List<Rule>> LoadRulesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, CancellationToken ct)
    {
        const string sql = """
            SELECT r.id, r.enterprise_id, r.landing_ext, r.ivr_digits, r.only_if, r.text, r.quiet_seconds,
                   s.region, s.night_start, s.night_end, e.time_zone
              FROM ct.pbxes p
              JOIN ct.enterprises e ON e.id = p.enterprise_id
              JOIN ct.sms_rules r ON r.enterprise_id = p.enterprise_id AND (r.pbx IS NULL OR r.pbx = p.id) AND r.enabled
              LEFT JOIN ct.sms_settings s ON s.enterprise_id = p.enterprise_id
             WHERE p.id = @pbx
             ORDER BY r.id
            """;
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("pbx", pbx);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rules = new List<Rule>();
        while (await reader.ReadAsync(ct))
        {
            rules.Add(new Rule(
                reader.GetInt64(0), reader.GetInt64(1),
                reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.GetString(4), reader.GetString(5), reader.GetInt32(6),
                reader.IsDBNull(7) ? options.DefaultRegion : reader.GetString(7),
                reader.IsDBNull(8) ? null : TimeOnly.FromTimeSpan(reader.GetTimeSpan(8)),
                reader.IsDBNull(9) ? null : TimeOnly.FromTimeSpan(reader.GetTimeSpan(9)),
                reader.GetString(10)));
        }

        return rules;
    }

    private static async Task<Dictionary<string, long>> CallIdsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, string[] keys, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT call_key, id FROM ct.calls WHERE pbx = @pbx AND call_key = ANY(@keys)", conn, tx);
        cmd.Parameters.AddWithValue("pbx", pbx);
        cmd.Parameters.AddWithValue("keys", keys);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var ids = new Dictionary<string, long>(StringComparer.Ordinal);
        while (await reader.ReadAsync(ct))
        {
            ids[reader.GetString(0)] = reader.GetInt64(1);
        }

        return ids;
    }

    /// <summary>Inserts the hit unless the (rule, call) pair exists or the quiet period forbids it.</summary>
    private static async Task<long?> InsertAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, Rule rule, long callId, string to, DateTimeOffset triggeredAt, DateTimeOffset dueAt, CancellationToken ct)
    {
        const string sql = """
            INSERT INTO ct.sms_out (enterprise_id, to_number, text, origin_rule_id, call_id, triggered_at, next_attempt_at)
            SELECT @enterprise, @to, @text, @rule, @call, @triggered, @due
             WHERE NOT EXISTS (
                   SELECT 1 FROM ct.sms_out o
                    WHERE o.origin_rule_id = @rule AND o.to_number = @to AND o.call_id IS DISTINCT FROM @call
                      AND o.triggered_at > @triggered - make_interval(secs => @quiet)
                      AND o.triggered_at < @triggered + make_interval(secs => @quiet))
            ON CONFLICT (origin_rule_id, call_id) DO NOTHING
            RETURNING id
            """;
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("enterprise", rule.EnterpriseId);
        cmd.Parameters.AddWithValue("to", to);
        cmd.Parameters.AddWithValue("text", rule.Text);
        cmd.Parameters.AddWithValue("rule", rule.Id);
        cmd.Parameters.AddWithValue("call", callId);
        cmd.Parameters.AddWithValue("triggered", triggeredAt);
        cmd.Parameters.AddWithValue("due", dueAt);
        cmd.Parameters.AddWithValue("quiet", (double)rule.QuietSeconds);
        return await cmd.ExecuteScalarAsync(ct) is long id ? id : null;
    }
}

/// <summary>The enterprise's night hours: a local-time window (may wrap midnight) in which rule SMS wait.</summary>
public static class NightHours
{
    /// <summary>
    /// When an SMS created at <paramref name="now"/> may be sent: <paramref name="now"/> outside the night, else the
    /// night's end (local <paramref name="end"/> in <paramref name="timeZone"/>, as UTC).
    /// </summary>
    public static DateTimeOffset NotBefore(DateTimeOffset now, TimeOnly? start, TimeOnly? end, string timeZone)
    {
        if (start is not { } s || end is not { } e || s == e)
        {
            return now;
        }

        var zone = TimeZoneInfo.TryFindSystemTimeZoneById(timeZone, out var z) ? z : TimeZoneInfo.Utc;
        var local = TimeZoneInfo.ConvertTime(now, zone);
        var t = TimeOnly.FromDateTime(local.DateTime);
        var wraps = s > e;
        var night = wraps ? t >= s || t < e : t >= s && t < e;
        if (!night)
        {
            return now;
        }

        var day = DateOnly.FromDateTime(local.DateTime);
        if (wraps && t >= s)
        {
            day = day.AddDays(1); // evening part: the night ends tomorrow morning
        }

        var morning = day.ToDateTime(e);
        if (zone.IsInvalidTime(morning))
        {
            morning = morning.AddHours(1); // the clock jumps over the end of the night (DST): take the next valid hour
        }

        return new DateTimeOffset(morning, zone.GetUtcOffset(morning)).ToUniversalTime();
    }
}
