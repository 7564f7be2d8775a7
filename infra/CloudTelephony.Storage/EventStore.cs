using Npgsql;
using NpgsqlTypes;

namespace CloudTelephony.Storage;

/// <summary>The enterprise a PBX is filed under, as the live events name it.</summary>
/// <param name="Id">Enterprise id.</param>
/// <param name="Name">Enterprise name (the CloudEvent attribute <c>enterprise</c>).</param>
/// <param name="Region">Default region for phone numbers (ISO 3166 alpha-2).</param>
public sealed record EventEnterprise(long Id, string Name, string Region);

/// <summary>A CloudEvent to write to the outbox.</summary>
/// <param name="EventId">The CloudEvent id (deterministic).</param>
/// <param name="EnterpriseId">The PBX's enterprise.</param>
/// <param name="Pbx">PBX id.</param>
/// <param name="CallKey">Call key (the CloudEvent subject).</param>
/// <param name="Type">CloudEvent type, e.g. <c>call.ringing</c>.</param>
/// <param name="CallSeq">The change's ordinal within its call.</param>
/// <param name="OccurredAt">The CloudEvent time (UTC).</param>
/// <param name="Body">The CloudEvent in JSON structured mode.</param>
public sealed record OutboxEvent(string EventId, long EnterpriseId, string Pbx, string CallKey, string Type, int CallSeq, DateTimeOffset OccurredAt, string Body);

/// <summary>A sequenced event as the sinks read it.</summary>
/// <param name="Position">Commit-order position (the SSE id, the sinks' cursor).</param>
/// <param name="EventId">CloudEvent id.</param>
/// <param name="EnterpriseId">Enterprise id.</param>
/// <param name="Enterprise">Enterprise name.</param>
/// <param name="Type">CloudEvent type.</param>
/// <param name="Pbx">PBX id.</param>
/// <param name="CallKey">Call key.</param>
/// <param name="CreatedAt">When the ingest transaction wrote it (UTC).</param>
/// <param name="Body">The CloudEvent JSON.</param>
public sealed record SequencedEvent(long Position, string EventId, long EnterpriseId, string Enterprise, string Type, string Pbx, string CallKey, DateTimeOffset CreatedAt, string Body);

/// <summary>A call in progress as stored by the live-events handler.</summary>
/// <param name="Pbx">PBX id.</param>
/// <param name="CallKey">Call key.</param>
/// <param name="State">The handler's JSON of the live call.</param>
/// <param name="StartedAt">When the call started (UTC).</param>
/// <param name="EndedAt">When it ended (UTC; the row stays until the call completes), or null.</param>
public sealed record LiveCallRow(string Pbx, string CallKey, string State, DateTimeOffset StartedAt, DateTimeOffset? EndedAt);

/// <summary>A webhook of an enterprise.</summary>
/// <param name="Id">Webhook id.</param>
/// <param name="EnterpriseId">Enterprise id.</param>
/// <param name="Enterprise">Enterprise name.</param>
/// <param name="Url">Where the events are POSTed.</param>
/// <param name="Types">Event types delivered; null = all.</param>
/// <param name="SecretEncrypted">The signing secret, encrypted (never shown again).</param>
/// <param name="Enabled">False once disabled.</param>
/// <param name="DisabledReason">Why it was disabled.</param>
/// <param name="ConsecutiveFailures">Failed deliveries since the last success.</param>
/// <param name="Position">Last event position delivered or passed over.</param>
/// <param name="Delivered">Events delivered in total.</param>
/// <param name="LastSuccessAt">Last successful delivery (UTC).</param>
/// <param name="LastFailureAt">Last failed delivery (UTC).</param>
/// <param name="LastError">The last failure's reason.</param>
/// <param name="CreatedAt">When it was added (UTC).</param>
public sealed record Webhook(
    long Id, long EnterpriseId, string Enterprise, string Url, IReadOnlyList<string>? Types, string SecretEncrypted, bool Enabled,
    string? DisabledReason, int ConsecutiveFailures, long Position, long Delivered, DateTimeOffset? LastSuccessAt,
    DateTimeOffset? LastFailureAt, string? LastError, DateTimeOffset CreatedAt);

/// <summary>
/// SQL of the live call events (migrations 0011 and 0014): the outbox <c>ct.call_events_out</c> written in the ingest
/// transaction, its sequencing into commit order (<c>ct.call_event_positions</c>), the calls in progress
/// (<c>ct.live_calls</c>), webhooks and sink cursors.
/// </summary>
public static class EventStore
{
    /// <summary>The enterprise of <paramref name="pbx"/>, or null when the PBX is unknown.</summary>
    public static async Task<EventEnterprise?> EnterpriseOfAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string pbx, CancellationToken ct)
    {
        const string sql = """
            SELECT e.id, e.name, coalesce(s.default_region, 'PL')
              FROM ct.pbxes p JOIN ct.enterprises e ON e.id = p.enterprise_id
              LEFT JOIN ct.enterprise_settings s ON s.enterprise_id = e.id
             WHERE p.id = @pbx
            """;
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("pbx", pbx);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? new EventEnterprise(reader.GetInt64(0), reader.GetString(1), reader.GetString(2)) : null;
    }

    /// <summary>Contact names of the enterprise by E.164 number (the oldest contact wins, as in call listings).</summary>
    public static async Task<Dictionary<string, string>> ContactNamesAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, long enterpriseId, IReadOnlyCollection<string> numbers, CancellationToken ct)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        if (numbers.Count == 0)
        {
            return names;
        }

        const string sql = """
            SELECT DISTINCT ON (d.number_e164) d.number_e164, k.name
              FROM ct.contact_devices d JOIN ct.contacts k ON k.id = d.contact_id
             WHERE d.enterprise_id = @enterprise AND d.number_e164 = ANY(@numbers)
             ORDER BY d.number_e164, k.id
            """;
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("enterprise", enterpriseId);
        cmd.Parameters.AddWithValue("numbers", numbers.ToArray());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            names[reader.GetString(0)] = reader.GetString(1);
        }

        return names;
    }

    /// <summary>The live calls of <paramref name="pbx"/> with these keys (state JSON by key).</summary>
    public static async Task<Dictionary<string, string>> LiveCallsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, IReadOnlyCollection<string> keys, CancellationToken ct)
    {
        var rows = new Dictionary<string, string>(StringComparer.Ordinal);
        await using var cmd = new NpgsqlCommand("SELECT call_key, state FROM ct.live_calls WHERE pbx = @pbx AND call_key = ANY(@keys)", conn, tx);
        cmd.Parameters.AddWithValue("pbx", pbx);
        cmd.Parameters.AddWithValue("keys", keys.ToArray());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            rows[reader.GetString(0)] = reader.GetString(1);
        }

        return rows;
    }

    /// <summary>Writes the live calls a batch changed and removes those that completed, in one round trip.</summary>
    public static async Task SaveLiveCallsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, IReadOnlyList<LiveCallRow> upserts, IReadOnlyList<string> deletes, CancellationToken ct)
    {
        if (upserts.Count == 0 && deletes.Count == 0)
        {
            return;
        }

        await using var batch = new NpgsqlBatch(conn, tx);
        if (deletes.Count > 0)
        {
            var delete = new NpgsqlBatchCommand("DELETE FROM ct.live_calls WHERE pbx = @pbx AND call_key = ANY(@keys)");
            delete.Parameters.AddWithValue("pbx", pbx);
            delete.Parameters.AddWithValue("keys", deletes.ToArray());
            batch.BatchCommands.Add(delete);
        }

        if (upserts.Count > 0)
        {
            var upsert = new NpgsqlBatchCommand("""
                INSERT INTO ct.live_calls (pbx, call_key, state, started_at, ended_at)
                SELECT @pbx, u.key, u.state, u.started_at, u.ended_at
                  FROM unnest(@keys, @states, @started, @ended) AS u(key, state, started_at, ended_at)
                ON CONFLICT (pbx, call_key) DO UPDATE SET state = EXCLUDED.state, started_at = EXCLUDED.started_at,
                   ended_at = EXCLUDED.ended_at, updated_at = now()
                """);
            upsert.Parameters.AddWithValue("pbx", pbx);
            upsert.Parameters.AddWithValue("keys", upserts.Select(u => u.CallKey).ToArray());
            upsert.Parameters.AddWithValue("states", upserts.Select(u => u.State).ToArray());
            upsert.Parameters.Add(new NpgsqlParameter("started", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = upserts.Select(u => u.StartedAt.UtcDateTime).ToArray() });
            upsert.Parameters.Add(new NpgsqlParameter("ended", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = upserts.Select(u => u.EndedAt is { } e ? (DateTime?)e.UtcDateTime : null).ToArray() });
            batch.BatchCommands.Add(upsert);
        }

        await batch.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The calls in progress on the enterprise's PBXes, oldest first.</summary>
    public static async Task<List<LiveCallRow>> ActiveCallsAsync(NpgsqlDataSource db, long enterpriseId, CancellationToken ct)
    {
        const string sql = """
            SELECT l.pbx, l.call_key, l.state, l.started_at, l.ended_at
              FROM ct.live_calls l JOIN ct.pbxes p ON p.id = l.pbx
             WHERE p.enterprise_id = @enterprise
             ORDER BY l.started_at, l.pbx, l.call_key
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("enterprise", enterpriseId);
        var rows = new List<LiveCallRow>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            rows.Add(new LiveCallRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), Utc(reader, 3)!.Value, Utc(reader, 4)));
        }

        return rows;
    }

    /// <summary>Inserts events; an event id already in the outbox (a replayed batch) is left alone.</summary>
    /// <returns>The outbox ids of the rows inserted now.</returns>
    public static async Task<List<long>> InsertAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyList<OutboxEvent> events, CancellationToken ct)
    {
        var ids = new List<long>();
        if (events.Count == 0)
        {
            return ids;
        }

        const string sql = """
            INSERT INTO ct.call_events_out (event_id, enterprise_id, pbx, call_key, type, call_seq, occurred_at, body)
            SELECT e.event_id, e.enterprise_id, e.pbx, e.call_key, e.type, e.call_seq, e.occurred_at, e.body
              FROM unnest(@event_id, @enterprise_id, @pbx, @call_key, @type, @call_seq, @occurred_at, @body, @ord)
                   AS e(event_id, enterprise_id, pbx, call_key, type, call_seq, occurred_at, body, ord)
             ORDER BY e.ord
            ON CONFLICT (event_id) DO NOTHING
            RETURNING id
            """;
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("event_id", events.Select(e => e.EventId).ToArray());
        cmd.Parameters.AddWithValue("enterprise_id", events.Select(e => e.EnterpriseId).ToArray());
        cmd.Parameters.AddWithValue("pbx", events.Select(e => e.Pbx).ToArray());
        cmd.Parameters.AddWithValue("call_key", events.Select(e => e.CallKey).ToArray());
        cmd.Parameters.AddWithValue("type", events.Select(e => e.Type).ToArray());
        cmd.Parameters.AddWithValue("call_seq", events.Select(e => e.CallSeq).ToArray());
        cmd.Parameters.Add(new NpgsqlParameter("occurred_at", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = events.Select(e => e.OccurredAt.UtcDateTime).ToArray() });
        cmd.Parameters.AddWithValue("body", events.Select(e => e.Body).ToArray());
        cmd.Parameters.AddWithValue("ord", Enumerable.Range(0, events.Count).ToArray());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    /// <summary>
    /// Gives positions, in commit order, to outbox rows whose transaction is older than every transaction still running
    /// (so no row that commits later can get a smaller position than one already handed out): appends them to
    /// <c>ct.call_event_positions</c> after the newest position's (written_xid, event), in (written_xid, id) order
    /// (migration 0014). One sequencer at a time (transaction advisory lock; a second caller returns 0 at once).
    /// </summary>
    /// <returns>How many rows got a position.</returns>
    public static async Task<int> SequenceAsync(NpgsqlDataSource db, int limit, CancellationToken ct)
    {
        // the lock first, in a statement of its own: the UPDATE's snapshot is then taken after the previous sequencer
        // committed, so it sees every position handed out before
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var lockCmd = new NpgsqlCommand("SELECT pg_try_advisory_xact_lock(hashtext('ct.call_events_out.sequence'))", conn, tx))
        {
            if (await lockCmd.ExecuteScalarAsync(ct) is not true)
            {
                return 0;
            }
        }

        const string sql = """
            WITH last AS (SELECT position, written_xid, event FROM ct.call_event_positions ORDER BY position DESC LIMIT 1),
                 due AS (
                   SELECT o.id, o.written_xid, o.enterprise_id, row_number() OVER (ORDER BY o.written_xid, o.id) AS n
                     FROM ct.call_events_out o
                    WHERE (o.written_xid, o.id) > (coalesce((SELECT written_xid FROM last), '0'::xid8), coalesce((SELECT event FROM last), 0))
                      AND o.written_xid < pg_snapshot_xmin(pg_current_snapshot())
                    ORDER BY o.written_xid, o.id
                    LIMIT @limit)
            INSERT INTO ct.call_event_positions (position, event, written_xid, enterprise_id)
            SELECT coalesce((SELECT position FROM last), 0) + due.n, due.id, due.written_xid, due.enterprise_id FROM due
            """;
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("limit", limit);
        var n = await cmd.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
        return n;
    }

    /// <summary>Whether outbox rows wait for a position (written, or still being written, after the newest one).</summary>
    public static async Task<bool> PendingAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        // the first row after the newest position, in index order (call_events_out_order): an EXISTS here drops the ORDER
        // BY and LIMIT, and the planner scanned the whole outbox on every dispatcher round (74 ms at 140,000 rows)
        await using var cmd = db.CreateCommand("""
            WITH last AS (SELECT written_xid, event FROM ct.call_event_positions ORDER BY position DESC LIMIT 1)
            SELECT (SELECT o.id FROM ct.call_events_out o
                     WHERE (o.written_xid, o.id) > (coalesce((SELECT written_xid FROM last), '0'::xid8), coalesce((SELECT event FROM last), 0))
                     ORDER BY o.written_xid, o.id
                     LIMIT 1) IS NOT NULL
            """);
        return await cmd.ExecuteScalarAsync(ct) is true;
    }

    /// <summary>Sequenced events after <paramref name="after"/> in position order, of one enterprise (null = all) and of
    /// the given types (null = all).</summary>
    public static async Task<List<SequencedEvent>> ReadAsync(NpgsqlDataSource db, long? enterpriseId, long after, IReadOnlyList<string>? types, int limit, CancellationToken ct)
    {
        const string sql = """
            SELECT q.position, o.event_id, o.enterprise_id, e.name, o.type, o.pbx, o.call_key, o.created_at, o.body
              FROM ct.call_event_positions q
              JOIN ct.call_events_out o ON o.id = q.event
              JOIN ct.enterprises e ON e.id = o.enterprise_id
             WHERE q.position > @after AND (@enterprise::bigint IS NULL OR q.enterprise_id = @enterprise)
               AND (@types::text[] IS NULL OR o.type = ANY(@types))
             ORDER BY q.position
             LIMIT @limit
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("after", after);
        cmd.Parameters.Add(new NpgsqlParameter("enterprise", NpgsqlDbType.Bigint) { Value = (object?)enterpriseId ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("types", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = (object?)types?.ToArray() ?? DBNull.Value });
        cmd.Parameters.AddWithValue("limit", limit);
        var rows = new List<SequencedEvent>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            rows.Add(new SequencedEvent(reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3), reader.GetString(4),
                reader.GetString(5), reader.GetString(6), Utc(reader, 7)!.Value, reader.GetString(8)));
        }

        return rows;
    }

    /// <summary>The highest position handed out so far (0 when none).</summary>
    public static async Task<long> TopAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT coalesce(max(position), 0) FROM ct.call_event_positions");
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Deletes sequenced events written before <paramref name="before"/> (the retention window), with their
    /// positions; the newest position stays (the sequencer continues after it).</summary>
    /// <returns>Rows deleted.</returns>
    public static async Task<int> PruneAsync(NpgsqlDataSource db, DateTimeOffset before, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            WITH gone AS (
              DELETE FROM ct.call_event_positions q USING ct.call_events_out o
               WHERE o.id = q.event AND o.created_at < @before
                 AND q.position < (SELECT max(position) FROM ct.call_event_positions)
              RETURNING q.event)
            DELETE FROM ct.call_events_out o USING gone WHERE o.id = gone.event
            """);
        cmd.Parameters.AddWithValue("before", before.UtcDateTime);
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>A sink's cursor (0 when it has none yet).</summary>
    public static async Task<long> CursorAsync(NpgsqlDataSource db, string name, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT position FROM ct.event_cursors WHERE name = @name");
        cmd.Parameters.AddWithValue("name", name);
        return await cmd.ExecuteScalarAsync(ct) is long p ? p : 0;
    }

    /// <summary>Moves a sink's cursor forward (never back).</summary>
    public static async Task SetCursorAsync(NpgsqlDataSource db, string name, long position, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            INSERT INTO ct.event_cursors (name, position) VALUES (@name, @position)
            ON CONFLICT (name) DO UPDATE SET position = greatest(ct.event_cursors.position, EXCLUDED.position), updated_at = now()
            """);
        cmd.Parameters.AddWithValue("name", name);
        cmd.Parameters.AddWithValue("position", position);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private const string WebhookColumns = """
        w.id, w.enterprise_id, e.name, w.url, w.types, w.secret_enc, w.enabled, w.disabled_reason, w.consecutive_failures,
        w.position, w.delivered, w.last_success_at, w.last_failure_at, w.last_error, w.created_at
        """;

    /// <summary>Adds a webhook to the enterprise named <paramref name="enterprise"/>; it receives events sequenced from now on.</summary>
    /// <exception cref="InvalidOperationException">No such enterprise.</exception>
    public static async Task<Webhook> AddWebhookAsync(NpgsqlDataSource db, string enterprise, string url, IReadOnlyList<string>? types, string secretEncrypted, CancellationToken ct)
    {
        const string sql = """
            WITH w AS (
              INSERT INTO ct.webhooks (enterprise_id, url, types, secret_enc, position)
              SELECT e.id, @url, @types, @secret, (SELECT coalesce(max(position), 0) FROM ct.call_event_positions)
                FROM ct.enterprises e WHERE e.name = @enterprise
              RETURNING id)
            SELECT id FROM w
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("enterprise", enterprise);
        cmd.Parameters.AddWithValue("url", url);
        cmd.Parameters.Add(new NpgsqlParameter("types", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = (object?)types?.ToArray() ?? DBNull.Value });
        cmd.Parameters.AddWithValue("secret", secretEncrypted);
        var id = await cmd.ExecuteScalarAsync(ct) as long? ?? throw new InvalidOperationException($"no enterprise named '{enterprise}'");
        return (await WebhookAsync(db, id, ct))!;
    }

    /// <summary>One webhook, or null.</summary>
    public static async Task<Webhook?> WebhookAsync(NpgsqlDataSource db, long id, CancellationToken ct)
        => (await WebhooksAsync(db, null, ct, id)).FirstOrDefault();

    /// <summary>Webhooks of one enterprise (null = all), by id.</summary>
    public static async Task<List<Webhook>> WebhooksAsync(NpgsqlDataSource db, long? enterpriseId, CancellationToken ct, long? id = null, bool enabledOnly = false)
    {
        var sql = "SELECT " + WebhookColumns + """
             FROM ct.webhooks w JOIN ct.enterprises e ON e.id = w.enterprise_id
            WHERE (@enterprise::bigint IS NULL OR w.enterprise_id = @enterprise) AND (@id::bigint IS NULL OR w.id = @id)
              AND (NOT @enabled_only OR w.enabled)
            ORDER BY w.id
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.Add(new NpgsqlParameter("enterprise", NpgsqlDbType.Bigint) { Value = (object?)enterpriseId ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("id", NpgsqlDbType.Bigint) { Value = (object?)id ?? DBNull.Value });
        cmd.Parameters.AddWithValue("enabled_only", enabledOnly);
        var hooks = new List<Webhook>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            hooks.Add(new Webhook(
                reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2), reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<string[]>(4), reader.GetString(5), reader.GetBoolean(6),
                reader.IsDBNull(7) ? null : reader.GetString(7), reader.GetInt32(8), reader.GetInt64(9), reader.GetInt64(10),
                Utc(reader, 11), Utc(reader, 12), reader.IsDBNull(13) ? null : reader.GetString(13), Utc(reader, 14)!.Value));
        }

        return hooks;
    }

    /// <summary>Deletes a webhook.</summary>
    /// <returns>False when there was no such webhook.</returns>
    public static async Task<bool> RemoveWebhookAsync(NpgsqlDataSource db, long id, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("DELETE FROM ct.webhooks WHERE id = @id");
        cmd.Parameters.AddWithValue("id", id);
        return await cmd.ExecuteNonQueryAsync(ct) > 0;
    }

    /// <summary>Takes the delivery lease of an enabled webhook for <paramref name="lease"/> (one deliverer at a time across
    /// instances); false when another holds it or it is disabled.</summary>
    public static async Task<bool> LeaseWebhookAsync(NpgsqlDataSource db, long id, TimeSpan lease, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            UPDATE ct.webhooks SET lease_until = now() + @lease
             WHERE id = @id AND enabled AND (lease_until IS NULL OR lease_until < now())
            """);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("lease", lease);
        return await cmd.ExecuteNonQueryAsync(ct) > 0;
    }

    /// <summary>Records deliveries up to <paramref name="position"/> (<paramref name="delivered"/> of them POSTed, the rest
    /// of other types) and releases the lease; a success resets the failure count.</summary>
    public static async Task WebhookDeliveredAsync(NpgsqlDataSource db, long id, long position, int delivered, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            UPDATE ct.webhooks SET position = greatest(position, @position), delivered = delivered + @delivered,
                   consecutive_failures = CASE WHEN @delivered > 0 THEN 0 ELSE consecutive_failures END,
                   last_success_at = CASE WHEN @delivered > 0 THEN now() ELSE last_success_at END,
                   lease_until = NULL
             WHERE id = @id
            """);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("position", position);
        cmd.Parameters.AddWithValue("delivered", delivered);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Records a failed delivery and releases the lease; the webhook is disabled with the reason once it failed
    /// <paramref name="maxFailures"/> times in a row.</summary>
    /// <returns>True when this failure disabled it.</returns>
    public static async Task<bool> WebhookFailedAsync(NpgsqlDataSource db, long id, string error, int maxFailures, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            UPDATE ct.webhooks SET consecutive_failures = consecutive_failures + 1, last_failure_at = now(), last_error = @error,
                   enabled = consecutive_failures + 1 < @max,
                   disabled_reason = CASE WHEN consecutive_failures + 1 >= @max
                       THEN (consecutive_failures + 1) || ' consecutive failed deliveries; last: ' || @error ELSE NULL END,
                   lease_until = NULL
             WHERE id = @id
            RETURNING NOT enabled
            """);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("error", error);
        cmd.Parameters.AddWithValue("max", maxFailures);
        return await cmd.ExecuteScalarAsync(ct) is true;
    }

    /// <summary>Enables a webhook again (failures reset; delivery continues where it stopped).</summary>
    /// <returns>False when there was no such webhook.</returns>
    public static async Task<bool> EnableWebhookAsync(NpgsqlDataSource db, long id, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            UPDATE ct.webhooks SET enabled = true, disabled_reason = NULL, consecutive_failures = 0, lease_until = NULL WHERE id = @id
            """);
        cmd.Parameters.AddWithValue("id", id);
        return await cmd.ExecuteNonQueryAsync(ct) > 0;
    }

    private static DateTimeOffset? Utc(NpgsqlDataReader r, int i)
        => r.IsDBNull(i) ? null : new DateTimeOffset(DateTime.SpecifyKind(r.GetDateTime(i), DateTimeKind.Utc));
}
