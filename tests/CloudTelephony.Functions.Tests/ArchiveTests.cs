using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Archive;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Ingest;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.Functions.Tests;

/// <summary>
/// The raw-frame archive against real PostgreSQL (CT_POSTGRES) and a real Azurite (CT_BLOB), with the real Slican capture
/// (UTC days 2025-09-02..04, all older than the default 90-day retention).
/// </summary>
public sealed class ArchiveTests : IAsyncLifetime
{
    private static readonly DateOnly[] Days = [new(2025, 9, 2), new(2025, 9, 3), new(2025, 9, 4)];

    // Every column of a call except id and stored_at, with its legs and events, one line per call.
    private const string CallsSql = """
        SELECT string_agg(line, E'\n' ORDER BY line) FROM (
          SELECT concat_ws('|', c.call_key, c.direction, c.status, c.missed_reason, c.caller, c.caller_name, c.called, c.answered_by,
                           array_to_string(c.extensions, ','), c.trunk, c.started_at, c.answered_at, c.ended_at, c.ring_seconds,
                           c.talk_seconds, c.transfers::text, c.ivr_digits,
                           (SELECT string_agg(concat_ws(',', p.ordinal, p.endpoint, p.role, p.rang_at, p.answered_at, p.ended_at, p.outcome), ';' ORDER BY p.ordinal)
                              FROM ct.call_participants p WHERE p.call_id = c.id),
                           (SELECT string_agg(concat_ws(',', e.ordinal, e.at, e.kind, e.endpoint, e.detail, e.session, e.seq), ';' ORDER BY e.ordinal)
                              FROM ct.call_events e WHERE e.call_id = c.id)) AS line
            FROM ct.calls c WHERE c.pbx = 'slican') t
        """;

    private const string FramesSql = """
        SELECT string_agg(concat_ws('|', session, seq, received_at, text, parse_error), E'\n' ORDER BY session, seq)
          FROM ct.frames WHERE pbx = 'slican'
        """;

    private readonly BlobArchive _blobs = new();
    private FunctionsServer _server = null!;

    public async Task InitializeAsync()
    {
        await _blobs.InitializeAsync();
        _server = new FunctionsServer(0, _blobs.AppArgs);
        await _server.InitializeAsync();
        Assert.Equal(HttpStatusCode.OK, (await _server.PostFramesAsync(Capture.Ctip())).StatusCode);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _blobs.DisposeAsync();
    }

    [Fact]
    public async Task Archive_timer_writes_one_verified_blob_per_day_deletes_the_frames_and_keeps_the_calls()
    {
        var perDay = new Dictionary<DateOnly, long>();
        foreach (var day in Days)
        {
            perDay[day] = await _server.Db.ScalarAsync(
                $"SELECT count(*) FROM ct.frames WHERE (received_at AT TIME ZONE 'UTC')::date = '{day:yyyy-MM-dd}'");
        }

        Assert.Equal(Capture.Ctip().Count, perDay.Values.Sum());
        Assert.All(perDay.Values, n => Assert.True(n > 0));
        var calls = await TextAsync(CallsSql);
        Assert.False(string.IsNullOrEmpty(calls));

        // The Functions host's timer invocation (protocols/functions-custom-handler.md §4.3).
        var timer = HostPayloads.Timer("ArchiveFrames");
        var response = await _server.Http.PostAsync("/ArchiveFrames", new StringContent(timer, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = await response.Content.ReadFromJsonAsync(ApiJson.Default.InvocationResponse);
        Assert.Equal(4, answer!.Logs.Count);
        Assert.Contains("archive: 3 PBX days due", answer.Logs[0]);

        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
        Assert.Equal(calls, await TextAsync(CallsSql));
        Assert.Equal(3, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.archives WHERE verified_at IS NOT NULL AND deleted_at IS NOT NULL"));
        foreach (var day in Days)
        {
            var name = FrameArchiver.BlobName("slican", day);
            Assert.Equal($"frames/slican/2025/09/{day:dd}.jsonl.gz", name);
            var bytes = (await _blobs.Container.GetBlobClient(name).DownloadContentAsync()).Value.Content.ToArray();
            var lines = Lines(bytes);
            Assert.Equal(perDay[day], lines.Count);
            Assert.Equal(perDay[day], await _server.Db.ScalarAsync($"SELECT frames FROM ct.archives WHERE pbx = 'slican' AND day = '{day:yyyy-MM-dd}'"));
            Assert.Equal(bytes.Length, await _server.Db.ScalarAsync($"SELECT bytes FROM ct.archives WHERE pbx = 'slican' AND day = '{day:yyyy-MM-dd}'"));
            Assert.Equal(1, await _server.Db.ScalarAsync(
                $"SELECT count(*) FROM ct.archives WHERE pbx = 'slican' AND day = '{day:yyyy-MM-dd}' AND sha256 = '\\x{Convert.ToHexStringLower(SHA256.HashData(bytes))}'::bytea"));
            var envelopes = lines.Select(l => System.Text.Json.JsonSerializer.Deserialize(l, ContractsJson.Default.Envelope)!).ToList();
            Assert.All(envelopes, e => Assert.Equal(("slican", "ctip", day), (e.Pbx, e.Protocol, DateOnly.FromDateTime(e.ReceivedAt.UtcDateTime))));
            Assert.Equal(envelopes.OrderBy(e => e.Session, StringComparer.Ordinal).ThenBy(e => e.Seq).Select(e => e.Seq), envelopes.Select(e => e.Seq));
        }

        // A second run finds nothing due and touches nothing.
        var again = await (await _server.Http.PostAsync("/ArchiveFrames", new StringContent(timer, Encoding.UTF8, "application/json")))
            .Content.ReadFromJsonAsync(ApiJson.Default.InvocationResponse);
        Assert.Equal(new[] { "archive: 0 PBX days due" }, again!.Logs);
    }

    [Fact]
    public async Task Archive_interrupted_after_upload_deletes_nothing_unverified_and_a_rerun_completes()
    {
        var total = await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames");
        var day3 = await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE received_at >= '2025-09-03Z' AND received_at < '2025-09-04Z'");
        var day4 = await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE received_at >= '2025-09-04Z'");
        var archiver = Archiver();
        archiver.AfterUpload = async (step, ct) =>
        {
            if (step.Day == Days[1])
            {
                throw new IOException("simulated crash between upload and verify");
            }

            if (step.Day == Days[2])
            {
                await step.Blob.DeleteAsync(cancellationToken: ct); // the blob is gone when verify reads it back
            }
        };

        var first = await archiver.RunAsync(DateTimeOffset.UtcNow, CancellationToken.None);

        Assert.Equal(new[] { "archived", "failed", "failed" }, first.Select(r => r.Outcome));
        Assert.Contains("simulated crash", first[1].Error);
        Assert.Contains("missing", first[2].Error);
        Assert.Equal(total - first[0].Frames, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
        Assert.Equal(day3 + day4, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE received_at >= '2025-09-03Z'"));
        Assert.Equal(2, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.archives WHERE verified_at IS NULL AND deleted_at IS NULL"));
        var verifiedBlob = await _blobs.Container.GetBlobClient(FrameArchiver.BlobName("slican", Days[0])).GetPropertiesAsync();

        archiver.AfterUpload = null;
        var rerun = await archiver.RunAsync(DateTimeOffset.UtcNow, CancellationToken.None);

        Assert.Equal(new[] { (Days[1], "archived", day3), (Days[2], "archived", day4) }, rerun.Select(r => (r.Day, r.Outcome, r.Deleted)));
        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
        Assert.Equal(3, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.archives WHERE verified_at IS NOT NULL AND deleted_at IS NOT NULL"));
        var after = await _blobs.Container.GetBlobClient(FrameArchiver.BlobName("slican", Days[0])).GetPropertiesAsync();
        Assert.Equal(verifiedBlob.Value.ETag, after.Value.ETag); // the verified archive was not rewritten
    }

    [Fact]
    public async Task Restore_brings_the_frames_back_and_re_correlates_them_to_the_same_calls()
    {
        var frames = await TextAsync(FramesSql);
        var calls = await TextAsync(CallsSql);
        var archiver = Archiver();
        Assert.All(await archiver.RunAsync(DateTimeOffset.UtcNow, CancellationToken.None), r => Assert.Equal("archived", r.Outcome));
        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));

        // Throw the calls away so that only re-correlation can bring them back.
        await _server.Db.ScalarAsync("WITH d AS (DELETE FROM ct.calls RETURNING 1) SELECT count(*) FROM d");

        var restored = new List<RestoreResult>();
        foreach (var day in Days)
        {
            restored.Add(await archiver.RestoreAsync("slican", day, CancellationToken.None));
        }

        Assert.Equal(frames, await TextAsync(FramesSql));
        Assert.Equal(calls, await TextAsync(CallsSql));
        Assert.Equal(Capture.Ctip().Count, restored.Sum(r => r.Inserted));
        Assert.Equal(0, restored[0].WarmupFrames);
        Assert.True(restored[1].WarmupFrames > 0, "the day before comes from the database (just restored)");

        // Restoring again inserts nothing and changes nothing; the next archive run deletes the restored frames again
        // (the verified blobs hold them) without rewriting the blobs.
        var again = await archiver.RestoreAsync("slican", Days[1], CancellationToken.None);
        Assert.Equal(0, again.Inserted);
        Assert.Equal(calls, await TextAsync(CallsSql));
        var rerun = await archiver.RunAsync(DateTimeOffset.UtcNow, CancellationToken.None);
        Assert.All(rerun, r => Assert.Equal("already-archived", r.Outcome));
        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
    }

    [Fact]
    public async Task Restore_of_a_single_day_warms_up_from_the_archive_of_the_day_before()
    {
        var calls = await TextAsync(CallsSql);
        var archiver = Archiver();
        await archiver.RunAsync(DateTimeOffset.UtcNow, CancellationToken.None);

        var r = await archiver.RestoreAsync("slican", Days[2], CancellationToken.None);

        Assert.True(r.WarmupFrames > 0, "the day before comes from its archive");
        Assert.Equal(r.Frames, r.Inserted);
        Assert.Equal(r.Frames, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
        Assert.Equal(calls, await TextAsync(CallsSql));
        await Assert.ThrowsAsync<InvalidOperationException>(() => archiver.RestoreAsync("slican", new DateOnly(2025, 9, 5), CancellationToken.None));
    }

    [Fact]
    public async Task Only_days_older_than_the_enterprise_retention_are_archived()
    {
        await _server.Db.ScalarAsync("WITH u AS (UPDATE ct.enterprises SET frame_retention_days = 2 RETURNING 1) SELECT count(*) FROM u");

        // Today 2025-09-05, 2 days of retention: 2025-09-02 is due, 09-03 and 09-04 are not.
        var results = await Archiver().RunAsync(new DateTimeOffset(2025, 9, 5, 23, 0, 0, TimeSpan.Zero), CancellationToken.None);

        var only = Assert.Single(results);
        Assert.Equal((Days[0], "archived"), (only.Day, only.Outcome));
        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE received_at < '2025-09-03Z'"));
        Assert.True(await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE received_at >= '2025-09-03Z'") > 0);
    }

    private FrameArchiver Archiver() => new(_server.Db.DataSource, _blobs.Container,
        new CorrelateAndStore(_server.Db.DataSource, new StreamCache(new IngestOptions()), [], [], NullLogger<CorrelateAndStore>.Instance),
        NullLogger<FrameArchiver>.Instance);

    private async Task<string?> TextAsync(string sql)
    {
        await using var cmd = _server.Db.DataSource.CreateCommand(sql);
        return await cmd.ExecuteScalarAsync() as string;
    }

    private static List<string> Lines(byte[] gzip)
    {
        using var reader = new StreamReader(new GZipStream(new MemoryStream(gzip), CompressionMode.Decompress), Encoding.UTF8);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            lines.Add(line);
        }

        return lines;
    }
}
