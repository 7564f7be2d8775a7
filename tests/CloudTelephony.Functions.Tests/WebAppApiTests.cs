using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CloudTelephony.Functions.Dashboard;
using CloudTelephony.Functions.Enterprises;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.WebApp;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;

namespace CloudTelephony.Functions.Tests;

/// <summary>
/// Enterprise <c>wa</c> (Europe/Warsaw, PBX <c>wa-pbx</c>) with ten calls over two days, a contact, and SMS in every
/// status; enterprise <c>wb</c> (PBX <c>wb-pbx</c>) with calls that touch the same numbers, which must never count for wa.
/// T0 = 2025-09-03 07:00 UTC = 09:00 in Warsaw.
/// </summary>
public sealed class WebAppSeed : IAsyncLifetime
{
    public static readonly DateTimeOffset T0 = new(2025, 9, 3, 7, 0, 0, TimeSpan.Zero);

    public FunctionsServer Server { get; } = new(0, "--Routing:ConfigCacheSeconds=0");

    public HttpClient Wa { get; private set; } = null!;

    public HttpClient Wb { get; private set; } = null!;

    public long WaId { get; private set; }

    public long WbId { get; private set; }

    public string WaRoutingToken { get; private set; } = "";

    public Dictionary<string, long> CallIds { get; } = [];

    public Dictionary<string, long> SmsIds { get; } = [];

    public async Task InitializeAsync()
    {
        await Server.InitializeAsync();
        var wa = await Server.Db.CreateTokenAsync("wa", "crm", "wa-pbx");
        var wb = await Server.Db.CreateTokenAsync("wb", "crm", "wb-pbx");
        (WaId, WbId) = (wa.EnterpriseId, wb.EnterpriseId);
        WaRoutingToken = (await Server.Db.CreateTokenAsync("wa", "routing")).Token;
        Wa = Server.Client(wa.Token);
        Wb = Server.Client(wb.Token);

        await using (var conn = await Server.Db.DataSource.OpenConnectionAsync())
        await using (var tx = await conn.BeginTransactionAsync())
        {
            await FrameStore.UpsertCallsAsync(conn, tx,
            [
                Call("wa-pbx", "c0", CallDirection.Outbound, CallStatus.Answered, "101", "0693109180", null, [], 5, 2),
                Call("wa-pbx", "c1", CallDirection.Inbound, CallStatus.Answered, "693109180", "618386710", "101", ["101", "102", "103"], 0, 3),
                Call("wa-pbx", "c2", CallDirection.Inbound, CallStatus.Missed, "734137941", "618386710", null, ["101", "102"], 10, 20),
                Call("wa-pbx", "c3", CallDirection.Outbound, CallStatus.Answered, "101", "0734137941", null, [], 20, 4),
                Call("wa-pbx", "c4", CallDirection.Inbound, CallStatus.Missed, "600100200", "618386710", null, ["102"], 30, 15),
                Call("wa-pbx", "c5", CallDirection.Inbound, CallStatus.Missed, "600100200", "618386710", null, ["102"], 75, 16),
                Call("wa-pbx", "c6", CallDirection.Inbound, CallStatus.Answered, "600100200", "618386710", "102", ["102"], 80, 7),
                Call("wa-pbx", "c7", CallDirection.Internal, CallStatus.Busy, "109", "101", null, ["101"], 90, 1),
                Call("wa-pbx", "c8", CallDirection.Inbound, CallStatus.Missed, "693109180", "618386710", null, ["105"], 23 * 60 + 30, 9),
                Call("wa-pbx", "c9", CallDirection.Inbound, CallStatus.Answered, "693109180", "618386710", "101", ["101"], 60, 9),
                Call("wb-pbx", "w1", CallDirection.Outbound, CallStatus.Answered, "201", "0600100200", null, [], 100, 2),
                Call("wb-pbx", "w2", CallDirection.Inbound, CallStatus.Missed, "600100200", "618000000", null, ["201"], 110, 5),
            ], default);
            await tx.CommitAsync();
        }

        await using (var cmd = Server.Db.DataSource.CreateCommand("SELECT call_key, id FROM ct.calls"))
        await using (var r = await cmd.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                CallIds[r.GetString(0)] = r.GetInt64(1);
            }
        }

        await new ContactStore(Server.Db.DataSource).CreateAsync(WaId, "Anna Nowak", null, [new NewContactDevice("+48600100200", "600 100 200", "mobile")], default);
        foreach (var (key, enterprise, status, attempts, error, minutes, to) in new[]
                 {
                     ("error", WaId, "ERROR", 3, "provider said no", 1, "+48600100200"),
                     ("sent", WaId, "SENT", 1, (string?)null, 2, "+48600100200"),
                     ("new", WaId, "NEW", 0, null, 3, "+48600100200"),
                     ("other", WbId, "ERROR", 3, "beta failure", 4, "+48600100200"),
                     ("retry", WaId, "ERROR", 3, "provider said no", 5, "+48734137941"),
                 })
        {
            await using var insert = Server.Db.DataSource.CreateCommand("""
                INSERT INTO ct.sms_out (enterprise_id, to_number, text, status, attempts, last_error, provider_code, created_at, next_attempt_at)
                VALUES (@e, @to, @text, @status, @attempts, @error, CASE WHEN @error::text IS NULL THEN NULL ELSE 'E42' END,
                        @created, now() + interval '1 day')
                RETURNING id
                """);
            insert.Parameters.AddWithValue("e", enterprise);
            insert.Parameters.AddWithValue("text", "sms " + key);
            insert.Parameters.AddWithValue("to", to);
            insert.Parameters.AddWithValue("status", status);
            insert.Parameters.AddWithValue("attempts", attempts);
            insert.Parameters.AddWithValue("error", (object?)error ?? DBNull.Value);
            insert.Parameters.AddWithValue("created", T0.AddMinutes(minutes).UtcDateTime);
            SmsIds[key] = (long)(await insert.ExecuteScalarAsync())!;
        }
    }

    public async Task DisposeAsync()
    {
        Wa?.Dispose();
        Wb?.Dispose();
        await Server.DisposeAsync();
    }

    private static Call Call(string pbx, string key, CallDirection direction, CallStatus status, string caller, string called, string? answeredBy,
        string[] extensions, int minute, double ring) => new()
    {
        Pbx = pbx,
        CallKey = key,
        Direction = direction,
        Status = status,
        Caller = caller,
        Called = called,
        AnsweredBy = answeredBy,
        Extensions = extensions,
        StartedAt = T0.AddMinutes(minute),
        AnsweredAt = status == CallStatus.Answered ? T0.AddMinutes(minute).AddSeconds(ring) : null,
        EndedAt = T0.AddMinutes(minute).AddSeconds(60),
        RingSeconds = ring,
        TalkSeconds = status == CallStatus.Answered ? 60 - ring : 0,
    };
}

/// <summary>The web app's own API (dashboard, enterprise, SMS outbox, SMS about a call, sort columns) on real PostgreSQL.</summary>
public sealed class WebAppApiTests(WebAppSeed seed) : IClassFixture<WebAppSeed>
{
    private const string Range = "from=2025-09-03T00:00:00%2B02:00&to=2025-09-05T00:00:00%2B02:00";

    private static async Task<DashboardDto> DashboardAsync(HttpClient client, string query)
    {
        var response = await client.GetAsync("/api/dashboard?" + query);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync(WebAppJson.Default.DashboardDto))!;
    }

    [Fact]
    public async Task Dashboard_counts_calls_per_local_hour_by_status_over_every_hour_of_the_range()
    {
        var d = await DashboardAsync(seed.Wa, Range);

        Assert.Equal("Europe/Warsaw", d.TimeZone);
        Assert.Equal(48, d.Hours.Count);
        Assert.Equal(new DateTimeOffset(2025, 9, 2, 22, 0, 0, TimeSpan.Zero), d.Hours[0].Hour);
        var nine = d.Hours.Single(h => h.Hour == WebAppSeed.T0); // 09:00-10:00 in Warsaw: c0, c1, c2, c3, c4
        Assert.Equal((3L, 2L, 0L), (nine.Answered, nine.Missed, nine.Busy));
        var ten = d.Hours.Single(h => h.Hour == WebAppSeed.T0.AddHours(1)); // c9, c5, c6, c7
        Assert.Equal((2L, 1L, 1L), (ten.Answered, ten.Missed, ten.Busy));
        Assert.Equal(1, d.Hours.Single(h => h.Hour == WebAppSeed.T0.AddHours(23)).Missed); // c8, the next morning
        Assert.Equal(10, d.Hours.Sum(h => h.Total));
        Assert.Equal(new DashboardTotals(10, 5, 4, 0.5, 3), d.Totals);
    }

    [Fact]
    public async Task Dashboard_gives_answer_rate_and_median_ring_time_per_extension()
    {
        var d = await DashboardAsync(seed.Wa, Range);
        var ext = d.Extensions.ToDictionary(x => x.Extension);

        Assert.Equal(["101", "102", "103", "105"], d.Extensions.Select(x => x.Extension));
        // 101 rang on c1, c2, c7, c9 and answered c1 (ring 3 s) and c9 (ring 9 s)
        Assert.Equal(new ExtensionFigures("101", null, 4, 2, 0, 1, 0.5, 6), ext["101"]);
        // 102 rang on c1 (101 took it), c2, c4, c5 (missed) and answered c6 after 7 s
        Assert.Equal(new ExtensionFigures("102", null, 5, 1, 1, 3, 0.2, 7), ext["102"]);
        Assert.Equal(new ExtensionFigures("103", null, 1, 0, 1, 0, 0, null), ext["103"]);
    }

    [Fact]
    public async Task Missed_calls_count_as_called_back_only_when_an_outbound_call_of_the_same_enterprise_follows()
    {
        var d = await DashboardAsync(seed.Wa, Range);

        // c2 (734137941) was called back by c3; c8's number was called before it rang (c0), which does not count;
        // wb's outbound call to 600100200 is another enterprise's and does not count either.
        Assert.Equal(["+48693109180", "+48600100200"], d.MissedNotCalledBack.Select(m => m.Number));
        var anna = d.MissedNotCalledBack[1];
        Assert.Equal(("Anna Nowak", 2L, seed.CallIds["c5"], "600100200"), (anna.ContactName, anna.MissedCalls, anna.LastCallId, anna.Caller));
        Assert.Equal(WebAppSeed.T0.AddMinutes(75), anna.LastMissedAt);
    }

    [Fact]
    public async Task Dashboard_is_limited_to_the_tokens_enterprise()
    {
        var d = await DashboardAsync(seed.Wb, Range);

        Assert.Equal(2, d.Totals.Calls);
        Assert.Equal(["201"], d.Extensions.Select(x => x.Extension));
        Assert.Equal("+48600100200", Assert.Single(d.MissedNotCalledBack).Number); // w1 called that number before w2 rang
        Assert.Equal(HttpStatusCode.Unauthorized, (await seed.Server.Http.GetAsync("/api/dashboard")).StatusCode);
    }

    [Fact]
    public async Task Without_a_range_the_dashboard_shows_the_local_days_with_calls_of_the_week_ending_with_the_newest_call()
    {
        var d = await DashboardAsync(seed.Wa, "");
        var old = await DashboardAsync(seed.Wa, "to=2025-09-03T00:00:00%2B02:00");

        Assert.Equal(new DateTimeOffset(2025, 9, 4, 22, 0, 0, TimeSpan.Zero), d.To); // midnight after 2025-09-04 in Warsaw
        Assert.Equal(new DateTimeOffset(2025, 9, 2, 22, 0, 0, TimeSpan.Zero), d.From); // 2025-09-03, the first day with a call
        Assert.Equal(48, d.Hours.Count);
        Assert.Equal(10, d.Totals.Calls);
        Assert.Equal((7 * 24, 0L), (old.Hours.Count, old.Totals.Calls)); // only "to": the 7 days before it
    }

    [Theory]
    [InlineData("from=2025-09-05T00:00:00Z&to=2025-09-04T00:00:00Z", "to")]
    [InlineData("from=2025-01-01T00:00:00Z&to=2025-06-01T00:00:00Z", "to")]
    [InlineData("from=yesterday", "from")]
    public async Task A_bad_dashboard_range_is_a_problem_naming_the_field(string query, string field)
    {
        var response = await seed.Wa.GetAsync("/api/dashboard?" + query);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains($"\"{field}\"", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Enterprise_tells_the_web_app_its_name_zone_and_pbxes_and_refuses_other_tokens()
    {
        var me = await seed.Wa.GetFromJsonAsync("/api/enterprise", WebAppJson.Default.EnterpriseDto);

        Assert.Equal(("wa", "Europe/Warsaw", "PL"), (me!.Name, me.TimeZone, me.DefaultRegion));
        Assert.Equal(["wa-pbx"], me.Pbxes.Select(p => p.Id));
        Assert.Null(me.SignedInAs);
        using var routing = seed.Server.Client(seed.WaRoutingToken);
        Assert.Equal(HttpStatusCode.Forbidden, (await routing.GetAsync("/api/enterprise")).StatusCode);
        using var wrong = seed.Server.Client("ct_not-a-token");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("/api/enterprise")).StatusCode);
    }

    [Fact]
    public async Task Sms_outbox_lists_the_enterprises_sms_newest_first_with_counts_and_filters()
    {
        var all = await seed.Wa.GetFromJsonAsync("/api/sms?to=%2B48600100200", WebAppJson.Default.SmsOutboxPageDto);
        var failed = await seed.Wa.GetFromJsonAsync("/api/sms?status=error&to=600100200", WebAppJson.Default.SmsOutboxPageDto);
        var paged = await seed.Wa.GetFromJsonAsync("/api/sms?to=600%20100%20200&pageSize=1&page=2", WebAppJson.Default.SmsOutboxPageDto);

        Assert.Equal(3, all!.Total); // wb's SMS to the same number is not listed
        Assert.Equal(["sms new", "sms sent", "sms error"], all.Items.Select(s => s.Text));
        Assert.Equal(["ERROR", "NEW", "SENDING", "SENT"], all.ByStatus.Keys.Order());
        Assert.True(all.ByStatus["ERROR"] >= 1);
        var error = Assert.Single(failed!.Items);
        Assert.Equal(("provider said no", "E42", 3), (error.LastError, error.ProviderCode, error.Attempts));
        Assert.Equal((3L, "sms sent"), (paged!.Total, Assert.Single(paged.Items).Text));
        var bad = await seed.Wa.GetAsync("/api/sms?status=LOST");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("\"status\"", await bad.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Retry_requeues_a_failed_sms_only_and_only_of_the_tokens_enterprise()
    {
        Assert.Equal(HttpStatusCode.Conflict, (await seed.Wa.PostAsync($"/api/sms/{seed.SmsIds["sent"]}/retry", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await seed.Wa.PostAsync($"/api/sms/{seed.SmsIds["other"]}/retry", null)).StatusCode);

        var response = await seed.Wa.PostAsync($"/api/sms/{seed.SmsIds["retry"]}/retry", null);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal("NEW", (await response.Content.ReadFromJsonAsync(WebAppJson.Default.SmsRetryDto))!.Status);
        // the in-process dispatcher picks it up at once (the test app's provider is "log", which accepts everything)
        SmsDto? sms = null;
        for (var i = 0; i < 100 && sms?.Status != "SENT"; i++)
        {
            await Task.Delay(100);
            sms = await seed.Wa.GetFromJsonAsync($"/api/sms/{seed.SmsIds["retry"]}", ApiJson.Default.SmsDto);
        }

        Assert.Equal(("SENT", 1), (sms!.Status, sms.Attempts)); // a fresh budget: the 3 earlier attempts were forgotten
        Assert.Equal("ERROR", (await seed.Wb.GetFromJsonAsync($"/api/sms/{seed.SmsIds["other"]}", ApiJson.Default.SmsDto))!.Status);
    }

    [Fact]
    public async Task An_sms_sent_about_a_call_shows_in_that_calls_history_and_a_call_of_another_enterprise_is_refused()
    {
        var call = seed.CallIds["c4"];
        var sent = await seed.Wa.PostAsJsonAsync("/api/sms", new SmsSendRequest("734 137 941", "Oddzwonimy dziś", call), ApiJson.Default.SmsSendRequest);
        var foreign = await seed.Wa.PostAsJsonAsync("/api/sms", new SmsSendRequest("734 137 941", "x", seed.CallIds["w2"]), ApiJson.Default.SmsSendRequest);

        Assert.Equal(HttpStatusCode.Accepted, sent.StatusCode);
        var detail = await seed.Wa.GetFromJsonAsync($"/api/calls/{call}", ApiJson.Default.CallDetailDto);
        Assert.Equal("Oddzwonimy dziś", Assert.Single(detail!.Sms).Text);
        Assert.Equal(HttpStatusCode.BadRequest, foreign.StatusCode);
        Assert.Contains("\"callId\"", await foreign.Content.ReadAsStringAsync());
        Assert.Empty((await seed.Wb.GetFromJsonAsync($"/api/calls/{seed.CallIds["w2"]}", ApiJson.Default.CallDetailDto))!.Sms);
    }

    [Theory]
    [InlineData("orderBy=ringSeconds&sort=desc", "c2")]
    [InlineData("orderBy=ringSeconds&sort=asc", "c7")]
    [InlineData("orderBy=caller&sort=asc", "c3")] // "101" twice: the newer (c3) first
    [InlineData("orderBy=talkSeconds&sort=desc", "c0")]
    [InlineData("orderBy=startedAt&sort=desc", "c8")]
    public async Task Calls_sort_by_the_chosen_column_across_pages(string query, string first)
    {
        var page = await seed.Wa.GetFromJsonAsync("/api/calls?pageSize=1&" + query, ApiJson.Default.CallPageDto);

        Assert.Equal(first, Assert.Single(page!.Items).CallKey);
        Assert.Equal(10, page.Total);
    }

    [Fact]
    public async Task A_sort_column_pages_by_page_without_a_next_cursor_while_start_time_keeps_its_cursor()
    {
        var first = await seed.Wa.GetAsync("/api/calls?pageSize=4&orderBy=ringSeconds&sort=desc");
        var page1 = (await first.Content.ReadFromJsonAsync(ApiJson.Default.CallPageDto))!;
        var page2 = (await seed.Wa.GetFromJsonAsync("/api/calls?pageSize=4&page=2&orderBy=ringSeconds&sort=desc", ApiJson.Default.CallPageDto))!;
        var byStart = await seed.Wa.GetAsync("/api/calls?pageSize=4&orderBy=startedAt");
        var startPage = (await byStart.Content.ReadFromJsonAsync(ApiJson.Default.CallPageDto))!;

        Assert.Equal((1, (string?)null), (page1.Page, page1.Next));
        Assert.False(first.Headers.Contains("Link"));
        Assert.Equal((2, (string?)null), (page2.Page, page2.Next));
        Assert.Empty(page1.Items.Select(c => c.Id).Intersect(page2.Items.Select(c => c.Id)));
        Assert.True(page1.Items[^1].RingSeconds >= page2.Items[0].RingSeconds);
        Assert.Equal(page1.Items.Concat(page2.Items).Select(c => c.RingSeconds).OrderDescending(), page1.Items.Concat(page2.Items).Select(c => c.RingSeconds));
        Assert.NotNull(startPage.Next); // the start-time order keeps its keyset cursor
        Assert.True(byStart.Headers.Contains("Link"));
    }

    [Theory]
    [InlineData("orderBy=caller&sort=updated", "sort")]
    [InlineData("orderBy=talkSeconds&cursor=CURSOR", "cursor")]
    public async Task A_sort_column_refuses_the_cursor_orders(string query, string field)
    {
        var start = (await seed.Wa.GetFromJsonAsync("/api/calls?pageSize=2", ApiJson.Default.CallPageDto))!;
        var cursor = System.Web.HttpUtility.ParseQueryString(new Uri(new Uri("http://x"), start.Next!).Query)["cursor"]!;

        var response = await seed.Wa.GetAsync("/api/calls?" + query.Replace("CURSOR", Uri.EscapeDataString(cursor), StringComparison.Ordinal));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(field, out _), $"{query}: {problem.RootElement}");
    }

    [Fact]
    public async Task The_csv_answer_of_the_call_list_refuses_a_sort_column()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/calls?orderBy=ringSeconds");
        request.Headers.Accept.ParseAdd("text/csv");

        var response = await seed.Wa.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("\"orderBy\"", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("/api/sms?status=ERROR&to=600100200&page=1&pageSize=10", HttpStatusCode.OK)]
    [InlineData("/api/sms?limit=5", HttpStatusCode.BadRequest)]
    [InlineData("/api/dashboard?from=2025-09-03T00:00:00%2B02:00&to=2025-09-05T00:00:00%2B02:00&pbx=wa-pbx", HttpStatusCode.OK)]
    [InlineData("/api/dashboard?range=week", HttpStatusCode.BadRequest)]
    [InlineData("/api/calls?orderBy=caller&sort=asc&page=2&pageSize=2", HttpStatusCode.OK)]
    [InlineData("/api/calls?order=caller", HttpStatusCode.BadRequest)]
    [InlineData("/api/enterprise?pbx=wa-pbx", HttpStatusCode.BadRequest)]
    public async Task The_web_apps_endpoints_take_their_own_query_parameters_and_refuse_others(string path, HttpStatusCode expected)
    {
        var response = await seed.Wa.GetAsync(path);

        Assert.True(expected == response.StatusCode, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    [Fact]
    public async Task The_call_an_sms_is_about_is_part_of_its_idempotency_key_and_a_refused_call_does_not_spend_the_key()
    {
        var key = Guid.NewGuid().ToString();
        async Task<HttpResponseMessage> SendAsync(long callId)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/sms")
            {
                Content = JsonContent.Create(new SmsSendRequest("512 345 678", "Oddzwonimy", callId), ApiJson.Default.SmsSendRequest),
            };
            request.Headers.Add(SmsEndpoints.IdempotencyHeader, key);
            return await seed.Wa.SendAsync(request);
        }

        var foreign = await SendAsync(seed.CallIds["w2"]); // wb's call
        var first = await SendAsync(seed.CallIds["c5"]);
        var again = await SendAsync(seed.CallIds["c5"]);
        var otherCall = await SendAsync(seed.CallIds["c6"]);

        Assert.Equal(HttpStatusCode.BadRequest, foreign.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        Assert.Equal("true", again.Headers.GetValues(SmsEndpoints.ReplayedHeader).Single());
        Assert.Equal((await first.Content.ReadFromJsonAsync(ApiJson.Default.SmsAcceptedDto))!.Id, (await again.Content.ReadFromJsonAsync(ApiJson.Default.SmsAcceptedDto))!.Id);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, otherCall.StatusCode);
        var detail = (await seed.Wa.GetFromJsonAsync($"/api/calls/{seed.CallIds["c5"]}", ApiJson.Default.CallDetailDto))!;
        Assert.Single(detail.Sms, s => s.To == "+48512345678");
    }

    [Fact]
    public async Task An_unknown_sort_column_is_a_problem_naming_orderBy()
    {
        var response = await seed.Wa.GetAsync("/api/calls?orderBy=colour");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("ringSeconds", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Web_app_config_says_token_sign_in_when_app_service_trust_is_off()
    {
        var config = await seed.Server.Http.GetFromJsonAsync("/api/webapp/config", WebAppJson.Default.WebAppConfigDto);

        Assert.Equal(new WebAppConfigDto("token", null, null, "X-CT-Client"), config);
    }

    [Fact]
    public async Task Platform_identity_headers_are_ignored_when_app_service_trust_is_off()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/calls");
        AppServiceHeaders.Add(request, AppServiceHeaders.TenantA);

        var response = await seed.Server.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }
}

/// <summary>The headers App Service authentication sets for a signed-in Entra ID user.</summary>
public static class AppServiceHeaders
{
    public const string TenantA = "11111111-2222-3333-4444-555555555555";

    /// <summary>Adds X-MS-CLIENT-PRINCIPAL (Base64 JSON of the claims, as App Service builds it), its name header and,
    /// unless <paramref name="client"/> is false, the web app's client header.</summary>
    public static void Add(HttpRequestMessage request, string tenant, string? group = null, bool client = true)
    {
        var claims = new List<object>
        {
            new { typ = "http://schemas.microsoft.com/identity/claims/tenantid", val = tenant },
            new { typ = "name", val = "Ewa Recepcja" },
            new { typ = "preferred_username", val = "ewa@example.com" },
        };
        if (group is not null)
        {
            claims.Add(new { typ = "groups", val = group });
        }

        var json = JsonSerializer.Serialize(new { auth_typ = "aad", claims, name_typ = "name", role_typ = "roles" });
        request.Headers.Add("X-MS-CLIENT-PRINCIPAL", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(json)));
        request.Headers.Add("X-MS-CLIENT-PRINCIPAL-NAME", "ewa@example.com");
        request.Headers.Add("X-MS-CLIENT-PRINCIPAL-IDP", "aad");
        if (client)
        {
            request.Headers.Add("X-CT-Client", "web");
        }
    }
}
