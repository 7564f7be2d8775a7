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

    private static RelayHeartbeat Beat(string relay, long depth = 3, bool atCap = false) => new(
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
        var msg = new JsonArray(
            JsonValue.Create(JsonSerializer.Serialize(Beat("site-a"), ContractsJson.Default.RelayHeartbeat)),
            JsonNode.Parse(JsonSerializer.Serialize(frame, ContractsJson.Default.Envelope)));
        var payload = new JsonObject { ["Data"] = new JsonObject { ["msg"] = msg }, ["Metadata"] = new JsonObject { ["SessionIdArray"] = new JsonArray("relay:site-a", frame.Pbx) } };
        using var response = await _server.Http.PostAsync(IngestFramesEndpoint.Path, new StringContent(payload.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var health = (await _server.Http.GetFromJsonAsync("/api/health", ApiJson.Default.HealthDto))!;
        Assert.Equal("healthy", health.Status);
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
    public async Task Http_heartbeat_then_silence_makes_health_unhealthy()
    {
        var response = await (await _server.RelayAsync()).PostAsJsonAsync(Routes.HeartbeatPath, Beat("site-b"), ContractsJson.Default.RelayHeartbeat);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal("healthy", (await _server.Http.GetFromJsonAsync("/api/health", ApiJson.Default.HealthDto))!.Status);

        await _server.Db.ScalarAsync("UPDATE ct.relays SET last_seen_at = now() - interval '6 minutes'; SELECT 0");
        var health = (await _server.Http.GetFromJsonAsync("/api/health", ApiJson.Default.HealthDto))!;
        Assert.Equal("unhealthy", health.Status);
        Assert.False(Assert.Single(health.Relays!).Healthy);
        Assert.Contains(health.Problems!, p => p.StartsWith("relay site-b: no heartbeat for 36", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Outbox_at_cap_is_a_health_problem()
    {
        await (await _server.RelayAsync()).PostAsJsonAsync(Routes.HeartbeatPath, Beat("site-c", depth: 1000, atCap: true), ContractsJson.Default.RelayHeartbeat);
        var health = (await _server.Http.GetFromJsonAsync("/api/health", ApiJson.Default.HealthDto))!;
        Assert.Equal("unhealthy", health.Status);
        Assert.Contains("relay site-c: outbox full (1000 frames)", health.Problems!);
    }

    [Fact]
    public async Task Not_a_heartbeat_answers_400()
    {
        var response = await (await _server.RelayAsync()).PostAsync(Routes.HeartbeatPath, new StringContent("""{"kind":"envelope"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}
