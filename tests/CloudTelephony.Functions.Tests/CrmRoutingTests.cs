using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using CloudTelephony.Functions.Routing;
using CloudTelephony.Storage;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.Functions.Tests;

/// <summary>
/// A fake retailCRM on real Kestrel: <c>/ok</c> answers a customer (manager 42) with the asked number, <c>/slow</c>
/// the same after 3 s, <c>/fail</c> HTTP 500, <c>/garbage</c> HTML, <c>/shape</c> JSON of the wrong shape. The functions
/// app keeps names and extensions in its caches (30 s), so each test asks its own number.
/// </summary>
public sealed class CrmFixture : IAsyncLifetime
{
    /// <summary>How long the slow CRM takes to answer.</summary>
    public const int SlowCrmMilliseconds = 10_000;

    private WebApplication _crm = null!;
    private int _okRequests;

    public RoutingFixture Routing { get; } = RoutingFixture.With("--Routing:NameCacheSeconds=30", "--Routing:ExtensionCacheSeconds=30");

    public string CrmUrl { get; private set; } = "";

    public string Token { get; private set; } = "";

    public int OkRequests => Volatile.Read(ref _okRequests);

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _crm = builder.Build();
        _crm.MapGet("/ok/api/v5/customers", (HttpRequest r) =>
        {
            Interlocked.Increment(ref _okRequests);
            return Customer(r);
        });
        _crm.MapGet("/slow/api/v5/customers", async (HttpRequest r, CancellationToken ct) =>
        {
            await Task.Delay(SlowCrmMilliseconds, ct);
            return Customer(r);
        });
        _crm.MapGet("/fail/api/v5/customers", () => Results.StatusCode(500));
        _crm.MapGet("/garbage/api/v5/customers", () => Results.Text("<html>maintenance</html>", "text/html"));
        _crm.MapGet("/shape/api/v5/customers", () => Results.Text("""{"success":true,"customers":"none"}""", "application/json"));
        await _crm.StartAsync();
        CrmUrl = _crm.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        await Routing.InitializeAsync();
        await Routing.AdminAsync("enterprise", "add", "--name", "shop");
        await Routing.AdminAsync("extensions", "import", "--enterprise", "shop", "--file", await RoutingFixture.FileAsync("101,7,Anna\n"));
        await Routing.AdminAsync("contacts", "import", "--enterprise", "shop", "--file", await RoutingFixture.FileAsync("Known Person,,511000999\n"));
        await Routing.AdminAsync("crm", "map", "--enterprise", "shop", "--manager", "42", "--ext", "101");
        await Routing.AdminAsync("trunks", "enable", "--enterprise", "shop", "--trunk", "1");
        await Routing.AdminAsync("smart", "set", "--enterprise", "shop", "--mode", "routing+name", "--strategy", "crm", "--crm", "retailcrm",
            "--crm-key", "secret-key", "--budget-ms", "200");
        Token = Regex.Match(await Routing.AdminAsync("token", "create", "--enterprise", "shop", "--scope", "routing"), @"ct_\S+").Value;
    }

    public async Task DisposeAsync()
    {
        await Routing.DisposeAsync();
        await _crm.StopAsync();
        await _crm.DisposeAsync();
    }

    private static IResult Customer(HttpRequest r)
    {
        if (r.Headers["X-API-KEY"] != "secret-key")
        {
            return Results.Text("""{"success":false,"errorMsg":"Wrong apiKey value"}""", "application/json", statusCode: 403);
        }

        var number = r.Query["filter[name]"].ToString();
        return Results.Text($$"""{"success":true,"customers":[{"id":5,"firstName":"Ewa","lastName":"Zielińska","managerId":42,"phones":[{"number":"{{number}}"}]}]}""", "application/json");
    }
}

public sealed class CrmRoutingTests(CrmFixture f) : IClassFixture<CrmFixture>
{
    private Task UseAsync(string path) => f.Routing.AdminAsync("smart", "set", "--enterprise", "shop", "--crm-url", f.CrmUrl.TrimEnd('/') + "/" + path);

    [Fact]
    public async Task The_CRM_names_the_caller_and_its_manager_routes_the_call_then_memory_answers()
    {
        await UseAsync("ok");

        var first = await f.Routing.AskAsync(f.Token, RoutingFixture.Body("511000001"));
        var asked = f.OkRequests;
        var again = await f.Routing.AskAsync(f.Token, RoutingFixture.Body("+48511000001"));

        Assert.Equal("""{"Name":"Ewa Zieli\u0144ska","DialPlan":"mngr7_1_1"}""", first.Body);
        Assert.Equal(first.Body, again.Body);
        Assert.Equal(asked, f.OkRequests); // the repeat caller never reached the CRM
    }

    [Theory]
    [InlineData("slow", "511000002")]
    [InlineData("fail", "511000003")]
    [InlineData("garbage", "511000004")]
    [InlineData("shape", "511000005")]
    public async Task A_CRM_that_is_slow_fails_or_talks_garbage_still_gets_an_answer_within_budget(string path, string phone)
    {
        await UseAsync(path);

        var (status, body, ms) = await f.Routing.AskAsync(f.Token, RoutingFixture.Body(phone));

        Assert.Equal(200, status);
        Assert.Equal("""{"Name":null,"DialPlan":null}""", body);
        // Behaviour, not speed: the answer never waits for the CRM (a slow one answers after 10 s); the margin keeps a
        // loaded CI machine's first, cold request from failing the test.
        Assert.True(ms < CrmFixture.SlowCrmMilliseconds / 2, $"took {ms:F0} ms with a 200 ms budget: it waited for the CRM");
    }

    [Fact]
    public async Task When_the_budget_runs_out_the_known_name_is_still_answered()
    {
        await UseAsync("slow");

        var sw = Stopwatch.StartNew();
        var (_, body, _) = await f.Routing.AskAsync(f.Token, RoutingFixture.Body("511000999"));

        Assert.Equal("""{"Name":"Known Person","DialPlan":null}""", body);
        Assert.True(sw.ElapsedMilliseconds < CrmFixture.SlowCrmMilliseconds / 2, $"took {sw.ElapsedMilliseconds} ms: it waited for the CRM");
        long timeouts = 0;
        for (var i = 0; i < 50 && timeouts == 0; i++)
        {
            await Task.Delay(100);
            timeouts = await f.Routing.Server.Db.ScalarAsync("SELECT count(*) FROM ct.routing_decisions WHERE outcome = 'timeout' AND phone_e164 = '+48511000999'");
        }

        Assert.Equal(1, timeouts);
    }

    [Fact]
    public async Task A_token_over_its_rate_gets_429()
    {
        await using var server = RoutingFixture.With("--Routing:RateLimitPerSecond=1", "--Routing:RateLimitBurst=2");
        await server.InitializeAsync();

        var statuses = new List<int>();
        for (var i = 0; i < 5; i++)
        {
            statuses.Add((await server.AskAsync(server.AcmeToken, RoutingFixture.Body("693109180"))).Status);
        }

        Assert.Contains(429, statuses);
        Assert.Equal(200, statuses[0]);
        Assert.Equal(200, (await server.AskAsync(server.BetaToken, RoutingFixture.Body("693109180"))).Status); // other tokens unaffected
    }

    [Fact]
    public void A_full_decision_queue_drops_log_rows_and_counts_them()
    {
        var log = new DecisionLog(new RoutingStore(f.Routing.Server.Db.DataSource), new RoutingOptions { DecisionQueue = 2 }, NullLogger<DecisionLog>.Instance);
        var row = new RoutingDecision(1, DateTimeOffset.UtcNow, "u", "1", null, "1", true, "off", null, "off", "test", null, null, 0.1);

        Assert.True(log.TryAdd(row));
        Assert.True(log.TryAdd(row));
        Assert.False(log.TryAdd(row));
        Assert.Equal(1, log.Dropped);
    }
}
