using CloudTelephony.Contracts;
using CloudTelephony.Functions.Commands;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.Functions.Tests;

/// <summary>The admin CLI against a real database: ordinary mistakes are one line and exit 2 and write nothing;
/// the list/show commands print what is stored.</summary>
public sealed class AdminCommandTests : IAsyncLifetime
{
    private readonly PostgresDatabase _db = new();

    public Task InitializeAsync() => _db.InitializeAsync();

    public Task DisposeAsync() => _db.DisposeAsync();

    private async Task<(int Code, string Out, string Err)> AdminAsync(params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var code = await Cli.InvokeAsync(AdminCommand.Create(() => _db.DataSource, output, errors), args, output, errors);
        return (code, output.ToString(), errors.ToString());
    }

    private async Task<string> OkAsync(params string[] args)
    {
        var (code, output, errors) = await AdminAsync(args);
        Assert.True(code == 0, $"admin {string.Join(' ', args)} exited {code}: {errors}");
        return output;
    }

    private async Task<string> MistakeAsync(params string[] args)
    {
        var (code, output, errors) = await AdminAsync(args);
        Assert.True(code == 2, $"admin {string.Join(' ', args)} exited {code}: {output} {errors}");
        var line = Assert.Single(errors.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.DoesNotContain("Npgsql", line, StringComparison.Ordinal);
        Assert.DoesNotContain("Include Error Detail", line, StringComparison.Ordinal);
        return line;
    }

    private static async Task<string> FileAsync(string text)
    {
        var path = Path.Combine(Path.GetTempPath(), $"ct-admin-{Guid.NewGuid():N}.csv");
        await File.WriteAllTextAsync(path, text);
        return path;
    }

    [Fact]
    public async Task Duplicate_enterprise_and_unknown_zone_are_one_line_and_write_nothing()
    {
        await OkAsync("enterprise", "add", "--name", "acme");

        Assert.Contains("'acme' exists already", await MistakeAsync("enterprise", "add", "--name", "acme"));
        Assert.Contains("Mars/Olympus", await MistakeAsync("enterprise", "add", "--name", "mars", "--time-zone", "Mars/Olympus"));
        Assert.Equal(1, await _db.ScalarAsync("SELECT count(*) FROM ct.enterprises WHERE name IN ('acme', 'mars')"));
    }

    [Fact]
    public async Task Smart_settings_out_of_range_are_refused_before_writing()
    {
        await OkAsync("enterprise", "add", "--name", "acme");

        Assert.Contains("--budget-ms: 99999", await MistakeAsync("smart", "set", "--enterprise", "acme", "--budget-ms", "99999", "--mode", "name-only"));
        Assert.Contains("--region: 'XX'", await MistakeAsync("smart", "set", "--enterprise", "acme", "--region", "XX"));
        Assert.Contains("--lookback-days", await MistakeAsync("smart", "set", "--enterprise", "acme", "--lookback-days", "0"));
        Assert.Contains("a whole number", await MistakeAsync("smart", "set", "--enterprise", "acme", "--budget-ms", "abc"));
        Assert.Contains("no enterprise 'nobody'", await MistakeAsync("smart", "set", "--enterprise", "nobody", "--mode", "off"));

        var shown = await OkAsync("smart", "show", "--enterprise", "acme");
        Assert.StartsWith("mode off, strategy last_call, fallback none, budget 300 ms", shown, StringComparison.Ordinal);
        Assert.Contains("region PL", shown);
    }

    [Fact]
    public async Task Imports_check_their_file_before_writing()
    {
        await OkAsync("enterprise", "add", "--name", "acme");
        var contacts = await FileAsync("name,company,number\nJan Kowalski,ACME,+48 693 109 180\n");

        Assert.Contains("missing.csv", await MistakeAsync("contacts", "import", "--enterprise", "acme", "--file", "/nonexistent/missing.csv"));
        Assert.Contains("line 1: 'name' is not an extension number", await MistakeAsync("extensions", "import", "--enterprise", "acme", "--file", contacts));
        Assert.Contains("line 2: 'Jan Kowalski'", await MistakeAsync("extensions", "import", "--enterprise", "acme", "--file", await FileAsync("101,7,Anna\nJan Kowalski,ACME,693109180\n")));
        Assert.Equal(0, await _db.ScalarAsync("SELECT count(*) FROM ct.extensions"));
        Assert.Contains("no row with a name and a valid number", await MistakeAsync("contacts", "import", "--enterprise", "acme", "--file", await FileAsync("ext,internalId\n101,7\n")));

        Assert.Contains("2 extension(s) imported", await OkAsync("extensions", "import", "--enterprise", "acme", "--file", await FileAsync("ext,internalId,user\n101,7,Anna\n*55,,Voicemail\n")));
        Assert.Contains("1 number(s) imported", await OkAsync("contacts", "import", "--enterprise", "acme", "--file", contacts));
    }

    [Fact]
    public async Task A_pbx_takes_its_enterprises_time_zone_unless_given_one()
    {
        await OkAsync("enterprise", "add", "--name", "tokyo", "--time-zone", "Asia/Tokyo");
        await OkAsync("enterprise", "add", "--name", "warsaw");

        Assert.Contains("time zone Asia/Tokyo", await OkAsync("pbx", "assign", "--pbx", "ipo", "--enterprise", "tokyo", "--protocol", "smdr"));
        Assert.Contains("time zone America/New_York", await OkAsync("pbx", "assign", "--pbx", "ipo", "--enterprise", "tokyo", "--time-zone", "America/New_York"));
        Assert.Contains("time zone America/New_York", await OkAsync("pbx", "assign", "--pbx", "ipo", "--enterprise", "tokyo")); // stays: its own zone
        Assert.Contains("time zone Europe/Warsaw", await OkAsync("pbx", "assign", "--pbx", "ipo", "--enterprise", "warsaw")); // moved: the new enterprise's
        Assert.Contains("Mars/Olympus", await MistakeAsync("pbx", "assign", "--pbx", "ipo", "--enterprise", "warsaw", "--time-zone", "Mars/Olympus"));
        Assert.Contains("give --protocol", await MistakeAsync("pbx", "assign", "--pbx", "never-seen", "--enterprise", "warsaw"));

        // a PBX that first shows up through ingest is filed under 'default' and takes that enterprise's zone too
        await _db.ScalarAsync("UPDATE ct.enterprises SET time_zone = 'Europe/Lisbon' WHERE name = 'default'; SELECT 0");
        await _db.ScalarAsync("INSERT INTO ct.pbxes (id, enterprise_id, protocol) SELECT 'auto', id, 'ctip' FROM ct.enterprises WHERE name = 'default'; SELECT 0");
        var list = await OkAsync("pbx", "list");
        Assert.Contains("auto\tdefault\tctip\tEurope/Lisbon", list);
        Assert.Contains("ipo\twarsaw\tsmdr\tEurope/Warsaw", list);
    }

    [Fact]
    public async Task Token_and_relay_lists_show_what_is_stored_and_forget_removes_a_relay()
    {
        await OkAsync("enterprise", "add", "--name", "acme");
        var created = await OkAsync("token", "create", "--enterprise", "acme", "--scope", "crm");
        var secret = created.Split(": ")[1].Split('\n')[0].Trim();
        await OkAsync("token", "revoke", "--id", "1");
        await OkAsync("token", "create", "--enterprise", "acme", "--scope", "routing");

        var tokens = await OkAsync("token", "list", "--enterprise", "acme");
        Assert.Matches(@"\n1\tacme\tcrm\t\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\t\d{4}-", tokens);
        Assert.Matches(@"\n2\tacme\trouting\t.*\tactive", tokens);
        Assert.DoesNotContain(secret, tokens);

        var deadSince = new DateTimeOffset(2025, 9, 2, 14, 6, 0, TimeSpan.Zero);
        await new Storage.HeartbeatStore(_db.DataSource).SaveAsync(
            [HeartbeatTests.Beat("site-a") with { DeadLetters = 3, DeadLetterOldestAt = deadSince }], DateTimeOffset.UtcNow, default);
        var relays = await OkAsync("relay", "list");
        Assert.Contains("site-a\t1.2.3\t", relays);
        Assert.Contains("\tdead letters\t", relays);
        Assert.Contains("\t3 (oldest 2025-09-02 14:06:00)\t", relays);
        Assert.Contains("branch: refused: wrong key (NA 11)", relays);
        Assert.Contains("'site-a' forgotten", await OkAsync("relay", "forget", "--relay", "site-a"));
        Assert.Contains("no relay 'site-a'", await MistakeAsync("relay", "forget", "--relay", "site-a"));
        Assert.Equal(0, await _db.ScalarAsync("SELECT count(*) FROM ct.pbx_status"));
    }
}

/// <summary><c>admin import</c>: an old collector's log back-filled with its own times, idempotently, apart from the live stream.</summary>
public sealed class HistoryImportTests : IAsyncLifetime
{
    private readonly PostgresDatabase _db = new();

    public Task InitializeAsync() => _db.InitializeAsync();

    public Task DisposeAsync() => _db.DisposeAsync();

    private async Task<(int Code, string Out, string Err)> AdminAsync(params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var code = await Cli.InvokeAsync(AdminCommand.Create(() => _db.DataSource, output, errors), args, output, errors);
        return (code, output.ToString(), errors.ToString());
    }

    [Fact]
    public async Task A_ctip_log_imports_with_its_own_times_once_through_the_pbx_stream()
    {
        var log = TestPaths.Sample("slican-ncp-2025-09-02_04.tsv");
        Assert.Equal(0, (await AdminAsync("enterprise", "add", "--name", "acme")).Code);
        Assert.Equal(0, (await AdminAsync("pbx", "assign", "--pbx", "office", "--enterprise", "acme", "--protocol", "ctip")).Code);

        var (code, output, errors) = await AdminAsync("import", "--pbx", "office", "--input", log);

        Assert.True(code == 0, errors);
        Assert.Contains("855 frames from 2025-09-02 13:44:19 to 2025-09-04 10:55:21 UTC, 855 stored (0 already there), 0 parse errors", output);
        Assert.Contains("100% 855/855 frames", errors);
        // the capture's own times; the calls still in progress at the log's end stay open in the PBX's stream (the next
        // live frames or the call sweep close them): completed + open = the 80 calls ./ct correlate gives
        var stored = await _db.ScalarAsync("SELECT count(*) FROM ct.calls WHERE pbx = 'office'");
        var open = await _db.ScalarAsync("SELECT open_calls FROM ct.correlator_state WHERE pbx = 'office'");
        Assert.Equal(80, stored + open);
        Assert.True(open > 0);
        Assert.Equal(open, await _db.ScalarAsync("SELECT count(*) FROM ct.open_calls WHERE pbx = 'office'"));
        Assert.Contains($"calls: {stored} (", output);
        Assert.Contains($"; {open} still in progress", output);
        Assert.Equal(1, await _db.ScalarAsync("SELECT count(*) FROM ct.calls WHERE pbx = 'office' AND started_at = '2025-09-02 13:44:19.03303+00' AND talk_seconds BETWEEN 5.2 AND 5.21"));
        Assert.Equal(1, await _db.ScalarAsync("SELECT count(DISTINCT session) FROM ct.frames WHERE pbx = 'office' AND session LIKE 'import:%'"));
        Assert.Equal(855, await _db.ScalarAsync("SELECT frames_total FROM ct.correlator_state WHERE pbx = 'office'"));
        Assert.Equal(1, await _db.ScalarAsync("SELECT count(*) FROM ct.correlator_state WHERE pbx = 'office' AND state LIKE '{\"format\":2,%' AND last_frame_at = '2025-09-04 10:55:21.189119+00'"));

        var storedAt = await _db.ScalarAsync("SELECT extract(epoch FROM max(stored_at))::bigint * 1000000 + count(*) FROM ct.calls");
        var again = await AdminAsync("import", "--pbx", "office", "--input", log);
        Assert.Equal(0, again.Code);
        Assert.Contains("already imported", again.Out);
        Assert.Equal(storedAt, await _db.ScalarAsync("SELECT extract(epoch FROM max(stored_at))::bigint * 1000000 + count(*) FROM ct.calls"));
        Assert.Equal(855, await _db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE pbx = 'office'"));
    }

    [Fact]
    public async Task An_import_followed_by_live_ingest_of_the_next_frames_continues_the_calls_in_progress()
    {
        // The old collector's log stops in the middle of worked example 2 (fixtures README): the ring group for
        // 693109180 rang all six members (lines 39-44), the answer (line 46) and the releases come live from the relay.
        var lines = await File.ReadAllLinesAsync(TestPaths.Sample("slican-ncp-2025-09-02_04.tsv"));
        var log = Path.Combine(Path.GetTempPath(), $"ct-import-{Guid.NewGuid():N}.tsv");
        await File.WriteAllLinesAsync(log, lines[..44]);
        try
        {
            Assert.Equal(0, (await AdminAsync("enterprise", "add", "--name", "acme")).Code);
            Assert.Equal(0, (await AdminAsync("pbx", "assign", "--pbx", "office", "--enterprise", "acme", "--protocol", "ctip")).Code);
            var imported = await AdminAsync("import", "--pbx", "office", "--input", log);
            Assert.True(imported.Code == 0, imported.Err);
            Assert.Contains("; 1 still in progress", imported.Out);
            Assert.Equal(0, await _db.ScalarAsync("SELECT count(*) FROM ct.calls WHERE pbx = 'office' AND started_at = '2025-09-03 07:07:42.924412+00'"));

            // the relay takes over: its own session, the rest of the capture, through the live ingest path
            var live = new CorrelateAndStore(_db.DataSource, new StreamCache(new IngestOptions()), [], [], NullLogger<CorrelateAndStore>.Instance);
            var rest = CaptureFile.Read(log, "ctip").Count() is var n && n == 44
                ? CaptureFile.Read(TestPaths.Sample("slican-ncp-2025-09-02_04.tsv"), "ctip").Skip(44).ToList()
                : throw new InvalidOperationException("the import log has the wrong length");
            var envelopes = rest.Select((f, i) => new Envelope("office", "ctip", "relay-1", i + 1, f.ReceivedAt!.Value.ToUniversalTime(), f.Frame)).ToList();
            foreach (var chunk in envelopes.Chunk(200))
            {
                await live.IngestAsync(chunk, CancellationToken.None);
            }

            // one call, begun by the import (its key is the import's frame), answered and ended live
            Assert.Equal(1, await _db.ScalarAsync(
                """
                SELECT count(*) FROM ct.calls
                 WHERE pbx = 'office' AND started_at = '2025-09-03 07:07:42.924412+00' AND call_key LIKE 'import:%:39'
                   AND answered_by = '101' AND status = 'answered' AND direction = 'inbound'
                   AND ring_seconds BETWEEN 14.8 AND 14.9 AND talk_seconds BETWEEN 115.3 AND 115.4
                   AND cardinality(extensions) = 6
                """));
            Assert.Equal(0, await _db.ScalarAsync("SELECT count(*) FROM ct.calls WHERE pbx = 'office' AND started_at BETWEEN '2025-09-03 07:07:43+00' AND '2025-09-03 07:09:53+00'"));
            // and the whole capture's calls, none lost or doubled across the hand-over
            Assert.Equal(80, await _db.ScalarAsync("SELECT count(*) FROM ct.calls WHERE pbx = 'office'")
                             + await _db.ScalarAsync("SELECT open_calls FROM ct.correlator_state WHERE pbx = 'office'"));
        }
        finally
        {
            File.Delete(log);
        }
    }

    [Fact]
    public async Task An_smdr_log_reads_local_times_in_the_pbx_zone_and_mistakes_are_one_line()
    {
        var log = TestPaths.Sample("smdr", "ipo-30field-2018-ru.csv");
        Assert.Equal(0, (await AdminAsync("enterprise", "add", "--name", "moscow", "--time-zone", "Europe/Moscow")).Code);
        Assert.Equal(0, (await AdminAsync("pbx", "assign", "--pbx", "ipo", "--enterprise", "moscow", "--protocol", "smdr")).Code);

        Assert.Contains("is not known", Assert.Single((await AdminAsync("import", "--pbx", "nope", "--input", log)).Err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Contains("speaks smdr", (await AdminAsync("import", "--pbx", "ipo", "--input", log, "--protocol", "ami")).Err);
        Assert.Equal(2, (await AdminAsync("import", "--pbx", "ipo", "--input", log, "--time-zone", "Mars/Olympus")).Code);
        Assert.Equal(2, (await AdminAsync("import", "--pbx", "ipo", "--input", "/nonexistent.csv")).Code);

        var (code, output, errors) = await AdminAsync("import", "--pbx", "ipo", "--input", log);
        Assert.True(code == 0, errors);
        Assert.Contains("time zone Europe/Moscow", output);
        var offline = CorrelateCommand.Correlate("smdr", [new FileInfo(log)], TimeZoneInfo.FindSystemTimeZoneById("Europe/Moscow"), "ipo", DateTimeOffset.UnixEpoch).Calls;
        Assert.Equal(offline.Count, await _db.ScalarAsync("SELECT count(*) FROM ct.calls WHERE pbx = 'ipo'"));
        var firstStart = offline.Min(c => c.StartedAt).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(1, await _db.ScalarAsync($"SELECT count(*) FROM ct.calls WHERE pbx = 'ipo' AND date_trunc('second', started_at) = '{firstStart}+00'"));
    }
}
