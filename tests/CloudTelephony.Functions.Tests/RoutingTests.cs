using System.Net.Http.Json;
using System.Text.Json;
using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;

namespace CloudTelephony.Functions.Tests;

/// <summary>GetCustomerData and the routing admin commands against real PostgreSQL and real Kestrel.</summary>
[Collection("routing")]
public sealed class RoutingTests(RoutingFixture f) : IClassFixture<RoutingFixture>
{
    private Task SetAsync(params string[] args)
        => f.AdminAsync(["smart", "set", "--enterprise", "acme", "--allow", "any", .. args.Contains("--fallback") ? args : [.. args, "--fallback", "none"]]);

    [Fact]
    public async Task The_exact_request_of_the_Asterisk_macro_gets_the_contract_answer()
    {
        await SetAsync("--mode", "routing+name", "--strategy", "last_call");

        var (status, body, _) = await f.AskAsync(f.AcmeToken, """{"UniqueId":"1756890000.42","Phone":"693109180","TrunkId":"1","LoadDialPlan":"true"}""");

        Assert.Equal(200, status);
        Assert.Equal("""{"Name":"Jan Kowalski","DialPlan":"mngr8_1_1"}""", body);
    }

    [Theory]
    [InlineData("off", "last_call", "1", "true", null, null)]
    [InlineData("name-only", "last_call", "1", "true", "Jan Kowalski", null)]
    [InlineData("name-only", "first_call", "1", "true", "Jan Kowalski", null)]
    [InlineData("routing+name", "last_call", "1", "true", "Jan Kowalski", "mngr8_1_1")]
    [InlineData("routing+name", "first_call", "1", "true", "Jan Kowalski", "mngr7_1_1")]
    [InlineData("routing+name", "last_call", "2", "true", "Jan Kowalski", null)]
    [InlineData("routing+name", "first_call", "2", "true", "Jan Kowalski", null)]
    [InlineData("routing+name", "last_call", "9", "true", "Jan Kowalski", null)]
    [InlineData("routing+name", "last_call", "1", "false", "Jan Kowalski", null)]
    [InlineData("routing+name", "crm", "1", "true", "Jan Kowalski", null)]
    public async Task Modes_strategies_and_trunks(string mode, string strategy, string trunk, string load, string? name, string? dialPlan)
    {
        await SetAsync("--mode", mode, "--strategy", strategy);

        var answer = await AskOkAsync(f.AcmeToken, RoutingFixture.Body("693109180", trunk, load));

        Assert.Equal(name, answer.Name);
        Assert.Equal(dialPlan, answer.DialPlan);
    }

    [Fact]
    public async Task A_fallback_strategy_answers_when_the_first_finds_nothing()
    {
        await SetAsync("--mode", "routing+name", "--strategy", "crm", "--fallback", "first_call");

        var answer = await AskOkAsync(f.AcmeToken, RoutingFixture.Body("693109180"));

        Assert.Equal("mngr7_1_1", answer.DialPlan);
    }

    [Theory]
    [InlineData("+48693109180")]
    [InlineData("0048693109180")]
    [InlineData("48693109180")]
    [InlineData("693109180")]
    [InlineData("+48 693 109 180")]
    public async Task Every_number_format_finds_the_same_caller(string phone)
    {
        await SetAsync("--mode", "routing+name", "--strategy", "last_call");

        var answer = await AskOkAsync(f.AcmeToken, RoutingFixture.Body(phone));

        Assert.Equal(new Answer("Jan Kowalski", "mngr8_1_1"), answer);
    }

    [Fact]
    public async Task Outbound_calls_count_for_last_call_and_calls_stored_with_a_trunk_zero_are_found()
    {
        await SetAsync("--mode", "routing+name", "--strategy", "last_call");

        Assert.Equal(new Answer("Ola", "mngr7_1_1"), await AskOkAsync(f.AcmeToken, RoutingFixture.Body("+48601000001")));
        Assert.Equal(new Answer(null, null), await AskOkAsync(f.AcmeToken, RoutingFixture.Body("660155133"))); // answered by 103: no internal id
    }

    [Theory]
    [InlineData("500600700")] // only a call older than the lookback window
    [InlineData("+48222222222")]
    [InlineData("anonymous")]
    [InlineData("")]
    public async Task Unknown_numbers_get_nulls(string phone)
    {
        await SetAsync("--mode", "routing+name", "--strategy", "last_call");

        Assert.Equal(new Answer(null, null), await AskOkAsync(f.AcmeToken, RoutingFixture.Body(phone)));
    }

    [Fact]
    public async Task An_enterprise_never_sees_another_enterprises_data()
    {
        await SetAsync("--mode", "routing+name", "--strategy", "last_call");

        Assert.Equal(new Answer(null, null), await AskOkAsync(f.BetaToken, RoutingFixture.Body("693109180")));
        Assert.Equal(new Answer(null, null), await AskOkAsync(f.AcmeToken, RoutingFixture.Body("777888999")));
    }

    [Theory]
    [InlineData("not json", "not JSON")]
    [InlineData("[1,2]", "JSON object")]
    [InlineData("""{"UniqueId":"1","TrunkId":"1","LoadDialPlan":"true"}""", "'Phone'")]
    [InlineData("""{"Phone":693109180,"TrunkId":"1"}""", "'Phone' must be a string")]
    [InlineData("""{"Phone":"693109180","LoadDialPlan":"yes"}""", "'LoadDialPlan'")]
    public async Task A_body_that_is_not_the_contract_is_400_with_a_message(string body, string says)
    {
        var (status, text, _) = await f.AskAsync(f.AcmeToken, body);

        Assert.Equal(400, status);
        Assert.Contains(says, JsonDocument.Parse(text).RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Missing_unknown_and_revoked_tokens_are_401()
    {
        var created = await f.AdminAsync("token", "create", "--enterprise", "acme", "--scope", "routing");
        var token = System.Text.RegularExpressions.Regex.Match(created, @"ct_\S+").Value;
        var id = System.Text.RegularExpressions.Regex.Match(created, @"token (\d+)").Groups[1].Value;
        Assert.Equal(200, (await f.AskAsync(token, RoutingFixture.Body("693109180"))).Status);

        await f.AdminAsync("token", "revoke", "--id", id);

        Assert.Equal(401, (await f.AskAsync(token, RoutingFixture.Body("693109180"))).Status);
        Assert.Equal(401, (await f.AskAsync(null, RoutingFixture.Body("693109180"))).Status);
        var (status, body, _) = await f.AskAsync("ct_guessed", RoutingFixture.Body("693109180"));
        Assert.Equal(401, status);
        Assert.Contains("unknown or revoked", body);
        Assert.Equal(1, (await f.AdminExitAsync("token", "revoke", "--id", id)).Code);
    }

    [Fact]
    public async Task A_token_of_another_scope_is_403()
        => Assert.Equal(403, (await f.AskAsync(f.AcmeCrmToken, RoutingFixture.Body("693109180"))).Status);

    [Fact]
    public async Task A_client_outside_the_allowlist_is_403()
    {
        await SetAsync("--mode", "routing+name", "--strategy", "last_call");
        await f.AdminAsync("smart", "set", "--enterprise", "acme", "--allow", "10.0.0.0/8", "192.0.2.7");
        try
        {
            Assert.Equal(403, (await f.AskAsync(f.AcmeToken, RoutingFixture.Body("693109180"), forwardedFor: "203.0.113.9")).Status);
            Assert.Equal(403, (await f.AskAsync(f.AcmeToken, RoutingFixture.Body("693109180"))).Status); // loopback itself is not listed
            Assert.Equal(200, (await f.AskAsync(f.AcmeToken, RoutingFixture.Body("693109180"), forwardedFor: "10.1.2.3")).Status);
            Assert.Equal(200, (await f.AskAsync(f.AcmeToken, RoutingFixture.Body("693109180"), forwardedFor: "192.0.2.7")).Status);
        }
        finally
        {
            await f.AdminAsync("smart", "set", "--enterprise", "acme", "--allow", "any");
        }
    }

    [Fact]
    public async Task Answers_are_logged_and_counted_in_stats()
    {
        await SetAsync("--mode", "routing+name", "--strategy", "last_call");
        await f.AskAsync(f.AcmeToken, RoutingFixture.Body("693109180"));
        await f.AskAsync(f.AcmeToken, RoutingFixture.Body("+48222222222"));

        long routed = 0;
        for (var i = 0; i < 50 && routed == 0; i++)
        {
            await Task.Delay(100);
            routed = await f.Server.Db.ScalarAsync("SELECT count(*) FROM ct.routing_decisions WHERE outcome = 'routed' AND dial_plan = 'mngr8_1_1' AND strategy = 'last_call' AND phone_e164 = '+48693109180'");
        }

        Assert.True(routed > 0);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/routing/stats");
        request.Headers.Authorization = new("Bearer", f.AcmeCrmToken);
        using var response = await f.Server.Http.SendAsync(request);
        Assert.Equal(200, (int)response.StatusCode);
        var stats = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(stats.GetProperty("total").GetInt64() >= 2);
        Assert.True(stats.GetProperty("byOutcome").GetProperty("routed").GetInt64() >= 1);
        Assert.True(stats.GetProperty("p99Ms").GetDouble() > 0);

        using var wrongScope = new HttpRequestMessage(HttpMethod.Get, "/api/routing/stats");
        wrongScope.Headers.Add("Token", f.AcmeToken);
        Assert.Equal(403, (int)(await f.Server.Http.SendAsync(wrongScope)).StatusCode);
    }

    [Fact]
    public async Task Changing_the_region_renormalises_stored_calls()
    {
        const string sql = "SELECT count(*) FROM ct.calls WHERE call_key = 'c6' AND remote_e164 = ";
        Assert.Equal(1, await f.Server.Db.ScalarAsync(sql + "'+48777888999'"));

        await f.AdminAsync("smart", "set", "--enterprise", "beta", "--region", "DE");
        Assert.Equal(1, await f.Server.Db.ScalarAsync(sql + "'+49777888999'"));

        await f.AdminAsync("smart", "set", "--enterprise", "beta", "--region", "PL");
        Assert.Equal(1, await f.Server.Db.ScalarAsync(sql + "'+48777888999'"));
    }

    [Fact]
    public async Task Smart_test_prints_the_decision_and_why()
    {
        await SetAsync("--mode", "routing+name", "--strategy", "crm", "--fallback", "last_call");

        var output = await f.AdminAsync("smart", "test", "--enterprise", "acme", "--phone", "0048693109180", "--trunk", "1");

        Assert.Contains("Name: Jan Kowalski", output);
        Assert.Contains("DialPlan: mngr8_1_1", output);
        Assert.Contains("fallback last_call: extension 102", output);
        Assert.Contains("outcome: routed", output);
    }

    [Fact]
    public async Task Admin_commands_report_and_refuse_clearly()
    {
        Assert.Contains("acme", await f.AdminAsync("enterprise", "list"));
        Assert.Equal(1, (await f.AdminExitAsync("smart", "set", "--enterprise", "nobody", "--mode", "off")).Code);
        Assert.Equal(1, (await f.AdminExitAsync("enterprise", "add", "--name", "acme")).Code);
        Assert.Equal(1, (await f.AdminExitAsync("pbx", "assign", "--pbx", "never-seen", "--enterprise", "acme")).Code);
        Assert.NotEqual(0, (await f.AdminExitAsync("smart", "set", "--enterprise", "acme", "--mode", "sometimes")).Code);
        Assert.Equal(1, (await f.AdminExitAsync("smart", "set", "--enterprise", "acme", "--budget-ms", "1")).Code);
        var help = new StringWriter();
        var parse = new System.CommandLine.RootCommand { Commands.AdminCommand.Create(() => f.Server.Db.DataSource, help) }.Parse(["admin", "smart", "set", "--help"]);
        await parse.InvokeAsync(new System.CommandLine.InvocationConfiguration { Output = help });
        Assert.Contains("--strategy", help.ToString());
    }

    private async Task<Answer> AskOkAsync(string token, string body)
    {
        var (status, text, _) = await f.AskAsync(token, body);
        Assert.True(status == 200, $"{status}: {text}");
        return JsonSerializer.Deserialize<Answer>(text)!;
    }

    private sealed record Answer(string? Name, string? DialPlan);
}
