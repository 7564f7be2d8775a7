using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;

namespace CloudTelephony.Functions.Tests;

/// <summary>
/// Who may POST frames and heartbeats, and what the ingest endpoint refuses, on real Kestrel and PostgreSQL: a relay
/// token of the PBX's enterprise, valid PBX ids, JSON bodies under the size limit.
/// </summary>
public sealed class IngestAuthTests(PlainServer server) : IClassFixture<PlainServer>
{
    private static readonly DateTimeOffset T0 = new(2025, 9, 3, 7, 0, 0, TimeSpan.Zero);
    private FunctionsServer Server => server.Server;

    [Fact]
    public async Task Frames_and_heartbeats_without_a_relay_token_are_refused_and_store_nothing()
    {
        var crm = await Server.CreateTokenAsync("ingest-a", "crm");
        using var withCrm = Server.Client(crm);
        var batch = Frames("auth-none", 3);

        var anonymous = await Server.Http.PostAsJsonAsync(Routes.IngestPath, batch, ContractsJson.Default.EnvelopeArray);
        var wrongScope = await withCrm.PostAsJsonAsync(Routes.IngestPath, batch, ContractsJson.Default.EnvelopeArray);
        var beat = await Server.Http.PostAsJsonAsync(Routes.HeartbeatPath, Beat(), ContractsJson.Default.RelayHeartbeat);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.StartsWith("Bearer", anonymous.Headers.WwwAuthenticate.Single().ToString());
        Assert.Equal(HttpStatusCode.Forbidden, wrongScope.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, beat.StatusCode);
        Assert.Equal(0, await Server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE pbx = 'auth-none'"));
        Assert.Equal(0, await Server.Db.ScalarAsync("SELECT count(*) FROM ct.pbxes WHERE id = 'auth-none'"));
    }

    [Fact]
    public async Task A_relay_token_registers_a_new_pbx_under_its_enterprise_and_may_not_feed_another_enterprises_pbx()
    {
        using var relayA = Server.Client(await Server.Db.RelayTokenAsync("ingest-b"));
        using var relayOther = Server.Client(await Server.Db.RelayTokenAsync("ingest-c"));
        await Server.Db.ScalarAsync("UPDATE ct.enterprises SET time_zone = 'Europe/Warsaw' WHERE name = 'ingest-b'; SELECT 0");

        var first = await relayA.PostAsJsonAsync(Routes.IngestPath, Frames("auth-new", 3), ContractsJson.Default.EnvelopeArray);
        var foreign = await relayOther.PostAsJsonAsync(Routes.IngestPath, Frames("auth-new", 2, from: 4), ContractsJson.Default.EnvelopeArray);
        var mixed = await relayOther.PostAsJsonAsync(Routes.IngestPath, [.. Frames("auth-own", 1), .. Frames("auth-new", 1, from: 9)], ContractsJson.Default.EnvelopeArray);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(1, await Server.Db.ScalarAsync(
            "SELECT count(*) FROM ct.pbxes p JOIN ct.enterprises e ON e.id = p.enterprise_id WHERE p.id = 'auth-new' AND e.name = 'ingest-b' AND p.time_zone = 'Europe/Warsaw'"));
        Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);
        Assert.Contains("auth-new", await foreign.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Forbidden, mixed.StatusCode);
        Assert.Equal(3, await Server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE pbx = 'auth-new'"));
        Assert.Equal(0, await Server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE pbx = 'auth-own'"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("-starts-with-dash")]
    [InlineData("has space")]
    [InlineData("new\nline")]
    [InlineData("a/b")]
    [InlineData("x0123456789012345678901234567890123456789012345678901234567890123")]
    public async Task A_pbx_id_that_is_not_one_answers_400_and_registers_nothing(string pbx)
    {
        using var relay = Server.Client(await Server.Db.RelayTokenAsync("ingest-d"));
        var response = await relay.PostAsJsonAsync(Routes.IngestPath, Frames(pbx, 1), ContractsJson.Default.EnvelopeArray);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("pbx", await response.Content.ReadAsStringAsync());
        Assert.False(PbxIds.IsValid(pbx));
        Assert.Equal(0, await Server.Db.ScalarAsync("SELECT count(*) FROM ct.pbxes p JOIN ct.enterprises e ON e.id = p.enterprise_id WHERE e.name = 'ingest-d'"));
    }

    [Theory]
    [InlineData("office-slican")]
    [InlineData("warsaw.ipo:2")]
    [InlineData("A_1")]
    [InlineData("x012345678901234567890123456789012345678901234567890123456789012")]
    public void Pbx_ids_of_letters_digits_dot_underscore_colon_dash_up_to_64_are_valid(string pbx) => Assert.True(PbxIds.IsValid(pbx));

    [Fact]
    public async Task A_body_that_is_not_json_is_415_and_one_over_the_limit_413_with_the_limit()
    {
        using var relay = Server.Client(await Server.Db.RelayTokenAsync());
        var json = JsonSerializer.Serialize(Frames("auth-size", 1), ContractsJson.Default.EnvelopeArray);
        var form = await relay.PostAsync(Routes.IngestPath, new StringContent(json, Encoding.UTF8, "application/x-www-form-urlencoded"));
        var none = await relay.PostAsync(Routes.IngestPath, new ByteArrayContent(Encoding.UTF8.GetBytes(json)));
        var huge = new string('x', (int)RequestBodies.DefaultMaxBytes + 1000);
        // Expect: 100-continue (curl sends it for large bodies): Kestrel answers 413 before the body is sent; without it the
        // server's answer races the upload and the client may only see the connection close.
        using var large = new HttpRequestMessage(HttpMethod.Post, Routes.IngestPath)
        {
            Content = new StringContent($"[{{\"frame\":\"{huge}\"}}]", Encoding.UTF8, "application/json"),
            Headers = { ExpectContinue = true },
        };
        var tooLarge = await relay.SendAsync(large);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, none.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        using var problem = JsonDocument.Parse(await tooLarge.Content.ReadAsStringAsync());
        Assert.Equal(RequestBodies.DefaultMaxBytes, problem.RootElement.GetProperty(RequestBodies.LimitExtension).GetInt64());
        Assert.Equal(0, await Server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE pbx = 'auth-size'"));
    }

    [Fact]
    public async Task A_relay_token_posts_a_heartbeat()
    {
        using var relay = Server.Client(await Server.Db.RelayTokenAsync());
        var response = await relay.PostAsJsonAsync(Routes.HeartbeatPath, Beat(), ContractsJson.Default.RelayHeartbeat);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    private static Envelope[] Frames(string pbx, int count, int from = 1)
        => Enumerable.Range(from, count).Select(i => new Envelope(pbx, Protocols.Ctip, "s1", i, T0.AddSeconds(i), $"aRING 10{i % 9} 693109180")).ToArray();

    private static RelayHeartbeat Beat() => new(RelayHeartbeat.KindValue, "auth-relay", "1.0", T0, [], 0, 0, null, false);
}

/// <summary>With <c>Ingest:AutoRegisterPbxes=false</c> only PBXes filed with <c>admin pbx assign</c> may be fed.</summary>
public sealed class IngestRegistrationOffTests : IAsyncLifetime
{
    private readonly FunctionsServer _server = new(0, "--Ingest:AutoRegisterPbxes=false");

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [Fact]
    public async Task An_unregistered_pbx_is_403_and_a_filed_one_is_stored()
    {
        await _server.CreateTokenAsync("filed", "crm", "filed-pbx");
        using var relay = _server.Client(await _server.Db.RelayTokenAsync("filed"));
        Envelope Frame(string pbx) => new(pbx, Protocols.Ctip, "s1", 1, DateTimeOffset.UtcNow, "aRING 101 693109180");

        var unknown = await relay.PostAsJsonAsync(Routes.IngestPath, new[] { Frame("stranger-pbx") }, ContractsJson.Default.EnvelopeArray);
        var filed = await relay.PostAsJsonAsync(Routes.IngestPath, new[] { Frame("filed-pbx") }, ContractsJson.Default.EnvelopeArray);

        Assert.Equal(HttpStatusCode.Forbidden, unknown.StatusCode);
        Assert.Contains("AutoRegisterPbxes", await unknown.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, filed.StatusCode);
        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.pbxes WHERE id = 'stranger-pbx'"));
    }
}
