using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Relay.Hosting;
using CloudTelephony.Relay.Simulator;
using CloudTelephony.Telephony;
using CloudTelephony.Tests;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CloudTelephony.Functions.Tests;

/// <summary>Shared plumbing of the AMI and SMDR end-to-end tests: a relay host built from in-memory configuration.</summary>
internal static class E2e
{
    /// <summary>Starts a relay host; each gets its own outbox file (never the shared default beside the test binaries,
    /// which parallel tests and earlier runs would share).</summary>
    /// <param name="settings">The relay's configuration.</param>
    /// <param name="relayToken">A relay-scope token the forwarder sends as <c>Authorization: Bearer</c> (the app refuses
    /// frames without one); set on the forwarder's named HTTP client.</param>
    public static async Task<IHost> StartRelayAsync(Dictionary<string, string?> settings, string relayToken)
    {
        settings.TryAdd("Relay:Outbox:Path", Path.Combine(Path.GetTempPath(), $"ct-e2e-outbox-{Guid.NewGuid():N}.db"));
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddRelay(builder.Configuration);
        builder.Services.AddHttpClient(CloudTelephony.Relay.Forwarding.HttpForwarder.HttpClientName)
            .ConfigureHttpClient(c => c.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", relayToken));
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>Waits until <paramref name="pbx"/> has <paramref name="frames"/> frames stored and no call open.</summary>
    public static async Task<long> WaitStoredAsync(FunctionsServer server, string pbx, long frames, int maxOpen = 0)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        long stored = 0;
        var open = int.MaxValue;
        while ((stored < frames || open > maxOpen) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            var health = await server.Http.GetFromJsonAsync("/api/health", ApiJson.Default.HealthDto);
            var stream = health!.Pbxes.SingleOrDefault(p => p.Pbx == pbx);
            (stored, open) = (stream?.FramesStored ?? 0, stream?.OpenCalls ?? int.MaxValue);
        }

        Assert.True(open <= maxOpen, $"{pbx}: {open} calls still open");
        return stored;
    }

    /// <summary>The PBX's calls through the CRM API, with a crm token of an enterprise the PBX is filed under.</summary>
    public static async Task<IReadOnlyList<CallDto>> CallsAsync(FunctionsServer server, string pbx)
    {
        using var crm = await CrmClientAsync(server, pbx);
        return (await crm.GetFromJsonAsync($"/api/calls?pbx={pbx}&pageSize=1000", ApiJson.Default.CallPageDto))!.Items;
    }

    /// <summary>A client with a crm token of enterprise <c>e2e-&lt;pbx&gt;</c>, under which <paramref name="pbx"/> is filed.</summary>
    public static async Task<HttpClient> CrmClientAsync(FunctionsServer server, string pbx)
        => server.Client(await server.CreateTokenAsync($"e2e-{pbx}", "crm", pbx));

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public static string S(int n) => n.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// AMI end to end over real sockets: two Asterisk simulators (banner, Login, Events, Ping) replaying the real captures
/// → relay (two AMI connectors + HTTP forwarder) → functions on Kestrel → PostgreSQL → <c>GET /api/calls</c>.
/// </summary>
public sealed class AmiEndToEndTests : IAsyncLifetime
{
    private const string Hunt = "ami-hunt";
    private const string Answered = "ami-answered";
    private readonly FunctionsServer _server = new(sweepSeconds: 0.5);
    private AmiSimulator _hunt = null!;
    private AmiSimulator _answered = null!;
    private IHost _relay = null!;

    public async Task InitializeAsync()
    {
        await _server.InitializeAsync();
        AmiSimulator Sim(string file) => new(new AmiSimulatorOptions
        {
            Frames = CaptureFile.Read(TestPaths.Fixture("ami", file), Protocols.Ami).ToList(),
            Port = 0,
            Username = "relay",
            Secret = "e2e-secret",
            Speed = 0,
        });
        _hunt = Sim("sweeney-asterisk-mqtt_unanswered-huntgroup.txt");
        _answered = Sim("sweeney-asterisk-mqtt_answered-outbound.txt");
        await _hunt.StartAsync();
        await _answered.StartAsync();

        var settings = new Dictionary<string, string?>
        {
            ["Relay:RelayId"] = "e2e",
            ["Relay:Forwarder:Url"] = _server.BaseUrl,
        };
        var i = 0;
        foreach (var (id, sim) in new[] { (Hunt, _hunt), (Answered, _answered) })
        {
            settings[$"Relay:Pbxes:{i}:Id"] = id;
            settings[$"Relay:Pbxes:{i}:Protocol"] = "ami";
            settings[$"Relay:Pbxes:{i}:Host"] = "127.0.0.1";
            settings[$"Relay:Pbxes:{i}:Port"] = E2e.S(sim.Port);
            settings[$"Relay:Pbxes:{i}:Username"] = "relay";
            settings[$"Relay:Pbxes:{i}:Secret"] = "e2e-secret";
            i++;
        }

        _relay = await E2e.StartRelayAsync(settings, await _server.Db.RelayTokenAsync());
    }

    public async Task DisposeAsync()
    {
        await _relay.StopAsync();
        _relay.Dispose();
        await _hunt.DisposeAsync();
        await _answered.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task The_real_AMI_captures_replayed_through_relay_and_functions_give_one_call_each()
    {
        // each session: FullyBooted (after Login) + the capture's events
        Assert.Equal(_hunt.EventCount + 1, await E2e.WaitStoredAsync(_server, Hunt, _hunt.EventCount + 1));
        Assert.Equal(_answered.EventCount + 1, await E2e.WaitStoredAsync(_server, Answered, _answered.EventCount + 1));
        Assert.Equal(53, _hunt.EventCount);
        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE parse_error IS NOT NULL"));
        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE text LIKE '%Response:%' OR text LIKE '%ActionID%'"));

        // hunt group 666: ONE missed call, 6 extensions rang, nobody answered
        var hunt = Assert.Single(await E2e.CallsAsync(_server, Hunt));
        Assert.Equal("1770888635.49", hunt.CallKey);
        Assert.Equal((CallStatus.Missed, "noanswer"), (hunt.Status, hunt.MissedReason));
        Assert.Equal(("1986", "666"), (hunt.Caller, hunt.Called));
        Assert.Equal(["11", "12", "21", "41", "42", "51"], hunt.Extensions);
        Assert.Null(hunt.AnsweredBy);

        // 1986 dials 21, 21 answers
        var answered = Assert.Single(await E2e.CallsAsync(_server, Answered));
        Assert.Equal("1770888509.40", answered.CallKey);
        Assert.Equal((CallDirection.Internal, CallStatus.Answered), (answered.Direction, answered.Status));
        Assert.Equal(("1986", "21", "21"), (answered.Caller, answered.Called, answered.AnsweredBy));
        Assert.Equal(["21"], answered.Extensions);
    }
}

/// <summary>
/// SMDR end to end over real sockets: an IP Office simulator connects to the relay's SMDR listener and pushes the
/// real crisisline records → relay → functions → PostgreSQL → <c>GET /api/calls</c> and <c>GET /api/calls.csv</c>.
/// </summary>
public sealed class SmdrEndToEndTests : IAsyncLifetime
{
    private const string Pbx = "ipo-e2e";
    private readonly FunctionsServer _server = new(sweepSeconds: 0.5);
    private readonly IReadOnlyList<CapturedFrame> _records =
        CaptureFile.Read(TestPaths.Fixture("smdr", "ipo-30field-2015-crisisline.csv"), Protocols.Smdr).ToList();

    private SmdrSimulator _ipo = null!;
    private IHost _relay = null!;
    private int _port;

    public async Task InitializeAsync()
    {
        await _server.InitializeAsync();
        _port = E2e.FreePort();
        _relay = await E2e.StartRelayAsync(new Dictionary<string, string?>
        {
            ["Relay:RelayId"] = "e2e",
            ["Relay:Forwarder:Url"] = _server.BaseUrl,
            ["Relay:Smdr:Address"] = "127.0.0.1",
            ["Relay:Pbxes:0:Id"] = Pbx,
            ["Relay:Pbxes:0:Protocol"] = "smdr",
            ["Relay:Pbxes:0:Port"] = E2e.S(_port), // the PBX's own listening port (the shipped appsettings.json sets one anyway)
            ["Relay:Pbxes:0:AllowedSources:0"] = "127.0.0.1",
        }, await _server.Db.RelayTokenAsync());
        _ipo = new SmdrSimulator(new SmdrSimulatorOptions { Frames = _records, Port = _port, Speed = 10 });
        await _ipo.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _ipo.DisposeAsync();
        await _relay.StopAsync();
        _relay.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task The_real_SMDR_records_pushed_to_the_relay_listener_become_calls_in_the_API_and_the_CSV()
    {
        Assert.Equal(8, await E2e.WaitStoredAsync(_server, Pbx, _records.Count));
        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE parse_error IS NOT NULL"));
        Assert.Equal(1, await _server.Db.ScalarAsync("SELECT count(DISTINCT session) FROM ct.frames"));

        var calls = await E2e.CallsAsync(_server, Pbx);
        var keys = _records.Select(r => r.Frame.Split(',')[9]).Distinct().ToList();
        Assert.Equal(keys.Order(), calls.Select(c => c.CallKey).Order());

        var first = Assert.Single(calls, c => c.CallKey == "1008741");
        Assert.Equal((CallDirection.Inbound, CallStatus.Answered), (first.Direction, first.Status));
        Assert.Equal(("16046150477", "218"), (first.Caller, first.AnsweredBy));
        Assert.Equal((5d, 45d), (first.RingSeconds, first.TalkSeconds));
        Assert.All(calls.Where(c => c.CallKey is "1008745" or "1008749"), c => Assert.Equal(CallStatus.Missed, c.Status));
        Assert.Equal(CallStatus.Voicemail, Assert.Single(calls, c => c.CallKey == "1008746").Status);

        using var crm = await E2e.CrmClientAsync(_server, Pbx);
        var csv = await crm.GetStringAsync($"/api/calls.csv?pbx={Pbx}");
        var rows = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(calls.Count + 1, rows.Length); // header + one row per call
        Assert.All(keys, k => Assert.Contains(rows, r => r.Contains($",{k},", StringComparison.Ordinal)));
        Assert.Contains(rows, r => r.Contains("1008741", StringComparison.Ordinal) && r.Contains("16046150477", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_line_over_4KB_from_the_PBX_is_stored_marked_with_a_parse_error()
    {
        Assert.Equal(8, await E2e.WaitStoredAsync(_server, Pbx, _records.Count));
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(IPAddress.Loopback, _port);
            await client.GetStream().WriteAsync(System.Text.Encoding.UTF8.GetBytes(_records[0].Frame + "," + new string('x', 5000) + "\r\n"));
            await E2e.WaitStoredAsync(_server, Pbx, _records.Count + 1);
        }

        Assert.Equal(1, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE parse_error IS NOT NULL AND text LIKE '[relay: line of % bytes over 4096] 2015/03/01%'"));
    }
}
