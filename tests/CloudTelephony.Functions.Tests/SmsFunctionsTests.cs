using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CloudTelephony.Functions.Hosting;

namespace CloudTelephony.Functions.Tests;

/// <summary>The SMS functions through the real app: host payloads for SmsDispatch/SmsSweep, and POST /api/sms.</summary>
public sealed class SmsFunctionsTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2025, 9, 3, 10, 0, 0, TimeSpan.Zero);
    private readonly ManualClock _clock = new(T0);
    private readonly FakeSmsProvider _fake = new();
    private SmsAppServer _server = null!;

    public async Task InitializeAsync()
    {
        await _fake.InitializeAsync();
        _server = new SmsAppServer(_clock, new Dictionary<string, string?>
        {
            ["Sms:Provider"] = "webhook",
            ["Sms:Webhook:Url"] = _fake.BaseUrl + "/hook",
            ["Sms:RetriesPerDispatch"] = "0",
        });
        await _server.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _fake.DisposeAsync();
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    /// <summary>A single-message serviceBusTrigger invocation as the host posts it (protocols/functions-custom-handler.md §4.1).</summary>
    private static string QueuePayload(string msgJson) => """{"Data":{"msg":""" + msgJson + """
        },
         "Metadata":{"DeliveryCount":1,"DeadLetterSource":null,"LockToken":"7c1b0a57-3b51-4d2f-9a0e-0f1b2c3d4e5f",
          "ExpiresAtUtc":"2025-09-17T10:00:00+00:00","EnqueuedTimeUtc":"2025-09-03T10:00:00+00:00","MessageId":"a1b2c3",
          "ContentType":null,"ReplyTo":null,"SequenceNumber":12,"To":null,"Label":null,"CorrelationId":null,"SessionId":null,
          "ReplyToSessionId":null,"PartitionKey":null,"TransactionPartitionKey":null,"ApplicationProperties":{},
          "MessageActions":{},"Client":{},
          "sys":{"MethodName":"SmsDispatch","UtcNow":"2025-09-03T10:00:00.1234567Z","RandGuid":"0f8fad5b-d9cb-469f-a165-70867728950e"}}}
        """;

    [Theory]
    [InlineData("\"{0}\"")] // body text "42" → a JSON string (the usual case)
    [InlineData("{0}")] // a JSON number
    [InlineData("\"\\\"{0}\\\"\"")] // a JSON string holding a JSON string: "\"42\""
    [InlineData("\"{{\\\"id\\\":{0}}}\"")] // a JSON string holding {"id":42}
    public async Task SmsDispatch_reads_the_id_from_the_hosts_queue_payload_and_sends(string msgTemplate)
    {
        var id = await SmsKit.InsertAsync(_server.Db.DataSource);
        var msg = msgTemplate.Replace("{0}", id.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{{", "{", StringComparison.Ordinal).Replace("}}", "}", StringComparison.Ordinal);

        var response = await _server.Http.PostAsync("/SmsDispatch", Json(QueuePayload(msg)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(JsonValueKind.Object, body.RootElement.GetProperty("Outputs").ValueKind);
        Assert.Equal($"sms {id}: sent (delivery 1)", body.RootElement.GetProperty("Logs")[0].GetString());
        Assert.Equal("SENT", (await SmsKit.RowAsync(_server.Db.DataSource, id)).Status);
        Assert.Single(_fake.Requests);
    }

    [Theory]
    [InlineData("\"hello\"")]
    [InlineData("null")]
    [InlineData("\"-5\"")]
    public async Task SmsDispatch_answers_200_for_a_message_that_names_no_sms(string msg)
    {
        var response = await _server.Http.PostAsync("/SmsDispatch", Json(QueuePayload(msg)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("ignored", (await response.Content.ReadFromJsonAsync(ApiJson.Default.InvocationResponse))!.Logs[0]);
        Assert.Empty(_fake.Requests);
    }

    [Fact]
    public async Task SmsDispatch_of_an_sms_already_sent_sends_nothing_again()
    {
        var id = await SmsKit.InsertAsync(_server.Db.DataSource);
        await _server.Http.PostAsync("/SmsDispatch", Json(QueuePayload($"\"{id}\"")));

        var again = await _server.Http.PostAsync("/SmsDispatch", Json(QueuePayload($"\"{id}\"")));

        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal($"sms {id}: notclaimed (delivery 1)", (await again.Content.ReadFromJsonAsync(ApiJson.Default.InvocationResponse))!.Logs[0]);
        Assert.Single(_fake.Requests);
    }

    [Fact]
    public async Task SmsSweep_takes_the_hosts_timer_payload_and_sends_what_is_due()
    {
        var due = await SmsKit.InsertAsync(_server.Db.DataSource, due: T0.AddSeconds(-1));
        var later = await SmsKit.InsertAsync(_server.Db.DataSource, due: T0.AddMinutes(10));
        const string timer = """
            {"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"2025-09-03T09:59:00+00:00","Next":"2025-09-03T10:00:00+00:00","LastUpdated":"2025-09-03T09:59:00+00:00"},"IsPastDue":false}},
             "Metadata":{"sys":{"MethodName":"SmsSweep","UtcNow":"2025-09-03T10:00:00.0012345Z","RandGuid":"4a0c3f7e-5b1d-4c7a-9e2f-1d2c3b4a5f6e"}}}
            """;

        var response = await _server.Http.PostAsync("/SmsSweep", Json(timer));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("sms sweep: 1 due, 1 sent, 0 to retry, 0 failed, 0 stuck", body.RootElement.GetProperty("Logs")[0].GetString());
        Assert.Equal(1, body.RootElement.GetProperty("ReturnValue").GetProperty("sent").GetInt32());
        Assert.Equal("SENT", (await SmsKit.RowAsync(_server.Db.DataSource, due)).Status);
        Assert.Equal("NEW", (await SmsKit.RowAsync(_server.Db.DataSource, later)).Status);
    }

    [Fact]
    public async Task Post_sms_queues_a_normalised_number_with_its_author_and_answers_202()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/sms") { Content = Json("""{"to":"600 100 200","text":"Dzień dobry"}""") };
        request.Headers.Add("X-User-Id", "anna@example.com");

        var response = await _server.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = await response.Content.ReadFromJsonAsync(ApiJson.Default.SmsAcceptedDto);
        Assert.Equal(("+48600100200", "NEW"), (accepted!.To, accepted.Status));
        Assert.Equal($"/api/sms/{accepted.Id}", response.Headers.Location?.OriginalString);
        var row = await SmsKit.RowAsync(_server.Db.DataSource, accepted.Id);
        Assert.Equal(("NEW", "anna@example.com", "+48600100200"), (row.Status, row.OriginUser, row.To));

        var shown = await _server.Http.GetFromJsonAsync($"/api/sms/{accepted.Id}", ApiJson.Default.SmsDto);
        Assert.Equal(("Dzień dobry", "anna@example.com"), (shown!.Text, shown.OriginUser));
    }

    [Theory]
    [InlineData("""{"to":"12","text":"x"}""", "to")]
    [InlineData("""{"text":"x"}""", "to")]
    [InlineData("""{"to":"+48600100200","text":"   "}""", "text")]
    [InlineData("""{"to":"+48600100200"}""", "text")]
    public async Task Post_sms_with_a_bad_field_answers_400_problem_details_naming_it(string json, string field)
    {
        var response = await _server.Http.PostAsync("/api/sms", Json(json));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(body.RootElement.GetProperty("errors").TryGetProperty(field, out _), $"errors name '{field}'");
        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.sms_out"));
    }

    [Fact]
    public async Task Post_sms_with_a_text_too_long_or_a_body_that_is_not_json_answers_400_and_without_a_token_401()
    {
        var tooLong = await _server.Http.PostAsync("/api/sms", Json($$"""{"to":"+48600100200","text":"{{new string('a', 919)}}"}"""));
        var notJson = await _server.Http.PostAsync("/api/sms", Json("to=600100200"));
        using var noToken = new HttpRequestMessage(HttpMethod.Post, "/api/sms") { Content = Json("""{"to":"600100200","text":"x"}""") };
        using var anonymous = new HttpClient { BaseAddress = _server.Http.BaseAddress };
        var unauthorised = await anonymous.SendAsync(noToken);

        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        Assert.Contains("at most 918", await tooLong.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorised.StatusCode);
        Assert.Equal("application/problem+json", unauthorised.Content.Headers.ContentType?.MediaType);
        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.sms_out"));
    }
}

/// <summary>The in-process path: a new SMS is dispatched at once, without waiting for the sweep.</summary>
public sealed class SmsInProcessTests : IAsyncLifetime
{
    private readonly FakeSmsProvider _fake = new();
    private SmsAppServer _server = null!;

    public async Task InitializeAsync()
    {
        await _fake.InitializeAsync();
        _server = new SmsAppServer(new ManualClock(DateTimeOffset.UtcNow), new Dictionary<string, string?>
        {
            ["Sms:Provider"] = "webhook",
            ["Sms:Webhook:Url"] = _fake.BaseUrl + "/hook",
            ["Sms:DispatchInProcess"] = "true",
        });
        await _server.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _fake.DisposeAsync();
    }

    [Fact]
    public async Task Post_sms_is_sent_in_process_right_away()
    {
        var response = await _server.Http.PostAsync("/api/sms", new StringContent("""{"to":"+48600100200","text":"hej"}""", Encoding.UTF8, "application/json"));
        var id = (await response.Content.ReadFromJsonAsync(ApiJson.Default.SmsAcceptedDto))!.Id;

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await SmsKit.RowAsync(_server.Db.DataSource, id)).Status != "SENT" && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal("SENT", (await SmsKit.RowAsync(_server.Db.DataSource, id)).Status);
        Assert.Single(_fake.Requests);
    }
}

/// <summary>SmsDispatch with the database down answers non-2xx so Service Bus redelivers.</summary>
public sealed class SmsDatabaseDownTests
{
    [Fact]
    public async Task SmsDispatch_answers_503_when_the_database_is_unreachable()
    {
        var app = FunctionsApp.Build(["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=None", "--Ingest:SweepSeconds=0", "--Sms:SweepCron="],
            "Host=127.0.0.1;Port=1;Username=nobody;Database=none;Timeout=2");
        await app.StartAsync();
        try
        {
            var url = app.Urls.First();
            using var http = new HttpClient { BaseAddress = new Uri(url) };
            var response = await http.PostAsync("/SmsDispatch", new StringContent("""{"Data":{"msg":"42"},"Metadata":{}}""", Encoding.UTF8, "application/json"));

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
