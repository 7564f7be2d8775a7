using System.Runtime.CompilerServices;
using CloudTelephony.Contracts;
using Npgsql;
using NpgsqlTypes;

namespace CloudTelephony.Storage;

/// <summary>One row of <c>ct.archives</c>: a day of one PBX's frames written to a blob.</summary>
/// <param name="Id">Row id.</param>
/// <param name="Pbx">PBX id.</param>
/// <param name="Day">UTC day of the frames' receive times.</param>
/// <param name="BlobName">Blob name in the archive container.</param>
/// <param name="Frames">Envelopes (lines) in the blob.</param>
/// <param name="Sha256">SHA-256 of the blob's bytes as uploaded.</param>
/// <param name="Bytes">Blob size.</param>
/// <param name="VerifiedAt">When the blob was read back and matched; null = not (yet) verified.</param>
/// <param name="DeletedAt">When the day's frames were deleted from <c>ct.frames</c>.</param>
public sealed record ArchiveRecord(
    long Id, string Pbx, DateOnly Day, string BlobName, long Frames, byte[] Sha256, long Bytes, DateTimeOffset? VerifiedAt, DateTimeOffset? DeletedAt);

/// <summary>
/// PostgreSQL side of the raw-frame archive: which PBX days are past their enterprise's retention, the frames of a day,
/// the <c>ct.archives</c> bookkeeping, and the delete that happens only together with marking an archive verified.
/// </summary>
public static class ArchiveStore
{
    /// <summary>
    /// PBX days (UTC) that still have frames and are entirely older than the PBX's enterprise retention
    /// (<c>frame_retention_days</c>): day &lt; (UTC date of <paramref name="now"/>) − retention. Ordered by PBX, day.
    /// </summary>
    public static async Task<IReadOnlyList<(string Pbx, DateOnly Day)>> DueDaysAsync(NpgsqlDataSource db, DateTimeOffset now, CancellationToken ct)
    {
        const string sql = """
            SELECT f.pbx, (f.received_at AT TIME ZONE 'UTC')::date AS day
              FROM ct.frames f
              JOIN ct.pbxes p ON p.id = f.pbx
              JOIN ct.enterprises e ON e.id = p.enterprise_id
             WHERE f.received_at < ((@today::date - e.frame_retention_days)::timestamp AT TIME ZONE 'UTC')
             GROUP BY 1, 2
             ORDER BY 1, 2
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.Add(new NpgsqlParameter("today", NpgsqlDbType.Date) { Value = DateOnly.FromDateTime(now.UtcDateTime) });
        var rows = new List<(string, DateOnly)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add((r.GetString(0), r.GetFieldValue<DateOnly>(1)));
        }

        return rows;
    }

    /// <summary>The PBX's protocol and IANA time zone, or null when the PBX is unknown.</summary>
    public static async Task<(string Protocol, string TimeZone)?> PbxAsync(NpgsqlDataSource db, string pbx, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT protocol, time_zone FROM ct.pbxes WHERE id = @pbx");
        cmd.Parameters.AddWithValue("pbx", pbx);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? (r.GetString(0), r.GetString(1)) : null;
    }

    /// <summary>
    /// Streams the frames of <paramref name="pbx"/> received on UTC <paramref name="day"/> as envelopes, ordered by
    /// (session, seq). Read in one transaction (a consistent snapshot) on a connection of its own.
    /// </summary>
    public static async IAsyncEnumerable<Envelope> ReadDayAsync(NpgsqlDataSource db, string pbx, DateOnly day, [EnumeratorCancellation] CancellationToken ct)
    {
        const string sql = """
            SELECT p.protocol, f.session, f.seq, f.received_at, f.text
              FROM ct.frames f JOIN ct.pbxes p ON p.id = f.pbx
             WHERE f.pbx = @pbx
               AND f.received_at >= (@day::timestamp AT TIME ZONE 'UTC')
               AND f.received_at < ((@day + 1)::timestamp AT TIME ZONE 'UTC')
             ORDER BY f.session, f.seq
            """;
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("pbx", pbx);
        cmd.Parameters.Add(new NpgsqlParameter("day", NpgsqlDbType.Date) { Value = day });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            var at = new DateTimeOffset(DateTime.SpecifyKind(r.GetDateTime(3), DateTimeKind.Utc));
            yield return new Envelope(pbx, r.GetString(0), r.GetString(1), r.GetInt64(2), at, r.GetString(4));
        }
    }

    /// <summary>The archive row of (<paramref name="pbx"/>, <paramref name="day"/>), or null.</summary>
    public static async Task<ArchiveRecord?> FindAsync(NpgsqlDataSource db, string pbx, DateOnly day, CancellationToken ct)
    {
        const string sql = """
            SELECT id, pbx, day, blob_name, frames, sha256, bytes, verified_at, deleted_at
              FROM ct.archives WHERE pbx = @pbx AND day = @day
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("pbx", pbx);
        cmd.Parameters.Add(new NpgsqlParameter("day", NpgsqlDbType.Date) { Value = day });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct))
        {
            return null;
        }

        return new ArchiveRecord(
            r.GetInt64(0), r.GetString(1), r.GetFieldValue<DateOnly>(2), r.GetString(3), r.GetInt64(4), r.GetFieldValue<byte[]>(5), r.GetInt64(6),
            r.IsDBNull(7) ? null : r.GetFieldValue<DateTimeOffset>(7), r.IsDBNull(8) ? null : r.GetFieldValue<DateTimeOffset>(8));
    }

    /// <summary>
    /// Records an uploaded, not yet verified blob: inserts the row, or replaces an unverified one (a redo). A verified
    /// row is never changed.
    /// </summary>
    /// <returns>The row id.</returns>
    /// <exception cref="InvalidOperationException">The day already has a verified archive.</exception>
    public static async Task<long> RecordUploadAsync(
        NpgsqlDataSource db, string pbx, DateOnly day, string blobName, long frames, byte[] sha256, long bytes, CancellationToken ct)
    {
        const string sql = """
            INSERT INTO ct.archives (pbx, day, blob_name, frames, sha256, bytes)
            VALUES (@pbx, @day, @blob, @frames, @sha, @bytes)
            ON CONFLICT (pbx, day) DO UPDATE
               SET blob_name = EXCLUDED.blob_name, frames = EXCLUDED.frames, sha256 = EXCLUDED.sha256, bytes = EXCLUDED.bytes,
                   created_at = now(), verified_at = NULL, deleted_at = NULL
             WHERE ct.archives.verified_at IS NULL
            RETURNING id
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("pbx", pbx);
        cmd.Parameters.Add(new NpgsqlParameter("day", NpgsqlDbType.Date) { Value = day });
        cmd.Parameters.AddWithValue("blob", blobName);
        cmd.Parameters.AddWithValue("frames", frames);
        cmd.Parameters.AddWithValue("sha", sha256);
        cmd.Parameters.AddWithValue("bytes", bytes);
        return await cmd.ExecuteScalarAsync(ct) is long id
            ? id
            : throw new InvalidOperationException($"{pbx} {day:yyyy-MM-dd} already has a verified archive; it is not rewritten");
    }

    /// <summary>
    /// In ONE transaction: marks archive <paramref name="archiveId"/> verified (if it was not) and deleted, provided its
    /// recorded checksum is still <paramref name="sha256"/> (nobody redid it meanwhile), and deletes from <c>ct.frames</c>
    /// exactly the (session, seq) keys read back from the verified blob — a frame that arrived late and is not in the
    /// blob stays.
    /// </summary>
    /// <returns>Frames deleted.</returns>
    /// <exception cref="InvalidOperationException">The archive row changed since it was verified; nothing was deleted.</exception>
    public static async Task<int> CompleteAsync(
        NpgsqlDataSource db, long archiveId, byte[] sha256, string pbx, IReadOnlyList<(string Session, long Seq)> keys, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var mark = new NpgsqlCommand(
            "UPDATE ct.archives SET verified_at = COALESCE(verified_at, now()), deleted_at = now() WHERE id = @id AND sha256 = @sha", conn, tx))
        {
            mark.Parameters.AddWithValue("id", archiveId);
            mark.Parameters.AddWithValue("sha", sha256);
            if (await mark.ExecuteNonQueryAsync(ct) != 1)
            {
                throw new InvalidOperationException($"archive {archiveId} of {pbx} changed while it was being verified; nothing deleted");
            }
        }

        int deleted;
        await using (var delete = new NpgsqlCommand(
            """
            DELETE FROM ct.frames f USING unnest(@session, @seq) AS k(session, seq)
             WHERE f.pbx = @pbx AND f.session = k.session AND f.seq = k.seq
            """, conn, tx))
        {
            delete.Parameters.AddWithValue("pbx", pbx);
            delete.Parameters.AddWithValue("session", keys.Select(k => k.Session).ToArray());
            delete.Parameters.AddWithValue("seq", keys.Select(k => k.Seq).ToArray());
            deleted = await delete.ExecuteNonQueryAsync(ct);
        }

        await tx.CommitAsync(ct);
        return deleted;
    }
}
