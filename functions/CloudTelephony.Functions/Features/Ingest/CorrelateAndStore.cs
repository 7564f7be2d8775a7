using System.Diagnostics;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Contracts;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;
using CloudTelephony.Telephony.Streams;
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

/// <summary>Why an envelope of a batch cannot be stored at all (the batch is refused with 400; the relay sets that
/// envelope aside in its dead letters).</summary>
/// <param name="Index">The envelope's index in the batch (0-based).</param>
/// <param name="Field">The JSON field at fault (<c>pbx</c>, <c>session</c>, <c>seq</c>, …), or null when the envelope is null.</param>
/// <param name="Message">The whole reason, e.g. <c>envelope [3] has no session</c>.</param>
public sealed record EnvelopeProblem(int Index, string? Field, string Message);

/// <summary>What replaying archived frames stored (<see cref="CorrelateAndStore.ReplayAsync"/>).</summary>
/// <param name="Inserted">Frames inserted again (the rest were still stored).</param>
/// <param name="ParseErrors">Frames that did not parse.</param>
/// <param name="Calls">Calls completed and upserted.</param>
/// <param name="OpenAtEnd">Calls still open when the frames ended (not stored).</param>
public sealed record ReplayResult(int Inserted, int ParseErrors, int Calls, int OpenAtEnd);

/// <summary>
/// The one correlate-and-store path (DESIGN.md "Reliability rules"), used by <c>IngestHttp</c>, <c>IngestFrames</c>, the
/// call sweep, <c>admin import</c> (<see cref="ImportAsync"/>) and archive restore: for each PBX of a transaction it locks the PBX's stream row, takes the PBX's stream
/// engine from the cache when it is current (else loads the stream state and that PBX's open calls), correlates,
/// stores the frames verbatim (idempotent on pbx, session, seq; a frame that does not parse is stored with its error and
/// the batch goes on), upserts the completed calls, runs the <see cref="ICallChangeHandler"/>s (SMS rules, …) and saves
/// only what changed (<see cref="StreamDelta"/>) with the stream's version + 1 (a redelivered batch, all duplicates,
/// writes nothing and keeps the version). If anything fails the whole transaction
/// rolls back, no engine goes back to the cache, and the caller answers non-2xx so the sender retries.
/// </summary>
public sealed class CorrelateAndStore(
    NpgsqlDataSource db,
    StreamCache cache,
    IEnumerable<ICallChangeHandler> handlers,
    IEnumerable<IOutboxHandOff> handOffs,
    ILogger<CorrelateAndStore> logger,
    TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly TimeSpan _maxFutureSkew = TimeSpan.FromSeconds(cache.Options.MaxFutureSkewSeconds);
    private readonly ICallChangeHandler[] _handlers = [.. handlers];
    private readonly IOutboxHandOff[] _handOffs = [.. handOffs];

    /// <summary>The longest relay session id accepted, in characters.</summary>
    public const int MaxSessionLength = 128;

    /// <summary>Checks a batch before anything is stored: only what makes an envelope impossible to store or to file
    /// (no PBX, session or seq to key it by, no receive time, no frame, an unknown protocol) is refused here; anything
    /// wrong with the frame itself (NUL, a relay's flag, a receive time in the future, text that does not parse) is
    /// stored with its error by <see cref="IngestAsync(IReadOnlyList{Envelope}, CancellationToken)"/>.</summary>
    /// <returns>Null when every envelope can be stored, else the first one that cannot: its index, field and why.</returns>
    public static EnvelopeProblem? Check(IReadOnlyList<Envelope?> batch)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            var e = batch[i];
            (string? Field, string Why)? problem = e switch
            {
                null => (null, "is null"),
                { Pbx: null or "" } => ("pbx", "has no pbx"),
                _ when !PbxIds.IsValid(e.Pbx) => ("pbx", $"has an invalid pbx id (1–{PbxIds.MaxLength} characters: letters, digits, '.', '_', ':', '-', a letter or digit first)"),
                { Session: null or "" } => ("session", "has no session"),
                { Session.Length: > MaxSessionLength } => ("session", $"has a session id over {MaxSessionLength} characters"),
                _ when e.Session.Any(char.IsControl) => ("session", "has a control character (NUL, …) in its session id"),
                { Seq: < 1 } => ("seq", "has seq < 1"),
                { Frame: null } => ("frame", "has no frame"),
                _ when PbxProtocols.Find(e.Protocol) is null => ("protocol", $"has unknown protocol '{IncomingFrames.Escape(e.Protocol ?? "")}' (expected {PbxProtocols.Expected})"),
                _ when e.ReceivedAt == default => ("receivedAt", "has no receivedAt"),
                _ => null,
            };
            if (problem is { } p)
            {
                return new EnvelopeProblem(i, p.Field, $"envelope [{i}] {p.Why}");
            }
        }

        return null;
    }

    /// <summary>Checks a batch before anything is stored (see <see cref="Check"/>).</summary>
    /// <returns>Null when valid, else a message naming the first bad envelope by index and field.</returns>
    public static string? Validate(IReadOnlyList<Envelope?> batch) => Check(batch)?.Message;

    /// <summary>Ingests a validated batch (see <see cref="Validate"/>) in one transaction, PBX by PBX in id order (so two
    /// batches touching the same PBXes cannot deadlock).</summary>
    /// <exception cref="NpgsqlException">The database failed; nothing of the batch was committed.</exception>
    public async Task<IngestResult> IngestAsync(IReadOnlyList<Envelope> batch, CancellationToken ct)
        => (await IngestAsync(batch, CorrelationOrigin.Ingest, ct)).Result;

    /// <summary>
    /// Ingests a batch of back-filled history (<c>admin import</c>) exactly as a relay's batch: the PBX's live stream engine
    /// (its state, open calls, watermarks) continues with it, so calls in progress at the end of an import continue with
    /// the next live frames (or close on the call sweep). The handlers see <see cref="CorrelationOrigin.Import"/>.
    /// </summary>
    /// <returns>The counts and the calls the batch completed.</returns>
    /// <exception cref="NpgsqlException">The database failed; nothing of the batch was committed.</exception>
    public async Task<(IngestResult Result, IReadOnlyList<Call> Completed)> ImportAsync(IReadOnlyList<Envelope> batch, CancellationToken ct)
    {
        var (result, unit) = await IngestAsync(batch, CorrelationOrigin.Import, ct);
        return (result, [.. unit.Parts.SelectMany(p => p.Calls)]);
    }

    private async Task<(IngestResult Result, Unit Unit)> IngestAsync(IReadOnlyList<Envelope> batch, CorrelationOrigin origin, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var unit = new Unit(origin);
        await using (var conn = await db.OpenConnectionAsync(ct))
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            foreach (var group in batch.GroupBy(e => e.Pbx).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var frames = group.ToList();
                using var activity = IngestTelemetry.StartPbx(group.Key, frames[0].Protocol, frames);
                var part = await LiveAsync(conn, tx, group.Key, frames[0].Protocol, frames, null, unit, ct);
                activity?.SetTag("frames.stored", part.Stored);
                activity?.SetTag("calls", part.Calls.Count);
            }

            await tx.CommitAsync(ct);
        }

        Committed(unit);
        var result = new IngestResult(batch.Count, unit.Parts.Sum(p => p.Stored), unit.Parts.Sum(p => p.ParseErrors),
            unit.Parts.Sum(p => p.Calls.Count), clock.Elapsed.TotalMilliseconds, unit.Outbox("sms"));
        IngestTelemetry.Committed(unit.Parts, result.Milliseconds);
        logger.LogDebug("ingested {Frames} frames ({Stored} new, {Errors} parse errors), {Calls} calls in {Ms:F1} ms",
            result.Frames, result.Stored, result.ParseErrors, result.Calls, result.Milliseconds);
        return (result, unit);
    }

    /// <summary>
    /// Closes calls that stay open only because their PBX went quiet (a call lingering for late releases, a ring whose
    /// stream was cut): for each stream idle for at least <paramref name="idle"/> (wall time) with an open call due, runs
    /// the engine's expiry at the stream's current time and stores what it completes, in one transaction per PBX.
    /// </summary>
    /// <remarks>Each PBX is swept on its own: one whose stream cannot be swept (a clock out of range, a state that cannot be
    /// read, a constraint its calls break) is logged (<see cref="LogEvents.SweepPbxFailed"/>, at most every
    /// <see cref="SweepReportInterval"/> per PBX) and skipped, and the others are swept.</remarks>
    /// <returns>Number of calls completed.</returns>
    /// <exception cref="NpgsqlException">The database cannot be reached (PBXes swept before stay swept).</exception>
    public async Task<int> SweepAsync(TimeSpan idle, CancellationToken ct)
    {
        var completed = 0;
        foreach (var (pbx, due) in await StreamStore.DueStreamsAsync(db, idle, ct))
        {
            if (due is not { } streamNow)
            {
                ReportSweepFailure(pbx, null, "its stream clock is beyond year 9999 (a frame stamped in the far future before Ingest:MaxFutureSkewSeconds); ./ct admin reset-pbx --pbx " + pbx);
                continue;
            }

            var unit = new Unit(CorrelationOrigin.Sweep);
            try
            {
                await using var conn = await db.OpenConnectionAsync(ct);
                await using var tx = await conn.BeginTransactionAsync(ct);
                await LiveAsync(conn, tx, pbx, null, [], streamNow, unit, ct);
                await tx.CommitAsync(ct);
            }
            catch (Exception ex) when (ex is not OperationCanceledException && (ex is PostgresException || !ProblemExceptionHandler.IsDatabaseUnavailable(ex)))
            {
                ReportSweepFailure(pbx, ex, ex.Message);
                continue;
            }

            Committed(unit);
            var calls = unit.Parts.Sum(p => p.Calls.Count);
            completed += calls;
            if (calls > 0)
            {
                logger.LogInformation("sweep {Pbx}: {Calls} calls closed at stream time {Now:O}", pbx, calls, streamNow);
            }
        }

        return completed;
    }

    /// <summary>How often one PBX's sweep failure is logged again while it lasts.</summary>
    public static readonly TimeSpan SweepReportInterval = TimeSpan.FromMinutes(10);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTimeOffset> _sweepReported = new(StringComparer.Ordinal);

    private void ReportSweepFailure(string pbx, Exception? ex, string why)
    {
        var now = _clock.GetUtcNow();
        if (_sweepReported.TryGetValue(pbx, out var at) && now - at < SweepReportInterval)
        {
            return;
        }

        _sweepReported[pbx] = now;
        logger.LogError(LogEvents.SweepPbxFailed, ex, "sweep {Pbx}: skipped, the other PBXes are swept: {Why}", pbx, why);
    }

    /// <summary>
    /// Replays frames of <paramref name="pbx"/> (an archived day) through a fresh engine of its protocol and time zone, in
    /// one transaction: <paramref name="warmup"/> first, correlated but not stored (calls that crossed into the day come
    /// back whole), then <paramref name="frames"/>, inserted again where missing and correlated; the calls they complete
    /// are upserted under the same keys and handed to the handlers as a <see cref="CorrelationOrigin.Restore"/>. Calls
    /// still open at the end are not stored. The PBX's live stream state is not touched.
    /// </summary>
    /// <exception cref="InvalidOperationException">The PBX is unknown.</exception>
    /// <exception cref="NpgsqlException">The database failed; nothing was committed.</exception>
    public async Task<ReplayResult> ReplayAsync(string pbx, IEnumerable<Envelope> warmup, IEnumerable<Envelope> frames, CancellationToken ct)
    {
        var (protocolName, zoneId) = await ArchiveStore.PbxAsync(db, pbx, ct) ?? throw new InvalidOperationException($"unknown PBX '{pbx}'");
        var protocol = PbxProtocols.Get(protocolName);
        var engine = protocol.Create(pbx, Options(zoneId, pbx));
        var discarded = new CallChangeList();
        Correlate(engine, protocol.Name, pbx, warmup, discarded);
        var changes = new CallChangeList();
        var (rows, errors, _) = Correlate(engine, protocol.Name, pbx, frames, changes);
        var unit = new Unit(CorrelationOrigin.Restore);
        int inserted;
        await using (var conn = await db.OpenConnectionAsync(ct))
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            inserted = await FrameStore.InsertFramesAsync(conn, tx, pbx, rows, ct);
            await StoreAsync(conn, tx, pbx, protocol.Name, changes, unit, ct);
            await tx.CommitAsync(ct);
        }

        Committed(unit);
        return new ReplayResult(inserted, errors, changes.Completed.Count, engine.OpenCalls);
    }

    /// <summary>One PBX of a live transaction: lock, engine (cached or loaded), frames and/or expiry, store, handlers, delta.</summary>
    private async Task<IngestTelemetry.PbxCounts> LiveAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, string? protocolIfNew, IReadOnlyList<Envelope> frames, DateTimeOffset? expireAt,
        Unit unit, CancellationToken ct)
    {
        var stored = await StreamStore.LockAsync(conn, tx, pbx, protocolIfNew, ct);
        var protocol = PbxProtocols.Find(stored.Protocol);
        var changes = new CallChangeList();
        if (protocol is null)
        {
            // a PBX registered with a protocol this build does not have: its frames are data, stored with the reason
            return await StoreUncorrelatedAsync(conn, tx, pbx, stored.Protocol, frames,
                $"the PBX's protocol '{stored.Protocol}' is not registered here; stored, not correlated", unit, ct);
        }

        var engine = cache.Take(pbx, stored.Version, protocol.Name, stored.TimeZone);
        if (engine is null)
        {
            var openCalls = await StreamStore.OpenCallsAsync(conn, tx, pbx, ct);
            try
            {
                engine = protocol.Restore(pbx, Options(stored.TimeZone, pbx), stored.State, openCalls);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // One PBX's unreadable state (written for another protocol, edited by hand) must not stop the batch's
                // other PBXes nor make the relay retry forever: its frames are stored uncorrelated, the state is kept
                // for an operator to look at (./ct admin reset-pbx starts the stream afresh).
                logger.LogError(LogEvents.StreamStateUnreadable, ex,
                    "PBX {Pbx}: saved {Protocol} stream state cannot be read ({Message}); {Count} frames stored uncorrelated until ./ct admin reset-pbx --pbx {Pbx}",
                    pbx, protocol.Name, ex.Message, frames.Count, pbx);
                return await StoreUncorrelatedAsync(conn, tx, pbx, protocol.Name, frames,
                    $"the PBX's saved {protocol.Name} stream state cannot be read ({ex.GetType().Name}); stored, not correlated (./ct admin reset-pbx)", unit, ct);
            }
        }

        var (rows, _, last) = Correlate(engine, protocol.Name, pbx, frames, changes);
        if (expireAt is { } now)
        {
            engine.Expire(now, changes);
        }

        var (inserted, errors) = await FrameStore.InsertFramesCountingAsync(conn, tx, pbx, rows, ct);
        await StoreAsync(conn, tx, pbx, protocol.Name, changes, unit, ct);
        var delta = engine.TakeDelta();
        var version = stored.Version;
        if (inserted > 0 || errors > 0 || delta.Upserts.Count > 0 || delta.Deletes.Count > 0 || delta.StreamState != stored.State)
        {
            version = await StreamStore.SaveAsync(conn, tx, pbx, delta, engine.OpenCalls, inserted, errors, last, ct);
        }

        unit.AfterCommit.Add(() => cache.Put(pbx, engine, version, stored.TimeZone));
        var part = new IngestTelemetry.PbxCounts(pbx, protocol.Name, inserted, errors, changes.Completed);
        unit.Parts.Add(part);
        return part;
    }

    /// <summary>Stores frames of a PBX whose stream cannot take them, each with <paramref name="reason"/> (or its own screening error).</summary>
    private async Task<IngestTelemetry.PbxCounts> StoreUncorrelatedAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, string protocol, IReadOnlyList<Envelope> frames, string reason, Unit unit, CancellationToken ct)
    {
        var now = _clock.GetUtcNow();
        var rows = frames.Select(e =>
        {
            var (text, error) = IncomingFrames.Screen(e, now, _maxFutureSkew);
            return new StoredFrame(e.Session, e.Seq, e.ReceivedAt, text, error is null ? reason : $"{error}; {reason}");
        }).ToList();
        var (n, errors) = await FrameStore.InsertFramesCountingAsync(conn, tx, pbx, rows, ct);
        var counts = new IngestTelemetry.PbxCounts(pbx, protocol, n, errors, []);
        unit.Parts.Add(counts);
        return counts;
    }

    /// <summary>
    /// Screens each frame (<see cref="IncomingFrames.Screen"/>: NUL, a relay's flag, a receive time too far ahead) and
    /// feeds the others to the engine; a frame of another protocol than the stream's is stored, not correlated, and so is
    /// one the engine failed on (logged; the batch goes on).
    /// </summary>
    /// <returns>The rows to store, how many carry an error, and the newest receive time of the frames the stream took
    /// (null when none: the stream's last frame time stays).</returns>
    private (List<StoredFrame> Rows, int Errors, DateTimeOffset? Last) Correlate(
        StreamCorrelator engine, string protocol, string pbx, IEnumerable<Envelope> frames, CallChangeList changes)
    {
        var now = _clock.GetUtcNow();
        var rows = new List<StoredFrame>();
        var errors = 0;
        DateTimeOffset? last = null;
        foreach (var e in frames)
        {
            var (text, error) = IncomingFrames.Screen(e, now, _maxFutureSkew);
            if (error is null && e.Protocol != protocol)
            {
                error = $"protocol '{e.Protocol}' differs from the PBX stream's '{protocol}'; stored, not correlated";
            }
            else if (error is null)
            {
                try
                {
                    error = engine.Process(new PbxFrame(pbx, e.Session, e.Seq, e.ReceivedAt, e.Frame), changes).Error;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // the engine promises not to throw on bad input; if it does, the frame is still data
                    logger.LogError(LogEvents.FrameFailed, ex, "PBX {Pbx}: session {Session} seq {Seq}: correlation failed ({Message}); stored with the error",
                        pbx, e.Session, e.Seq, ex.Message);
                    error = $"correlation failed ({ex.GetType().Name}: {ex.Message}); stored, not correlated";
                }

                last = last is { } l && l >= e.ReceivedAt ? l : e.ReceivedAt;
            }

            if (error is not null)
            {
                errors++;
            }

            rows.Add(new StoredFrame(e.Session, e.Seq, e.ReceivedAt, text, error));
        }

        return (rows, errors, last);
    }

    /// <summary>Upserts the completed calls and runs the handlers on the changes, in the transaction.</summary>
    private async Task StoreAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, string protocol, CallChangeList changes, Unit unit, CancellationToken ct)
    {
        await FrameStore.UpsertCallsAsync(conn, tx, changes.Completed, ct);
        if (_handlers.Length == 0 || changes.Changes.Count == 0)
        {
            return;
        }

        var context = new CallChangeContext
        {
            Connection = conn,
            Transaction = tx,
            Pbx = pbx,
            Protocol = protocol,
            Origin = unit.Origin,
            Changes = changes.Changes,
            Completed = changes.Completed,
        };
        foreach (var handler in _handlers)
        {
            await handler.HandleAsync(context, ct);
        }

        foreach (var (outbox, ids) in context.Outbox)
        {
            unit.AddOutbox(outbox, ids);
        }
    }

    /// <summary>After a commit: engines back into the cache, outbox rows to their in-process hand-offs.</summary>
    private void Committed(Unit unit)
    {
        foreach (var action in unit.AfterCommit)
        {
            action();
        }

        foreach (var handOff in _handOffs)
        {
            if (unit.Outbox(handOff.Outbox) is { Count: > 0 } ids)
            {
                handOff.Enqueue(ids);
            }
        }
    }

    private CorrelatorOptions Options(string zoneId, string pbx)
    {
        if (TimeZoneInfo.TryFindSystemTimeZoneById(zoneId, out var zone))
        {
            return new CorrelatorOptions { TimeZone = zone };
        }

        logger.LogWarning(LogEvents.UnknownTimeZone, "unknown time zone '{Zone}' on PBX {Pbx}; using UTC", zoneId, pbx);
        return new CorrelatorOptions { TimeZone = TimeZoneInfo.Utc };
    }

    /// <summary>What one transaction did, across its PBXes.</summary>
    private sealed class Unit(CorrelationOrigin origin)
    {
        private readonly Dictionary<string, List<long>> _outbox = new(StringComparer.Ordinal);

        public CorrelationOrigin Origin { get; } = origin;

        public List<IngestTelemetry.PbxCounts> Parts { get; } = [];

        public List<Action> AfterCommit { get; } = [];

        public void AddOutbox(string outbox, List<long> ids)
        {
            if (!_outbox.TryGetValue(outbox, out var all))
            {
                _outbox[outbox] = all = [];
            }

            all.AddRange(ids);
        }

        public IReadOnlyList<long> Outbox(string outbox) => _outbox.TryGetValue(outbox, out var ids) ? ids : [];
    }
}
