using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Smdr;
using CloudTelephony.Tests;

namespace CloudTelephony.Relay.Tests;

public sealed class ConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("relay-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string GoodPbx = """{ "Id": "office", "Protocol": "ctip", "Host": "127.0.0.1", "Port": 5524, "Ctip": { "Pin": "1234" } }""";

    public static TheoryData<string, string> BadConfigs => new()
    {
        { """{ "Relay": { "Pbxes": [] } }""", "no PBX configured" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "sip", "Host": "pbx", "Port": 5524 } ] } }""", "Relay:Pbxes:0:Protocol 'sip' is unknown (expected one of ctip, ami, smdr)" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "ami", "Host": "pbx", "Port": 5038, "Ami": { "Username": "relay" } } ] } }""", "Relay:Pbxes:0:Ami:Secret is empty" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "ami", "Host": "pbx", "Ami": { "Secret": "s" } } ] } }""", "Relay:Pbxes:0:Ami:Username is empty" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "ami", "Host": "pbx", "Ami": { "Username": "u", "Secret": "s", "PingIntervalSeconds": 0 } } ] } }""", "Relay:Pbxes:0:Ami:PingIntervalSeconds must be a positive number" },
        { """{ "Relay": { "Pbxes": [ { "Id": "ipo", "Protocol": "smdr" } ] } }""", "Relay:Pbxes:0:Smdr:AllowedSources is empty" },
        { """{ "Relay": { "Pbxes": [ { "Id": "ipo", "Protocol": "smdr", "Smdr": { "AllowedSources": [ "pbx.local" ] } } ] } }""", "Relay:Pbxes:0:Smdr:AllowedSources 'pbx.local' is not an IP address" },
        { """{ "Relay": { "Pbxes": [ { "Id": "a", "Protocol": "smdr", "Smdr": { "AllowedSources": [ "192.0.2.1" ] } }, { "Id": "b", "Protocol": "smdr", "Smdr": { "AllowedSources": [ "192.0.2.1" ] } } ] } }""", "Relay:Pbxes:1:Smdr:AllowedSources 192.0.2.1 is already the source of PBX 'a' on port 9000" },
        { """{ "Relay": { "Smdr": { "Port": 70000 }, "Pbxes": [ { "Id": "ipo", "Protocol": "smdr", "Smdr": { "AllowedSources": [ "192.0.2.1" ] } } ] } }""", "Relay:Smdr:Port 70000 is out of range" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "ctip", "Host": "", "Port": 5524 } ] } }""", "Relay:Pbxes:0:Host is empty" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "ctip", "Host": "pbx", "Port": 70000 } ] } }""", "Relay:Pbxes:0:Port 70000 is out of range" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "ctip", "Host": "pbx", "Port": "abc" } ] } }""", "Relay:Pbxes:0:Port='abc' is not a whole number" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "ctip", "Host": "pbx", "Ctip": { "IdleProbeSeconds": -1 } } ] } }""", "Relay:Pbxes:0:Ctip:IdleProbeSeconds must be a positive number" },
        { $$"""{ "Relay": { "Forwarder": { "Url": "" }, "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:Forwarder:Url is missing" },
        { $$"""{ "Relay": { "Transport": "Carrier pigeon", "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:Transport 'Carrier pigeon' is unknown (expected ServiceBus or Http)" },
        { $$"""{ "Relay": { "Transport": "ServiceBus", "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:ServiceBus:Endpoint is missing" },
        { $$"""{ "Relay": { "Transport": "ServiceBus", "ServiceBus": { "Endpoint": "https://ns.servicebus.windows.net" }, "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:ServiceBus:Endpoint 'https://ns.servicebus.windows.net' is not an amqp://" },
        { $$"""{ "Relay": { "Transport": "ServiceBus", "ServiceBus": { "Endpoint": "amqps://ns.servicebus.windows.net" }, "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:ServiceBus:SasKeyName and Relay:ServiceBus:SasKey are required unless Relay:ServiceBus:UseEntraId is true" },
        { $$"""{ "Relay": { "Transport": "ServiceBus", "ServiceBus": { "Endpoint": "amqps://ns.servicebus.windows.net", "UseEntraId": true, "SaslPlain": true }, "Pbxes": [ {{GoodPbx}} ] } }""", "exclude each other" },
        { $$"""{ "Relay": { "Outbox": { "MaxFrames": 0 }, "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:Outbox:MaxFrames must be a positive number" },
        { $$"""{ "Relay": { "Forwarder": { "MaxBatchesInFlight": 0 }, "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:Forwarder:MaxBatchesInFlight must be a positive number" },
        { $$"""{ "Relay": { "Outbox": { "Synchronous": "Off" }, "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:Outbox:Synchronous 'Off' is not Full, Normal or Extra" },
        // #19: every value that cannot be bound names its key and value; unknown keys are reported with a hint
        { $$"""{ "Relay": { "Forwarder": { "BatchSize": "abc" }, "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:Forwarder:BatchSize='abc' is not a whole number" },
        { $$"""{ "Relay": { "HeartbeatSeconds": "1,5", "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:HeartbeatSeconds='1,5' is not a number" },
        { $$"""{ "Relay": { "ServiceBus": { "UseEntraId": "yes" }, "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:ServiceBus:UseEntraId='yes' is not true or false" },
        { $$"""{ "Relay": { "Pbx": [ { "Host": "192.0.2.1" } ], "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:Pbx is not a setting (did you mean Relay:Pbxes?)" },
        { $$"""{ "Relay": { "Forwarder": { "BatchSzie": 10 }, "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:Forwarder:BatchSzie is not a setting (did you mean Relay:Forwarder:BatchSize?)" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "ctip", "Host": "pbx", "Ctip": { "Pn": "1234" } } ] } }""", "Relay:Pbxes:0:Ctip:Pn is not a setting (did you mean Relay:Pbxes:0:Ctip:Pin?)" },
        { """{ "Relay": { "Pbxes": { "office": { "Id": "office", "Host": "pbx" } } } }""", "Relay:Pbxes:office is not a list index (use Relay:Pbxes:0, Relay:Pbxes:1 ...)" },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public async Task Bad_config_exits_2_with_one_line_on_stderr(string json, string expected)
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "appsettings.json"), json);
        var stderr = new StringWriter();

        var code = await RelayCli.InvokeAsync(["run", "--contentRoot", _dir], stderr);

        Assert.Equal(2, code);
        var lines = stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines);
        Assert.StartsWith("relay: bad configuration: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pin_is_never_echoed_in_validation_errors()
    {
        await File.WriteAllTextAsync(
            Path.Combine(_dir, "appsettings.json"),
            """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "ctip", "Host": "", "Port": 5524, "Pin": "98 76" } ] } }""");
        var stderr = new StringWriter();

        Assert.Equal(2, await RelayCli.InvokeAsync(["run", "--contentRoot", _dir], stderr));
        Assert.Contains("Pin is empty or contains spaces", stderr.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("98 76", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ami_secret_is_never_echoed_in_validation_errors()
    {
        await File.WriteAllTextAsync(
            Path.Combine(_dir, "appsettings.json"),
            """{ "Relay": { "Pbxes": [ { "Id": "pbx", "Protocol": "ami", "Host": "", "Username": "relay", "Secret": "Zq7\nsecret" } ] } }""");
        var stderr = new StringWriter();

        Assert.Equal(2, await RelayCli.InvokeAsync(["run", "--contentRoot", _dir], stderr));
        Assert.Contains("Secret is empty or contains line breaks", stderr.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Zq7", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Ami_and_smdr_pbxes_validate_with_protocol_default_ports()
    {
        var options = new RelayOptions
        {
            Pbxes =
            [
                new PbxOptions { Id = "ast", Protocol = "ami", Host = "pbx", Ami = new() { Username = "relay", Secret = "s" } },
                new PbxOptions { Id = "ipo", Protocol = "smdr", Smdr = new() { AllowedSources = ["192.0.2.10", "::ffff:192.0.2.11"] } },
                new PbxOptions { Id = "ipo2", Protocol = "smdr", Host = "192.0.2.12" },
            ],
        };
        Assert.Empty(RelayOptionsValidator.Check(options));
        Assert.Equal(5038, options.Pbxes[0].EffectivePort);
        Assert.Equal(9000, SmdrConnectorFactory.Port(options, options.Pbxes[1]));
        Assert.Equal(["192.0.2.10", "192.0.2.11"], SmdrConnectorFactory.Sources(options.Pbxes[1]).Select(a => a.ToString()));
        Assert.Equal(["192.0.2.12"], SmdrConnectorFactory.Sources(options.Pbxes[2]).Select(a => a.ToString()));
    }

    [Fact]
    public void Shipped_appsettings_are_valid_once_a_pbx_is_given_and_name_none_of_their_own()
    {
        // No PBX in the shipped file: an example entry would merge into a user's Relay__Pbxes__0__* settings
        // (e.g. give an SMDR PBX the CTIP port 5524).
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"))
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Relay:Pbxes:0:Id"] = "office-ipo", ["Relay:Pbxes:0:Protocol"] = "smdr", ["Relay:Pbxes:0:Smdr:AllowedSources:0"] = "192.0.2.7",
            })
            .Build();
        Assert.Empty(RelayConfiguration.Check(configuration).Errors);
        var options = RelayConfiguration.Bind(configuration);
        Assert.Empty(RelayOptionsValidator.Check(options));
        Assert.Equal(9000, Assert.Single(options.Pbxes).EffectivePort);
        Assert.Equal("http://127.0.0.1:7071", options.Forwarder.Url);
        Assert.Equal(500, options.Forwarder.BatchSize);
        Assert.Equal(4, options.Forwarder.MaxBatchesInFlight);
        Assert.Equal(1_000_000, options.Outbox.MaxFrames);
    }

    [Fact]
    public void Flat_keys_of_the_last_release_bind_into_the_protocol_sections_with_one_warning_each()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Relay:Pbxes:0:Id"] = "slican", ["Relay:Pbxes:0:Host"] = "192.0.2.1", ["Relay:Pbxes:0:Pin"] = "4321", ["Relay:Pbxes:0:IdleProbeSeconds"] = "7",
            ["Relay:Pbxes:1:Id"] = "ast", ["Relay:Pbxes:1:Protocol"] = "ami", ["Relay:Pbxes:1:Host"] = "192.0.2.2",
            ["Relay:Pbxes:1:Username"] = "relay", ["Relay:Pbxes:1:Secret"] = "s", ["Relay:Pbxes:1:EventMask"] = "call,cdr",
            ["Relay:Pbxes:2:Id"] = "ipo", ["Relay:Pbxes:2:Protocol"] = "smdr", ["Relay:Pbxes:2:AllowedSources:0"] = "192.0.2.3", ["Relay:Pbxes:2:AllowedSources:1"] = "192.0.2.4",
            // the new key wins over the old one
            ["Relay:Pbxes:3:Id"] = "both", ["Relay:Pbxes:3:Host"] = "192.0.2.5", ["Relay:Pbxes:3:Pin"] = "old", ["Relay:Pbxes:3:Ctip:Pin"] = "new",
        }).Build();

        var (errors, warnings) = RelayConfiguration.Check(configuration);
        var options = RelayConfiguration.Bind(configuration);

        Assert.Empty(errors);
        Assert.Contains("Relay:Pbxes:0:Pin is deprecated: use Relay:Pbxes:0:Ctip:Pin (the old key is accepted in this release only)", warnings);
        Assert.Contains(warnings, w => w.StartsWith("Relay:Pbxes:2:AllowedSources is deprecated: use Relay:Pbxes:2:Smdr:AllowedSources", StringComparison.Ordinal));
        Assert.Equal(7, warnings.Count); // one line per old key used
        Assert.Empty(RelayOptionsValidator.Check(options));
        Assert.Equal("4321", options.Pbxes[0].Ctip.Pin);
        Assert.Equal(7, options.Pbxes[0].Ctip.IdleProbeSeconds);
        Assert.Equal(("relay", "s", "call,cdr"), (options.Pbxes[1].Ami.Username, options.Pbxes[1].Ami.Secret, options.Pbxes[1].Ami.EventMask));
        Assert.Equal(["192.0.2.3", "192.0.2.4"], options.Pbxes[2].Smdr.AllowedSources);
        Assert.Equal("new", options.Pbxes[3].Ctip.Pin);
    }

    [Fact]
    public async Task A_deprecated_key_is_logged_once_at_start_naming_the_new_key()
    {
        var logs = new ListLoggerProvider();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Relay:Pbxes:0:Id"] = "ast", ["Relay:Pbxes:0:Protocol"] = "ami", ["Relay:Pbxes:0:Host"] = "127.0.0.1", ["Relay:Pbxes:0:Port"] = "1",
            ["Relay:Pbxes:0:Username"] = "relay", ["Relay:Pbxes:0:Ami:Secret"] = "s",
        }).Build();
        using var loggers = new Microsoft.Extensions.Logging.LoggerFactory([logs]);
        var service = new CloudTelephony.Relay.Hosting.ConnectorsService(
            Microsoft.Extensions.Options.Options.Create(RelayConfiguration.Bind(configuration)), new CollectingSink(), new CloudTelephony.Relay.Status.RelayStatus(), loggers, configuration);
        await service.StartAsync(CancellationToken.None);
        await Eventually.WaitAsync(() => logs.Lines.Any(l => l.Contains("PBX ast (ami) at 127.0.0.1:1", StringComparison.Ordinal)), "start-up lines");
        await service.StopAsync(CancellationToken.None);

        var deprecated = Assert.Single(logs.Lines, l => l.Contains("deprecated", StringComparison.Ordinal));
        Assert.Equal("Warning: configuration: Relay:Pbxes:0:Username is deprecated: use Relay:Pbxes:0:Ami:Username (the old key is accepted in this release only)", deprecated);
    }

    [Theory]
    [InlineData("Relay__Pbxes__1__Port", "abc", "Relay:Pbxes:1:Port='abc' is not a whole number")]
    [InlineData("Relay__Forwarder__BatchSize", "abc", "Relay:Forwarder:BatchSize='abc' is not a whole number")]
    [InlineData("Relay__Pbx__0__Host", "192.0.2.9", "Relay:Pbx is not a setting (did you mean Relay:Pbxes?)")]
    [InlineData("Relay__Pbxes__0__Ami__Secret", "x", "")]
    public async Task Environment_settings_that_cannot_be_bound_stop_the_program_naming_the_key(string variable, string value, string expected)
    {
        // two PBXes: the binder alone dropped PBX 1 silently when its port did not convert
        await File.WriteAllTextAsync(
            Path.Combine(_dir, "appsettings.json"),
            $$"""{ "Relay": { "Outbox": { "Path": "{{Path.Combine(_dir, "outbox.db")}}" }, "Forwarder": { "Url": "http://127.0.0.1:9" }, "Pbxes": [ { "Id": "a", "Host": "127.0.0.1", "Port": 9 }, { "Id": "b", "Host": "127.0.0.1", "Port": 9 } ] } }""");
        var (code, stderr, _) = await RunBuiltRelayAsync(TimeSpan.FromSeconds(expected.Length == 0 ? 4 : 60), (variable, value));
        if (expected.Length == 0)
        {
            Assert.Equal(-1, code); // a good setting: the relay keeps running (killed by the test)
            Assert.Equal("", stderr);
            return;
        }

        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("relay: bad configuration: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Fact]
    public void The_relay_id_defaults_to_the_machine_name_not_to_a_shipped_value()
    {
        var configuration = new ConfigurationBuilder().AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json")).Build();
        Assert.Null(configuration["Relay:RelayId"]); // five relays must not report as one "local-relay"
        Assert.Equal(Environment.MachineName, RelayConfiguration.Bind(configuration).RelayId);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("json")]
    public async Task Every_log_line_has_the_utc_date_and_time_and_events_have_meaningful_ids(string? formatter)
    {
        // a PBX port nobody listens on: the link-lost event comes at once
        await File.WriteAllTextAsync(
            Path.Combine(_dir, "appsettings.json"),
            $$"""{ "Relay": { "RelayId": "log-test", "Outbox": { "Path": "{{Path.Combine(_dir, "outbox.db")}}" }, "Forwarder": { "Url": "http://127.0.0.1:9" }, "Pbxes": [ { "Id": "a", "Host": "127.0.0.1", "Port": 9 } ] } }""");
        var (code, _, stdout) = await RunBuiltRelayAsync(
            TimeSpan.FromSeconds(5), formatter is null ? [] : [("Logging__Console__FormatterName", formatter)]);

        Assert.Equal(-1, code);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        var stamp = new System.Text.RegularExpressions.Regex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z");
        if (formatter is null)
        {
            Assert.All(lines, l => Assert.Matches(stamp, l));
            Assert.Contains(lines, l => l.Contains("CtipConnector[1002] CTIP a: connect to 127.0.0.1:9 failed", StringComparison.Ordinal));
            return;
        }

        var events = lines.Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
        Assert.All(events, e => Assert.Matches(stamp, e.GetProperty("Timestamp").GetString()!));
        var lost = events.First(e => e.GetProperty("EventId").GetInt32() == 1002);
        Assert.Contains("CTIP a: connect to 127.0.0.1:9 failed", lost.GetProperty("Message").GetString(), StringComparison.Ordinal);
        Assert.Equal("Warning", lost.GetProperty("LogLevel").GetString());
    }

    /// <summary>Runs the relay's own build output with <paramref name="environment"/>; exit code -1 when it was still running after <paramref name="timeout"/> (then killed).</summary>
    private async Task<(int Code, string Stderr, string Stdout)> RunBuiltRelayAsync(TimeSpan timeout, params (string Name, string Value)[] environment)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var dll = Path.Combine(TestPaths.RepoRoot, "relay", "CloudTelephony.Relay", "bin", configuration, "net10.0", "relay.dll");
        Assert.True(File.Exists(dll), $"{dll} not built");
        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("run");
        psi.ArgumentList.Add("--contentRoot");
        psi.ArgumentList.Add(_dir);
        foreach (var (name, value) in environment)
        {
            psi.Environment[name] = value;
        }

        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            return (-1, (await stderr).TrimEnd('\n'), await stdout);
        }

        return (process.ExitCode, (await stderr).TrimEnd('\n'), await stdout);
    }

    [Fact]
    public async Task Built_program_reports_bad_config_with_exit_code_2()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "appsettings.json"), """{ "Relay": { "Pbxes": [] } }""");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        // the relay's own output folder: the copy in this test's bin resolves packages against the ASP.NET framework
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var dll = Path.Combine(TestPaths.RepoRoot, "relay", "CloudTelephony.Relay", "bin", configuration, "net10.0", "relay.dll");
        Assert.True(File.Exists(dll), $"{dll} not built");
        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("run");
        psi.ArgumentList.Add("--contentRoot");
        psi.ArgumentList.Add(_dir);
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(2, process.ExitCode);
        Assert.Equal("relay: bad configuration: no PBX configured (set Relay:Pbxes:0:Id, :Protocol, :Host, :Port and the protocol's section, e.g. Relay:Pbxes:0:Ctip:Pin)", (await stderr).TrimEnd('\n'));
        Assert.Equal("", await stdout);
    }
}
