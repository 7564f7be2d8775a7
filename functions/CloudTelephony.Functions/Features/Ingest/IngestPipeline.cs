using System.Diagnostics;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;
using Npgsql;

namespace CloudTelephony.Functions.Ingest;

/// <summary>Counts of one ingested batch.</summary>
/// <param name="Frames">Envelopes in the batch.</param>
/// <param name="Stored">Frames stored now (the rest were already stored).</param>
/// <param name="ParseErrors">Frames stored with a parse error.</param>
/// <param name="Calls">Calls completed and stored by this batch.</param>
/// <param name="Milliseconds">Time spent, in milliseconds.</param>
/// <param name="SmsIds">Ids of the SMS rows the batch's SMS rules created (ct.sms_out), to dispatch.</param>
public sealed record IngestResult(int Frames, int Stored, int ParseErrors, int Calls, double Milliseconds, IReadOnlyList<long> SmsIds);

/// <summary>
/// Parse → correlate → store for a batch of envelopes, in ONE database transaction (DESIGN.md "Reliability rules"):
/// every frame is stored verbatim (idempotent on pbx, session, seq), each PBX's correlator continues from the state
/// saved in PostgreSQL (row locked for the transaction), completed calls are upserted. A frame that does not parse is
/// stored with its error and the batch goes on; if anything cannot be stored the whole batch rolls back and the
/// caller answers non-2xx so the sender retries.
/// </summary>
public sealed class IngestPipeline(NpgsqlDataSource db, SmsRules smsRules, SmsQueue smsQueue, ILogger<IngestPipeline> logger)
{
    /// <summary>Checks a batch before anything is stored.</summary>
    /// <returns>Null when valid, else a message naming the first bad envelope by index and field.</returns>
    public static string? Validate(IReadOnlyList<Envelope?> batch)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            var e = batch[i];
            string? problem = e switch
            {
                null => "is null",
                { Pbx: null or "" } => "has no pbx",
                { Session: null or "" } => "has no session",
                { Seq: < 1 } => "has seq < 1",
                { Frame: null } => "has no frame",
                _ when !Protocols.IsKnown(e.Protocol) => $"has unknown protocol '{e.Protocol}' (expected ctip, ami or smdr)",
                _ when e.ReceivedAt == default => "has no receivedAt",
                _ => null,
            };
            if (problem is not null)
            {
                return $"envelope [{i}] {problem}";
            }
        }

        return null;
    }

    /// <summary>Ingests a validated batch (see <see cref="Validate"/>).</summary>
    /// <exception cref="NpgsqlException">The database failed; nothing of the batch was committed.</exception>
    public async Task<IngestResult> IngestAsync(IReadOnlyList<Envelope> batch, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        int stored = 0, errors = 0, calls = 0;
        var parts = new List<IngestTelemetry.PbxCounts>();
        var sms = new List<long>();
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);

        // Lock PBXes in a fixed order so two batches touching the same PBXes cannot deadlock.
        foreach (var group in batch.GroupBy(e => e.Pbx).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var r = await IngestPbxAsync(conn, tx, group.Key, group.ToList(), sms, ct);
            stored += r.Stored;
            errors += r.ParseErrors;
            calls += r.Calls.Count;
            parts.Add(r);
        }

        await tx.CommitAsync(ct);
        smsQueue.Enqueue(sms);
        var result = new IngestResult(batch.Count, stored, errors, calls, clock.Elapsed.TotalMilliseconds, sms);
        IngestTelemetry.Committed(parts, result.Milliseconds);
        logger.LogDebug("ingested {Frames} frames ({Stored} new, {Errors} parse errors), {Calls} calls in {Ms:F1} ms",
            result.Frames, result.Stored, result.ParseErrors, result.Calls, result.Milliseconds);
        return result;
    }

    private async Task<IngestTelemetry.PbxCounts> IngestPbxAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, List<Envelope> frames, List<long> sms, CancellationToken ct)
    {
        var protocol = frames[0].Protocol;
        using var activity = IngestTelemetry.StartPbx(pbx, protocol, frames);
        var (state, zone) = await FrameStore.LockPbxAsync(conn, tx, pbx, protocol, ct);
        var correlator = Correlators.Create(protocol, pbx, new CorrelatorOptions { TimeZone = FindZone(zone) }, state);

        var completed = new List<Call>();
        var rows = new List<StoredFrame>(frames.Count);
        var errors = 0;
        foreach (var e in frames)
        {
            string? error;
            if (e.Protocol != protocol)
            {
                error = $"protocol '{e.Protocol}' differs from the PBX stream's '{protocol}'; stored, not correlated";
            }
            else
            {
                var outcome = correlator.Process(new PbxFrame(pbx, e.Session, e.Seq, e.ReceivedAt, e.Frame), completed);
                error = outcome.Error;
            }

            if (error is not null)
            {
                errors++;
            }

            rows.Add(new StoredFrame(e.Session, e.Seq, e.ReceivedAt, e.Frame, error));
        }

        var inserted = await FrameStore.InsertFramesAsync(conn, tx, pbx, rows, ct);
        await FrameStore.UpsertCallsAsync(conn, tx, completed, ct);
        sms.AddRange(await smsRules.ApplyAsync(conn, tx, pbx, completed, ct));
        var last = frames.Max(f => f.ReceivedAt);
        await FrameStore.SaveStateAsync(conn, tx, pbx, correlator.SaveState(), correlator.OpenCalls, inserted, errors, last, ct);
        activity?.SetTag("frames.stored", inserted);
        activity?.SetTag("calls", completed.Count);
        return new(pbx, protocol, inserted, errors, completed);
    }

    /// <summary>
    /// Closes calls that stay open only because their PBX went quiet (a call lingering for late releases, a ring whose
    /// stream was cut): for each idle stream with open calls, runs the correlator's <see cref="ICallCorrelator.Expire"/>
    /// at the stream's current time and stores what it completes, in one transaction per PBX.
    /// </summary>
    /// <param name="idle">Only streams with no frames for at least this long (wall time).</param>
    /// <param name="ct">Cancellation.</param>
    /// <returns>Number of calls completed.</returns>
    public async Task<int> SweepAsync(TimeSpan idle, CancellationToken ct)
    {
        var completed = 0;
        foreach (var (pbx, protocol, streamNow) in await FrameStore.IdleOpenStreamsAsync(db, idle, ct))
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            var (state, zone) = await FrameStore.LockPbxAsync(conn, tx, pbx, protocol, ct);
            var correlator = Correlators.Create(protocol, pbx, new CorrelatorOptions { TimeZone = FindZone(zone) }, state);
            var calls = new List<Call>();
            correlator.Expire(streamNow, calls);
            await FrameStore.UpsertCallsAsync(conn, tx, calls, ct);
            var sms = await smsRules.ApplyAsync(conn, tx, pbx, calls, ct);
            await FrameStore.SaveStateAsync(conn, tx, pbx, correlator.SaveState(), correlator.OpenCalls, 0, 0, null, ct);
            await tx.CommitAsync(ct);
            smsQueue.Enqueue(sms);
            completed += calls.Count;
            if (calls.Count > 0)
            {
                logger.LogInformation("sweep {Pbx}: {Calls} calls closed at stream time {Now:O}", pbx, calls.Count, streamNow);
            }
        }

        return completed;
    }

    private TimeZoneInfo FindZone(string id)
    {
        if (TimeZoneInfo.TryFindSystemTimeZoneById(id, out var zone))
        {
            return zone;
        }

        logger.LogWarning("unknown time zone '{Zone}' on a PBX; using UTC", id);
        return TimeZoneInfo.Utc;
    }
}
