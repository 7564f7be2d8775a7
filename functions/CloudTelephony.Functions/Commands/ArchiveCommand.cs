using System.CommandLine;
using System.Globalization;
using CloudTelephony.Functions.Archive;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.Functions.Hosting;
using Npgsql;

namespace CloudTelephony.Functions.Commands;

/// <summary><c>admin archive run|restore</c>: the raw-frame archive from the command line.</summary>
public static class ArchiveCommand
{
    /// <summary>Builds the command tree.</summary>
    public static Command Create()
    {
        var now = new Option<string?>("--now") { Description = "count retention back from this time (ISO 8601; default: now)" };
        var run = new Command("run", "Archive every PBX day older than its enterprise's retention to Blob Storage, verify, then delete its frames") { now };
        run.SetAction(async (parse, ct) =>
        {
            var at = parse.GetValue(now) is { } text
                ? DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal)
                : DateTimeOffset.UtcNow;
            await using var session = Session.Open();
            var results = await session.Archiver.RunAsync(at, ct);
            foreach (var r in results)
            {
                Console.WriteLine(r);
            }

            var failed = results.Count(r => r.Outcome == "failed");
            Console.WriteLine($"archive: {results.Count} PBX days due, {results.Count(r => r.Outcome == "archived")} archived, "
                              + $"{results.Sum(r => r.Deleted)} frames deleted, {failed} failed");
            return failed == 0 ? 0 : 1;
        });

        var pbx = new Option<string>("--pbx") { Description = "PBX id", Required = true };
        var day = new Option<string>("--day") { Description = "UTC day, YYYY-MM-DD", Required = true };
        var restore = new Command("restore", "Bring an archived PBX day back: re-insert its frames and re-correlate them into calls") { pbx, day };
        restore.SetAction(async (parse, ct) =>
        {
            if (!DateOnly.TryParseExact(parse.GetValue(day), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d))
            {
                throw new ConfigException($"--day '{parse.GetValue(day)}' is not YYYY-MM-DD");
            }

            await using var session = Session.Open();
            RestoreResult r;
            try
            {
                r = await session.Archiver.RestoreAsync(parse.GetValue(pbx)!, d, ct);
            }
            catch (Exception ex) when (ex is InvalidOperationException or InvalidDataException or Azure.RequestFailedException)
            {
                Console.Error.WriteLine($"error: restore: {ex.Message}");
                return 1;
            }

            Console.WriteLine($"restore {r.Pbx} {r.Day:yyyy-MM-dd}: {r.Frames} frames in the archive, {r.Inserted} inserted, "
                              + $"{r.ParseErrors} parse errors, {r.Calls} calls re-correlated, {r.OpenAtEnd} still open at the end of the day "
                              + $"(warm-up: {r.WarmupFrames} frames of the day before)");
            return 0;
        });

        return new Command("archive", "Raw-frame archive in Blob Storage (Archive__BlobConnectionString or CT_BLOB)") { run, restore };
    }

    // The database, a console logger (warnings and errors) and the archiver, disposed together.
    private sealed class Session(NpgsqlDataSource db, ILoggerFactory logging, FrameArchiver archiver) : IAsyncDisposable
    {
        public FrameArchiver Archiver => archiver;

        public static Session Open()
        {
            var config = AppConfig.Load();
            var container = ArchiveOptions.From(config).CreateContainerClient();
            var db = NpgsqlDataSource.Create(AppConfig.ConnectionString(config));
            var logging = AppLogging.CreateFactory(config, LogLevel.Warning);
            // restores replay history: no call-change handlers (SMS rules skip restores anyway), no engine cache to keep
            var correlate = new CorrelateAndStore(db, new StreamCache(new IngestOptions { StreamCacheSize = 0 }), [], [], logging.CreateLogger<CorrelateAndStore>());
            return new Session(db, logging, new FrameArchiver(db, container, correlate, logging.CreateLogger<FrameArchiver>()));
        }

        public async ValueTask DisposeAsync()
        {
            await db.DisposeAsync();
            logging.Dispose();
        }
    }
}
