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

    /// <summary>Calls of <paramref name="pbx"/>'s stream in progress (<c>ct.correlator_state.open_calls</c>), 0 when it has
    /// no stream yet.</summary>
    public static async Task<int> OpenCallsAsync(NpgsqlDataSource db, string pbx, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT open_calls FROM ct.correlator_state WHERE pbx = @pbx");
        cmd.Parameters.AddWithValue("pbx", pbx);
        return await cmd.ExecuteScalarAsync(ct) is { } n and not DBNull ? Convert.ToInt32(n, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }
}
