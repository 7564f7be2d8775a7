using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Storage;

namespace CloudTelephony.Functions.Tests;

/// <summary>Tenancy of the CRM API: a token sees its own enterprise's calls, contacts and SMS and nothing else.</summary>
public sealed class CrmIsolationTests(SeededCallsServer seeded) : IClassFixture<SeededCallsServer>
{
    private static readonly string[] CrmGets =
    [
        "/api/calls", "/api/calls/summary", "/api/calls/1", "/api/calls.csv", "/api/contacts", "/api/contacts/693109180", "/api/sms/1",
    ];

    [Fact]
    public async Task A_token_of_acme_never_sees_betas_calls_in_lists_summary_search_csv_or_by_id()
    {
        var http = seeded.Crm;

        var all = await http.GetFromJsonAsync("/api/calls?pageSize=1000", ApiJson.Default.CallPageDto);
        var byNumber = await http.GetFromJsonAsync("/api/calls?q=734137941", ApiJson.Default.CallPageDto);
        var byName = await http.GetFromJsonAsync("/api/calls?q=kowalski", ApiJson.Default.CallPageDto);
        var summary = await http.GetFromJsonAsync("/api/calls/summary", ApiJson.Default.CallSummaryDto);
        var csv = await http.GetStringAsync("/api/calls.csv");
        var other = await http.GetAsync($"/api/calls/{seeded.BetaCallId}");
        var otherPbx = await http.GetFromJsonAsync("/api/calls?pbx=pbx-c", ApiJson.Default.CallPageDto);

        Assert.Equal(5, all!.Total);
        Assert.DoesNotContain(all.Items, c => c.Pbx == "pbx-c");
        Assert.Equal(["k2"], byNumber!.Items.Select(c => c.CallKey));
        Assert.Equal(["k2"], byName!.Items.Select(c => c.CallKey));
        Assert.Equal(5, summary!.Total);
        Assert.DoesNotContain("pbx-c", csv);
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        Assert.Equal("application/problem+json", other.Content.Headers.ContentType?.MediaType);
        Assert.Equal(0, otherPbx!.Total);

        using var beta = seeded.Server.Client(seeded.BetaToken);
        var betaCalls = await beta.GetFromJsonAsync("/api/calls", ApiJson.Default.CallPageDto);
        var betaDetail = await beta.GetFromJsonAsync($"/api/calls/{seeded.BetaCallId}", ApiJson.Default.CallDetailDto);
        Assert.Equal(["k6"], betaCalls!.Items.Select(c => c.CallKey));
        Assert.Equal("Jan Kowalski", betaCalls.Items[0].ContactName);
        Assert.Equal([seeded.BetaSmsId], betaDetail!.Sms.Select(s => s.Id));
    }

    [Fact]
    public async Task A_token_of_acme_never_sees_or_changes_betas_contacts_or_sms()
    {
        var http = seeded.Crm;

        var byNumber = await http.GetFromJsonAsync("/api/contacts/+48734137941", ApiJson.Default.ContactDto);
        var search = await http.GetFromJsonAsync("/api/contacts?search=kowalski", ApiJson.Default.ContactPageDto);
        var betaOnly = await http.GetAsync("/api/contacts/600000001");
        var betaSearch = await http.GetFromJsonAsync("/api/contacts?search=Beta", ApiJson.Default.ContactPageDto);
        var put = await http.PutAsJsonAsync($"/api/contacts/{seeded.BetaContactId}", new ContactRequest("Hacked", null, []), ApiJson.Default.ContactRequest);
        var addDevice = await http.PostAsJsonAsync($"/api/contacts/{seeded.BetaContactId}/devices", new ContactDeviceRequest("600100200", null), ApiJson.Default.ContactDeviceRequest);
        var delete = await http.DeleteAsync($"/api/contacts/{seeded.BetaContactId}");
        var sms = await http.GetAsync($"/api/sms/{seeded.BetaSmsId}");
        var ownSms = await http.GetAsync($"/api/sms/{seeded.AcmeSmsId}");

        Assert.Equal((seeded.AcmeContactId, "ACME"), (byNumber!.Id, byNumber.Company));
        Assert.Equal([seeded.AcmeContactId], search!.Items.Select(c => c.Id));
        Assert.Equal(HttpStatusCode.NotFound, betaOnly.StatusCode);
        Assert.Equal(0, betaSearch!.Total);
        Assert.Equal(HttpStatusCode.NotFound, put.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, addDevice.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, delete.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, sms.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ownSms.StatusCode);
        Assert.Equal(1, await seeded.Server.Db.ScalarAsync($"SELECT count(*) FROM ct.contacts WHERE id = {seeded.BetaContactId} AND name = 'Jan Kowalski'"));
        Assert.Equal(1, await seeded.Server.Db.ScalarAsync($"SELECT count(*) FROM ct.contact_devices WHERE contact_id = {seeded.BetaContactId}"));
    }

    [Fact]
    public async Task Without_a_token_or_with_a_revoked_one_every_crm_endpoint_answers_401()
    {
        var revoked = await seeded.Server.Db.CreateTokenAsync("acme", "crm");
        using var withRevoked = seeded.Server.Client(revoked.Token);
        Assert.Equal(HttpStatusCode.OK, (await withRevoked.GetAsync("/api/calls")).StatusCode);
        Assert.True(await new TokenStore(seeded.Server.Db.DataSource).RevokeAsync(revoked.Id, default));

        foreach (var path in CrmGets)
        {
            var anonymous = await seeded.Server.Http.GetAsync(path);
            var afterRevoke = await withRevoked.GetAsync(path);

            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, afterRevoke.StatusCode);
            Assert.Equal("application/problem+json", afterRevoke.Content.Headers.ContentType?.MediaType);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await withRevoked.PostAsync("/api/contacts", Json("""{"name":"x"}"""))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await withRevoked.PostAsync("/api/sms", Json("""{"to":"600100200","text":"x"}"""))).StatusCode);
    }

    [Fact]
    public async Task A_routing_token_on_crm_endpoints_answers_403()
    {
        using var routing = seeded.Server.Client(seeded.AcmeRoutingToken);
        foreach (var path in CrmGets)
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await routing.GetAsync(path)).StatusCode);
        }

        using var header = new HttpRequestMessage(HttpMethod.Get, "/api/calls");
        header.Headers.Add("Token", seeded.AcmeRoutingToken);
        Assert.Equal(HttpStatusCode.Forbidden, (await seeded.Server.Http.SendAsync(header)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await routing.DeleteAsync($"/api/contacts/{seeded.AcmeContactId}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await routing.PostAsync("/api/sms", Json("""{"to":"600100200","text":"x"}"""))).StatusCode);
    }

    [Fact]
    public async Task Health_stays_open()
        => Assert.Equal(HttpStatusCode.OK, (await seeded.Server.Http.GetAsync("/api/health")).StatusCode);

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}

/// <summary>The contacts API: lookup across number formats, search, create, update, delete, devices, problem details.</summary>
public sealed class ContactsApiTests(SeededCallsServer seeded) : IClassFixture<SeededCallsServer>
{
    private readonly HttpClient _crm = seeded.Crm;

    [Theory]
    [InlineData("+48734137941")]
    [InlineData("%2B48%20734%20137%20941")]
    [InlineData("0048734137941")]
    [InlineData("48734137941")]
    [InlineData("734137941")]
    [InlineData("734-137-941")]
    public async Task A_contact_is_found_by_its_number_in_any_common_format(string number)
    {
        var contact = await _crm.GetFromJsonAsync($"/api/contacts/{number}", ApiJson.Default.ContactDto);

        Assert.Equal(seeded.AcmeContactId, contact!.Id);
        var device = Assert.Single(contact.Devices);
        Assert.Equal(("+48734137941", "734 137 941", "mobile"), (device.Number, device.Raw, device.Label));
    }

    [Fact]
    public async Task An_unknown_number_is_404_and_a_non_number_400_naming_the_field()
    {
        var unknown = await _crm.GetAsync("/api/contacts/601999999");
        var bad = await _crm.GetAsync("/api/contacts/abc");

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("\"number\"", await bad.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Create_update_add_and_remove_numbers_then_delete()
    {
        var created = await _crm.PostAsync("/api/contacts", Json("""{"name":" Anna Lipska ","company":"Lipa sp. z o.o.","devices":[{"number":"0048 601 222 333","label":"mobile"},{"number":"22 123 45 67"}]}"""));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var contact = (await created.Content.ReadFromJsonAsync(ApiJson.Default.ContactDto))!;
        Assert.Equal(("Anna Lipska", "Lipa sp. z o.o."), (contact.Name, contact.Company));
        Assert.Equal(["+48601222333", "+48221234567"], contact.Devices.Select(d => d.Number));

        var byNumber = await _crm.GetFromJsonAsync("/api/contacts/601222333", ApiJson.Default.ContactDto);
        var bySearch = await _crm.GetFromJsonAsync("/api/contacts?search=lipa", ApiJson.Default.ContactPageDto);
        var byDigits = await _crm.GetFromJsonAsync("/api/contacts?search=1222333", ApiJson.Default.ContactPageDto);
        Assert.Equal(contact.Id, byNumber!.Id);
        Assert.Equal([contact.Id], bySearch!.Items.Select(c => c.Id));
        Assert.Equal([contact.Id], byDigits!.Items.Select(c => c.Id));

        var updated = await _crm.PutAsync($"/api/contacts/{contact.Id}", Json("""{"name":"Anna Lipska-Nowak","company":null}"""));
        var afterUpdate = (await updated.Content.ReadFromJsonAsync(ApiJson.Default.ContactDto))!;
        Assert.Equal(("Anna Lipska-Nowak", null, 2), (afterUpdate.Name, afterUpdate.Company, afterUpdate.Devices.Count));

        var added = await _crm.PostAsync($"/api/contacts/{contact.Id}/devices", Json("""{"number":"+48 605 000 111","label":"office"}"""));
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        var device = (await added.Content.ReadFromJsonAsync(ApiJson.Default.ContactDevice))!;
        var again = await _crm.PostAsync($"/api/contacts/{contact.Id}/devices", Json("""{"number":"605000111","label":"home"}"""));
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await _crm.DeleteAsync($"/api/contacts/{contact.Id}/devices/{device.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _crm.DeleteAsync($"/api/contacts/{contact.Id}/devices/{device.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _crm.GetAsync("/api/contacts/605000111")).StatusCode);

        var replaced = await _crm.PutAsync($"/api/contacts/{contact.Id}", Json("""{"name":"Anna","devices":[{"number":"601222333"}]}"""));
        Assert.Equal(["+48601222333"], (await replaced.Content.ReadFromJsonAsync(ApiJson.Default.ContactDto))!.Devices.Select(d => d.Number));

        Assert.Equal(HttpStatusCode.NoContent, (await _crm.DeleteAsync($"/api/contacts/{contact.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _crm.DeleteAsync($"/api/contacts/{contact.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _crm.GetAsync("/api/contacts/601222333")).StatusCode);
    }

    [Theory]
    [InlineData("""{"company":"x"}""", "name")]
    [InlineData("""{"name":"  "}""", "name")]
    [InlineData("""{"name":"Ok","devices":[{"number":"12"}]}""", "devices[0].number")]
    [InlineData("""{"name":"Ok","devices":[{"number":"600100200"},{"label":"x"}]}""", "devices[1].number")]
    public async Task A_bad_contact_answers_400_problem_details_naming_the_field(string json, string field)
    {
        var response = await _crm.PostAsync("/api/contacts", Json(json));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(body.RootElement.GetProperty("errors").TryGetProperty(field, out _), $"errors name '{field}'");
    }

    [Fact]
    public async Task Paging_gives_the_total_and_not_json_is_400()
    {
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Created, (await _crm.PostAsync("/api/contacts", Json($$"""{"name":"Pager {{i}}"}"""))).StatusCode);
        }

        var page = await _crm.GetFromJsonAsync("/api/contacts?search=pager&pageSize=2&page=2", ApiJson.Default.ContactPageDto);
        var beyond = await _crm.GetFromJsonAsync("/api/contacts?search=pager&pageSize=2&page=5", ApiJson.Default.ContactPageDto);
        var badSize = await _crm.GetAsync("/api/contacts?pageSize=0");
        var notJson = await _crm.PostAsync("/api/contacts", Json("name=x"));

        Assert.Equal((3, 1, "Pager 2"), (page!.Total, page.Items.Count, page.Items[0].Name));
        Assert.Equal((3, 0), (beyond!.Total, beyond.Items.Count));
        Assert.Equal(HttpStatusCode.BadRequest, badSize.StatusCode);
        Assert.Contains("\"pageSize\"", await badSize.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}

/// <summary>The OpenAPI document describes every HTTP function.</summary>
public sealed class OpenApiTests(SeededCallsServer seeded) : IClassFixture<SeededCallsServer>
{
    [Fact]
    public async Task The_document_lists_every_route_with_its_methods_errors_and_the_token_schemes()
    {
        var text = await seeded.Server.Http.GetStringAsync("/api/openapi.json");
        using var doc = JsonDocument.Parse(text);
        var paths = doc.RootElement.GetProperty("paths");

        (string Path, string Method)[] expected =
        [
            ("/api/calls", "get"), ("/api/calls/summary", "get"), ("/api/calls/{id}", "get"), ("/api/calls.csv", "get"),
            ("/api/contacts", "get"), ("/api/contacts", "post"), ("/api/contacts/{id}", "get"), ("/api/numbers/{number}/contact", "get"),
            ("/api/contacts/{id}", "put"), ("/api/contacts/{id}", "delete"),
            ("/api/contacts/{id}/devices", "post"), ("/api/contacts/{id}/devices/{deviceId}", "delete"),
            ("/api/sms", "post"), ("/api/sms/{id}", "get"), ("/api/health", "get"), ("/api/frames", "post"),
            ("/api/callevent/getcustomerdata", "post"), ("/api/routing/stats", "get"),
        ];
        foreach (var (path, method) in expected)
        {
            Assert.True(paths.TryGetProperty(path, out var item), $"{path} is in the document");
            Assert.True(item.TryGetProperty(method, out _), $"{method} {path} is in the document");
        }

        var list = paths.GetProperty("/api/calls").GetProperty("get");
        var parameters = list.GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString()).ToList();
        Assert.Superset(new HashSet<string?> { "direction", "status", "ext", "from", "to", "q", "page", "pageSize", "sort", "pbx" }, parameters.ToHashSet());
        Assert.True(list.GetProperty("responses").TryGetProperty("400", out _));
        Assert.True(list.GetProperty("responses").TryGetProperty("401", out _));
        Assert.True(list.GetProperty("responses").TryGetProperty("403", out _));
        Assert.True(list.TryGetProperty("summary", out _));
        Assert.True(list.TryGetProperty("security", out _));
        Assert.True(paths.GetProperty("/api/calls/{id}").GetProperty("get").GetProperty("responses").TryGetProperty("404", out _));
        var schemes = doc.RootElement.GetProperty("components").GetProperty("securitySchemes");
        Assert.Equal("Token", schemes.GetProperty("Token").GetProperty("name").GetString());
        Assert.Equal("bearer", schemes.GetProperty("Bearer").GetProperty("scheme").GetString());
        Assert.False(paths.TryGetProperty("/SmsDispatch", out _));
        var contactSchema = doc.RootElement.GetProperty("components").GetProperty("schemas").GetProperty("ContactRequest");
        Assert.Equal("Jan Kowalski", contactSchema.GetProperty("examples")[0].GetProperty("name").GetString());

        // Every route the app maps under /api is in the document, and every route has a function.json folder.
        var functions = Directory.GetFiles(AppContext.BaseDirectory, "function.json", SearchOption.AllDirectories)
            .Select(f => JsonDocument.Parse(File.ReadAllText(f)).RootElement.GetProperty("bindings")[0])
            .Where(b => b.GetProperty("type").GetString() == "httpTrigger")
            .Select(b => "/api/" + System.Text.RegularExpressions.Regex.Replace(b.GetProperty("route").GetString()!, ":[a-z]+}", "}"))
            .ToHashSet();
        foreach (var path in paths.EnumerateObject().Select(p => p.Name))
        {
            Assert.Contains(path, functions);
        }
    }
}
