using System.Net;
using CloudTelephony.Telephony;
using CloudTelephony.Telephony.Routing;
using Npgsql;
using NpgsqlTypes;

namespace CloudTelephony.Storage;

/// <summary>An enterprise (tenant).</summary>
public sealed record Enterprise(long Id, string Name, string TimeZone, int Pbxes);

/// <summary>Smart Redirect settings of one enterprise (<c>ct.enterprise_settings</c>; defaults when it has no row).</summary>
/// <param name="DefaultRegion">ISO 3166 region for national numbers (<c>PL</c>).</param>
/// <param name="Mode">off, name-only, routing+name.</param>
/// <param name="Strategy">The strategy tried first.</param>
/// <param name="Fallback">The strategy tried when the first finds nothing, or null.</param>
/// <param name="LookbackDays">Window of the call strategies.</param>
/// <param name="BudgetMs">Answer budget in milliseconds.</param>
/// <param name="IpAllowlist">Networks the enterprise's requests may come from; empty = any.</param>
/// <param name="CrmKind"><c>retailcrm</c> or null (no CRM).</param>
/// <param name="CrmUrl">CRM base address.</param>
/// <param name="CrmApiKey">CRM API key.</param>
[System.ComponentModel.ImmutableObject(true)]
public sealed record RoutingSettings(
    string DefaultRegion,
    SmartMode Mode,
    RoutingStrategy Strategy,
    RoutingStrategy? Fallback,
    int LookbackDays,
    int BudgetMs,
    IReadOnlyList<IPNetwork> IpAllowlist,
    string? CrmKind,
    string? CrmUrl,
    string? CrmApiKey)
{
    /// <summary>Settings of an enterprise nobody configured.</summary>
    public static RoutingSettings Defaults { get; } = new(FrameStore.DefaultRegion, SmartMode.Off, RoutingStrategy.LastCall, null, 90, 300, [], null, null, null);

    /// <summary>Whether <paramref name="ip"/> may call for this enterprise (an empty list allows everyone).</summary>
    public bool Allows(IPAddress? ip)
    {
        if (IpAllowlist.Count == 0)
        {
            return true;
        }

        if (ip is null)
        {
            return false;
        }

        if (ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }

        return IpAllowlist.Any(n => n.Contains(ip));
    }
}

/// <summary>A change to settings; null fields stay as they are.</summary>
public sealed record RoutingSettingsUpdate(
    string? DefaultRegion = null,
    SmartMode? Mode = null,
    RoutingStrategy? Strategy = null,
    bool SetFallback = false,
    RoutingStrategy? Fallback = null,
    int? LookbackDays = null,
    int? BudgetMs = null,
    IReadOnlyList<IPNetwork>? IpAllowlist = null,
    string? CrmKind = null,
    string? CrmUrl = null,
    string? CrmApiKey = null)
{
    /// <summary>Smallest and largest answer budget in milliseconds (the table's check constraint).</summary>
    public const int MinBudgetMs = 10, MaxBudgetMs = 5000;

    /// <summary>Shortest and longest look-back window of the call strategies, in days.</summary>
    public const int MinLookbackDays = 1, MaxLookbackDays = 3650;

    /// <summary>The first reason this change cannot be stored, naming the admin option (<c>--budget-ms</c>), or null.</summary>
    public string? Problem()
        => DefaultRegion is not null && !PhoneNormalizer.IsKnownRegion(DefaultRegion)
            ? $"--region: '{DefaultRegion}' is not a region with phone numbering (ISO 3166 code such as PL, DE, GB)"
            : BudgetMs is < MinBudgetMs or > MaxBudgetMs
                ? $"--budget-ms: {BudgetMs} is out of range ({MinBudgetMs}–{MaxBudgetMs} ms)"
                : LookbackDays is < MinLookbackDays or > MaxLookbackDays
                    ? $"--lookback-days: {LookbackDays} is out of range ({MinLookbackDays}–{MaxLookbackDays} days)"
                    : CrmUrl is not null && !(Uri.TryCreate(CrmUrl, UriKind.Absolute, out var u) && u.Scheme is "https" or "http")
                        ? $"--crm-url: '{CrmUrl}' is not an http(s) address"
                        : null;
}

/// <summary>An extension chosen for a caller, with its internal id (null when the extension table has none).</summary>
[System.ComponentModel.ImmutableObject(true)]
public sealed record RoutedExtension(string Ext, string? InternalId);

/// <summary>A row of the extension CSV.</summary>
public sealed record ExtensionRow(string Ext, string? InternalId, string? UserName);

/// <summary>A row of the contacts CSV, its number already in E.164.</summary>
public sealed record ContactRow(string Name, string? Company, string NumberE164, string Raw);

/// <summary>One Smart Redirect answer for the decision log.</summary>
public sealed record RoutingDecision(
    long EnterpriseId,
    DateTimeOffset At,
    string? UniqueId,
    string? Phone,
    string? PhoneE164,
    string? Trunk,
    bool LoadDialPlan,
    string Mode,
    string? Strategy,
    string Outcome,
    string Reason,
    string? Name,
    string? DialPlan,
    double LatencyMs);

/// <summary>Decision-log figures over a window.</summary>
/// <param name="Total">Answers.</param>
/// <param name="ByOutcome">Answers per outcome.</param>
/// <param name="P50">Median latency (ms).</param>
/// <param name="P95">95th percentile latency (ms).</param>
/// <param name="P99">99th percentile latency (ms).</param>
/// <param name="Errors">Answers with outcome <c>timeout</c> or <c>error</c>.</param>
public sealed record RoutingStats(long Total, IReadOnlyDictionary<string, long> ByOutcome, double P50, double P95, double P99, long Errors);

/// <summary>
/// Tenancy and Smart Redirect data: enterprises, PBX assignment, extensions, contacts, trunks, settings,
/// the lookups the routing endpoint makes, and the decision log.
/// </summary>
public sealed class RoutingStore(NpgsqlDataSource db)
{
    private const string SettingsColumns = """
        s.default_region, s.smart_mode, s.strategy, s.fallback_strategy, s.lookback_days, s.budget_ms, s.ip_allowlist::text[],
        s.crm_kind, s.crm_url, s.crm_api_key
        """;

    /// <summary>Creates an enterprise; returns its id.</summary>
    /// <exception cref="ArgumentException">The name is empty or <paramref name="timeZone"/> is not a known IANA zone.</exception>
    /// <exception cref="PostgresException">The name is taken (unique violation; check <see cref="FindEnterpriseAsync"/> first).</exception>
    public async Task<long> AddEnterpriseAsync(string name, string timeZone, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (TimeZones.Problem(timeZone, "time zone") is { } zoneProblem)
        {
            throw new ArgumentException(zoneProblem, nameof(timeZone));
        }

        await using var cmd = db.CreateCommand("""
            WITH e AS (INSERT INTO ct.enterprises (name, time_zone) VALUES (@n, @z) RETURNING id)
            INSERT INTO ct.enterprise_settings (enterprise_id) SELECT id FROM e RETURNING enterprise_id
            """);
        cmd.Parameters.AddWithValue("n", name);
        cmd.Parameters.AddWithValue("z", timeZone);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Every enterprise with its number of PBXes.</summary>
    public async Task<IReadOnlyList<Enterprise>> ListEnterprisesAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            SELECT e.id, e.name, e.time_zone, (SELECT count(*) FROM ct.pbxes p WHERE p.enterprise_id = e.id)::int
              FROM ct.enterprises e ORDER BY e.id
            """);
        var list = new List<Enterprise>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(new Enterprise(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetInt32(3)));
        }

        return list;
    }

    /// <summary>The id of the enterprise named (or numbered) <paramref name="nameOrId"/>, or null.</summary>
    public async Task<long?> FindEnterpriseAsync(string nameOrId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT id FROM ct.enterprises WHERE name = @n OR id::text = @n ORDER BY (name = @n) DESC LIMIT 1");
        cmd.Parameters.AddWithValue("n", nameOrId);
        return await cmd.ExecuteScalarAsync(ct) is long id ? id : null;
    }

    /// <summary>
    /// Files PBX <paramref name="pbx"/> under the enterprise (registering it with <paramref name="protocol"/> if it was
    /// never seen), and re-normalises its calls' remote numbers with the enterprise's region. Its time zone becomes
    /// <paramref name="timeZone"/> when given; otherwise a new PBX, or one that moves from another enterprise, takes the
    /// enterprise's zone, and a PBX that stays keeps its own. False when the PBX is new and no protocol was given.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="timeZone"/> is not a known IANA zone.</exception>
    public async Task<bool> AssignPbxAsync(string pbx, long enterpriseId, string? timeZone, string? protocol, CancellationToken ct)
    {
        if (timeZone is not null && TimeZones.Problem(timeZone, "time zone") is { } zoneProblem)
        {
            throw new ArgumentException(zoneProblem, nameof(timeZone));
        }

        await using (var cmd = db.CreateCommand("""
            INSERT INTO ct.pbxes (id, enterprise_id, protocol, time_zone)
            SELECT @pbx, @e, @protocol, coalesce(@zone, e.time_zone) FROM ct.enterprises e WHERE e.id = @e AND @protocol IS NOT NULL
            ON CONFLICT (id) DO NOTHING;
            UPDATE ct.pbxes p SET enterprise_id = @e,
                   time_zone = coalesce(@zone, CASE WHEN p.enterprise_id = @e THEN p.time_zone ELSE e.time_zone END)
              FROM ct.enterprises e WHERE e.id = @e AND p.id = @pbx;
            """))
        {
            cmd.Parameters.AddWithValue("pbx", pbx);
            cmd.Parameters.AddWithValue("e", enterpriseId);
            cmd.Parameters.Add(new NpgsqlParameter("zone", NpgsqlDbType.Text) { Value = (object?)timeZone ?? DBNull.Value });
            cmd.Parameters.Add(new NpgsqlParameter("protocol", NpgsqlDbType.Text) { Value = (object?)protocol ?? DBNull.Value });
            await cmd.ExecuteNonQueryAsync(ct);
        }

        await using (var check = db.CreateCommand("SELECT count(*) FROM ct.pbxes WHERE id = @pbx AND enterprise_id = @e"))
        {
            check.Parameters.AddWithValue("pbx", pbx);
            check.Parameters.AddWithValue("e", enterpriseId);
            if ((long)(await check.ExecuteScalarAsync(ct))! == 0)
            {
                return false;
            }
        }

        await RenormaliseAsync(enterpriseId, pbx, ct);
        return true;
    }

    /// <summary>The number plan of <paramref name="pbx"/> (<see cref="NumberPlan.None"/> when not set), or null when the PBX is
    /// not registered.</summary>
    public async Task<NumberPlan?> NumberPlanAsync(string pbx, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT trunk_endpoints, extension_pattern, internal_contexts FROM ct.pbxes WHERE id = @pbx");
        cmd.Parameters.AddWithValue("pbx", pbx);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct)
            ? new NumberPlan(reader.GetFieldValue<string[]>(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetFieldValue<string[]>(2))
            : null;
    }

    /// <summary>Stores <paramref name="plan"/> as the number plan of <paramref name="pbx"/> (every later batch, sweep and
    /// restore of its stream uses it); false when the PBX is not registered.</summary>
    /// <exception cref="ArgumentException">The plan has a problem (<see cref="NumberPlan.Problem"/>).</exception>
    public async Task<bool> SetNumberPlanAsync(string pbx, NumberPlan plan, CancellationToken ct)
    {
        if (plan.Problem("trunk", "extension pattern") is { } problem)
        {
            throw new ArgumentException(problem, nameof(plan));
        }

        await using var cmd = db.CreateCommand("""
            UPDATE ct.pbxes SET trunk_endpoints = @trunks, extension_pattern = @pattern, internal_contexts = @contexts WHERE id = @pbx
            """);
        cmd.Parameters.AddWithValue("pbx", pbx);
        cmd.Parameters.AddWithValue("trunks", plan.Trunks.ToArray());
        cmd.Parameters.Add(new NpgsqlParameter("pattern", NpgsqlDbType.Text) { Value = string.IsNullOrEmpty(plan.ExtensionPattern) ? DBNull.Value : plan.ExtensionPattern });
        cmd.Parameters.AddWithValue("contexts", plan.InternalContexts.ToArray());
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    /// <summary>Recomputes <c>calls.remote_e164</c> of the enterprise's calls (or of one PBX) with its current region.</summary>
    /// <returns>Calls whose number changed.</returns>
    public async Task<int> RenormaliseAsync(long enterpriseId, string? pbx, CancellationToken ct)
    {
        var region = (await GetSettingsAsync(enterpriseId, ct)).DefaultRegion;
        var raws = new List<(string Raw, string? E164)>();
        await using (var cmd = db.CreateCommand("""
            SELECT DISTINCT CASE c.direction WHEN 'inbound' THEN c.caller ELSE c.called END
              FROM ct.calls c JOIN ct.pbxes p ON p.id = c.pbx
             WHERE p.enterprise_id = @e AND (@pbx::text IS NULL OR c.pbx = @pbx) AND c.direction <> 'internal'
            """))
        {
            cmd.Parameters.AddWithValue("e", enterpriseId);
            cmd.Parameters.Add(new NpgsqlParameter("pbx", NpgsqlDbType.Text) { Value = (object?)pbx ?? DBNull.Value });
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                if (!r.IsDBNull(0))
                {
                    raws.Add((r.GetString(0), PhoneNormalizer.ToE164(r.GetString(0), region)));
                }
            }
        }

        await using var update = db.CreateCommand("""
            UPDATE ct.calls c SET remote_e164 = m.e164
              FROM unnest(@raw, @e164) AS m(raw, e164), ct.pbxes p
             WHERE p.id = c.pbx AND p.enterprise_id = @e AND (@pbx::text IS NULL OR c.pbx = @pbx) AND c.direction <> 'internal'
               AND m.raw = CASE c.direction WHEN 'inbound' THEN c.caller ELSE c.called END
               AND c.remote_e164 IS DISTINCT FROM m.e164
            """);
        update.Parameters.AddWithValue("e", enterpriseId);
        update.Parameters.Add(new NpgsqlParameter("pbx", NpgsqlDbType.Text) { Value = (object?)pbx ?? DBNull.Value });
        update.Parameters.AddWithValue("raw", raws.Select(x => x.Raw).ToArray());
        update.Parameters.Add(new NpgsqlParameter("e164", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = raws.Select(x => x.E164).ToArray() });
        return await update.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Inserts or updates extensions (on enterprise, ext).</summary>
    public async Task<int> ImportExtensionsAsync(long enterpriseId, IReadOnlyList<ExtensionRow> rows, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            INSERT INTO ct.extensions (enterprise_id, ext, internal_id, user_name)
            SELECT @e, x.ext, x.internal_id, x.user_name FROM unnest(@ext, @internal_id, @user_name) AS x(ext, internal_id, user_name)
            ON CONFLICT (enterprise_id, ext) DO UPDATE SET internal_id = EXCLUDED.internal_id, user_name = EXCLUDED.user_name
            """);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("ext", rows.Select(r => r.Ext).ToArray());
        cmd.Parameters.Add(new NpgsqlParameter("internal_id", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = rows.Select(r => r.InternalId).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter("user_name", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = rows.Select(r => r.UserName).ToArray() });
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Adds contacts and their numbers; rows with the same name and company are one contact, and a contact
    /// already stored with that name and company gets the new numbers.</summary>
    /// <returns>Numbers added.</returns>
    public async Task<int> ImportContactsAsync(long enterpriseId, IReadOnlyList<ContactRow> rows, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var added = 0;
        foreach (var group in rows.GroupBy(r => (r.Name, r.Company)))
        {
            await using var cmd = new NpgsqlCommand("""
                WITH found AS (SELECT id FROM ct.contacts WHERE enterprise_id = @e AND name = @n AND company IS NOT DISTINCT FROM @c LIMIT 1),
                     made AS (INSERT INTO ct.contacts (enterprise_id, name, company) SELECT @e, @n, @c WHERE NOT EXISTS (SELECT 1 FROM found) RETURNING id),
                     contact AS (SELECT id FROM found UNION ALL SELECT id FROM made)
                INSERT INTO ct.contact_devices (contact_id, enterprise_id, number_e164, raw)
                SELECT contact.id, @e, d.number, d.raw FROM contact, unnest(@number, @raw) AS d(number, raw)
                ON CONFLICT DO NOTHING
                """, conn, tx);
            cmd.Parameters.AddWithValue("e", enterpriseId);
            cmd.Parameters.AddWithValue("n", group.Key.Name);
            cmd.Parameters.Add(new NpgsqlParameter("c", NpgsqlDbType.Text) { Value = (object?)group.Key.Company ?? DBNull.Value });
            cmd.Parameters.AddWithValue("number", group.Select(r => r.NumberE164).ToArray());
            cmd.Parameters.AddWithValue("raw", group.Select(r => r.Raw).ToArray());
            added += await cmd.ExecuteNonQueryAsync(ct);
        }

        await tx.CommitAsync(ct);
        return added;
    }

    /// <summary>Turns smart routing on or off for a trunk (registering the trunk if new).</summary>
    public async Task SetTrunkAsync(long enterpriseId, string trunk, bool smartEnabled, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            INSERT INTO ct.trunks (enterprise_id, trunk, smart_enabled) VALUES (@e, @t, @on)
            ON CONFLICT (enterprise_id, trunk) DO UPDATE SET smart_enabled = @on
            """);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("t", trunk);
        cmd.Parameters.AddWithValue("on", smartEnabled);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The enterprise's trunks and whether each is smart-enabled, by trunk id.</summary>
    public async Task<IReadOnlyList<(string Trunk, bool SmartEnabled)>> ListTrunksAsync(long enterpriseId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT trunk, smart_enabled FROM ct.trunks WHERE enterprise_id = @e ORDER BY trunk");
        cmd.Parameters.AddWithValue("e", enterpriseId);
        var list = new List<(string, bool)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add((r.GetString(0), r.GetBoolean(1)));
        }

        return list;
    }

    /// <summary>The enterprise's CRM manager → extension map, by manager id.</summary>
    public async Task<IReadOnlyList<(string ManagerId, string Ext)>> ListCrmManagersAsync(long enterpriseId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT crm_manager_id, ext FROM ct.crm_manager_map WHERE enterprise_id = @e ORDER BY crm_manager_id");
        cmd.Parameters.AddWithValue("e", enterpriseId);
        var list = new List<(string, string)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add((r.GetString(0), r.GetString(1)));
        }

        return list;
    }

    /// <summary>Maps a CRM manager id to an extension.</summary>
    public async Task MapCrmManagerAsync(long enterpriseId, string managerId, string ext, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            INSERT INTO ct.crm_manager_map (enterprise_id, crm_manager_id, ext) VALUES (@e, @m, @x)
            ON CONFLICT (enterprise_id, crm_manager_id) DO UPDATE SET ext = @x
            """);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("m", managerId);
        cmd.Parameters.AddWithValue("x", ext);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The enterprise's settings (defaults when it has no row).</summary>
    public async Task<RoutingSettings> GetSettingsAsync(long enterpriseId, CancellationToken ct)
        => (await GetContextAsync(enterpriseId, null, ct)).Settings;

    /// <summary>Settings and whether <paramref name="trunk"/> is smart-enabled, in one round trip.</summary>
    public async Task<(RoutingSettings Settings, bool TrunkEnabled)> GetContextAsync(long enterpriseId, string? trunk, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT " + SettingsColumns + """
            , coalesce((SELECT t.smart_enabled FROM ct.trunks t WHERE t.enterprise_id = @e AND t.trunk = @t), false)
              FROM (SELECT @e AS id) x LEFT JOIN ct.enterprise_settings s ON s.enterprise_id = x.id
            """);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.Add(new NpgsqlParameter("t", NpgsqlDbType.Text) { Value = (object?)trunk ?? DBNull.Value });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        var enabled = r.GetBoolean(10);
        if (r.IsDBNull(0))
        {
            return (RoutingSettings.Defaults, enabled);
        }

        SmartRedirect.TryParseMode(r.GetString(1), out var mode);
        SmartRedirect.TryParseStrategy(r.GetString(2), out var strategy);
        RoutingStrategy? fallback = !r.IsDBNull(3) && SmartRedirect.TryParseStrategy(r.GetString(3), out var f) ? f : null;
        var allow = r.GetFieldValue<string[]>(6).Select(IPNetwork.Parse).ToList();
        var settings = new RoutingSettings(r.GetString(0), mode, strategy, fallback, r.GetInt32(4), r.GetInt32(5), allow,
            r.IsDBNull(7) ? null : r.GetString(7), r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetString(9));
        return (settings, enabled);
    }

    /// <summary>Applies <paramref name="update"/> to the enterprise's settings (creating the row if needed).</summary>
    /// <exception cref="ArgumentException">A value is out of range (see <see cref="RoutingSettingsUpdate.Problem"/>).</exception>
    public async Task<RoutingSettings> UpdateSettingsAsync(long enterpriseId, RoutingSettingsUpdate update, CancellationToken ct)
    {
        if (update.Problem() is { } problem)
        {
            throw new ArgumentException(problem, nameof(update));
        }

        await using (var cmd = db.CreateCommand("""
            INSERT INTO ct.enterprise_settings (enterprise_id) VALUES (@e) ON CONFLICT DO NOTHING;
            UPDATE ct.enterprise_settings SET
                default_region = coalesce(@region, default_region),
                smart_mode = coalesce(@mode, smart_mode),
                strategy = coalesce(@strategy, strategy),
                fallback_strategy = CASE WHEN @set_fallback THEN @fallback ELSE fallback_strategy END,
                lookback_days = coalesce(@lookback, lookback_days),
                budget_ms = coalesce(@budget, budget_ms),
                ip_allowlist = coalesce(@allow::cidr[], ip_allowlist),
                crm_kind = coalesce(@crm_kind, crm_kind),
                crm_url = coalesce(@crm_url, crm_url),
                crm_api_key = coalesce(@crm_key, crm_api_key),
                updated_at = now()
             WHERE enterprise_id = @e
            """))
        {
            cmd.Parameters.AddWithValue("e", enterpriseId);
            Text(cmd, "region", update.DefaultRegion?.ToUpperInvariant());
            Text(cmd, "mode", update.Mode is { } m ? SmartRedirect.Name(m) : null);
            Text(cmd, "strategy", update.Strategy is { } s ? SmartRedirect.Name(s) : null);
            cmd.Parameters.AddWithValue("set_fallback", update.SetFallback);
            Text(cmd, "fallback", update.Fallback is { } f ? SmartRedirect.Name(f) : null);
            cmd.Parameters.Add(new NpgsqlParameter("lookback", NpgsqlDbType.Integer) { Value = (object?)update.LookbackDays ?? DBNull.Value });
            cmd.Parameters.Add(new NpgsqlParameter("budget", NpgsqlDbType.Integer) { Value = (object?)update.BudgetMs ?? DBNull.Value });
            cmd.Parameters.Add(new NpgsqlParameter("allow", NpgsqlDbType.Array | NpgsqlDbType.Text)
            {
                Value = update.IpAllowlist is { } a ? a.Select(n => n.ToString()).ToArray() : DBNull.Value,
            });
            Text(cmd, "crm_kind", update.CrmKind);
            Text(cmd, "crm_url", update.CrmUrl);
            Text(cmd, "crm_key", update.CrmApiKey);
            await cmd.ExecuteNonQueryAsync(ct);
        }

        if (update.DefaultRegion is not null)
        {
            await RenormaliseAsync(enterpriseId, null, ct);
        }

        return await GetSettingsAsync(enterpriseId, ct);
    }

    /// <summary>The name of the enterprise's contact with number <paramref name="e164"/> (the oldest contact wins), or null.</summary>
    public async Task<string?> ContactNameAsync(long enterpriseId, string e164, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            SELECT c.name FROM ct.contact_devices d JOIN ct.contacts c ON c.id = d.contact_id
             WHERE d.enterprise_id = @e AND d.number_e164 = @n ORDER BY c.id LIMIT 1
            """);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("n", e164);
        return await cmd.ExecuteScalarAsync(ct) as string;
    }

    /// <summary>
    /// The extension a call strategy picks for <paramref name="e164"/> within the last <paramref name="lookbackDays"/>:
    /// <see cref="RoutingStrategy.FirstCall"/> = the extension that answered the earliest answered inbound call from the
    /// number; <see cref="RoutingStrategy.LastCall"/> = the extension of the latest answered call with the number (inbound:
    /// who answered; outbound: who dialled). Null when there is none.
    /// </summary>
    public async Task<RoutedExtension?> CallExtensionAsync(long enterpriseId, string e164, RoutingStrategy strategy, int lookbackDays, CancellationToken ct)
    {
        const string first = """
            SELECT c.answered_by AS ext FROM ct.calls c JOIN ct.pbxes p ON p.id = c.pbx
             WHERE c.remote_e164 = @n AND p.enterprise_id = @e AND c.started_at >= now() - make_interval(days => @days)
               AND c.direction = 'inbound' AND c.status = 'answered' AND c.answered_by IS NOT NULL
             ORDER BY c.started_at, c.id LIMIT 1
            """;
        const string last = """
            SELECT CASE c.direction WHEN 'inbound' THEN c.answered_by ELSE c.caller END AS ext FROM ct.calls c JOIN ct.pbxes p ON p.id = c.pbx
             WHERE c.remote_e164 = @n AND p.enterprise_id = @e AND c.started_at >= now() - make_interval(days => @days)
               AND c.status = 'answered' AND CASE c.direction WHEN 'inbound' THEN c.answered_by ELSE c.caller END IS NOT NULL
             ORDER BY c.started_at DESC, c.id DESC LIMIT 1
            """;
        var pick = strategy == RoutingStrategy.FirstCall ? first : last;
        await using var cmd = db.CreateCommand("SELECT x.ext, e.internal_id FROM (" + pick + ") x LEFT JOIN ct.extensions e ON e.enterprise_id = @e AND e.ext = x.ext");
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("n", e164);
        cmd.Parameters.AddWithValue("days", lookbackDays);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? new RoutedExtension(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1)) : null;
    }

    /// <summary>The extension CRM manager <paramref name="managerId"/> is mapped to, or null.</summary>
    public async Task<RoutedExtension?> ManagerExtensionAsync(long enterpriseId, string managerId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            SELECT m.ext, e.internal_id FROM ct.crm_manager_map m LEFT JOIN ct.extensions e ON e.enterprise_id = m.enterprise_id AND e.ext = m.ext
             WHERE m.enterprise_id = @e AND m.crm_manager_id = @m
            """);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("m", managerId);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? new RoutedExtension(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1)) : null;
    }

    /// <summary>Writes decision-log rows in one statement.</summary>
    public async Task InsertDecisionsAsync(IReadOnlyList<RoutingDecision> rows, CancellationToken ct)
    {
        if (rows.Count == 0)
        {
            return;
        }

        await using var cmd = db.CreateCommand("""
            INSERT INTO ct.routing_decisions (enterprise_id, at, unique_id, phone, phone_e164, trunk, load_dial_plan, mode, strategy,
                                              outcome, reason, name, dial_plan, latency_ms)
            SELECT * FROM unnest(@e, @at, @uid, @phone, @e164, @trunk, @load, @mode, @strategy, @outcome, @reason, @name, @dial, @ms)
            """);
        cmd.Parameters.AddWithValue("e", rows.Select(r => r.EnterpriseId).ToArray());
        cmd.Parameters.Add(new NpgsqlParameter("at", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = rows.Select(r => r.At.UtcDateTime).ToArray() });
        Texts(cmd, "uid", rows.Select(r => r.UniqueId));
        Texts(cmd, "phone", rows.Select(r => r.Phone));
        Texts(cmd, "e164", rows.Select(r => r.PhoneE164));
        Texts(cmd, "trunk", rows.Select(r => r.Trunk));
        cmd.Parameters.AddWithValue("load", rows.Select(r => r.LoadDialPlan).ToArray());
        Texts(cmd, "mode", rows.Select(r => r.Mode));
        Texts(cmd, "strategy", rows.Select(r => r.Strategy));
        Texts(cmd, "outcome", rows.Select(r => r.Outcome));
        Texts(cmd, "reason", rows.Select(r => r.Reason));
        Texts(cmd, "name", rows.Select(r => r.Name));
        Texts(cmd, "dial", rows.Select(r => r.DialPlan));
        cmd.Parameters.AddWithValue("ms", rows.Select(r => (float)r.LatencyMs).ToArray());
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Decision-log figures of the enterprise since <paramref name="since"/>.</summary>
    public async Task<RoutingStats> StatsAsync(long enterpriseId, DateTimeOffset since, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            SELECT outcome, count(*) FROM ct.routing_decisions WHERE enterprise_id = @e AND at >= @since GROUP BY outcome;
            SELECT coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms), 0),
                   coalesce(percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms), 0),
                   coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms), 0)
              FROM ct.routing_decisions WHERE enterprise_id = @e AND at >= @since;
            """);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("since", since.UtcDateTime);
        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            counts[r.GetString(0)] = r.GetInt64(1);
        }

        await r.NextResultAsync(ct);
        await r.ReadAsync(ct);
        var total = counts.Values.Sum();
        var errors = counts.GetValueOrDefault("timeout") + counts.GetValueOrDefault("error");
        return new RoutingStats(total, counts, Math.Round(r.GetDouble(0), 2), Math.Round(r.GetDouble(1), 2), Math.Round(r.GetDouble(2), 2), errors);
    }

    private static void Text(NpgsqlCommand cmd, string name, string? value)
        => cmd.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Text) { Value = (object?)value ?? DBNull.Value });

    private static void Texts(NpgsqlCommand cmd, string name, IEnumerable<string?> values)
        => cmd.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = values.ToArray() });
}
