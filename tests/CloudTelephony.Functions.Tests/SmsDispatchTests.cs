using System.Text.Json;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Sms;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace CloudTelephony.Functions.Tests;

/// <summary>The dispatcher against real PostgreSQL and a real HTTP server playing the provider.</summary>
public sealed class SmsDispatchTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2025, 9, 3, 10, 0, 0, TimeSpan.Zero);
    private readonly PostgresDatabase _db = new();
    private readonly FakeSmsProvider _fake = new();
    private readonly ManualClock _clock = new(T0);

    public async Task InitializeAsync()
    {
        await _db.InitializeAsync();
        await _fake.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _fake.DisposeAsync();
        await _db.DisposeAsync();
    }

    private ServiceProvider Smsapi(int maxAttempts = 5, int retries = 2, double timeout = 2) => SmsKit.Services(_db.DataSource, _clock, new Dictionary<string, string?>
    {
        ["Sms:Provider"] = "smsapi",
        ["Sms:Smsapi:Url"] = _fake.BaseUrl + "/sms.do",
        ["Sms:Smsapi:Token"] = "secret-token",
        ["Sms:Smsapi:From"] = "Firma",
        ["Sms:MaxAttempts"] = maxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Sms:RetriesPerDispatch"] = retries.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Sms:RetryDelaySeconds"] = "0.01",
        ["Sms:BackoffSeconds"] = "60",
        ["Sms:TimeoutSeconds"] = timeout.ToString(System.Globalization.CultureInfo.InvariantCulture),
    });

    private ServiceProvider Webhook(int maxAttempts = 5) => SmsKit.Services(_db.DataSource, _clock, new Dictionary<string, string?>
    {
        ["Sms:Provider"] = "webhook",
        ["Sms:Webhook:Url"] = _fake.BaseUrl + "/hook",
        ["Sms:Webhook:AuthHeader"] = "X-Api-Key: hook-secret",
        ["Sms:MaxAttempts"] = maxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Sms:RetriesPerDispatch"] = "0",
        ["Sms:TimeoutSeconds"] = "2",
    });

    [Fact]
    public async Task Smsapi_success_marks_the_row_sent_with_the_providers_id()
    {
        using var sp = Smsapi();
        var id = await SmsKit.InsertAsync(_db.DataSource, text: "Dzień dobry, oddzwonimy.");

        var outcome = await sp.GetRequiredService<SmsDispatcher>().DispatchAsync(id, default);

        Assert.Equal(DispatchOutcome.Sent, outcome);
        var row = await SmsKit.RowAsync(_db.DataSource, id);
        Assert.Equal(("SENT", 1, "smsapi", "SMSAPI1"), (row.Status, row.Attempts, row.Provider, row.ProviderMessageId));
        Assert.Equal(T0, row.SentAt);
        var request = Assert.Single(_fake.Requests);
        Assert.Equal("Bearer secret-token", request.Headers["Authorization"]);
        Assert.Equal("48600100200", request.Form["to"]);
        Assert.Equal("Dzień dobry, oddzwonimy.", request.Form["message"]);
        Assert.Equal("json", request.Form["format"]);
        Assert.Equal($"ct{id}", request.Form["idx"]);
        Assert.Equal("1", request.Form["check_idx"]);
        Assert.Equal("Firma", request.Form["from"]);
    }

    [Fact]
    public async Task A_429_and_a_500_are_retried_within_one_dispatch()
    {
        using var sp = Smsapi();
        _fake.Script(FakeAnswer.TooMany, FakeAnswer.ServerError);
        var id = await SmsKit.InsertAsync(_db.DataSource);

        Assert.Equal(DispatchOutcome.Sent, await sp.GetRequiredService<SmsDispatcher>().DispatchAsync(id, default));

        var row = await SmsKit.RowAsync(_db.DataSource, id);
        Assert.Equal(("SENT", 3), (row.Status, row.Attempts));
        Assert.Equal(3, _fake.Requests.Count);
    }

    [Fact]
    public async Task Transient_failures_back_off_then_end_in_error_with_the_reason_after_max_attempts()
    {
        using var sp = Smsapi(maxAttempts: 3, retries: 1);
        _fake.Script(FakeAnswer.ServerError, FakeAnswer.TooMany, FakeAnswer.ServerError, FakeAnswer.Ok);
        var dispatcher = sp.GetRequiredService<SmsDispatcher>();
        var id = await SmsKit.InsertAsync(_db.DataSource);

        Assert.Equal(DispatchOutcome.Retry, await dispatcher.DispatchAsync(id, default));
        var waiting = await SmsKit.RowAsync(_db.DataSource, id);
        Assert.Equal(("NEW", 2, "http-429"), (waiting.Status, waiting.Attempts, waiting.ProviderCode));
        Assert.Equal(T0.AddSeconds(60), waiting.NextAttemptAt);

        Assert.Equal(DispatchOutcome.NotClaimed, await dispatcher.DispatchAsync(id, default)); // not due yet
        _clock.Now = T0.AddSeconds(61);
        Assert.Equal(DispatchOutcome.Failed, await dispatcher.DispatchAsync(id, default));

        var row = await SmsKit.RowAsync(_db.DataSource, id);
        Assert.Equal(("ERROR", 3, "201"), (row.Status, row.Attempts, row.ProviderCode));
        Assert.Equal("Internal system error", row.LastError);
        Assert.Equal(3, _fake.Requests.Count);
        Assert.Equal(DispatchOutcome.NotClaimed, await dispatcher.DispatchAsync(id, default));
        Assert.Equal(3, _fake.Requests.Count);
    }

    [Fact]
    public async Task A_timeout_is_transient()
    {
        using var sp = Smsapi(maxAttempts: 1, timeout: 0.3);
        _fake.Script(FakeAnswer.Timeout);
        var id = await SmsKit.InsertAsync(_db.DataSource);

        Assert.Equal(DispatchOutcome.Failed, await sp.GetRequiredService<SmsDispatcher>().DispatchAsync(id, default));

        var row = await SmsKit.RowAsync(_db.DataSource, id);
        Assert.Equal(("ERROR", 1, "timeout"), (row.Status, row.Attempts, row.ProviderCode));
        Assert.Contains("did not answer in time", row.LastError);
    }

    [Fact]
    public async Task A_garbage_answer_is_retried_and_then_reported()
    {
        using var sp = Smsapi(maxAttempts: 2, retries: 1);
        _fake.Script(FakeAnswer.Garbage, FakeAnswer.Garbage);
        var id = await SmsKit.InsertAsync(_db.DataSource);

        Assert.Equal(DispatchOutcome.Failed, await sp.GetRequiredService<SmsDispatcher>().DispatchAsync(id, default));

        var row = await SmsKit.RowAsync(_db.DataSource, id);
        Assert.Equal(("ERROR", 2, "bad-response"), (row.Status, row.Attempts, row.ProviderCode));
        Assert.Contains("502 Bad Gateway", row.LastError);
        Assert.Equal(2, _fake.Requests.Count);
    }

    [Fact]
    public async Task A_permanent_smsapi_error_ends_in_error_at_once()
    {
        using var sp = Smsapi();
        _fake.Script(FakeAnswer.AuthError);
        var id = await SmsKit.InsertAsync(_db.DataSource);

        Assert.Equal(DispatchOutcome.Failed, await sp.GetRequiredService<SmsDispatcher>().DispatchAsync(id, default));

        var row = await SmsKit.RowAsync(_db.DataSource, id);
        Assert.Equal(("ERROR", 1, "101", "Authorization failed"), (row.Status, row.Attempts, row.ProviderCode, row.LastError));
        Assert.Single(_fake.Requests);
    }

    [Fact]
    public async Task Webhook_posts_json_with_the_auth_header_and_an_idempotency_key()
    {
        using var sp = Webhook();
        _fake.Script(FakeAnswer.ServerError);
        var dispatcher = sp.GetRequiredService<SmsDispatcher>();
        var id = await SmsKit.InsertAsync(_db.DataSource, to: "+48501200300", text: "Zażółć \"gęślą\"");

        Assert.Equal(DispatchOutcome.Retry, await dispatcher.DispatchAsync(id, default));
        _clock.Now = T0.AddMinutes(5);
        Assert.Equal(DispatchOutcome.Sent, await dispatcher.DispatchAsync(id, default));

        var row = await SmsKit.RowAsync(_db.DataSource, id);
        Assert.Equal(("SENT", 2, "webhook", "hook-1"), (row.Status, row.Attempts, row.Provider, row.ProviderMessageId));
        Assert.All(_fake.Requests, r =>
        {
            Assert.Equal("hook-secret", r.Headers["X-Api-Key"]);
            Assert.Equal($"sms-{id}", r.Headers["Idempotency-Key"]);
            using var body = JsonDocument.Parse(r.Body);
            Assert.Equal(id, body.RootElement.GetProperty("id").GetInt64());
            Assert.Equal("+48501200300", body.RootElement.GetProperty("to").GetString());
            Assert.Equal("Zażółć \"gęślą\"", body.RootElement.GetProperty("text").GetString());
        });
    }

    [Fact]
    public async Task Two_dispatchers_racing_send_each_sms_exactly_once()
    {
        using var a = Webhook();
        using var b = Webhook();
        var ids = new List<long>();
        for (var i = 0; i < 30; i++)
        {
            ids.Add(await SmsKit.InsertAsync(_db.DataSource, to: $"+4860010{i:D4}"));
        }

        var first = a.GetRequiredService<SmsDispatcher>();
        var second = b.GetRequiredService<SmsDispatcher>();
        var outcomes = await Task.WhenAll(ids.SelectMany(id => new[] { Task.Run(() => first.DispatchAsync(id, default)), Task.Run(() => second.DispatchAsync(id, default)) }));

        Assert.Equal(30, outcomes.Count(o => o == DispatchOutcome.Sent));
        Assert.Equal(30, outcomes.Count(o => o == DispatchOutcome.NotClaimed));
        var sentIds = _fake.Requests.Select(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("id").GetInt64()).Order().ToList();
        Assert.Equal(ids, sentIds);
        Assert.Equal(30, await _db.ScalarAsync("SELECT count(*) FROM ct.sms_out WHERE status = 'SENT' AND attempts = 1"));
    }

    [Fact]
    public async Task The_sweep_sends_due_rows_leaves_future_rows_and_reports_stuck_sending_rows()
    {
        using var sp = Webhook();
        var due = await SmsKit.InsertAsync(_db.DataSource, due: T0.AddMinutes(-1));
        var later = await SmsKit.InsertAsync(_db.DataSource, due: T0.AddHours(8));
        var stuck = await SmsKit.InsertAsync(_db.DataSource, status: "SENDING", sendingAt: T0.AddMinutes(-30));
        var busy = await SmsKit.InsertAsync(_db.DataSource, status: "SENDING", sendingAt: T0.AddMinutes(-1));

        var result = await sp.GetRequiredService<SmsDispatcher>().SweepAsync(default);

        Assert.Equal(new SmsSweepResult(1, 1, 0, 0, 1), result);
        Assert.Equal("SENT", (await SmsKit.RowAsync(_db.DataSource, due)).Status);
        Assert.Equal("NEW", (await SmsKit.RowAsync(_db.DataSource, later)).Status);
        var reported = await SmsKit.RowAsync(_db.DataSource, stuck);
        Assert.Equal(("ERROR", "stuck"), (reported.Status, reported.ProviderCode));
        Assert.Contains("outcome unknown", reported.LastError);
        Assert.Equal("SENDING", (await SmsKit.RowAsync(_db.DataSource, busy)).Status);
        Assert.Single(_fake.Requests);
    }

    [Theory]
    [InlineData("{\"count\":1,\"list\":[{\"id\":\"X1\",\"points\":0.16,\"status\":\"QUEUE\"}]}", 200, SmsSendKind.Sent, null)]
    [InlineData("{\"error\":13,\"message\":\"No correct phone numbers\"}", 200, SmsSendKind.Permanent, "13")]
    [InlineData("{\"error\":202,\"message\":\"Too many simultaneous requests\"}", 200, SmsSendKind.Transient, "202")]
    [InlineData("{\"error\":\"invalid_request_data\",\"message\":\"This value should not be blank.\"}", 400, SmsSendKind.Permanent, "invalid_request_data")]
    [InlineData("{\"error\":53,\"message\":\"Not unique idx\"}", 200, SmsSendKind.Sent, "53")]
    [InlineData("", 503, SmsSendKind.Transient, "http-503")]
    [InlineData("[1,2]", 200, SmsSendKind.Transient, "bad-response")]
    public async Task Smsapi_answers_are_classified(string body, int status, SmsSendKind kind, string? code)
    {
        using var sp = Smsapi(maxAttempts: 1);
        var provider = Assert.IsType<SmsapiProvider>(sp.GetRequiredService<ISmsProvider>());
        await using var server = await OneAnswerServer.StartAsync(status, body);
        var options = sp.GetRequiredService<SmsOptions>();
        options.Smsapi.Url = server.Url;

        var result = await provider.SendAsync(new SmsMessage(7, "+48600100200", "x"), default);

        Assert.Equal((kind, code), (result.Kind, result.Code));
    }
}

/// <summary>A Kestrel server that answers every request with one status and body.</summary>
public sealed class OneAnswerServer : IAsyncDisposable
{
    private WebApplication _app = null!;

    public string Url { get; private set; } = "";

    public static async Task<OneAnswerServer> StartAsync(int status, string body)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var server = new OneAnswerServer { _app = builder.Build() };
        server._app.Run(async ctx =>
        {
            ctx.Response.StatusCode = status;
            await ctx.Response.WriteAsync(body);
        });
        await server._app.StartAsync();
        server.Url = server._app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First() + "/sms.do";
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Provider settings are checked at start, naming the setting, never printing a secret.</summary>
public sealed class SmsConfigTests
{
    [Theory]
    [InlineData("smsapi", null, null, "Sms:Smsapi:Token")]
    [InlineData("webhook", null, null, "Sms:Webhook:Url")]
    [InlineData("carrier-pigeon", null, null, "unknown")]
    [InlineData("log", "61 * * * *", null, "Sms:SweepCron")]
    [InlineData("webhook", null, "0", "MaxAttempts")]
    public void Bad_settings_stop_the_app_with_one_readable_line(string provider, string? cron, string? maxAttempts, string expected)
    {
        var options = new CloudTelephony.Functions.Sms.SmsOptions
        {
            Provider = provider,
            SweepCron = cron ?? "0 * * * * *",
            MaxAttempts = maxAttempts is null ? 5 : int.Parse(maxAttempts, System.Globalization.CultureInfo.InvariantCulture),
            Webhook = { Url = maxAttempts is null ? null : "http://127.0.0.1/hook", AuthHeader = "Authorization: Bearer top-secret" },
        };

        var ex = Assert.Throws<ConfigException>(() => CloudTelephony.Functions.Sms.SmsProviders.Validate(options));

        Assert.Contains(expected, ex.Message);
        Assert.DoesNotContain("top-secret", ex.Message);
    }
}
