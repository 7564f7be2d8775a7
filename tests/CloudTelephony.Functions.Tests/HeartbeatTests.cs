using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Ingest;

namespace CloudTelephony.Functions.Tests;

/// <summary>Relay heartbeats: stored from IngestFrames and POST /api/heartbeat, shown by /api/health.</summary>
public sealed class HeartbeatTests : IAsyncLifetime
{
    private readonly FunctionsServer _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    internal static RelayHeartbeat Beat(string relay, long depth = 3, bool atCap = false) => new(
        RelayHeartbeat.KindValue,
        relay,
        "1.2.3",
        DateTimeOffset.UtcNow,
        [new PbxHeartbeat("office-slican", "connected", DateTimeOffset.UtcNow.AddMinutes(-3), DateTimeOffset.UtcNow.AddSeconds(-2), 1234),
         new PbxHeartbeat("branch", "refused: wrong key (NA 11)", DateTimeOffset.UtcNow.AddMinutes(-1), null, 0)],
        98765,
        depth,
        depth > 0 ? DateTimeOffset.UtcNow.AddSeconds(-1) : null,
        atCap);

    [Fact]
    public async Task Heartbeat_in_a_service_bus_batch_is_stored_and_shown_by_health()
    {
        var frame = Capture.Ctip()[0];
        var beat = Beat("site-a");
        var payload = HostPayloads.ServiceBusBatch(
        [
            new(JsonSerializer.Serialize(beat, ContractsJson.Default.RelayHeartbeat), beat.MessageId, beat.SessionId),
            new(JsonSerializer.Serialize(frame, ContractsJson.Default.Envelope), frame.MessageId, frame.Pbx),
        ]);
        using var response = await _server.Http.PostAsync(IngestFramesEndpoint.Path, new StringContent(payload, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var token = await _server.CreateTokenAsync("site-a-owner", "crm", "office-slican", "branch");
        var health = await _server.HealthAsync(token);
        Assert.Equal("degraded", health.Status); // branch is refused
        var relay = Assert.Single(health.Relays!);
        Assert.True(relay.Healthy);
        Assert.Equal("site-a", relay.Relay.RelayId);
        Assert.Equal("1.2.3", relay.Relay.Version);
        Assert.Equal(98765, relay.Relay.FramesSent);
        Assert.Equal(3, relay.Relay.OutboxDepth);
        Assert.Equal(["refused: wrong key (NA 11)", "connected"], relay.Relay.Pbxes.Select(p => p.State));
        Assert.Equal(1, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
    }

    [Fact]
    public async Task Not_a_heartbeat_answers_400()
    {
        var response = await (await _server.RelayAsync()).PostAsync(Routes.HeartbeatPath, new StringContent("""{"kind":"envelope"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}
