using System.Security.Cryptography;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;
using Npgsql;

namespace CloudTelephony.Functions.Ingest;

/// <summary>What <see cref="HistoryImport.ImportAsync"/> did.</summary>
/// <param name="Session">The session id the file's frames are stored under (<c>import:</c> + 16 hex digits of the
/// file's SHA-256).</param>
/// <param name="Frames">Frames in the file.</param>
/// <param name="Stored">Frames stored by this run (the rest were stored by an earlier import of the same file).</param>
/// <param name="ParseErrors">Frames of the file that did not parse (stored with their error).</param>
/// <param name="CallsByStatus">Calls correlated from the file, by status (answered, missed, ...).</param>
/// <param name="AlreadyImported">The file had been imported completely before: nothing was changed.</param>
/// <param name="FirstFrameAt">The file's first frame time (UTC), or null.</param>
/// <param name="LastFrameAt">The file's last frame time (UTC), or null.</param>
public sealed record ImportSummary(
    string Session, long Frames, long Stored, int ParseErrors, IReadOnlyDictionary<string, int> CallsByStatus, bool AlreadyImported,
    DateTimeOffset? FirstFrameAt, DateTimeOffset? LastFrameAt);

/// <summary>
/// Back-fill of history: an old collector's log (the capture formats <c>./ct correlate</c> reads: CTIP
/// <c>receivedAt&lt;TAB&gt;frame</c> logs, AMI event logs, IP Office SMDR files) stored as frames of a PBX and correlated
/// into calls with the file's own times. The frames go under a session of their own, derived from the file's content
/// (seq = frame number), so importing the same file again stores nothing twice, and a fresh correlator (as the archive
/// restore uses) so the live stream's correlator state — its open calls, stream clock and session watermarks — is
/// never touched. Each batch is one transaction: frames stored verbatim (a frame that does not parse is stored with its
/// error), completed calls upserted on (pbx, call key), SMS rules applied (they skip calls older than
/// <c>Sms:RuleMaxAgeMinutes</c>, so a back-fill texts nobody), the PBX's stream counters raised.
/// </summary>
public sealed class HistoryImport(NpgsqlDataSource db, SmsRules smsRules)
{
    /// <summary>Frames per transaction.</summary>
    public int BatchSize { get; init; } = 1000;

    /// <summary>The session id of a file: <c>import:</c> and the first 16 hex digits of the SHA-256 of its bytes.</summary>
    public static string SessionOf(FileInfo file)
    {
        using var stream = file.OpenRead();
        return "import:" + Convert.ToHexStringLower(SHA256.HashData(stream))[..16];
    }

    /// <summary>Imports <paramref name="file"/> into <paramref name="pbx"/>.</summary>
    /// <param name="pbx">A registered PBX.</param>
    /// <param name="protocol">The file's protocol (the PBX's).</param>
    /// <param name="file">The log.</param>
    /// <param name="zone">Time zone of times without an offset (SMDR local times).</param>
    /// <param name="progress">Receives (frames done, frames in the file) after each batch.</param>
    /// <param name="ct">Cancellation: batches committed so far stay; importing again completes the file.</param>
    /// <exception cref="FormatException">The file is not a capture of <paramref name="protocol"/>.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="NpgsqlException">The database failed; the batch in progress was not committed.</exception>
    /// <param name="plan">The PBX's number plan (AMI); null = inferred from the stream.</param>
    public async Task<ImportSummary> ImportAsync(string pbx, string protocol, FileInfo file, TimeZoneInfo zone, IProgress<(long Done, long Total)>? progress, CancellationToken ct, NumberPlan? plan = null)
    {
        var session = SessionOf(file);
        var total = CaptureFile.Read(file.FullName, protocol, zone).LongCount();
        if (total > 0 && await ImportStore.SessionFramesAsync(db, pbx, session, ct) >= total)
        {
            progress?.Report((total, total));
            return new ImportSummary(session, total, 0, 0, new Dictionary<string, int>(), true, null, null);
        }

        var correlator = Correlators.Create(protocol, pbx, (plan ?? NumberPlan.None).ApplyTo(new CorrelatorOptions { TimeZone = zone }));
        var byStatus = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var completed = new List<Call>();
        var rows = new List<StoredFrame>(BatchSize);
        long seq = 0, stored = 0;
        var errors = 0;
        DateTimeOffset? first = null, last = null;
        // Frames without a time of their own follow the last frame that had one (one millisecond apart); before any,
        // the file's modification time.
        var clock = new DateTimeOffset(file.LastWriteTimeUtc, TimeSpan.Zero);
        foreach (var frame in CaptureFile.Read(file.FullName, protocol, zone))
        {
            seq++;
            clock = frame.ReceivedAt ?? clock.AddMilliseconds(1);
            first ??= clock;
            last = clock;
            var outcome = correlator.Process(new PbxFrame(pbx, session, seq, clock, frame.Frame), completed);
            if (outcome.Error is not null)
            {
                errors++;
            }

            rows.Add(new StoredFrame(session, seq, clock, frame.Frame, outcome.Error));
            if (rows.Count >= BatchSize)
            {
                stored += await CommitAsync(pbx, rows, completed, byStatus, ct);
                progress?.Report((seq, total));
            }
        }

        correlator.Flush(completed); // calls still open when the log ends (the old collector stopped)
        stored += await CommitAsync(pbx, rows, completed, byStatus, ct);
        progress?.Report((seq, total));
        return new ImportSummary(session, seq, stored, errors, byStatus, false, first?.ToUniversalTime(), last?.ToUniversalTime());
    }

    private async Task<int> CommitAsync(string pbx, List<StoredFrame> rows, List<Call> completed, SortedDictionary<string, int> byStatus, CancellationToken ct)
    {
        if (rows.Count == 0 && completed.Count == 0)
        {
            return 0;
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var inserted = await FrameStore.InsertFramesAsync(conn, tx, pbx, rows, ct);
        await FrameStore.UpsertCallsAsync(conn, tx, completed, ct);
        await smsRules.ApplyAsync(conn, tx, pbx, completed, ct);
        var newErrors = inserted == 0 ? 0 : rows.Count(r => r.ParseError is not null);
        await ImportStore.AddCountsAsync(conn, tx, pbx, inserted, newErrors, ct);
        await tx.CommitAsync(ct);
        foreach (var c in completed)
        {
            var status = CallNames.Of(c.Status);
            byStatus[status] = byStatus.GetValueOrDefault(status) + 1;
        }

        rows.Clear();
        completed.Clear();
        return inserted;
    }
}
