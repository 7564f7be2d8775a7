using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;
using Npgsql;

namespace CloudTelephony.Functions.Archive;

/// <summary>What happened to one PBX day in an archive run.</summary>
/// <param name="Pbx">PBX id.</param>
/// <param name="Day">UTC day.</param>
/// <param name="Blob">Blob name.</param>
/// <param name="Frames">Frames in the archive blob.</param>
/// <param name="Deleted">Frames deleted from PostgreSQL.</param>
/// <param name="Outcome"><c>archived</c>, <c>already-archived</c> (a verified blob existed; frames found again were deleted
/// because the blob holds them), <c>kept</c> (frames not in the verified blob stay) or <c>failed</c>.</param>
/// <param name="Error">Why it failed or was kept, else null.</param>
public sealed record ArchiveDayResult(string Pbx, DateOnly Day, string Blob, long Frames, long Deleted, string Outcome, string? Error)
{
    /// <summary>One readable line.</summary>
    public override string ToString()
        => $"{Pbx} {Day:yyyy-MM-dd}: {Outcome}, {Frames} frames in {Blob}, {Deleted} deleted{(Error is null ? "" : $" ({Error})")}";
}

/// <summary>Counts of a restore.</summary>
/// <param name="Pbx">PBX id.</param>
/// <param name="Day">UTC day restored.</param>
/// <param name="Frames">Frames in the archive blob.</param>
/// <param name="Inserted">Frames inserted back (the rest were still or again in <c>ct.frames</c>).</param>
/// <param name="ParseErrors">Frames that did not parse on replay.</param>
/// <param name="Calls">Calls re-correlated and upserted.</param>
/// <param name="OpenAtEnd">Calls still open at the end of the day (they continue the next day; not stored).</param>
/// <param name="WarmupFrames">Frames of the previous day replayed first, only to rebuild calls that crossed midnight.</param>
public sealed record RestoreResult(string Pbx, DateOnly Day, long Frames, int Inserted, int ParseErrors, int Calls, int OpenAtEnd, int WarmupFrames);

/// <summary>Where a hook runs in <see cref="FrameArchiver.RunAsync"/>.</summary>
/// <param name="Pbx">PBX id.</param>
/// <param name="Day">UTC day.</param>
/// <param name="Blob">The blob just uploaded.</param>
public sealed record ArchiveStep(string Pbx, DateOnly Day, BlobClient Blob);

/// <summary>
/// The raw-frame archive (issue 9). For every PBX day past its enterprise's retention that still has frames: write the
/// frames ordered by (session, seq) as gzip JSON Lines of <see cref="Envelope"/> to <c>frames/{pbx}/{yyyy}/{MM}/{dd}.jsonl.gz</c>,
/// record count and SHA-256 in <c>ct.archives</c>, download the blob back and check both, and only then — in the
/// transaction that marks the archive verified — delete exactly the frames read back from the blob. Calls stay.
/// A run interrupted anywhere before that transaction deletes nothing; the next run redoes an unverified day, and
/// never rewrites a verified one.
/// </summary>
public sealed class FrameArchiver(NpgsqlDataSource db, BlobContainerClient container, CorrelateAndStore correlate, ILogger<FrameArchiver> logger)
{
    /// <summary>For tests: runs after the upload is recorded and before it is verified (throw to simulate a crash).</summary>
    public Func<ArchiveStep, CancellationToken, Task>? AfterUpload { get; set; }

    /// <summary>The blob name of a PBX day: <c>frames/{pbx}/{yyyy}/{MM}/{dd}.jsonl.gz</c>.</summary>
    public static string BlobName(string pbx, DateOnly day) => $"frames/{pbx}/{day:yyyy}/{day:MM}/{day:dd}.jsonl.gz";

    /// <summary>Archives every due PBX day (see the class summary); a day that fails does not stop the others.</summary>
    /// <param name="now">The time the retention is counted back from (UTC date).</param>
    /// <param name="ct">Cancellation.</param>
    /// <returns>One result per PBX day that had frames due.</returns>
    public async Task<IReadOnlyList<ArchiveDayResult>> RunAsync(DateTimeOffset now, CancellationToken ct)
    {
        var due = await ArchiveStore.DueDaysAsync(db, now, ct);
        if (due.Count > 0)
        {
            await container.CreateIfNotExistsAsync(cancellationToken: ct);
        }

        var results = new List<ArchiveDayResult>(due.Count);
        foreach (var (pbx, day) in due)
        {
            ArchiveDayResult result;
            try
            {
                result = await ArchiveDayAsync(pbx, day, ct);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                result = new ArchiveDayResult(pbx, day, BlobName(pbx, day), 0, 0, "failed", ex.Message);
                logger.LogError(LogEvents.ArchiveFailed, ex, "archive {Pbx} {Day:yyyy-MM-dd} failed; its frames stay", pbx, day);
            }

            if (result.Outcome != "failed")
            {
                logger.LogInformation("archive {Result}", result);
            }

            results.Add(result);
        }

        return results;
    }

    private async Task<ArchiveDayResult> ArchiveDayAsync(string pbx, DateOnly day, CancellationToken ct)
    {
        var existing = await ArchiveStore.FindAsync(db, pbx, day, ct);
        if (existing?.VerifiedAt is not null)
        {
            return await DeleteAlreadyArchivedAsync(existing, ct);
        }

        var name = BlobName(pbx, day);
        var blob = container.GetBlobClient(name);
        await using var file = new FileStream(
            Path.Combine(Path.GetTempPath(), $"ct-archive-{Guid.NewGuid():N}.jsonl.gz"),
            FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        var frames = await WriteDayAsync(file, pbx, day, ct);
        file.Position = 0;
        var sha = await SHA256.HashDataAsync(file, ct);
        var bytes = file.Length;
        file.Position = 0;
        await blob.UploadAsync(file, new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/gzip" },
            Metadata = new Dictionary<string, string> { ["frames"] = frames.ToString(System.Globalization.CultureInfo.InvariantCulture), ["sha256"] = Convert.ToHexStringLower(sha) },
        }, ct);
        var id = await ArchiveStore.RecordUploadAsync(db, pbx, day, name, frames, sha, bytes, ct);

        if (AfterUpload is { } hook)
        {
            await hook(new ArchiveStep(pbx, day, blob), ct);
        }

        var recorded = await ArchiveStore.FindAsync(db, pbx, day, ct)
            ?? throw new InvalidOperationException($"archive row of {pbx} {day:yyyy-MM-dd} vanished");
        var keys = await VerifyAsync(blob, recorded, null, ct);
        var deleted = await ArchiveStore.CompleteAsync(db, id, recorded.Sha256, pbx, keys, ct);
        return new ArchiveDayResult(pbx, day, name, frames, deleted, "archived", null);
    }

    // A verified blob exists and frames of that day are in ct.frames again (a restore, or frames that arrived late).
    // Those the blob holds are deleted again (nothing is lost); others stay, and the day is reported.
    private async Task<ArchiveDayResult> DeleteAlreadyArchivedAsync(ArchiveRecord archive, CancellationToken ct)
    {
        var keys = await VerifyAsync(container.GetBlobClient(archive.BlobName), archive, null, ct);
        var archived = keys.ToHashSet();
        long notInBlob = 0;
        await foreach (var e in ArchiveStore.ReadDayAsync(db, archive.Pbx, archive.Day, ct))
        {
            if (!archived.Contains((e.Session, e.Seq)))
            {
                notInBlob++;
            }
        }

        var deleted = await ArchiveStore.CompleteAsync(db, archive.Id, archive.Sha256, archive.Pbx, keys, ct);
        return notInBlob == 0
            ? new ArchiveDayResult(archive.Pbx, archive.Day, archive.BlobName, archive.Frames, deleted, "already-archived", null)
            : new ArchiveDayResult(archive.Pbx, archive.Day, archive.BlobName, archive.Frames, deleted, "kept",
                $"{notInBlob} frames arrived after the day was archived and are not in its verified blob; they stay in the database");
    }

    private async Task<long> WriteDayAsync(Stream file, string pbx, DateOnly day, CancellationToken ct)
    {
        long frames = 0;
        await using var gzip = new GZipStream(file, CompressionLevel.Optimal, leaveOpen: true);
        await using var writer = new Utf8JsonWriter(gzip);
        var newline = "\n"u8.ToArray();
        await foreach (var envelope in ArchiveStore.ReadDayAsync(db, pbx, day, ct))
        {
            JsonSerializer.Serialize(writer, envelope, ContractsJson.Default.Envelope);
            await writer.FlushAsync(ct);
            writer.Reset();
            await gzip.WriteAsync(newline, ct);
            frames++;
        }

        return frames;
    }

    /// <summary>
    /// Downloads <paramref name="blob"/> and checks it against <paramref name="recorded"/>: SHA-256 and size of the bytes,
    /// number of lines, and that every line is an envelope of that PBX received on that day.
    /// </summary>
    /// <param name="blob">The blob.</param>
    /// <param name="recorded">Its <c>ct.archives</c> row.</param>
    /// <param name="envelopes">Receives the envelopes when not null.</param>
    /// <param name="ct">Cancellation.</param>
    /// <returns>The (session, seq) keys in the blob.</returns>
    /// <exception cref="InvalidDataException">The blob does not match.</exception>
    private static async Task<List<(string Session, long Seq)>> VerifyAsync(
        BlobClient blob, ArchiveRecord recorded, List<Envelope>? envelopes, CancellationToken ct)
    {
        Response<BlobDownloadStreamingResult> download;
        try
        {
            download = await blob.DownloadStreamingAsync(cancellationToken: ct);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            throw new InvalidDataException($"verify {recorded.BlobName}: the blob is missing");
        }

        var keys = new List<(string, long)>((int)Math.Min(recorded.Frames, 1_000_000));
        await using var content = download.Value.Content;
        await using var hashing = new HashingStream(content);
        await using (var gzip = new GZipStream(hashing, CompressionMode.Decompress, leaveOpen: true))
        using (var reader = new StreamReader(gzip, Encoding.UTF8))
        {
            var lineNo = 0L;
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                lineNo++;
                var e = JsonSerializer.Deserialize(line, ContractsJson.Default.Envelope)
                    ?? throw new InvalidDataException($"verify {recorded.BlobName}: line {lineNo} is null");
                if (e.Pbx != recorded.Pbx || DateOnly.FromDateTime(e.ReceivedAt.UtcDateTime) != recorded.Day)
                {
                    throw new InvalidDataException($"verify {recorded.BlobName}: line {lineNo} is of {e.Pbx} {e.ReceivedAt:O}, not of {recorded.Pbx} {recorded.Day:yyyy-MM-dd}");
                }

                keys.Add((e.Session, e.Seq));
                envelopes?.Add(e);
            }
        }

        await hashing.CopyToAsync(Stream.Null, ct); // bytes after the gzip trailer still count
        var sha = hashing.Hash();
        if (keys.Count != recorded.Frames)
        {
            throw new InvalidDataException($"verify {recorded.BlobName}: {keys.Count} lines, {recorded.Frames} recorded");
        }

        if (hashing.Length != recorded.Bytes || !sha.AsSpan().SequenceEqual(recorded.Sha256))
        {
            throw new InvalidDataException(
                $"verify {recorded.BlobName}: SHA-256 {Convert.ToHexStringLower(sha)} ({hashing.Length} bytes) differs from the recorded {Convert.ToHexStringLower(recorded.Sha256)} ({recorded.Bytes} bytes)");
        }

        return keys;
    }

    /// <summary>
    /// Brings an archived day back for re-correlation: downloads and verifies its blob, replays its frames through a fresh
    /// stream engine of the PBX's protocol and time zone (<see cref="CorrelateAndStore.ReplayAsync"/>), re-inserts the frames
    /// (ON CONFLICT DO NOTHING, parse errors as the replay found them) and upserts the calls it completes (same call keys,
    /// so the same calls), in one transaction.
    /// The previous day's frames (from the database, else its verified archive) are replayed first without storing
    /// anything, so calls that crossed midnight come back whole; calls still open at the end of the day are not stored
    /// (restoring the next day completes them). The live correlator state is not touched.
    /// </summary>
    /// <exception cref="InvalidOperationException">The PBX is unknown or the day has no verified archive.</exception>
    /// <exception cref="InvalidDataException">The blob does not match what was recorded.</exception>
    public async Task<RestoreResult> RestoreAsync(string pbx, DateOnly day, CancellationToken ct)
    {
        _ = await ArchiveStore.PbxAsync(db, pbx, ct) ?? throw new InvalidOperationException($"unknown PBX '{pbx}'");
        var archive = await ArchiveStore.FindAsync(db, pbx, day, ct);
        if (archive?.VerifiedAt is null)
        {
            throw new InvalidOperationException($"{pbx} {day:yyyy-MM-dd} has no verified archive");
        }

        var envelopes = new List<Envelope>();
        await VerifyAsync(container.GetBlobClient(archive.BlobName), archive, envelopes, ct);
        var warmup = await PreviousDayAsync(pbx, day.AddDays(-1), ct);
        var replay = await correlate.ReplayAsync(pbx, StreamOrder(warmup), StreamOrder(envelopes), ct);
        var result = new RestoreResult(pbx, day, envelopes.Count, replay.Inserted, replay.ParseErrors, replay.Calls, replay.OpenAtEnd, warmup.Count);
        logger.LogInformation("restore {Result}", result);
        return result;
    }

    // The previous day for warming the correlator up: its frames in the database, else its verified archive, else none.
    private async Task<List<Envelope>> PreviousDayAsync(string pbx, DateOnly day, CancellationToken ct)
    {
        var frames = new List<Envelope>();
        await foreach (var e in ArchiveStore.ReadDayAsync(db, pbx, day, ct))
        {
            frames.Add(e);
        }

        if (frames.Count == 0 && await ArchiveStore.FindAsync(db, pbx, day, ct) is { VerifiedAt: not null } archive)
        {
            await VerifyAsync(container.GetBlobClient(archive.BlobName), archive, frames, ct);
        }

        return frames;
    }

    // The order the stream arrived in: sessions (TCP connections) by their first frame's time, frames by seq within each.
    private static IEnumerable<Envelope> StreamOrder(IEnumerable<Envelope> frames)
        => frames.GroupBy(e => e.Session)
            .OrderBy(g => g.Min(e => e.ReceivedAt)).ThenBy(g => g.Key, StringComparer.Ordinal)
            .SelectMany(g => g.OrderBy(e => e.Seq));

    /// <summary>A read-only stream that hashes (SHA-256) and counts what is read through it.</summary>
    private sealed class HashingStream(Stream inner) : Stream
    {
        private readonly IncrementalHash hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => Position;

        public override long Position { get; set; }

        public byte[] Hash() => hash.GetHashAndReset();

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = inner.Read(buffer);
            hash.AppendData(buffer[..n]);
            Position += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            hash.AppendData(buffer.Span[..n]);
            Position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                hash.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
