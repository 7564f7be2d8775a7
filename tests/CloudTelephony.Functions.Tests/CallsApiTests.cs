using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;
using CsvHelper;

namespace CloudTelephony.Functions.Tests;

/// <summary>
/// The functions app over one database seeded with five calls on two PBXes of enterprise <c>acme</c> and one call on a
/// PBX of enterprise <c>beta</c> (same caller number as acme's k2), a contact with that number in each enterprise, and
/// an SMS about each of those two calls; crm tokens for both and a routing token for acme. Token caches off.
/// </summary>
public sealed class SeededCallsServer : IAsyncLifetime
{
    public static readonly DateTimeOffset T0 = new(2025, 9, 3, 7, 0, 0, TimeSpan.Zero);

    public FunctionsServer Server { get; } = new(0, "--Routing:ConfigCacheSeconds=0");

    /// <summary>A client with acme's crm token.</summary>
    public HttpClient Crm { get; private set; } = null!;

    public string AcmeToken { get; private set; } = "";

    public string BetaToken { get; private set; } = "";

    public string AcmeRoutingToken { get; private set; } = "";

    public long AcmeId { get; private set; }

    public long BetaId { get; private set; }

    public long BetaCallId { get; private set; }

    public long AcmeContactId { get; private set; }

    public long BetaContactId { get; private set; }

    public long AcmeSmsId { get; private set; }

    public long BetaSmsId { get; private set; }

    public async Task InitializeAsync()
    {
        await Server.InitializeAsync();
        await using var conn = await Server.Db.DataSource.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await StreamStore.LockAsync(conn, tx, "pbx-a", "ctip", default);
        await StreamStore.LockAsync(conn, tx, "pbx-b", "smdr", default);
        await FrameStore.InsertFramesAsync(conn, tx, "pbx-a", [new StoredFrame("s", 1, T0, "aRING 101_ 693109180 0 618386710 _ Иванов,_Пётр", null)], default);
        await FrameStore.UpsertCallsAsync(conn, tx,
        [
            NewCall("pbx-a", "k1", CallDirection.Inbound, CallStatus.Answered, "693109180", "101", ["101", "102"], 0) with
            {
                CallerName = "Иванов, Пётр \"Петя\"",
                Participants = [new CallParticipant("101", "callee", T0, T0.AddSeconds(3), T0.AddSeconds(60), "answered")],
                Events = [new CallEvent(T0, "ring", "101", null, "s", 1)],
            },
            NewCall("pbx-a", "k2", CallDirection.Inbound, CallStatus.Missed, "734137941", null, ["101", "103"], 10),
            NewCall("pbx-a", "k3", CallDirection.Outbound, CallStatus.Answered, "101", "101", [], 20),
            NewCall("pbx-a", "k4", CallDirection.Internal, CallStatus.Busy, "109", null, ["101"], 30),
            NewCall("pbx-b", "k5", CallDirection.Inbound, CallStatus.Voicemail, "888922230", null, ["105"], 40),
        ], default);
        await StreamStore.LockAsync(conn, tx, "pbx-c", "ctip", default);
        await FrameStore.UpsertCallsAsync(conn, tx, [NewCall("pbx-c", "k6", CallDirection.Inbound, CallStatus.Missed, "734137941", null, ["201"], 50)], default);
        await tx.CommitAsync();

        var acme = await Server.Db.CreateTokenAsync("acme", "crm", "pbx-a", "pbx-b");
        var beta = await Server.Db.CreateTokenAsync("beta", "crm", "pbx-c");
        (AcmeToken, AcmeId, BetaToken, BetaId) = (acme.Token, acme.EnterpriseId, beta.Token, beta.EnterpriseId);
        AcmeRoutingToken = (await Server.Db.CreateTokenAsync("acme", "routing")).Token;
        Crm = Server.Client(AcmeToken);

        var contacts = new ContactStore(Server.Db.DataSource);
        AcmeContactId = (await contacts.CreateAsync(AcmeId, "Jan Kowalski", "ACME", [new NewContactDevice("+48734137941", "734 137 941", "mobile")], default)).Id;
        BetaContactId = (await contacts.CreateAsync(BetaId, "Jan Kowalski", "Beta", [new NewContactDevice("+48734137941", "734137941", null)], default)).Id;
        await contacts.CreateAsync(BetaId, "Zofia Betowska", "Beta", [new NewContactDevice("+48600000001", "600000001", null)], default);

        BetaCallId = await Server.Db.ScalarAsync("SELECT id FROM ct.calls WHERE call_key = 'k6'");
        AcmeSmsId = await Server.Db.ScalarAsync($"""
            INSERT INTO ct.sms_out (enterprise_id, to_number, text, call_id, next_attempt_at)
            SELECT {AcmeId}, '+48734137941', 'Oddzwonimy', id, now() + interval '1 day' FROM ct.calls WHERE call_key = 'k2' RETURNING id
            """);
        BetaSmsId = await Server.Db.ScalarAsync($"""
            INSERT INTO ct.sms_out (enterprise_id, to_number, text, call_id, next_attempt_at)
            VALUES ({BetaId}, '+48734137941', 'Beta oddzwoni', {BetaCallId}, now() + interval '1 day') RETURNING id
            """);
    }

    public async Task DisposeAsync()
    {
        Crm?.Dispose();
        await Server.DisposeAsync();
    }

    private static Call NewCall(string pbx, string key, CallDirection direction, CallStatus status, string caller, string? answeredBy, string[] extensions, int minute) => new()
    {
        Pbx = pbx,
        CallKey = key,
        Direction = direction,
        Status = status,
        Caller = caller,
        Called = "618386710",
        AnsweredBy = answeredBy,
        Extensions = extensions,
        StartedAt = T0.AddMinutes(minute),
        AnsweredAt = answeredBy is null ? null : T0.AddMinutes(minute).AddSeconds(3),
        EndedAt = T0.AddMinutes(minute).AddSeconds(60),
        RingSeconds = 3,
        TalkSeconds = answeredBy is null ? 0 : 57,
    };
}

/// <summary>The calls API (list, filters, paging, one call, CSV) over calls stored in real PostgreSQL.</summary>
public sealed class CallsApiTests(SeededCallsServer seeded) : IClassFixture<SeededCallsServer>
{
    private readonly HttpClient _crm = seeded.Crm;

    [Theory]
    [InlineData("", 5)]
    [InlineData("?direction=inbound", 3)]
    [InlineData("?status=missed", 1)]
    [InlineData("?ext=102", 1)]
    [InlineData("?ext=101", 4)]
    [InlineData("?pbx=pbx-b", 1)]
    [InlineData("?q=7341", 1)]
    [InlineData("?q=иванов", 1)]
    [InlineData("?q=kowalski", 1)]
    [InlineData("?q=%2B48%20734%20137%20941", 1)]
    [InlineData("?q=0048734137941", 1)]
    [InlineData("?from=2025-09-03T07:20:00Z", 3)]
    [InlineData("?from=2025-09-03T09:10:00%2B02:00&to=2025-09-03T07:31:00Z", 3)]
    [InlineData("?direction=inbound&status=answered&ext=101", 1)]
    public async Task Filters_select_the_matching_calls(string query, int expected)
    {
        var page = await _crm.GetFromJsonAsync("/api/calls" + query, ApiJson.Default.CallPageDto);

        Assert.Equal(expected, page!.Total);
        Assert.Equal(expected, page.Items.Count);
    }

    [Fact]
    public async Task Pages_are_newest_first_with_the_total()
    {
        var first = await _crm.GetFromJsonAsync("/api/calls?pageSize=2", ApiJson.Default.CallPageDto);
        var third = await _crm.GetFromJsonAsync("/api/calls?pageSize=2&page=3", ApiJson.Default.CallPageDto);

        Assert.Equal(["k5", "k4"], first!.Items.Select(c => c.CallKey));
        Assert.Equal(["k1"], third!.Items.Select(c => c.CallKey));
        Assert.Equal(5, third.Total);
    }

    [Fact]
    public async Task Sort_asc_lists_oldest_first_and_calls_carry_the_contact_name()
    {
        var page = await _crm.GetFromJsonAsync("/api/calls?sort=asc&pageSize=3", ApiJson.Default.CallPageDto);

        Assert.Equal(["k1", "k2", "k3"], page!.Items.Select(c => c.CallKey));
        Assert.Equal(5, page.Total);
        Assert.Equal("Jan Kowalski", page.Items[1].ContactName);
        Assert.Null(page.Items[0].ContactName);
    }

    [Fact]
    public async Task One_call_comes_with_its_sms_history_of_its_own_enterprise()
    {
        var list = await _crm.GetFromJsonAsync("/api/calls?q=kowalski", ApiJson.Default.CallPageDto);
        var detail = await _crm.GetFromJsonAsync($"/api/calls/{list!.Items[0].Id}", ApiJson.Default.CallDetailDto);

        var sms = Assert.Single(detail!.Sms);
        Assert.Equal((seeded.AcmeSmsId, "Oddzwonimy", "+48734137941"), (sms.Id, sms.Text, sms.To));
        Assert.Equal("Jan Kowalski", detail.Call.ContactName);
    }

    [Theory]
    [InlineData("?status=lost", "status")]
    [InlineData("?from=yesterday", "from")]
    [InlineData("?pageSize=5000", "pageSize")]
    [InlineData("?page=0", "page")]
    [InlineData("?sort=up", "sort")]
    public async Task Bad_filters_answer_a_problem_naming_the_field(string query, string field)
    {
        var response = await _crm.GetAsync("/api/calls" + query);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains($"\"{field}\"", body);
    }

    [Fact]
    public async Task One_call_comes_with_its_legs_and_events_and_raw_frames()
    {
        var list = await _crm.GetFromJsonAsync("/api/calls?q=693109180", ApiJson.Default.CallPageDto);
        var detail = await _crm.GetFromJsonAsync($"/api/calls/{list!.Items[0].Id}", ApiJson.Default.CallDetailDto);

        Assert.Equal("Иванов, Пётр \"Петя\"", detail!.Call.CallerName);
        Assert.Equal(["101", "102"], detail.Call.Extensions);
        var leg = Assert.Single(detail.Participants);
        Assert.Equal(("101", "answered"), (leg.Endpoint, leg.Outcome));
        var e = Assert.Single(detail.Events);
        Assert.Equal("aRING 101_ 693109180 0 618386710 _ Иванов,_Пётр", e.Frame);
        Assert.Equal(HttpStatusCode.NotFound, (await _crm.GetAsync("/api/calls/999999")).StatusCode);
    }

    [Fact]
    public async Task Csv_export_streams_every_matching_call_with_correct_quoting()
    {
        var response = await _crm.GetAsync("/api/calls.csv?pbx=pbx-a&bom=true");
        var bytes = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal("text/csv", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(new byte[] { 0xEF, 0xBB, 0xBF }, bytes[..3]);
        using var csv = new CsvReader(new StringReader(Encoding.UTF8.GetString(bytes[3..])), CultureInfo.InvariantCulture);
        var rows = new List<Dictionary<string, string>>();
        await csv.ReadAsync();
        csv.ReadHeader();
        while (await csv.ReadAsync())
        {
            rows.Add(csv.HeaderRecord!.ToDictionary(h => h, h => csv.GetField(h)!));
        }

        Assert.Equal(["k4", "k3", "k2", "k1"], rows.Select(r => r["callKey"]));
        Assert.Equal("Иванов, Пётр \"Петя\"", rows[3]["callerName"]);
        Assert.Equal("101 102", rows[3]["extensions"]);
        Assert.Equal("2025-09-03T07:00:00.000Z", rows[3]["startedAt"]);
    }

    [Fact]
    public async Task Csv_export_without_bom_starts_with_the_header()
    {
        var text = await _crm.GetStringAsync("/api/calls.csv?status=voicemail");

        Assert.StartsWith("id,pbx,callKey,direction,status", text);
        Assert.Equal(2, text.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Length);
    }
}
