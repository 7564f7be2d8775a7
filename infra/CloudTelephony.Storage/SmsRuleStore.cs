using Npgsql;

namespace CloudTelephony.Storage;

/// <summary>An enabled SMS rule of a PBX's enterprise (<c>ct.sms_rules</c>) with what applying it needs.</summary>
/// <param name="Id">Rule id.</param>
/// <param name="EnterpriseId">Its enterprise.</param>
/// <param name="LandingExt">Extension the call must land on, or null.</param>
/// <param name="IvrDigits">IVR digits the caller's must start with, or null.</param>
/// <param name="OnlyIf"><c>missed</c>, <c>answered</c> or <c>any</c>.</param>
/// <param name="Text">The SMS text.</param>
/// <param name="QuietSeconds">No second SMS of the rule to the same number for calls within this many seconds.</param>
/// <param name="Region">The enterprise's default region (<c>enterprise_settings.default_region</c>, else <see cref="FrameStore.DefaultRegion"/>).</param>
/// <param name="NightStart">Start of the enterprise's night hours (local time), or null.</param>
/// <param name="NightEnd">End of the night hours, or null.</param>
/// <param name="TimeZone">The enterprise's IANA time zone.</param>
public sealed record SmsRule(long Id, long EnterpriseId, string? LandingExt, string? IvrDigits, string OnlyIf, string Text,
    int QuietSeconds, string Region, TimeOnly? NightStart, TimeOnly? NightEnd, string TimeZone);

/// <summary>
/// The SQL of the SMS rules (<c>ct.sms_rules</c> → <c>ct.sms_out</c>), run inside the ingest transaction that stores the
/// calls the rules look at. Every method works in the caller's transaction.
/// </summary>
public static class SmsRuleStore
{
    /// <summary>First key of the advisory locks that serialise rule hits per rule (quiet period across concurrent PBX streams).</summary>
    private const int LockSpace = 0x534D53; // "SMS"

    /// <summary>The enabled rules that apply to <paramref name="pbx"/> (its enterprise's, for every PBX or this one), by id.</summary>
    public static async Task<List<SmsRule>> RulesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, CancellationToken ct)
    {
        const string sql = """
            SELECT r.id, r.enterprise_id, r.landing_ext, r.ivr_digits, r.only_if, r.text, r.quiet_seconds,
                   coalesce(es.default_region, @default_region), s.night_start, s.night_end, e.time_zone
              FROM ct.pbxes p
              JOIN ct.enterprises e ON e.id = p.enterprise_id
              JOIN ct.sms_rules r ON r.enterprise_id = p.enterprise_id AND (r.pbx IS NULL OR r.pbx = p.id) AND r.enabled
              LEFT JOIN ct.sms_settings s ON s.enterprise_id = p.enterprise_id
              LEFT JOIN ct.enterprise_settings es ON es.enterprise_id = p.enterprise_id
             WHERE p.id = @pbx
             ORDER BY r.id
            """;
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("pbx", pbx);
        cmd.Parameters.AddWithValue("default_region", FrameStore.DefaultRegion);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rules = new List<SmsRule>();
        while (await reader.ReadAsync(ct))
        {
            rules.Add(new SmsRule(
                reader.GetInt64(0), reader.GetInt64(1),
                reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.GetString(4), reader.GetString(5), reader.GetInt32(6),
                reader.GetString(7),
                reader.IsDBNull(8) ? null : TimeOnly.FromTimeSpan(reader.GetTimeSpan(8)),
                reader.IsDBNull(9) ? null : TimeOnly.FromTimeSpan(reader.GetTimeSpan(9)),
                reader.GetString(10)));
        }

        return rules;
    }

    /// <summary>Database ids of the stored calls of <paramref name="pbx"/> with these keys.</summary>
    public static async Task<Dictionary<string, long>> CallIdsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, string[] keys, CancellationToken ct)
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

    /// <summary>Takes the transaction-scoped advisory lock of each rule, in id order, so concurrent streams agree on quiet periods.</summary>
    public static async Task LockRulesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IEnumerable<long> ruleIds, CancellationToken ct)
    {
        foreach (var ruleId in ruleIds.Distinct().Order())
        {
            await using var cmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@space, @rule)", conn, tx);
            cmd.Parameters.AddWithValue("space", LockSpace);
            cmd.Parameters.AddWithValue("rule", unchecked((int)ruleId));
            await cmd.ExecuteNonQueryAsync(ct);
        }
    }

    /// <summary>Queues the SMS of a rule hit unless the (rule, call) pair exists or the rule's quiet period forbids it.</summary>
    /// <returns>The new <c>ct.sms_out</c> id, or null when nothing was queued.</returns>
    public static async Task<long?> InsertHitAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, SmsRule rule, long callId, string to, DateTimeOffset triggeredAt, DateTimeOffset dueAt, CancellationToken ct)
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
