using CloudTelephony.Contracts;
using Npgsql;
using NpgsqlTypes;

namespace CloudTelephony.Storage;

/// <summary>A relay as its last heartbeat described it.</summary>
/// <param name="RelayId">Relay name.</param>
/// <param name="Version">Relay version.</param>
/// <param name="LastSeenAt">When its newest heartbeat arrived (UTC).</param>
/// <param name="FramesSent">Frames it had delivered since it started.</param>
/// <param name="OutboxDepth">Frames waiting in its outbox.</param>
/// <param name="OutboxOldestAt">Oldest waiting frame's receive time, or null.</param>
/// <param name="OutboxAtCap">Its outbox was full (alarm).</param>
/// <param name="Pbxes">The PBX connections it reported.</param>
/// <param name="DeadLetters">Envelopes the receiver refused with "do not retry" (HTTP 400/413/422) that the relay set
/// aside in its outbox's dead-letter table (0 when none, or from a relay that does not report them).</param>
/// <param name="DeadLetterOldestAt">When the oldest of them was set aside (UTC), or null.</param>
public sealed record RelayStatusRow(
    string RelayId,
    string Version,
    DateTimeOffset LastSeenAt,
    long FramesSent,
    long OutboxDepth,
    DateTimeOffset? OutboxOldestAt,
    bool OutboxAtCap,
    IReadOnlyList<PbxHeartbeat> Pbxes,
    long DeadLetters = 0,
    DateTimeOffset? DeadLetterOldestAt = null);

/// <summary>Stores relay heartbeats (<c>ct.relays</c>, <c>ct.pbx_status</c>) and reads them for <c>/api/health</c>.</summary>
public sealed class HeartbeatStore(NpgsqlDataSource db)
{
    /// <summary>Upserts <paramref name="heartbeats"/> in one transaction (an older heartbeat never overwrites a newer one).</summary>
    /// <exception cref="NpgsqlException">The database failed; nothing was stored.</exception>
    public async Task SaveAsync(IReadOnlyList<RelayHeartbeat> heartbeats, DateTimeOffset receivedAt, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(heartbeats);
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        foreach (var h in heartbeats.OrderBy(h => h.SentAt))
        {
            await using (var relay = new NpgsqlCommand(
                """
                INSERT INTO ct.relays (relay_id, version, last_seen_at, sent_at, frames_sent, outbox_depth, outbox_oldest_at, outbox_at_cap,
                                       dead_letters, dead_letter_oldest_at)
                VALUES (@id, @version, @seen, @sent, @frames, @depth, @oldest, @cap, @dead, @deadOldest)
                ON CONFLICT (relay_id) DO UPDATE SET version = excluded.version, last_seen_at = excluded.last_seen_at, sent_at = excluded.sent_at,
                    frames_sent = excluded.frames_sent, outbox_depth = excluded.outbox_depth, outbox_oldest_at = excluded.outbox_oldest_at,
                    outbox_at_cap = excluded.outbox_at_cap, dead_letters = excluded.dead_letters, dead_letter_oldest_at = excluded.dead_letter_oldest_at
                 WHERE ct.relays.sent_at <= excluded.sent_at
                """,
                conn,
                tx))
            {
                relay.Parameters.AddWithValue("id", Text(h.RelayId));
                relay.Parameters.AddWithValue("version", Text(h.Version));
                relay.Parameters.AddWithValue("seen", receivedAt.UtcDateTime);
                relay.Parameters.AddWithValue("sent", h.SentAt.UtcDateTime);
                relay.Parameters.AddWithValue("frames", h.FramesSent);
                relay.Parameters.AddWithValue("depth", h.OutboxDepth);
                relay.Parameters.Add(new NpgsqlParameter("oldest", NpgsqlDbType.TimestampTz) { Value = (object?)h.OutboxOldestAt?.UtcDateTime ?? DBNull.Value });
                relay.Parameters.AddWithValue("cap", h.OutboxAtCap);
                relay.Parameters.AddWithValue("dead", Math.Max(0, h.DeadLetters));
                relay.Parameters.Add(new NpgsqlParameter("deadOldest", NpgsqlDbType.TimestampTz) { Value = (object?)h.DeadLetterOldestAt?.UtcDateTime ?? DBNull.Value });
                if (await relay.ExecuteNonQueryAsync(ct) == 0)
                {
                    continue; // an older heartbeat arriving late
                }
            }

            await using (var clear = new NpgsqlCommand("DELETE FROM ct.pbx_status WHERE relay_id = @id", conn, tx))
            {
                clear.Parameters.AddWithValue("id", Text(h.RelayId));
                await clear.ExecuteNonQueryAsync(ct);
            }

            foreach (var p in h.Pbxes)
            {
                await using var pbx = new NpgsqlCommand(
                    """
                    INSERT INTO ct.pbx_status (relay_id, pbx, state, since, last_frame_at, frames_received, updated_at)
                    VALUES (@id, @pbx, @state, @since, @last, @frames, @at)
                    """,
                    conn,
                    tx);
                pbx.Parameters.AddWithValue("id", Text(h.RelayId));
                pbx.Parameters.AddWithValue("pbx", Text(p.Pbx));
                pbx.Parameters.AddWithValue("state", Text(p.State));
                pbx.Parameters.AddWithValue("since", p.Since.UtcDateTime);
                pbx.Parameters.Add(new NpgsqlParameter("last", NpgsqlDbType.TimestampTz) { Value = (object?)p.LastFrameAt?.UtcDateTime ?? DBNull.Value });
                pbx.Parameters.AddWithValue("frames", p.FramesReceived);
                pbx.Parameters.AddWithValue("at", h.SentAt.UtcDateTime);
                await pbx.ExecuteNonQueryAsync(ct);
            }
        }

        await tx.CommitAsync(ct);
    }

    /// <summary>Every relay with its PBX states, ordered by id.</summary>
    public async Task<IReadOnlyList<RelayStatusRow>> RelaysAsync(CancellationToken ct)
    {
        var pbxes = new Dictionary<string, List<PbxHeartbeat>>(StringComparer.Ordinal);
        await using (var cmd = db.CreateCommand("SELECT relay_id, pbx, state, since, last_frame_at, frames_received FROM ct.pbx_status ORDER BY relay_id, pbx"))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                var id = r.GetString(0);
                if (!pbxes.TryGetValue(id, out var list))
                {
                    pbxes[id] = list = [];
                }

                list.Add(new PbxHeartbeat(r.GetString(1), r.GetString(2), Utc(r.GetDateTime(3)), r.IsDBNull(4) ? null : Utc(r.GetDateTime(4)), r.GetInt64(5)));
            }
        }

        var rows = new List<RelayStatusRow>();
        await using (var cmd = db.CreateCommand("SELECT relay_id, version, last_seen_at, frames_sent, outbox_depth, outbox_oldest_at, outbox_at_cap, dead_letters, dead_letter_oldest_at FROM ct.relays ORDER BY relay_id"))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                var id = r.GetString(0);
                rows.Add(new RelayStatusRow(
                    id, r.GetString(1), Utc(r.GetDateTime(2)), r.GetInt64(3), r.GetInt64(4), r.IsDBNull(5) ? null : Utc(r.GetDateTime(5)), r.GetBoolean(6),
                    pbxes.TryGetValue(id, out var list) ? list : [], r.GetInt64(7), r.IsDBNull(8) ? null : Utc(r.GetDateTime(8))));
            }
        }

        return rows;
    }

    /// <summary>Forgets relay <paramref name="relayId"/> (a retired relay): its row and the PBX states it reported. A
    /// relay that is still running comes back with its next heartbeat.</summary>
    /// <returns>False when no such relay is stored.</returns>
    public async Task<bool> ForgetAsync(string relayId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("DELETE FROM ct.relays WHERE relay_id = @id");
        cmd.Parameters.AddWithValue("id", relayId);
        return await cmd.ExecuteNonQueryAsync(ct) > 0;
    }

    /// <summary>A heartbeat's text as PostgreSQL can hold it: NUL (from a relay that is not ours) written as <c>\x00</c>,
    /// so one bad state line cannot make every heartbeat of a relay fail.</summary>
    private static string Text(string? s) => (s ?? "").Replace("\0", "\\x00", StringComparison.Ordinal);

    private static DateTimeOffset Utc(DateTime t) => new(DateTime.SpecifyKind(t, DateTimeKind.Utc));
}
