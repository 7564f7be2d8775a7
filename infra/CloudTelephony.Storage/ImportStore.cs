using Npgsql;

namespace CloudTelephony.Storage;

/// <summary>The storage steps of a history import (<c>admin import</c>) that the live ingest path has no need for.</summary>
public static class ImportStore
{
    /// <summary>Frames stored for <paramref name="pbx"/> under <paramref name="session"/> (an import's own session).</summary>
    public static async Task<long> SessionFramesAsync(NpgsqlDataSource db, string pbx, string session, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT count(*) FROM ct.frames WHERE pbx = @pbx AND session = @session");
        cmd.Parameters.AddWithValue("pbx", pbx);
        cmd.Parameters.AddWithValue("session", session);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Raises the PBX's stream counters (<c>/api/health</c>'s framesStored, parseErrors) by imported frames,
    /// leaving its correlator state, open calls and last frame time (the live stream's) alone.</summary>
    public static async Task AddCountsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, long frames, long parseErrors, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            """
            INSERT INTO ct.correlator_state (pbx, state) VALUES (@pbx, '') ON CONFLICT (pbx) DO NOTHING;
            UPDATE ct.correlator_state SET frames_total = frames_total + @frames, parse_errors = parse_errors + @errors, updated_at = now()
             WHERE pbx = @pbx;
            """,
            conn,
            tx);
        cmd.Parameters.AddWithValue("pbx", pbx);
        cmd.Parameters.AddWithValue("frames", frames);
        cmd.Parameters.AddWithValue("errors", parseErrors);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
