using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Tests;

namespace CloudTelephony.Relay.Tests;

public sealed class ConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("relay-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string GoodPbx = """{ "Id": "office", "Protocol": "ctip", "Host": "127.0.0.1", "Port": 5524, "Pin": "1234" }""";

    public static TheoryData<string, string> BadConfigs => new()
    {
        { """{ "Relay": { "Pbxes": [] } }""", "no PBX configured" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "sip", "Host": "pbx", "Port": 5524 } ] } }""", "Relay:Pbxes:0:Protocol 'sip' is unknown" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "ami", "Host": "pbx", "Port": 5038, "Username": "relay" } ] } }""", "Relay:Pbxes:0:Secret is empty" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "ami", "Host": "pbx", "Secret": "s" } ] } }""", "Relay:Pbxes:0:Username is empty" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "ami", "Host": "pbx", "Username": "u", "Secret": "s", "PingIntervalSeconds": 0 } ] } }""", "Relay:Pbxes:0:PingIntervalSeconds must be a positive number" },
        { """{ "Relay": { "Pbxes": [ { "Id": "ipo", "Protocol": "smdr" } ] } }""", "Relay:Pbxes:0:AllowedSources is empty" },
        { """{ "Relay": { "Pbxes": [ { "Id": "ipo", "Protocol": "smdr", "AllowedSources": [ "pbx.local" ] } ] } }""", "Relay:Pbxes:0:AllowedSources 'pbx.local' is not an IP address" },
        { """{ "Relay": { "Pbxes": [ { "Id": "a", "Protocol": "smdr", "AllowedSources": [ "192.0.2.1" ] }, { "Id": "b", "Protocol": "smdr", "AllowedSources": [ "192.0.2.1" ] } ] } }""", "Relay:Pbxes:1:AllowedSources 192.0.2.1 is already the source of PBX 'a' on port 9000" },
        { """{ "Relay": { "Smdr": { "Port": 70000 }, "Pbxes": [ { "Id": "ipo", "Protocol": "smdr", "AllowedSources": [ "192.0.2.1" ] } ] } }""", "Relay:Smdr:Port 70000 is out of range" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "ctip", "Host": "", "Port": 5524 } ] } }""", "Relay:Pbxes:0:Host is empty" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "ctip", "Host": "pbx", "Port": 70000 } ] } }""", "Relay:Pbxes:0:Port 70000 is out of range" },
        { """{ "Relay": { "Pbxes": [ { "Id": "office", "Protocol": "ctip", "Host": "pbx", "Port": "abc" } ] } }""", "bad configuration" },
        { $$"""{ "Relay": { "Forwarder": { "Url": "" }, "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:Forwarder:Url is missing" },
        { $$"""{ "Relay": { "Transport": "Carrier pigeon", "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:Transport 'Carrier pigeon' is unknown (expected ServiceBus or Http)" },
        { $$"""{ "Relay": { "Transport": "ServiceBus", "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:ServiceBus:Endpoint is missing" },
        { $$"""{ "Relay": { "Transport": "ServiceBus", "ServiceBus": { "Endpoint": "https://ns.servicebus.windows.net" }, "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:ServiceBus:Endpoint 'https://ns.servicebus.windows.net' is not an sb://" },
        { $$"""{ "Relay": { "Transport": "ServiceBus", "ServiceBus": { "Endpoint": "amqps://ns.servicebus.windows.net" }, "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:ServiceBus:SasKeyName and Relay:ServiceBus:SasKey are required unless Relay:ServiceBus:UseEntraId is true" },
        { $$"""{ "Relay": { "Transport": "ServiceBus", "ServiceBus": { "Endpoint": "amqp://127.0.0.1:5672", "UseEntraId": true }, "Pbxes": [ {{GoodPbx}} ] } }""", "Entra ID needs sb://, amqps:// or wss://" },
        { $$"""{ "Relay": { "Outbox": { "MaxFrames": 0 }, "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:Outbox:MaxFrames must be a positive number" },
        { $$"""{ "Relay": { "Forwarder": { "MaxBatchesInFlight": 0 }, "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:Forwarder:MaxBatchesInFlight must be a positive number" },
        { $$"""{ "Relay": { "Outbox": { "Synchronous": "Off" }, "Pbxes": [ {{GoodPbx}} ] } }""", "Relay:Outbox:Synchronous 'Off' is not Full, Normal or Extra" },
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
                new PbxOptions { Id = "ast", Protocol = "ami", Host = "pbx", Username = "relay", Secret = "s" },
                new PbxOptions { Id = "ipo", Protocol = "smdr", AllowedSources = ["192.0.2.10", "::ffff:192.0.2.11"] },
                new PbxOptions { Id = "ipo2", Protocol = "smdr", Host = "192.0.2.12" },
            ],
        };
        Assert.Empty(RelayOptionsValidator.Check(options));
        Assert.Equal(5038, options.Pbxes[0].EffectivePort);
        Assert.Equal(9000, RelayOptionsValidator.SmdrPort(options, options.Pbxes[1]));
        Assert.Equal(["192.0.2.10", "192.0.2.11"], RelayOptionsValidator.SmdrSources(options.Pbxes[1]).Select(a => a.ToString()));
        Assert.Equal(["192.0.2.12"], RelayOptionsValidator.SmdrSources(options.Pbxes[2]).Select(a => a.ToString()));
    }

    [Fact]
    public void Shipped_appsettings_are_valid_once_a_pbx_is_given_and_name_none_of_their_own()
    {
        // No PBX in the shipped file: an example entry would merge into a user's Relay__Pbxes__0__* settings
        // (e.g. give an SMDR PBX the CTIP port 5524).
        var options = new RelayOptions();
        new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"))
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Relay:Pbxes:0:Id"] = "office-ipo", ["Relay:Pbxes:0:Protocol"] = "smdr", ["Relay:Pbxes:0:AllowedSources:0"] = "192.0.2.7",
            })
            .Build()
            .GetSection(RelayOptions.SectionName)
            .Bind(options);
        Assert.Empty(RelayOptionsValidator.Check(options));
        Assert.Equal(9000, Assert.Single(options.Pbxes).EffectivePort);
        Assert.Equal("http://127.0.0.1:7071", options.Forwarder.Url);
        Assert.Equal(500, options.Forwarder.BatchSize);
        Assert.Equal(4, options.Forwarder.MaxBatchesInFlight);
        Assert.Equal(1_000_000, options.Outbox.MaxFrames);
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
        Assert.Equal("relay: bad configuration: no PBX configured (set Relay:Pbxes:0:Id, :Protocol, :Host, :Port, :Pin)", (await stderr).TrimEnd('\n'));
        Assert.Equal("", await stdout);
    }
}
