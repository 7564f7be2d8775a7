using CloudTelephony.Telephony.Streams;
using Npgsql;
using NpgsqlTypes;

namespace CloudTelephony.Storage;

/// <summary>A PBX stream's saved state as a batch finds it (row locked).</summary>
/// <param name="Pbx">PBX id.</param>
/// <param name="Protocol">The PBX's registered protocol (<c>ct.pbxes.protocol</c>): the stream's interpreter.</param>
/// <param name="TimeZone">The PBX's IANA time zone.</param>
/// <param name="State">The stream-level document (format 2), a format-1 document of an older release, or null for a new stream.</param>
/// <param name="Version">Incremented by every committed batch of the stream; a cached engine saved at this version is current.</param>
public sealed record StoredStream(string Pbx, string Protocol, string TimeZone, string? State, long Version);

/// <summary>
/// The correlation state of PBX streams (migration 0009): <c>ct.correlator_state</c> holds each stream's small
/// stream-level document, counters and version; <c>ct.open_calls</c> one row per open call. Every method works in the
/// caller's transaction; a batch locks its PBX's row (<see cref="LockAsync"/>) so one PBX's batches apply one at a time,
/// and writes only what changed (<see cref="SaveAsync"/>).
/// </summary>
public static class StreamStore
{
    /// <summary>Registers <paramref name="pbx"/> under the <c>default</c> enterprise with <paramref name="protocol"/> if it
    /// is new (and a protocol is given), creates its (empty) state row and locks that row until the transaction ends.</summary>
    /// <exception cref="InvalidOperationException">The PBX is not registered and could not be (no protocol given, or no
    /// <c>default</c> enterprise).</exception>
    public static async Task<StoredStream> LockAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, string? protocol, CancellationToken ct)
    {
        const string sql = """
            INSERT INTO ct.pbxes (id, enterprise_id, protocol)
            SELECT @pbx, e.id, @protocol FROM ct.enterprises e WHERE e.name = 'default' AND @protocol IS NOT NULL
            ON CONFLICT (id) DO NOTHING;
            INSERT INTO ct.correlator_state (pbx, state) SELECT @pbx, '' WHERE EXISTS (SELECT 1 FROM ct.pbxes WHERE id = @pbx)
            ON CONFLICT (pbx) DO NOTHING;
            SELECT s.state, s.version, p.time_zone, p.protocol FROM ct.correlator_state s JOIN ct.pbxes p ON p.id = s.pbx
             WHERE s.pbx = @pbx FOR UPDATE OF s;
            """;
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("pbx", pbx);
        cmd.Parameters.Add(new NpgsqlParameter("protocol", NpgsqlDbType.Text) { Value = (object?)protocol ?? DBNull.Value });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            throw new InvalidOperationException(protocol is null
                ? $"PBX '{pbx}' is not registered"
                : $"PBX '{pbx}' could not be registered (is the 'default' enterprise missing?)");
        }

        var state = reader.GetString(0);
        return new StoredStream(pbx, reader.GetString(3), reader.GetString(2), state.Length == 0 ? null : state, reader.GetInt64(1));
    }

    /// <summary>The saved open calls of <paramref name="pbx"/> (their state JSON), for a stream engine that is not cached.</summary>
    public static async Task<List<string>> OpenCallsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT state FROM ct.open_calls WHERE pbx = @pbx", conn, tx);
        cmd.Parameters.AddWithValue("pbx", pbx);
        var calls = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            calls.Add(reader.GetString(0));
        }

        return calls;
    }

    /// <summary>
    /// Writes what a batch changed, in one round trip: removes the calls no longer open, upserts the changed ones, saves
    /// the stream-level document with the open-call count, the counts of frames newly stored and of those that did not
    /// parse, the last frame time (null when no frames arrived, e.g. a sweep), and increments the version.
    /// </summary>
    /// <returns>The stream's new version.</returns>
    /// <exception cref="InvalidOperationException">The PBX's state row is gone (reset while the batch ran).</exception>
    public static async Task<long> SaveAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, StreamDelta delta, int openCalls, int newFrames, int newParseErrors,
        DateTimeOffset? lastFrameAt, CancellationToken ct)
    {
        // one round trip; the open-call statements only when there is something to delete or write
        await using var batch = new NpgsqlBatch(conn, tx);
        if (delta.Deletes.Count > 0)
        {
            var delete = new NpgsqlBatchCommand("DELETE FROM ct.open_calls WHERE pbx = @pbx AND call_key = ANY(@deleted)");
            delete.Parameters.AddWithValue("pbx", pbx);
            delete.Parameters.AddWithValue("deleted", delta.Deletes.ToArray());
            batch.BatchCommands.Add(delete);
        }

        var n = delta.Upserts.Count;
        if (n > 0)
        {
            var keys = new string[n];
            var states = new string[n];
            var deadlines = new object[n];
            for (var i = 0; i < n; i++)
            {
                var row = delta.Upserts[i];
                keys[i] = row.Key;
                states[i] = row.State;
                deadlines[i] = row.Deadline == DateTimeOffset.MaxValue ? DBNull.Value : row.Deadline.UtcDateTime;
            }

            var upsert = new NpgsqlBatchCommand("""
                INSERT INTO ct.open_calls (pbx, call_key, state, deadline)
                SELECT @pbx, c.key, c.state, c.deadline FROM unnest(@keys, @states, @deadlines) AS c(key, state, deadline)
                ON CONFLICT (pbx, call_key) DO UPDATE SET state = EXCLUDED.state, deadline = EXCLUDED.deadline, updated_at = now()
                """);
            upsert.Parameters.AddWithValue("pbx", pbx);
            upsert.Parameters.AddWithValue("keys", keys);
            upsert.Parameters.AddWithValue("states", states);
            upsert.Parameters.Add(new NpgsqlParameter("deadlines", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = deadlines });
            batch.BatchCommands.Add(upsert);
        }

        var stream = new NpgsqlBatchCommand("""
            UPDATE ct.correlator_state
               SET state = @state, version = version + 1, open_calls = @open,
                   frames_total = frames_total + @frames, parse_errors = parse_errors + @errors,
                   last_frame_at = GREATEST(last_frame_at, @last),
                   last_ingest_at = CASE WHEN @last IS NULL THEN last_ingest_at ELSE now() END,
                   updated_at = now()
             WHERE pbx = @pbx
            RETURNING version
            """);
        stream.Parameters.AddWithValue("pbx", pbx);
        stream.Parameters.AddWithValue("state", delta.StreamState);
        stream.Parameters.AddWithValue("open", openCalls);
        stream.Parameters.AddWithValue("frames", (long)newFrames);
        stream.Parameters.AddWithValue("errors", (long)newParseErrors);
        stream.Parameters.Add(new NpgsqlParameter("last", NpgsqlDbType.TimestampTz) { Value = (object?)lastFrameAt?.UtcDateTime ?? DBNull.Value });
        batch.BatchCommands.Add(stream);
        await using var reader = await batch.ExecuteReaderAsync(ct);
        do
        {
            if (await reader.ReadAsync(ct))
            {
                return reader.GetInt64(0);
            }
        }
        while (await reader.NextResultAsync(ct));

        throw new InvalidOperationException($"stream state of PBX '{pbx}' is missing (was it reset during the batch?)");
    }

    /// <summary>
    /// PBX streams idle for at least <paramref name="idle"/> (wall time) with an open call due by now, with the stream time
    /// it is now for each: the newest frame's receive time plus the wall time since it arrived (so sweeps of a replayed old
    /// capture follow the capture's own clock). Streams still in a format-1 document (no rows yet) are included while they
    /// have open calls. A stream whose clock lies beyond what <see cref="DateTimeOffset"/> holds (a frame stamped near
    /// year 9999 by a release without the future-skew check) comes with a null time instead of failing the whole list.
    /// </summary>
    public static async Task<IReadOnlyList<(string Pbx, DateTimeOffset? StreamNow)>> DueStreamsAsync(NpgsqlDataSource db, TimeSpan idle, CancellationToken ct)
    {
        const string sql = """
            SELECT d.pbx, CASE WHEN d.stream_now < '9999-12-31' THEN d.stream_now END
              FROM (SELECT s.pbx, s.last_frame_at + (now() - s.last_ingest_at) AS stream_now
                      FROM ct.correlator_state s
                     WHERE s.open_calls > 0 AND s.last_ingest_at IS NOT NULL AND s.last_ingest_at < now() - @idle
                       AND (s.state NOT LIKE '{"format":2,%'
                            OR EXISTS (SELECT 1 FROM ct.open_calls o
                                        WHERE o.pbx = s.pbx AND o.deadline < s.last_frame_at + (now() - s.last_ingest_at)))) d
             ORDER BY d.pbx
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("idle", idle);
        var rows = new List<(string, DateTimeOffset?)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add((r.GetString(0), r.IsDBNull(1) ? null : new DateTimeOffset(DateTime.SpecifyKind(r.GetDateTime(1), DateTimeKind.Utc))));
        }

        return rows;
    }
}
