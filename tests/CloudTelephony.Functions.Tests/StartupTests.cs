using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace CloudTelephony.Functions.Tests;

/// <summary>The real <c>handler</c> process: a bad setting, connection string or a taken port stop it with one line
/// naming the key (and value) and exit code 2; help needs no database.</summary>
public sealed class StartupTests
{
    /// <summary>Runs <c>dotnet handler.dll args</c> with <paramref name="env"/>; returns exit code, stdout and stderr.</summary>
    internal static async Task<(int Code, string Out, string Err)> HandlerAsync(IReadOnlyDictionary<string, string?> env, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "handler.dll"));
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (k, v) in env)
        {
            start.Environment[k] = v;
        }

        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await p.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"handler {string.Join(' ', args)} did not exit: {await stdout} {await stderr}");
        }

        return (p.ExitCode, await stdout, await stderr);
    }

    private static string Database => Environment.GetEnvironmentVariable("CT_POSTGRES")
        ?? throw new InvalidOperationException("CT_POSTGRES is not set: run the tests through ./ct test");

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    [Theory]
    [InlineData("Sms__MaxAttempts", "abc", "Sms:MaxAttempts", "'abc'")]
    [InlineData("Sms__MaxAttempts", "0", "Sms:MaxAttempts", "'0'")]
    [InlineData("Sms__TimeoutSeconds", "fast", "Sms:TimeoutSeconds", "'fast'")]
    [InlineData("Sms__DispatchInProcess", "maybe", "Sms:DispatchInProcess", "'maybe'")]
    [InlineData("Sms__Provider", "carrier-pigeon", "Sms:Provider", "'carrier-pigeon'")]
    [InlineData("Sms__SweepCron", "every minute", "Sms:SweepCron", "'every minute'")]
    [InlineData("Routing__NameCacheSeconds", "abc", "Routing:NameCacheSeconds", "'abc'")]
    [InlineData("Routing__NameCacheSeconds", "5", "Routing:NameCacheSeconds", "5")]
    [InlineData("Routing__TrustedProxies__0", "not-an-ip", "Routing:TrustedProxies", "'not-an-ip'")]
    [InlineData("Ingest__SweepSeconds", "soon", "Ingest:SweepSeconds", "'soon'")]
    [InlineData("Ingest__IdleSeconds", "-1", "Ingest:IdleSeconds", "'-1'")]
    [InlineData("Ingest__StreamCacheSize", "-1", "Ingest:StreamCacheSize", "'-1'")]
    [InlineData("Events__WebhookConcurrency", "0", "Events:WebhookConcurrency", "0")]
    [InlineData("Telemetry__Console", "yes please", "Telemetry:Console", "'yes please'")]
    [InlineData("ConnectionStrings__Postgres", "garbage", "ConnectionStrings__Postgres", null)]
    [InlineData("ConnectionStrings__Postgres", "Hots=db;Port=5432", "ConnectionStrings__Postgres", "hots")]
    public async Task A_setting_that_cannot_be_bound_stops_serve_with_one_line_and_exit_2(string variable, string value, string key, string? shown)
    {
        var env = new Dictionary<string, string?> { ["ConnectionStrings__Postgres"] = Database, [variable] = value };
        var (code, stdout, stderr) = await HandlerAsync(env, "serve", "--urls", $"http://127.0.0.1:{FreePort()}");
        Assert.True(code == 2, $"exit {code}: {stdout} {stderr}");
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.Contains(key, line, StringComparison.Ordinal);
        if (shown is not null)
        {
            Assert.Contains(shown, line, StringComparison.OrdinalIgnoreCase);
        }

        Assert.DoesNotContain("   at ", stdout + stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_taken_port_stops_serve_with_one_line_and_exit_2()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var (code, stdout, stderr) = await HandlerAsync(new Dictionary<string, string?> { ["ConnectionStrings__Postgres"] = Database },
            "serve", "--urls", $"http://127.0.0.1:{port}");

        Assert.True(code == 2, $"exit {code}: {stdout} {stderr}");
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"127.0.0.1:{port}", line, StringComparison.Ordinal);
        Assert.Contains("address already in use", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stdout, StringComparison.Ordinal);
    }

    /// <summary>The first line <c>handler serve</c> writes with <paramref name="env"/>; the process is stopped then.</summary>
    private static async Task<string> FirstLogLineAsync(IReadOnlyDictionary<string, string?> env)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "handler.dll"), "serve", "--urls", $"http://127.0.0.1:{FreePort()}" })
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["ConnectionStrings__Postgres"] = Database;
        start.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information"; // "Now listening on: ..."
        foreach (var (k, v) in env)
        {
            start.Environment[k] = v;
        }

        using var p = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            return await p.StandardOutput.ReadLineAsync(timeout.Token) ?? "";
        }
        finally
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task Log_lines_carry_date_and_utc_time_and_the_json_formatter_is_honoured()
    {
        var simple = await FirstLogLineAsync(new Dictionary<string, string?>());
        var json = await FirstLogLineAsync(new Dictionary<string, string?> { ["Logging__Console__FormatterName"] = "json" });

        Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z (info|warn|fail|crit|dbug|trce): ", simple);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", doc.RootElement.GetProperty("Timestamp").GetString());
        Assert.True(doc.RootElement.TryGetProperty("EventId", out _));
    }

    [Fact]
    public async Task No_database_configured_is_one_line_and_exit_2()
    {
        var (code, _, stderr) = await HandlerAsync(new Dictionary<string, string?> { ["ConnectionStrings__Postgres"] = null, ["CT_POSTGRES"] = null }, "migrate");
        Assert.Equal(2, code);
        Assert.Contains("ConnectionStrings__Postgres", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("admin", "--help")]
    [InlineData("admin", "archive", "--help")]
    [InlineData("admin", "archive", "run", "--help")]
    [InlineData("admin", "relay", "forget", "--help")]
    [InlineData("serve", "--help")]
    public async Task Help_needs_no_database_and_names_the_program_as_typed(params string[] args)
    {
        var (code, stdout, stderr) = await HandlerAsync(
            new Dictionary<string, string?> { ["ConnectionStrings__Postgres"] = null, ["CT_POSTGRES"] = null, ["CT_CLI_NAME"] = "./ct" }, args);

        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Contains($"./ct {string.Join(' ', args.Where(a => a != "--help"))}", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("  handler ", stdout, StringComparison.Ordinal); // the usage line
    }

    [Theory]
    [InlineData("admin", "nope")]
    [InlineData("admin", "smart", "set", "--enterprise", "x", "--budget-ms", "abc")]
    [InlineData("admin", "contacts", "import", "--enterprise", "x", "--file", "/nonexistent/missing.csv")]
    [InlineData("correlate", "--protocol", "ctip")]
    public async Task A_command_line_mistake_is_one_line_and_exit_2(params string[] args)
    {
        var (code, stdout, stderr) = await HandlerAsync(new Dictionary<string, string?> { ["CT_CLI_NAME"] = "./ct" }, args);
        Assert.True(code == 2, $"exit {code}: {stdout} {stderr}");
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.Contains("see ./ct ", line, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", line, StringComparison.Ordinal);
    }
}
