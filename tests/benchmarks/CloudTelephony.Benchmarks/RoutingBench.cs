using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using CloudTelephony.Functions.Commands;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Routing;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace CloudTelephony.Benchmarks;

/// <summary>
/// Smart Redirect under load: the real functions app on Kestrel over a fresh PostgreSQL database with one enterprise
/// (mode routing+name, strategy last_call, 100 extensions, <c>requests</c> callers each with calls, half of them
/// contacts). Drives <c>POST /api/callevent/getcustomerdata</c> over loopback: cold (every caller asked for the first
/// time: database, after a warm-up of the process on other numbers) and warm (the same callers again: memory) at <c>rate</c> req/s, then closed-loop for the maximum
/// rate, then open-loop at twice that maximum on numbers never asked (saturating). Each paced run counts the answers
/// later than the budget + 20 ms, server side and client side, and the DialPlan-null answers the budget gave (at the
/// budget, over <c>Routing:MaxConcurrentRequests</c>). Server-side latency = the endpoint (token filter, lookup, JSON) measured in the app.
/// </summary>
public static class RoutingBench
{
    /// <summary>Runs the benchmark; returns the exit code.</summary>
    public static async Task<int> RunAsync(int requests, int rate)
    {
        var cs = await BenchDatabase.CreateAsync("ct_bench_routing");
        await using var db = NpgsqlDataSource.Create(cs);
        var token = await SeedAsync(db, requests);

        var app = FunctionsApp.Build(
            ["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", "--Routing:RateLimitPerSecond=1000000", "--Routing:RateLimitBurst=1000000"], cs);
        var server = new ConcurrentQueue<double>();
        app.Use(async (HttpContext ctx, RequestDelegate next) =>
        {
            var t = Stopwatch.GetTimestamp();
            await next(ctx);
            server.Enqueue(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        });
        await app.StartAsync();
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = new Uri(url) };
        Console.WriteLine($"routing: {requests:N0} callers, {rate} req/s paced, {Environment.ProcessorCount} cores, {url}");

        var phones = Enumerable.Range(0, requests).Select(Phone).ToArray();

        // Warm the process (JIT, connection pool) on numbers that are not among the measured callers.
        var other = Enumerable.Range(0, Math.Min(requests, 2000)).Select(i => (700_000_000 + i).ToString(CultureInfo.InvariantCulture)).ToArray();
        var budget = app.Services.GetRequiredService<RoutingBudget>();
        await PacedAsync("process warm-up", http, token, other, rate, server, budget);
        await PacedAsync("cold (database)", http, token, phones, rate, server, budget);
        await PacedAsync("warm (memory)  ", http, token, phones, rate, server, budget);

        var sw = Stopwatch.StartNew();
        var next = -1;
        var workers = Enumerable.Range(0, 32).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < requests * 2)
            {
                await AskAsync(http, token, phones[i % requests]);
            }
        }));
        await Task.WhenAll(workers);
        var max = requests * 2 / sw.Elapsed.TotalSeconds;
        Console.WriteLine($"routing: max {max:N0} req/s (32 concurrent, warm)");

        // Saturating: open-loop at twice the maximum, cold numbers again (a fresh range: the database is asked), so the
        // box cannot keep up — the budget must still hold: answers later than budget + 20 ms are counted.
        // Up to 512 connections, so more requests than Routing:MaxConcurrentRequests (100) can be in the app at once.
        var flood = Enumerable.Range(0, requests).Select(i => (800_000_000 + i).ToString(CultureInfo.InvariantCulture)).ToArray();
        using var wide = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 512 }) { BaseAddress = new Uri(url) };
        await PacedAsync($"saturating {(int)(max * 2)} req/s", wide, token, flood, (int)(max * 2), server, budget);
        await app.StopAsync();
        return 0;
    }

    /// <summary>The enterprise's budget (the default of <c>smart set</c>): an answer later than this + 20 ms is late.</summary>
    private const double BudgetMs = RoutingBudget.DefaultBudgetMs;

    private static async Task PacedAsync(string label, HttpClient http, string token, string[] phones, int rate, ConcurrentQueue<double> server, RoutingBudget budget)
    {
        server.Clear();
        var client = new ConcurrentBag<double>();
        var nulls = 0;
        var (shed0, cut0) = (budget.Shed, budget.Cut);
        var start = Stopwatch.GetTimestamp();
        var tasks = new List<Task>(phones.Length);
        for (var i = 0; i < phones.Length; i++)
        {
            var due = TimeSpan.FromSeconds((double)i / rate) - Stopwatch.GetElapsedTime(start);
            if (due > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(due);
            }

            var phone = phones[i];
            tasks.Add(Task.Run(async () =>
            {
                var t = Stopwatch.GetTimestamp();
                if (!await AskAsync(http, token, phone))
                {
                    Interlocked.Increment(ref nulls);
                }

                client.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }));
        }

        await Task.WhenAll(tasks);
        var achieved = phones.Length / Stopwatch.GetElapsedTime(start).TotalSeconds;
        var s = server.ToArray();
        Array.Sort(s);
        var c = client.ToArray();
        Array.Sort(c);
        var lateServer = s.Count(x => x > BudgetMs + 20);
        var lateClient = c.Count(x => x > BudgetMs + 20);
        Console.WriteLine($"routing: {label}: {achieved:N0} req/s; server p50 {P(s, 0.5):F2} ms, p99 {P(s, 0.99):F2} ms, max {s[^1]:F1} ms; " +
                          $"client p50 {P(c, 0.5):F2} ms, p99 {P(c, 0.99):F2} ms, max {c[^1]:F1} ms; " +
                          $"late (> {BudgetMs + 20:F0} ms) server {lateServer} / client {lateClient} of {c.Length}; DialPlan null {nulls} " +
                          $"(at the budget {budget.Cut - cut0}, over Routing:MaxConcurrentRequests {budget.Shed - shed0})");
    }

    private static double P(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * q))];

    /// <summary>Asks once; true when the answer carries a DialPlan.</summary>
    private static async Task<bool> AskAsync(HttpClient http, string token, string phone)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/callevent/getcustomerdata")
        {
            Content = new StringContent($$"""{"UniqueId":"1756890000.1","Phone":"{{phone}}","TrunkId":"1","LoadDialPlan":"true"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Token", token);
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return !(await response.Content.ReadAsStringAsync()).Contains("\"DialPlan\":null", StringComparison.Ordinal);
    }

    private static string Phone(int i) => (600_000_000 + i).ToString(CultureInfo.InvariantCulture);

    private static async Task<string> SeedAsync(NpgsqlDataSource db, int callers)
    {
        async Task<string> Admin(params string[] args)
        {
            var output = new StringWriter();
            var code = await AdminCommand.Create(() => db, output).Parse(args).InvokeAsync();
            return code == 0 ? output.ToString() : throw new InvalidOperationException($"admin {string.Join(' ', args)}: {output}");
        }

        var ext = Path.GetTempFileName();
        await File.WriteAllLinesAsync(ext, Enumerable.Range(100, 100).Select(e => $"{e},{e + 1000},User {e}"));
        var contacts = Path.GetTempFileName();
        await File.WriteAllLinesAsync(contacts, Enumerable.Range(0, callers / 2).Select(i => $"Customer {i},Firma {i % 50},{Phone(i)}"));
        await Admin("enterprise", "add", "--name", "bench");
        await Admin("pbx", "assign", "--pbx", "bench-pbx", "--enterprise", "bench", "--protocol", "ami");
        await Admin("extensions", "import", "--enterprise", "bench", "--file", ext);
        await Admin("contacts", "import", "--enterprise", "bench", "--file", contacts);
        await Admin("trunks", "enable", "--enterprise", "bench", "--trunk", "1");
        await Admin("smart", "set", "--enterprise", "bench", "--mode", "routing+name", "--strategy", "last_call");
        var token = Regex.Match(await Admin("token", "create", "--enterprise", "bench", "--scope", "routing"), @"ct_\S+").Value;

        // Three answered calls per caller, plus 200,000 calls of other numbers so the index has something to skip.
        var now = DateTimeOffset.UtcNow;
        var calls = Enumerable.Range(0, callers * 3).Select(i => Call($"k{i}", Phone(i % callers), (100 + (i % 100)).ToString(CultureInfo.InvariantCulture), now.AddHours(-i % 2000)))
            .Concat(Enumerable.Range(0, 200_000).Select(i => Call($"o{i}", (700_000_000 + i).ToString(CultureInfo.InvariantCulture), "150", now.AddMinutes(-i))));
        foreach (var chunk in calls.Chunk(10_000))
        {
            await using var conn = await db.OpenConnectionAsync();
            await using var tx = await conn.BeginTransactionAsync();
            await FrameStore.UpsertCallsAsync(conn, tx, chunk, default);
            await tx.CommitAsync();
        }

        await using (var analyze = db.CreateCommand("ANALYZE"))
        {
            await analyze.ExecuteNonQueryAsync();
        }

        return token;
    }

    private static Call Call(string key, string caller, string ext, DateTimeOffset at) => new()
    {
        Pbx = "bench-pbx",
        CallKey = key,
        Direction = CallDirection.Inbound,
        Status = CallStatus.Answered,
        Caller = caller,
        Called = "618386710",
        AnsweredBy = ext,
        Extensions = [ext],
        StartedAt = at,
        AnsweredAt = at.AddSeconds(5),
        EndedAt = at.AddMinutes(2),
    };
}
