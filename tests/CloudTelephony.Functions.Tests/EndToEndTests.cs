using System.Net;
using System.Net.Http.Json;
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

/// <summary>
/// The whole pipeline over real sockets: PBX simulator replaying the real Slican capture (CTIP over TCP, WHO/LOGA
/// handshake) → relay (connector + HTTP forwarder) → functions app on Kestrel → PostgreSQL → <c>GET /api/calls</c>.
/// The replay is time-compressed, so durations are not asserted here (the core tests assert them on the capture's
/// own times); who called whom, who answered and the status are.
/// </summary>
public sealed class EndToEndTests : IAsyncLifetime
{
    private const string Pbx = "slican-e2e";
    private readonly FunctionsServer _server = new(sweepSeconds: 0.5);
    private HttpClient _crm = null!;
    private CtipSimulator _simulator = null!;
    private IHost _relay = null!;

    public async Task InitializeAsync()
    {
        await _server.InitializeAsync();
        // Like ./ct run: the PBX is filed under its enterprise before its first frame, and the API is read with a crm token.
        _crm = _server.Client(await _server.CreateTokenAsync("e2e", "crm", Pbx));
        var capture = CaptureFile.Read(TestPaths.Sample("slican-ncp-2025-09-02_04.tsv"), Protocols.Ctip).ToList();
        _simulator = new CtipSimulator(new CtipSimulatorOptions
        {
            Frames = capture, Port = 0, Pin = "1234", Speed = 1000, MaxGap = TimeSpan.FromMilliseconds(20),
        });
        await _simulator.StartAsync();

        _relay = await E2e.StartRelayAsync(new Dictionary<string, string?>
        {
            ["Relay:RelayId"] = "e2e",
            ["Relay:Forwarder:Url"] = _server.BaseUrl,
            ["Relay:Pbxes:0:Id"] = Pbx,
            ["Relay:Pbxes:0:Protocol"] = "ctip",
            ["Relay:Pbxes:0:Host"] = "127.0.0.1",
            ["Relay:Pbxes:0:Port"] = _simulator.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Relay:Pbxes:0:Pin"] = "1234",
        }, await _server.Db.RelayTokenAsync("e2e"));
    }

    public async Task DisposeAsync()
    {
        await _relay.StopAsync();
        _relay.Dispose();
        await _simulator.DisposeAsync();
        _crm?.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task The_real_capture_replayed_through_relay_and_functions_gives_the_worked_examples()
    {
        // Every frame stored, then the sweep closes the calls that linger for late releases once the stream is idle.
        // At most the 2025-09-02 16:07 ring that never closes stays open: its 10-minute ring timeout is stream time.
        var deadline = DateTime.UtcNow.AddSeconds(90);
        long stored = 0;
        var open = int.MaxValue;
        while ((stored < 855 || open > 1) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            var health = await _server.Http.GetFromJsonAsync("/api/health", ApiJson.Default.HealthDto);
            var stream = health!.Pbxes.SingleOrDefault(p => p.Pbx == Pbx);
            (stored, open) = (stream?.FramesStored ?? 0, stream?.OpenCalls ?? int.MaxValue);
        }

        Assert.Equal(855, stored);
        Assert.True(open <= 1, $"{open} calls still open");
        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE parse_error IS NOT NULL"));
        Assert.Equal(1, await _server.Db.ScalarAsync("SELECT count(DISTINCT session) FROM ct.frames"));
        Assert.Equal(855, await _server.Db.ScalarAsync("SELECT max(seq) FROM ct.frames"));

        var calls = (await _crm.GetFromJsonAsync($"/api/calls?pbx={Pbx}&pageSize=1000", ApiJson.Default.CallPageDto))!.Items;
        Assert.Equal(HttpStatusCode.Unauthorized, (await _server.Http.GetAsync($"/api/calls/summary?pbx={Pbx}")).StatusCode);

        // 1. 888922230 → DID 618315335, only 105 rang and answered.
        var first = Assert.Single(calls, c => c.Caller == "888922230" && c.Called == "618315335" && c.Extensions.SequenceEqual(["105"]) && c.AnsweredBy == "105");
        Assert.Equal((CallDirection.Inbound, CallStatus.Answered), (first.Direction, first.Status));

        // 2. 693109180 → DID 618386710, six extensions rang, 101 answered: ONE call.
        var group = calls.Where(c => c.Caller == "693109180" && c.Extensions.Count == 6 && c.AnsweredBy == "101").ToList();
        Assert.NotEmpty(group);
        Assert.All(group, c => Assert.Equal(["101", "102", "103", "104", "105", "109"], c.Extensions));

        // 3. 734137941 → DID 618315335, nobody answered: missed.
        Assert.Contains(calls, c => c.Caller == "734137941" && c.Direction == CallDirection.Inbound && c.Status == CallStatus.Missed && c.Extensions.Count == 6);

        // 4. internal 109 → 101 answered; 5. internal 109 → 101 busy.
        Assert.Contains(calls, c => c.Direction == CallDirection.Internal && c.Status == CallStatus.Answered && c.Caller == "109" && c.AnsweredBy == "101");
        Assert.Contains(calls, c => c.Direction == CallDirection.Internal && c.Status == CallStatus.Busy && c.Caller == "109");

        // 6. outbound 101 → 0660155133, answered, ended by on-hook only.
        Assert.Contains(calls, c => c.Direction == CallDirection.Outbound && c.Status == CallStatus.Answered && c.Caller == "101" && c.Called == "0660155133");

        // Every missed inbound call names the extensions that rang.
        Assert.DoesNotContain(calls, c => c.Direction == CallDirection.Inbound && c.Status == CallStatus.Missed && c.Extensions.Count == 0);
    }
}
