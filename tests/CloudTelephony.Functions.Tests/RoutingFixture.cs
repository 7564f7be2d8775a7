using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.RegularExpressions;
using CloudTelephony.Functions.Commands;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;
using Npgsql;

namespace CloudTelephony.Functions.Tests;

/// <summary>
/// The functions app with two enterprises set up through the admin commands: <c>acme</c> (extensions, a contact, calls
/// from +48693109180 answered by 101 ten days ago and by 102 two days ago, trunk 1 smart-enabled, trunk 2 not) and
/// <c>beta</c> (nothing but a token). Caches off, so every test sees the settings it sets.
/// </summary>
public sealed class RoutingFixture : IAsyncLifetime, IAsyncDisposable
{
    public RoutingFixture()
        : this([])
    {
    }

    private RoutingFixture(string[] extraArgs)
        => Server = new FunctionsServer(0,
        [
            "--Routing:ConfigCacheSeconds=0", "--Routing:NameCacheSeconds=0", "--Routing:ExtensionCacheSeconds=0",
            "--Routing:RateLimitPerSecond=10000", "--Routing:RateLimitBurst=10000", .. extraArgs,
        ]);

    public FunctionsServer Server { get; }

    /// <summary>The same set-up with more configuration (later values win).</summary>
    public static RoutingFixture With(params string[] extraArgs) => new(extraArgs);

    public string AcmeToken { get; private set; } = "";

    public string BetaToken { get; private set; } = "";

    public string AcmeCrmToken { get; private set; } = "";

    public async Task InitializeAsync()
    {
        await Server.InitializeAsync();
        await AdminAsync("enterprise", "add", "--name", "acme");
        await AdminAsync("enterprise", "add", "--name", "beta");
        await AdminAsync("pbx", "assign", "--pbx", "pbx-a", "--enterprise", "acme", "--protocol", "ami");
        await AdminAsync("pbx", "assign", "--pbx", "pbx-b", "--enterprise", "beta", "--protocol", "ami", "--time-zone", "Europe/Warsaw");
        await AdminAsync("extensions", "import", "--enterprise", "acme", "--file", await FileAsync("ext,internalId,user\n101,7,Anna Nowak\n102,8,Bartek\n103,,No Id\n"));
        await AdminAsync("contacts", "import", "--enterprise", "acme", "--file", await FileAsync("name,company,number\nJan Kowalski,ACME,+48 693 109 180\nOla,,0048 601 000 001\n"));
        await AdminAsync("trunks", "enable", "--enterprise", "acme", "--trunk", "1");
        await AdminAsync("trunks", "disable", "--enterprise", "acme", "--trunk", "2");
        await AdminAsync("trunks", "enable", "--enterprise", "beta", "--trunk", "1");
        await AdminAsync("smart", "set", "--enterprise", "beta", "--mode", "routing+name", "--strategy", "last_call");
        AcmeToken = TokenOf(await AdminAsync("token", "create", "--enterprise", "acme", "--scope", "routing"));
        AcmeCrmToken = TokenOf(await AdminAsync("token", "create", "--enterprise", "acme", "--scope", "crm"));
        BetaToken = TokenOf(await AdminAsync("token", "create", "--enterprise", "beta", "--scope", "routing"));

        var now = DateTimeOffset.UtcNow;
        await using var conn = await Server.Db.DataSource.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await FrameStore.UpsertCallsAsync(conn, tx,
        [
            Inbound("pbx-a", "c1", "693109180", "101", now.AddDays(-10)),
            Inbound("pbx-a", "c2", "0693109180", "102", now.AddDays(-2)),
            Inbound("pbx-a", "c3", "693109180", null, now.AddDays(-1)) with { Status = CallStatus.Missed },
            Inbound("pbx-a", "c4", "0660155133", "103", now.AddDays(-1)),
            Inbound("pbx-a", "c5", "500600700", "101", now.AddDays(-400)),
            Inbound("pbx-b", "c6", "777888999", "201", now.AddDays(-1)),
            new Call
            {
                Pbx = "pbx-a", CallKey = "c7", Direction = CallDirection.Outbound, Status = CallStatus.Answered, Caller = "101", Called = "0601000001",
                AnsweredBy = "101", StartedAt = now.AddDays(-1), AnsweredAt = now.AddDays(-1), EndedAt = now.AddDays(-1).AddMinutes(1),
            },
        ], default);
        await tx.CommitAsync();

        // One request first, as a running app has had: the first one of a process spends its budget compiling the code
        // (the budget counts from the request's start, the token check included) and is answered null.
        await AskAsync(BetaToken, Body("500000001"));
    }

    public Task DisposeAsync() => Server.DisposeAsync();

    async ValueTask IAsyncDisposable.DisposeAsync() => await DisposeAsync();

    /// <summary>Runs <c>admin ...</c> through its entry method against the test database; fails on a non-zero exit.</summary>
    public async Task<string> AdminAsync(params string[] args)
    {
        var (code, output) = await AdminExitAsync(args);
        Assert.True(code == 0, $"admin {string.Join(' ', args)} exited {code}: {output}");
        return output;
    }

    public async Task<(int Code, string Output)> AdminExitAsync(params string[] args)
    {
        var output = new StringWriter();
        var code = await Cli.InvokeAsync(AdminCommand.Create(() => Server.Db.DataSource, output), args, output);
        return (code, output.ToString());
    }

    /// <summary>Posts the body exactly as the Asterisk macro does (header Token, strings); returns status, body and time.</summary>
    public async Task<(int Status, string Body, double Ms)> AskAsync(string? token, string body, string? forwardedFor = null, HttpClient? http = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/callevent/getcustomerdata") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (token is not null)
        {
            request.Headers.Add("Token", token);
        }

        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        var sw = Stopwatch.StartNew();
        using var response = await (http ?? Server.Http).SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text, sw.Elapsed.TotalMilliseconds);
    }

    public static string Body(string phone, string trunk = "1", string load = "true")
        => $$"""{"UniqueId":"1756890000.42","Phone":"{{phone}}","TrunkId":"{{trunk}}","LoadDialPlan":"{{load}}"}""";

    public static async Task<string> FileAsync(string text)
    {
        var path = Path.GetTempFileName();
        await File.WriteAllTextAsync(path, text);
        return path;
    }

    private static string TokenOf(string output) => Regex.Match(output, @"ct_[A-Za-z0-9_\-]+").Value;

    public static Call Inbound(string pbx, string key, string caller, string? answeredBy, DateTimeOffset at) => new()
    {
        Pbx = pbx,
        CallKey = key,
        Direction = CallDirection.Inbound,
        Status = answeredBy is null ? CallStatus.Missed : CallStatus.Answered,
        Caller = caller,
        Called = "618386710",
        AnsweredBy = answeredBy,
        Extensions = answeredBy is null ? [] : [answeredBy],
        StartedAt = at,
        AnsweredAt = answeredBy is null ? null : at.AddSeconds(5),
        EndedAt = at.AddMinutes(2),
    };
}
