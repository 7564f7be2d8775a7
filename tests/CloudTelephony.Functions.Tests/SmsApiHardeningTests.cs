using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CloudTelephony.Functions.Sms;
using Microsoft.Extensions.Logging;

namespace CloudTelephony.Functions.Tests;

/// <summary><c>POST /api/sms</c> on real Kestrel and PostgreSQL: strict recipients, Idempotency-Key, Location.</summary>
public sealed class SmsApiHardeningTests(PlainServer server) : IClassFixture<PlainServer>
{
    [Theory]
    [InlineData("not-a-number-601234567x", "only digits")]
    [InlineData("601234567x", "only digits")]
    [InlineData("tel:601234567", "only digits")]
    [InlineData("601 + 234 567", "'+' may only start it")]
    [InlineData("---", "no digits")]
    public async Task A_recipient_that_is_not_only_a_phone_number_is_400_with_the_reason_and_queues_nothing(string to, string reason)
    {
        using var crm = server.Server.Client(await server.Server.CreateTokenAsync("sms-strict", "crm"));
        var response = await crm.PostAsync("/api/sms", Json($$"""{"to":{{JsonSerializer.Serialize(to)}},"text":"x"}"""));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Contains(reason, body.RootElement.GetProperty("errors").GetProperty("to")[0].GetString());
        Assert.Equal(0, await server.Server.Db.ScalarAsync("SELECT count(*) FROM ct.sms_out WHERE to_number = '+48601234567'"));
    }

    [Fact]
    public async Task The_same_idempotency_key_and_request_answer_the_same_sms_and_another_request_422()
    {
        using var crm = server.Server.Client(await server.Server.CreateTokenAsync("sms-idem", "crm"));
        using var other = server.Server.Client(await server.Server.CreateTokenAsync("sms-idem-other", "crm"));
        var key = Guid.NewGuid().ToString();

        var first = await SendAsync(crm, key, """{"to":"600 100 200","text":"Oddzwonimy"}""");
        var again = await SendAsync(crm, key, """{"to":"+48600100200","text":"Oddzwonimy"}"""); // the same SMS written another way
        var changed = await SendAsync(crm, key, """{"to":"600100200","text":"Inny tekst"}""");
        var otherEnterprise = await SendAsync(other, key, """{"to":"600100200","text":"Oddzwonimy"}""");
        var concurrent = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => SendAsync(crm, "k-" + key, """{"to":"600100201","text":"raz"}""")));

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        var a = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        var b = (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        Assert.Equal(a, b);
        Assert.Equal($"/api/sms/{a}", first.Headers.Location?.OriginalString);
        Assert.Equal(first.Headers.Location, again.Headers.Location);
        Assert.Equal("true", again.Headers.GetValues(SmsEndpoints.ReplayedHeader).Single());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, changed.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, otherEnterprise.StatusCode); // keys are per enterprise
        Assert.All(concurrent, r => Assert.Equal(HttpStatusCode.Accepted, r.StatusCode));
        Assert.Equal(1, await server.Server.Db.ScalarAsync("SELECT count(*) FROM ct.sms_out WHERE to_number = '+48600100201'"));
        Assert.Equal(2, await server.Server.Db.ScalarAsync("SELECT count(*) FROM ct.sms_out WHERE to_number = '+48600100200'"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    public async Task A_malformed_idempotency_key_is_400_naming_the_header(string key)
    {
        using var crm = server.Server.Client(await server.Server.CreateTokenAsync("sms-idem", "crm"));
        var response = await SendAsync(crm, key, """{"to":"600100200","text":"x"}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("Idempotency-Key", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Created_contacts_and_numbers_answer_201_with_a_location_that_gets_them()
    {
        using var crm = server.Server.Client(await server.Server.CreateTokenAsync("locations", "crm"));
        var contact = await crm.PostAsync("/api/contacts", Json("""{"name":"Anna","devices":[{"number":"601222333"}]}"""));
        var device = await crm.PostAsync($"{contact.Headers.Location}/devices", Json("""{"number":"605000111","label":"office"}"""));

        Assert.Equal(HttpStatusCode.Created, contact.StatusCode);
        Assert.Equal(HttpStatusCode.Created, device.StatusCode);
        var byId = await crm.GetFromJsonAsync<JsonElement>(contact.Headers.Location);
        var byLocation = await crm.GetFromJsonAsync<JsonElement>(device.Headers.Location);
        var byNumber = await crm.GetFromJsonAsync<JsonElement>("/api/numbers/605000111/contact");
        var legacy = await crm.GetFromJsonAsync<JsonElement>("/api/contacts/601222333");
        Assert.Equal("Anna", byId.GetProperty("name").GetString());
        Assert.Equal("+48605000111", byLocation.GetProperty("number").GetString());
        Assert.Equal(byId.GetProperty("id").GetInt64(), byNumber.GetProperty("id").GetInt64());
        Assert.Equal(byId.GetProperty("id").GetInt64(), legacy.GetProperty("id").GetInt64());
        Assert.Equal(HttpStatusCode.NotFound, (await crm.GetAsync("/api/contacts/999999")).StatusCode);
    }

    [Fact]
    public async Task The_log_provider_masks_the_number_and_never_logs_the_text()
    {
        var logs = new ListLogger();
        var result = await new LogSmsProvider(logs).SendAsync(new SmsMessage(7, "+48600100200", "Tajny kod 4711"), default);

        Assert.Equal(SmsSendKind.Sent, result.Kind);
        var line = Assert.Single(logs.Lines);
        Assert.DoesNotContain("600100200", line);
        Assert.DoesNotContain("Tajny", line);
        Assert.Contains("200", line);
        Assert.Contains("14 characters", line);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, string key, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/sms") { Content = Json(json) };
        request.Headers.TryAddWithoutValidation(SmsEndpoints.IdempotencyHeader, key);
        return await client.SendAsync(request);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private sealed class ListLogger : ILogger<LogSmsProvider>
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => Lines.Add(formatter(state, exception));
    }
}
