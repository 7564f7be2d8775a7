using CloudTelephony.Functions.Commands;

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

        await new Storage.HeartbeatStore(_db.DataSource).SaveAsync([HeartbeatTests.Beat("site-a")], DateTimeOffset.UtcNow, default);
        var relays = await OkAsync("relay", "list");
        Assert.Contains("site-a\t1.2.3\t", relays);
        Assert.Contains("branch: refused: wrong key (NA 11)", relays);
        Assert.Contains("'site-a' forgotten", await OkAsync("relay", "forget", "--relay", "site-a"));
        Assert.Contains("no relay 'site-a'", await MistakeAsync("relay", "forget", "--relay", "site-a"));
        Assert.Equal(0, await _db.ScalarAsync("SELECT count(*) FROM ct.pbx_status"));
    }
}
