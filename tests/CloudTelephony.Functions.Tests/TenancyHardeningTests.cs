using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.Functions.Tests;

/// <summary>
/// Tenancy under hostile or unlucky input, on real Kestrel and PostgreSQL: an IP allowlist through the settings cache on
/// every endpoint, failed authentication limited per client address, and NUL or control characters in every text
/// input answered 400 naming the field.
/// </summary>
public sealed class TenancyHardeningTests : IAsyncLifetime
{
    // the settings cache ON (default 5 s): the allowlist bug lived in its serializer
    private readonly FunctionsServer _server = new(0, "--Auth:FailureBurst=5", "--Auth:FailuresPerMinute=1");

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [Fact]
    public async Task With_the_ip_allowlist_on_every_token_endpoint_answers_through_the_cache_and_never_500()
    {
        var tokens = new Dictionary<string, string>
        {
            ["crm"] = await _server.CreateTokenAsync("walled", "crm", "walled-pbx"),
            ["routing"] = await _server.CreateTokenAsync("walled", "routing"),
            ["relay"] = await _server.CreateTokenAsync("walled", "relay"),
        };
        var enterprise = (await new RoutingStore(_server.Db.DataSource).FindEnterpriseAsync("walled", default))!.Value;
        var store = new RoutingStore(_server.Db.DataSource);
        var endpoints = _server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<TokenScope>() is not null)
            .SelectMany(e => e.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods.Select(m => (Method: m, Endpoint: e)))
            .ToList();
        Assert.True(endpoints.Count >= 18, $"{endpoints.Count} token endpoints");

        foreach (var (allow, expectForbidden) in new[] { ("127.0.0.0/8", false), ("192.0.2.0/24", true) })
        {
            await store.UpdateSettingsAsync(enterprise, new RoutingSettingsUpdate(IpAllowlist: [IPNetwork.Parse(allow)]), default);
            await Task.Delay(TimeSpan.FromSeconds(5.5)); // the cached settings of the previous round expire
            foreach (var (method, endpoint) in endpoints)
            {
                var scope = endpoint.Metadata.GetMetadata<TokenScope>()!.Scope;
                var path = "/" + string.Join('/', endpoint.RoutePattern.PathSegments.Select(s => string.Concat(s.Parts.Select(p => p switch
                {
                    Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart l => l.Content,
                    Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart { Name: "number" } => "693109180",
                    _ => "1",
                }))));
                using var client = _server.Client(tokens[scope]);
                for (var i = 0; i < 2; i++) // the second request is answered from the cache
                {
                    using var request = new HttpRequestMessage(new HttpMethod(method), path);
                    if (method is "POST" or "PUT")
                    {
                        request.Content = new StringContent(path.EndsWith("frames", StringComparison.Ordinal) ? "[]" : "{}", Encoding.UTF8, "application/json");
                    }

                    // headers only: GET /api/events is a server-sent event stream that does not end
                    using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                    var status = (int)response.StatusCode;
                    Assert.True(status < 500, $"{method} {path} with allowlist {allow}: {status} {(status >= 500 ? await response.Content.ReadAsStringAsync() : "")}");
                    Assert.True(expectForbidden == (status == 403), $"{method} {path} with allowlist {allow}: {status}");
                }
            }
        }
    }

    [Fact]
    public async Task Random_tokens_from_one_address_get_429_after_the_burst_and_cost_no_more_lookups_while_a_valid_token_still_works()
    {
        var valid = await _server.CreateTokenAsync("limited", "crm");
        using var good = _server.Client(valid);
        Assert.Equal(HttpStatusCode.OK, (await good.GetAsync("/api/calls")).StatusCode);
        var statuses = new List<HttpStatusCode>();
        string? retryAfter = null;
        for (var i = 0; i < 200; i++)
        {
            using var guess = _server.Client(TokenStore.NewSecret());
            var response = await guess.GetAsync("/api/calls");
            statuses.Add(response.StatusCode);
            retryAfter ??= response.Headers.RetryAfter?.ToString();
        }

        Assert.Equal(5, statuses.Count(s => s == HttpStatusCode.Unauthorized));
        Assert.Equal(195, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        Assert.Equal("60", retryAfter);
        Assert.Equal(HttpStatusCode.OK, (await good.GetAsync("/api/calls")).StatusCode);
        using var routing = _server.Client(TokenStore.NewSecret());
        var contract = await routing.PostAsync(RoutingEndpoints.CustomerDataPath, new StringContent("""{"Phone":"1"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.TooManyRequests, contract.StatusCode);
        Assert.Contains("\"error\"", await contract.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_401_says_how_to_authenticate()
    {
        var missing = await _server.Http.GetAsync("/api/calls");
        using var unknown = _server.Client("ct_not-a-token");
        var wrong = await unknown.GetAsync("/api/sms/1");

        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal("Bearer realm=\"CloudTelephony\"", missing.Headers.WwwAuthenticate.Single().ToString());
        Assert.Contains("error=\"invalid_token\"", wrong.Headers.WwwAuthenticate.Single().ToString());
    }

    [Fact]
    public async Task Kestrel_itself_refuses_a_NUL_in_the_path_with_400()
    {
        var response = await _server.Http.GetAsync("/api/contacts/69%003");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task One_row_the_database_refuses_does_not_lose_the_decision_log_batch()
    {
        var store = new RoutingStore(_server.Db.DataSource);
        var enterprise = await store.AddEnterpriseAsync("log-batch", "Europe/Warsaw", default);
        var log = new DecisionLog(store, new RoutingOptions(), NullLogger<DecisionLog>.Instance);
        RoutingDecision Row(string uniqueId) => new(enterprise, DateTimeOffset.UtcNow, uniqueId, "693109180", "+48693109180", "1", true,
            "routing+name", "last_call", "routed", "found", "Jan", "mngr8_1_1", 12.5);
        foreach (var id in new[] { "a.1", "a.2", "bad\0id", "a.3" })
        {
            Assert.True(log.TryAdd(Row(id)));
        }

        await log.StartAsync(default);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (log.Written + log.Failed < 4 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        await log.StopAsync(default);
        Assert.Equal((3, 1), (log.Written, log.Failed));
        Assert.Equal(3, await _server.Db.ScalarAsync($"SELECT count(*) FROM ct.routing_decisions WHERE enterprise_id = {enterprise}"));
    }
}

/// <summary>A functions app on a fresh database, shared by the tests of a class.</summary>
public sealed class PlainServer : IAsyncLifetime
{
    public FunctionsServer Server { get; } = new();

    public Task InitializeAsync() => Server.InitializeAsync();

    public Task DisposeAsync() => Server.DisposeAsync();
}

/// <summary>NUL (which PostgreSQL cannot store) and control characters in every kind of text input: 400 naming the field,
/// never a 500, a CSV cut short or a lost batch.</summary>
public sealed class ControlCharacterTests(PlainServer server) : IClassFixture<PlainServer>
{
    [Theory]
    [InlineData("/api/calls?q=69%00", "q")]
    [InlineData("/api/calls?ext=1%0001", "ext")]
    [InlineData("/api/calls?pbx=a%00", "pbx")]
    [InlineData("/api/calls/summary?q=%00", "q")]
    [InlineData("/api/calls.csv?q=x%00y", "q")]
    [InlineData("/api/contacts?search=ko%00w", "search")]
    [InlineData("/api/numbers/69%0A3/contact", "number")]
    public async Task NUL_or_a_control_character_in_a_query_or_path_value_is_400_naming_it(string path, string field)
    {
        using var crm = server.Server.Client(await server.Server.CreateTokenAsync("nul", "crm"));
        var response = await crm.GetAsync(path);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(body.RootElement.GetProperty("errors").TryGetProperty(field, out _), await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("/api/contacts", """{"name":"Jan\u0000Kowalski"}""", "name")]
    [InlineData("/api/contacts", """{"name":"Jan","company":"A\u0000B"}""", "company")]
    [InlineData("/api/contacts", """{"name":"Jan","devices":[{"number":"693109180","label":"x\u0000"}]}""", "devices[0].label")]
    [InlineData("/api/contacts", """{"name":"Jan","devices":[{"number":"693\u0000109180"}]}""", "devices[0].number")]
    [InlineData("/api/sms", """{"to":"600100200","text":"a\u0000b"}""", "text")]
    public async Task NUL_in_a_body_field_is_400_naming_it(string path, string json, string field)
    {
        using var crm = server.Server.Client(await server.Server.CreateTokenAsync("nul", "crm"));
        var response = await crm.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(body.RootElement.GetProperty("errors").TryGetProperty(field, out _), await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("UniqueId")]
    [InlineData("Phone")]
    [InlineData("TrunkId")]
    public async Task NUL_in_a_smart_redirect_field_is_400_naming_it(string field)
    {
        using var routing = server.Server.Client(await server.Server.CreateTokenAsync("nul", "routing"));
        var fields = new Dictionary<string, string> { ["UniqueId"] = "1756890000.42", ["Phone"] = "693109180", ["TrunkId"] = "1" };
        fields[field] = "69\u00003";
        var response = await routing.PostAsJsonAsync(RoutingEndpoints.CustomerDataPath, fields);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains($"'{field}'", (await response.Content.ReadFromJsonAsync(RoutingJson.Default.ErrorDto))!.Error);
    }

}
