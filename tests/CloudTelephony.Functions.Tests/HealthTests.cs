using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Health;
using CloudTelephony.Functions.Hosting;

namespace CloudTelephony.Functions.Tests;

/// <summary>/api/health, /api/health/live and /api/health/ready on the real app and PostgreSQL: the status follows
/// each PBX's and relay's state, detail only for a crm token and only of its enterprise.</summary>
public sealed class HealthTests : IAsyncLifetime
{
    private readonly FunctionsServer _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    private static RelayHeartbeat Beat(string relay, params PbxHeartbeat[] pbxes)
        => new(RelayHeartbeat.KindValue, relay, "1.0.0", DateTimeOffset.UtcNow, pbxes, 10, 0, null, false);

    private static PbxHeartbeat Pbx(string id, string state, int secondsInState = 30)
        => new(id, state, DateTimeOffset.UtcNow.AddSeconds(-secondsInState), null, 5);

    private async Task BeatAsync(RelayHeartbeat beat)
        => Assert.Equal(HttpStatusCode.NoContent, (await (await _server.RelayAsync()).PostAsJsonAsync(Routes.HeartbeatPath, beat, ContractsJson.Default.RelayHeartbeat)).StatusCode);

    [Fact]
    public async Task A_refused_pbx_makes_health_degraded_and_names_it_to_its_enterprise()
    {
        var token = await _server.CreateTokenAsync("acme", "crm", "office", "branch");
        await BeatAsync(Beat("site-a", Pbx("office", "connected"), Pbx("branch", "refused: wrong key (NA 11)")));

        var response = await _server.Http.GetAsync("/api/health");
        var health = await _server.HealthAsync(token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("degraded", (await response.Content.ReadFromJsonAsync(ApiJson.Default.HealthDto))!.Status);
        Assert.Equal("degraded", health.Status);
        Assert.Contains(health.Problems!, p => p.StartsWith("pbx branch: refused: wrong key (NA 11)", StringComparison.Ordinal));
        var branch = health.Pbxes!.Single(p => p.Pbx == "branch");
        Assert.False(branch.Healthy);
        Assert.Equal(("refused: wrong key (NA 11)", "site-a"), (branch.State, branch.Relay));
        Assert.True(health.Pbxes!.Single(p => p.Pbx == "office").Healthy);
    }

    [Fact]
    public async Task Connected_and_listening_pbxes_are_healthy_a_long_reconnect_is_not()
    {
        var token = await _server.CreateTokenAsync("acme", "crm", "office", "ipo", "remote");
        await BeatAsync(Beat("site-a", Pbx("office", "connected"), Pbx("ipo", "listening"), Pbx("remote", "connecting", secondsInState: 10)));
        Assert.Equal("healthy", (await _server.HealthAsync(token)).Status);

        await BeatAsync(Beat("site-a", Pbx("office", "connected"), Pbx("ipo", "listening"),
            Pbx("remote", "backing off: connection refused (192.0.2.10:5524)", secondsInState: 300)));
        var health = await _server.HealthAsync(token);

        Assert.Equal("degraded", health.Status);
        var problem = Assert.Single(health.Problems!);
        Assert.StartsWith("pbx remote: backing off: connection refused (…)", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("192.0.2.10", System.Text.Json.JsonSerializer.Serialize(health, ApiJson.Default.HealthDto));
    }

    [Fact]
    public async Task A_relay_with_dead_letters_makes_health_degraded_with_a_problem_line_and_shows_them()
    {
        var token = await _server.CreateTokenAsync("acme", "crm", "office");
        var since = DateTimeOffset.UtcNow.AddMinutes(-3);
        await BeatAsync(Beat("site-a", Pbx("office", "connected")) with { DeadLetters = 2, DeadLetterOldestAt = since });

        var health = await _server.HealthAsync(token);
        using var client = _server.Client(token);
        using var doc = System.Text.Json.JsonDocument.Parse(await client.GetStringAsync("/api/health"));

        Assert.Equal("degraded", health.Status);
        Assert.False(health.Relays!.Single().Healthy);
        var problem = Assert.Single(health.Problems!);
        Assert.StartsWith("relay site-a: 2 envelope(s) refused by ingest and set aside in its dead letters (oldest ", problem, StringComparison.Ordinal);
        var relay = doc.RootElement.GetProperty("relays")[0].GetProperty("relay");
        Assert.Equal(2, relay.GetProperty("deadLetters").GetInt64());
        Assert.Equal(since.UtcDateTime, relay.GetProperty("deadLetterOldestAt").GetDateTimeOffset().UtcDateTime, TimeSpan.FromMilliseconds(1));

        // the relay's operator cleared them: healthy again with the next heartbeat
        await BeatAsync(Beat("site-a", Pbx("office", "connected")));
        Assert.Equal("healthy", (await _server.HealthAsync(token)).Status);
    }

    [Fact]
    public async Task A_heartbeat_with_NUL_in_a_state_is_stored_not_refused_forever()
    {
        var token = await _server.CreateTokenAsync("acme", "crm", "office");

        await BeatAsync(Beat("site-a", Pbx("office", "refused: bad\0banner")));

        var office = (await _server.HealthAsync(token)).Pbxes!.Single();
        Assert.Equal("refused: bad\\x00banner", office.State);
    }

    [Fact]
    public async Task Anonymous_health_is_the_status_only()
    {
        await _server.CreateTokenAsync("acme", "crm", "office");
        await BeatAsync(Beat("site-a", Pbx("office", "refused: wrong key (NA 11)")));

        var body = await _server.Http.GetStringAsync("/api/health");

        Assert.Contains("\"status\":\"degraded\"", body);
        Assert.DoesNotContain("office", body);
        Assert.DoesNotContain("site-a", body);
        Assert.DoesNotContain("pbxes", body);
    }

    [Fact]
    public async Task A_token_sees_only_its_enterprises_pbxes_and_relays()
    {
        var acme = await _server.CreateTokenAsync("acme", "crm", "acme-pbx");
        var beta = await _server.CreateTokenAsync("beta", "crm", "beta-pbx");
        await BeatAsync(Beat("acme-relay", Pbx("acme-pbx", "connected")));
        await BeatAsync(Beat("beta-relay", Pbx("beta-pbx", "refused: wrong key (NA 11)")));
        await BeatAsync(Beat("shared-relay", Pbx("acme-pbx", "connected"), Pbx("beta-pbx", "connected")));

        var a = await _server.HealthAsync(acme);
        var b = await _server.HealthAsync(beta);

        Assert.Equal("healthy", a.Status); // beta's refused PBX is not acme's problem
        Assert.Equal(["acme-pbx"], a.Pbxes!.Select(p => p.Pbx));
        Assert.Equal(["acme-relay", "shared-relay"], a.Relays!.Select(r => r.Relay.RelayId));
        Assert.Equal(["acme-pbx"], a.Relays!.Single(r => r.Relay.RelayId == "shared-relay").Relay.Pbxes.Select(p => p.Pbx));
        Assert.DoesNotContain("beta", System.Text.Json.JsonSerializer.Serialize(a, ApiJson.Default.HealthDto));
        Assert.Equal(["beta-pbx"], b.Pbxes!.Select(p => p.Pbx));
    }

    [Fact]
    public async Task The_detail_json_has_the_shape_the_web_app_reads()
    {
        var token = await _server.CreateTokenAsync("acme", "crm", "office");
        await _server.PostFramesAsync(Capture.Ctip("office").Take(5));
        await BeatAsync(Beat("site-a", Pbx("office", "connected")));

        using var client = _server.Client(token);
        using var doc = System.Text.Json.JsonDocument.Parse(await client.GetStringAsync("/api/health"));
        var pbx = doc.RootElement.GetProperty("pbxes")[0];
        foreach (var name in new[] { "pbx", "protocol", "framesStored", "parseErrors", "openCalls", "lastFrameAt", "state", "healthy" })
        {
            Assert.True(pbx.TryGetProperty(name, out _), $"pbxes[0].{name}");
        }

        var relay = doc.RootElement.GetProperty("relays")[0];
        Assert.Equal("site-a", relay.GetProperty("relay").GetProperty("relayId").GetString());
        foreach (var name in new[] { "version", "lastSeenAt", "outboxDepth", "outboxOldestAt", "outboxAtCap", "pbxes" })
        {
            Assert.True(relay.GetProperty("relay").TryGetProperty(name, out _), $"relays[0].relay.{name}");
        }

        Assert.True(relay.TryGetProperty("silentSeconds", out _));
        Assert.True(relay.GetProperty("healthy").GetBoolean());
    }

    [Fact]
    public async Task A_silent_relay_is_a_problem_until_it_is_forgotten()
    {
        var token = await _server.CreateTokenAsync("acme", "crm", "office");
        await BeatAsync(Beat("old-relay", Pbx("office", "connected")));
        await _server.Db.ScalarAsync("UPDATE ct.relays SET last_seen_at = now() - interval '6 minutes'; SELECT 0");

        var silent = await _server.HealthAsync(token);
        Assert.Equal("degraded", silent.Status);
        Assert.Contains(silent.Problems!, p => p.StartsWith("relay old-relay: no heartbeat for 36", StringComparison.Ordinal));
        Assert.False(Assert.Single(silent.Relays!).Healthy);

        var output = new StringWriter();
        var rc = await Commands.Cli.InvokeAsync(Commands.AdminCommand.Create(() => _server.Db.DataSource, output), ["relay", "forget", "--relay", "old-relay"], output);

        Assert.Equal(0, rc);
        Assert.Contains("old-relay", output.ToString());
        var after = await _server.HealthAsync(token);
        Assert.Equal("healthy", after.Status);
        Assert.Empty(after.Relays!);
    }

    [Fact]
    public async Task Outbox_at_cap_is_a_problem()
    {
        var token = await _server.CreateTokenAsync("acme", "crm", "office-slican", "branch");
        await BeatAsync(HeartbeatTests.Beat("site-c", depth: 1000, atCap: true));
        var health = await _server.HealthAsync(token);
        Assert.Equal("degraded", health.Status);
        Assert.Contains("relay site-c: outbox full (1000 frames)", health.Problems!);
    }

    [Fact]
    public async Task A_bad_token_is_refused_and_live_and_ready_answer_healthy()
    {
        var routing = await _server.CreateTokenAsync("acme", "routing");

        Assert.Equal(HttpStatusCode.Unauthorized, (await _server.Client("ct_nope").GetAsync("/api/health")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await _server.Client(routing).GetAsync("/api/health")).StatusCode);
        Assert.Equal("healthy", (await _server.Http.GetFromJsonAsync(HealthEndpoints.LivePath, ApiJson.Default.HealthDto))!.Status);
        Assert.Equal("healthy", (await _server.Http.GetFromJsonAsync(HealthEndpoints.ReadyPath, ApiJson.Default.HealthDto))!.Status);
    }
}

/// <summary>The app with its database down: alive, not ready, and 503 with Retry-After on every endpoint that needs it.</summary>
public sealed class DatabaseDownTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        // A port nothing listens on: a PostgreSQL server that is down.
        var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        _app = FunctionsApp.Build(
            ["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=None", "--Ingest:SweepSeconds=0", "--Sms:SweepCron="],
            $"Host=127.0.0.1;Port={port};Username=postgres;Database=down;Timeout=2");
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First();
        _http = new HttpClient { BaseAddress = new Uri(address) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task Live_stays_up_ready_and_health_answer_503()
    {
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync(HealthEndpoints.LivePath)).StatusCode);
        var ready = await _http.GetAsync(HealthEndpoints.ReadyPath);
        var health = await _http.GetAsync("/api/health");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.NotNull(health.Headers.RetryAfter);
        var body = await health.Content.ReadAsStringAsync();
        Assert.Contains("\"status\":\"unhealthy\"", body);
        Assert.DoesNotContain("refused", body, StringComparison.OrdinalIgnoreCase); // no raw database error text
    }

    [Theory]
    [InlineData("GET", "/api/calls")]
    [InlineData("GET", "/api/calls/summary")]
    [InlineData("GET", "/api/calls/1")]
    [InlineData("GET", "/api/contacts")]
    [InlineData("GET", "/api/contacts/693109180")]
    [InlineData("GET", "/api/sms/1")]
    [InlineData("GET", "/api/routing/stats")]
    public async Task Crm_endpoints_answer_503_with_retry_after_as_a_problem(string method, string path)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "ct_some-token");
        var response = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(ProblemExceptionHandler.RetryAfterSeconds), response.Headers.RetryAfter?.Delta);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Ingest_and_heartbeat_answer_503_with_retry_after()
    {
        // a relay token is looked up in the database: with the database down that is 503, not 401
        using var relay = TestTokens.Client(_http.BaseAddress!.ToString(), "ct_some-relay-token");
        var frames = await relay.PostAsJsonAsync(Routes.IngestPath, Capture.Ctip().Take(3).ToArray(), ContractsJson.Default.EnvelopeArray);
        var beat = await relay.PostAsJsonAsync(Routes.HeartbeatPath, HeartbeatTests.Beat("site-a"), ContractsJson.Default.RelayHeartbeat);

        foreach (var response in new[] { frames, beat })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.NotNull(response.Headers.RetryAfter);
            Assert.DoesNotContain("Connection refused", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        }
    }
}
