using System.Collections.Concurrent;
using System.Text;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Sms;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace CloudTelephony.Functions.Tests;

/// <summary>
/// The twilio provider (Twilio SDK) against a local Kestrel stand-in of Twilio's Messages API: the request the SDK
/// makes, and answers with the status codes and error bodies Twilio documents (https://www.twilio.com/docs/api/errors,
/// https://www.twilio.com/docs/messaging/api/message-resource), through the dispatcher and real PostgreSQL.
/// </summary>
public sealed class TwilioProviderTests : IAsyncLifetime
{
    private const string AccountSid = "AC0123456789abcdef0123456789abcdef";
    private const string KeySid = "SK0123456789abcdef0123456789abcdef";
    private static readonly DateTimeOffset T0 = new(2025, 9, 3, 10, 0, 0, TimeSpan.Zero);
    private readonly PostgresDatabase _db = new();
    private readonly ManualClock _clock = new(T0);
    private readonly ConcurrentQueue<(int Status, string Body, string ContentType)> _script = new();
    private readonly ConcurrentQueue<(string Path, string? Authorization, Dictionary<string, string> Form)> _requests = new();
    private WebApplication _app = null!;

    public async Task InitializeAsync()
    {
        await _db.InitializeAsync();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _app = builder.Build();
        _app.MapPost("/2010-04-01/Accounts/{sid}/Messages.json", async (HttpContext http, string sid) =>
        {
            var form = (await http.Request.ReadFormAsync()).ToDictionary(kv => kv.Key, kv => kv.Value.ToString());
            _requests.Enqueue((http.Request.Path, http.Request.Headers.Authorization.ToString(), form));
            var (status, body, type) = _script.TryDequeue(out var next) ? next : (201, Created(sid, form), "application/json");
            http.Response.StatusCode = status;
            http.Response.ContentType = type;
            await http.Response.WriteAsync(body);
        });
        await _app.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _db.DisposeAsync();
    }

    /// <summary>Twilio's 201 answer: the message resource, status queued.</summary>
    private static string Created(string sid, Dictionary<string, string> form) => $$"""
        {"account_sid":"{{sid}}","api_version":"2010-04-01","body":"{{form.GetValueOrDefault("Body")}}","date_created":"Wed, 03 Sep 2025 10:00:00 +0000",
         "date_sent":null,"date_updated":"Wed, 03 Sep 2025 10:00:00 +0000","direction":"outbound-api","error_code":null,"error_message":null,
         "from":"{{form.GetValueOrDefault("From")}}","messaging_service_sid":{{(form.TryGetValue("MessagingServiceSid", out var mg) ? $"\"{mg}\"" : "null")}},
         "num_media":"0","num_segments":"1","price":null,"price_unit":"USD","sid":"SM7f3a1c2b9d8e4f60a1b2c3d4e5f60718","status":"queued",
         "subresource_uris":{"media":"/2010-04-01/Accounts/{{sid}}/Messages/SM7f3a1c2b9d8e4f60a1b2c3d4e5f60718/Media.json"},
         "to":"{{form.GetValueOrDefault("To")}}","uri":"/2010-04-01/Accounts/{{sid}}/Messages/SM7f3a1c2b9d8e4f60a1b2c3d4e5f60718.json"}
        """;

    /// <summary>Twilio's error body.</summary>
    private static (int, string, string) Error(int status, int code, string message) =>
        (status, $$"""{"code":{{code}},"message":"{{message}}","more_info":"https://www.twilio.com/docs/errors/{{code}}","status":{{status}}}""", "application/json");

    private ServiceProvider Services(Action<Dictionary<string, string?>>? change = null, int retries = 3, int maxAttempts = 5)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Sms:Provider"] = "twilio",
            ["Sms:Twilio:AccountSid"] = AccountSid,
            ["Sms:Twilio:AuthToken"] = "auth-token-secret",
            ["Sms:Twilio:From"] = "+48221234567",
            ["Sms:Twilio:BaseUrl"] = _app.Urls.First(),
            ["Sms:MaxAttempts"] = maxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Sms:RetriesPerDispatch"] = retries.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Sms:RetryDelaySeconds"] = "0.01",
            ["Sms:TimeoutSeconds"] = "2",
        };
        change?.Invoke(settings);
        return SmsKit.Services(_db.DataSource, _clock, settings);
    }

    private static string Basic(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    [Fact]
    public async Task Sends_with_the_account_sid_and_auth_token_from_the_number()
    {
        using var sp = Services();
        var id = await SmsKit.InsertAsync(_db.DataSource, text: "Dzień dobry, oddzwonimy.");

        Assert.Equal(DispatchOutcome.Sent, await sp.GetRequiredService<SmsDispatcher>().DispatchAsync(id, default));

        var row = await SmsKit.RowAsync(_db.DataSource, id);
        Assert.Equal(("SENT", 1, "twilio", "SM7f3a1c2b9d8e4f60a1b2c3d4e5f60718"), (row.Status, row.Attempts, row.Provider, row.ProviderMessageId));
        var request = Assert.Single(_requests);
        Assert.Equal($"/2010-04-01/Accounts/{AccountSid}/Messages.json", request.Path);
        Assert.Equal(Basic(AccountSid, "auth-token-secret"), request.Authorization);
        Assert.Equal("+48600100200", request.Form["To"]);
        Assert.Equal("+48221234567", request.Form["From"]);
        Assert.Equal("Dzień dobry, oddzwonimy.", request.Form["Body"]);
        Assert.False(request.Form.ContainsKey("MessagingServiceSid"));
    }

    [Fact]
    public async Task Sends_with_an_api_key_through_a_messaging_service()
    {
        using var sp = Services(s =>
        {
            s["Sms:Twilio:AuthToken"] = null;
            s["Sms:Twilio:ApiKeySid"] = KeySid;
            s["Sms:Twilio:ApiKeySecret"] = "key-secret";
            s["Sms:Twilio:From"] = null;
            s["Sms:Twilio:MessagingServiceSid"] = "MG0123456789abcdef0123456789abcdef";
        });
        var id = await SmsKit.InsertAsync(_db.DataSource);

        Assert.Equal(DispatchOutcome.Sent, await sp.GetRequiredService<SmsDispatcher>().DispatchAsync(id, default));

        var request = Assert.Single(_requests);
        Assert.Equal($"/2010-04-01/Accounts/{AccountSid}/Messages.json", request.Path);
        Assert.Equal(Basic(KeySid, "key-secret"), request.Authorization);
        Assert.Equal("MG0123456789abcdef0123456789abcdef", request.Form["MessagingServiceSid"]);
        Assert.False(request.Form.ContainsKey("From"));
    }

    [Fact]
    public async Task Rate_limits_and_server_errors_are_retried_and_the_sms_goes_out()
    {
        using var sp = Services();
        _script.Enqueue(Error(429, 20429, "Too Many Requests"));
        _script.Enqueue(Error(500, 20500, "Internal Server Error"));
        _script.Enqueue((503, "<html><body>Service Unavailable</body></html>", "text/html"));
        var id = await SmsKit.InsertAsync(_db.DataSource);

        Assert.Equal(DispatchOutcome.Sent, await sp.GetRequiredService<SmsDispatcher>().DispatchAsync(id, default));

        var row = await SmsKit.RowAsync(_db.DataSource, id);
        Assert.Equal(("SENT", 4), (row.Status, row.Attempts));
        Assert.Equal(4, _requests.Count);
    }

    [Fact]
    public async Task A_rate_limit_code_in_a_400_is_retried_later_with_backoff()
    {
        using var sp = Services(retries: 0);
        _script.Enqueue(Error(400, 14107, "SMS send rate limit exceeded"));
        var id = await SmsKit.InsertAsync(_db.DataSource);

        Assert.Equal(DispatchOutcome.Retry, await sp.GetRequiredService<SmsDispatcher>().DispatchAsync(id, default));
        var row = await SmsKit.RowAsync(_db.DataSource, id);
        Assert.Equal(("NEW", 1, "14107"), (row.Status, row.Attempts, row.ProviderCode));
    }

    [Theory]
    [InlineData(400, 21211, "Invalid 'To' Phone Number: +4860010020")]
    [InlineData(400, 21610, "Attempt to send to unsubscribed recipient")]
    [InlineData(400, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +48600100200.")]
    [InlineData(401, 20003, "Authenticate")]
    public async Task Twilio_errors_that_will_not_get_better_give_up_at_once_with_code_and_reason(int status, int code, string message)
    {
        using var sp = Services();
        _script.Enqueue(Error(status, code, message));
        var id = await SmsKit.InsertAsync(_db.DataSource);

        Assert.Equal(DispatchOutcome.Failed, await sp.GetRequiredService<SmsDispatcher>().DispatchAsync(id, default));

        var row = await SmsKit.RowAsync(_db.DataSource, id);
        Assert.Equal(("ERROR", 1, code.ToString(System.Globalization.CultureInfo.InvariantCulture)), (row.Status, row.Attempts, row.ProviderCode));
        Assert.Equal($"Twilio {code}: {message}", row.LastError);
        Assert.Single(_requests);
    }

    [Fact]
    public async Task No_connection_is_transient()
    {
        using var sp = Services(s => s["Sms:Twilio:BaseUrl"] = "http://127.0.0.1:1", retries: 0);
        var id = await SmsKit.InsertAsync(_db.DataSource);

        Assert.Equal(DispatchOutcome.Retry, await sp.GetRequiredService<SmsDispatcher>().DispatchAsync(id, default));
        Assert.Equal("network", (await SmsKit.RowAsync(_db.DataSource, id)).ProviderCode);
    }

    [Theory]
    [InlineData("Sms:Twilio:AccountSid", "x", "Sms:Twilio:AccountSid must be the account SID")]
    [InlineData("Sms:Twilio:AuthToken", null, "needs Sms:Twilio:AuthToken, or Sms:Twilio:ApiKeySid")]
    [InlineData("Sms:Twilio:From", null, "needs Sms:Twilio:From")]
    [InlineData("Sms:Twilio:From", "48221234567", "needs Sms:Twilio:From")]
    [InlineData("Sms:Twilio:ApiKeySid", "SKnope", "ApiKeySid (SK…) and Sms:Twilio:ApiKeySecret go together")]
    public void Incomplete_settings_stop_the_app_naming_the_key(string key, string? value, string expected)
    {
        // the settings are checked when they are first read (ValidateOnStart reads them as the host starts)
        var ex = Assert.Throws<ConfigException>(() =>
        {
            using var sp = Services(s => s[key] = value);
            _ = sp.GetRequiredService<SmsOptions>();
        });
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("auth-token-secret", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(20429, 429, SmsSendKind.Transient)]
    [InlineData(20500, 500, SmsSendKind.Transient)]
    [InlineData(21611, 400, SmsSendKind.Transient)]
    [InlineData(0, 503, SmsSendKind.Transient)]
    [InlineData(21614, 400, SmsSendKind.Permanent)]
    [InlineData(0, 404, SmsSendKind.Permanent)]
    public void Codes_map_to_retry_or_give_up(int code, int status, SmsSendKind kind) =>
        Assert.Equal(kind, TwilioSmsProvider.Classify(code, status, "m").Kind);
}
