using Npgsql;

namespace CloudTelephony.Storage;

/// <summary>What the database knows of one PBX's stream.</summary>
/// <param name="Pbx">PBX id.</param>
/// <param name="Protocol">ctip, ami or smdr.</param>
/// <param name="FramesStored">Frames stored so far.</param>
/// <param name="ParseErrors">Of which did not parse.</param>
/// <param name="OpenCalls">Calls still open in the correlator.</param>
/// <param name="LastFrameAt">Receive time of the newest frame (UTC), or null.</param>
/// <param name="EnterpriseId">The enterprise the PBX is filed under.</param>
/// <param name="TimeZone">The PBX's IANA time zone.</param>
public sealed record PbxStreamStatus(string Pbx, string Protocol, long FramesStored, long ParseErrors, int OpenCalls, DateTimeOffset? LastFrameAt, long EnterpriseId = 0, string TimeZone = "UTC");

/// <summary>Health read side: is the database reachable, what each PBX stream last did.</summary>
public sealed class HealthQueries(NpgsqlDataSource db)
{
    /// <summary>Every PBX with its stream counters, ordered by id.</summary>
    /// <exception cref="NpgsqlException">The database cannot be reached.</exception>
    public Task<IReadOnlyList<PbxStreamStatus>> PbxStreamsAsync(CancellationToken ct) => PbxStreamsAsync(null, ct);

    /// <summary>Every PBX (or only those of <paramref name="enterpriseId"/>) with its stream counters, ordered by id.</summary>
    /// <exception cref="NpgsqlException">The database cannot be reached.</exception>
    public async Task<IReadOnlyList<PbxStreamStatus>> PbxStreamsAsync(long? enterpriseId, CancellationToken ct)
    {
        const string sql = """
            SELECT p.id, p.protocol, coalesce(s.frames_total, 0), coalesce(s.parse_errors, 0), coalesce(s.open_calls, 0), s.last_frame_at,
                   p.enterprise_id, p.time_zone
              FROM ct.pbxes p LEFT JOIN ct.correlator_state s ON s.pbx = p.id
             WHERE @e::bigint IS NULL OR p.enterprise_id = @e
             ORDER BY p.id
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.Add(new NpgsqlParameter("e", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)enterpriseId ?? DBNull.Value });
        var rows = new List<PbxStreamStatus>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add(new PbxStreamStatus(
                r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetInt64(3), r.GetInt32(4),
                r.IsDBNull(5) ? null : new DateTimeOffset(DateTime.SpecifyKind(r.GetDateTime(5), DateTimeKind.Utc)),
                r.GetInt64(6), r.GetString(7)));
        }

        return rows;
    }

    /// <summary>Deletes everything stored for <paramref name="pbx"/> (frames, calls, correlator state and open calls); the PBX stays registered.
    /// Used by <c>./ct run</c> to replay the demo capture from a clean slate.</summary>
    /// <returns>Number of rows deleted (calls, state and frames together).</returns>
    public async Task<long> ResetPbxAsync(string pbx, CancellationToken ct)
    {
        const string sql = """
            DELETE FROM ct.calls WHERE pbx = @pbx;
            DELETE FROM ct.correlator_state WHERE pbx = @pbx;
            DELETE FROM ct.open_calls WHERE pbx = @pbx;
            DELETE FROM ct.live_calls WHERE pbx = @pbx;
            DELETE FROM ct.frames WHERE pbx = @pbx;
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("pbx", pbx);
        return await cmd.ExecuteNonQueryAsync(ct);
    }
}
