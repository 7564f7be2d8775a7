using System.Security.Cryptography;
using CloudTelephony.Contracts;
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
/// <param name="CallsByStatus">Calls the file's frames completed, by status (answered, missed, ...).</param>
/// <param name="AlreadyImported">The file had been imported completely before: nothing was changed.</param>
/// <param name="FirstFrameAt">The file's first frame time (UTC), or null.</param>
/// <param name="LastFrameAt">The file's last frame time (UTC), or null.</param>
/// <param name="OpenCalls">Calls of the PBX's stream still in progress after the import: they continue with the next
/// live frames, or the call sweep closes them.</param>
public sealed record ImportSummary(
    string Session, long Frames, long Stored, int ParseErrors, IReadOnlyDictionary<string, int> CallsByStatus, bool AlreadyImported,
    DateTimeOffset? FirstFrameAt, DateTimeOffset? LastFrameAt, int OpenCalls = 0);

/// <summary>
/// Back-fill of history: an old collector's log (the capture formats <c>./ct correlate</c> reads: CTIP
/// <c>receivedAt&lt;TAB&gt;frame</c> logs, AMI event logs, IP Office SMDR files) stored as frames of a PBX and correlated
/// into calls with the file's own times, through the engine's one path (<see cref="CorrelateAndStore.ImportAsync"/>):
/// the PBX's stream engine, its state and open calls, exactly as ingest. The frames go under a session of their own,
/// derived from the file's content (seq = frame number), so importing the same file again stores nothing twice (the
/// session's watermark makes its frames duplicates). Each batch is one transaction: frames stored verbatim (a frame
/// that does not parse is stored with its error), completed calls upserted on (pbx, call key), the call-change handlers
/// run (SMS rules skip calls older than <c>Sms:RuleMaxAgeMinutes</c>, so a back-fill texts nobody), the stream's state,
/// open calls and counters saved. Calls still in progress when the log ends stay open: the PBX's next live frames
/// continue them (a relay that took over from the old collector), or the call sweep closes them.
/// </summary>
public sealed class HistoryImport(NpgsqlDataSource db, CorrelateAndStore correlate)
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
    /// <param name="zone">Time zone of the log's receive times without an offset. Times the frames carry themselves
    /// (SMDR Call Start) are read in the PBX's zone, as live frames are.</param>
    /// <param name="progress">Receives (frames done, frames in the file) after each batch.</param>
    /// <param name="ct">Cancellation: batches committed so far stay; importing again completes the file.</param>
    /// <exception cref="FormatException">The file is not a capture of <paramref name="protocol"/>.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="NpgsqlException">The database failed; the batch in progress was not committed.</exception>
    public async Task<ImportSummary> ImportAsync(string pbx, string protocol, FileInfo file, TimeZoneInfo zone, IProgress<(long Done, long Total)>? progress, CancellationToken ct)
    {
        var session = SessionOf(file);
        var total = CaptureFile.Read(file.FullName, protocol, zone).LongCount();
        if (total > 0 && await ImportStore.SessionFramesAsync(db, pbx, session, ct) >= total)
        {
            progress?.Report((total, total));
            return new ImportSummary(session, total, 0, 0, new Dictionary<string, int>(), true, null, null, await ImportStore.OpenCallsAsync(db, pbx, ct));
        }

        var byStatus = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var batch = new List<Envelope>(BatchSize);
        long seq = 0, stored = 0;
        var errors = 0;
        DateTimeOffset? first = null, last = null;
        // Frames without a time of their own follow the last frame that had one (one millisecond apart); before any,
        // the file's modification time.
        var clock = new DateTimeOffset(file.LastWriteTimeUtc, TimeSpan.Zero);
        foreach (var frame in CaptureFile.Read(file.FullName, protocol, zone))
        {
            seq++;
            clock = (frame.ReceivedAt ?? clock.AddMilliseconds(1)).ToUniversalTime();
            first ??= clock;
            last = clock;
            batch.Add(new Envelope(pbx, protocol, session, seq, clock, frame.Frame));
            if (batch.Count >= BatchSize)
            {
                (stored, errors) = await CommitAsync(batch, byStatus, stored, errors, ct);
                progress?.Report((seq, total));
            }
        }

        (stored, errors) = await CommitAsync(batch, byStatus, stored, errors, ct);
        progress?.Report((seq, total));
        return new ImportSummary(session, seq, stored, errors, byStatus, false, first, last, await ImportStore.OpenCallsAsync(db, pbx, ct));
    }

    private async Task<(long Stored, int Errors)> CommitAsync(List<Envelope> batch, SortedDictionary<string, int> byStatus, long stored, int errors, CancellationToken ct)
    {
        if (batch.Count == 0)
        {
            return (stored, errors);
        }

        var (result, completed) = await correlate.ImportAsync(batch, ct);
        foreach (var c in completed)
        {
            var status = CallNames.Of(c.Status);
            byStatus[status] = byStatus.GetValueOrDefault(status) + 1;
        }

        batch.Clear();
        return (stored + result.Stored, errors + result.ParseErrors);
    }
}
