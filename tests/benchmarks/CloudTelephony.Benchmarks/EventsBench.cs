using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Events;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace CloudTelephony.Benchmarks;

/// <summary>
/// Live call events under ingest load: the real functions app on Kestrel over a fresh database, a webhook receiver on
/// Kestrel (loopback), <c>pbxes</c> senders POSTing the real CTIP capture repeated <c>repeat</c> times in batches of
/// <c>batch</c> frames (as relays do), paced to <c>rate</c> frames/s in all, or as fast as the app takes them (0: like
/// relays draining a backlog). A warm-up on PBXes of its own runs first and is not measured: the same load round after
/// round until the JIT has settled (tiered compilation, pools, the webhook's connections: a process that has run a
/// while), or none when <c>warmUp</c> is false (a process just started). Latency = the moment the ingest transaction
/// that wrote an event committed (its outbox hand-off, in-process) → the moment the receiver got that event. Prints
/// p50/p99/max and the events/s the dispatcher delivered.
/// </summary>
public static class EventsBench
{
    /// <summary>Records when each event row was committed (the hand-off runs right after the commit).</summary>
    private sealed class CommitClock : IOutboxHandOff
    {
        public ConcurrentDictionary<long, long> Committed { get; } = new();

        public string Outbox => LiveEventsHandler.Outbox;

        public void Enqueue(IReadOnlyList<long> ids)
        {
            var now = Stopwatch.GetTimestamp();
            foreach (var id in ids)
            {
                Committed[id] = now;
            }
        }
    }

    /// <summary>The JIT counts as settled below this many methods compiled per second during a warm-up round.</summary>
    private const double SettledJitRate = 20;

    /// <summary>The warm-up stops after this long even when the JIT has not settled.</summary>
    private static readonly TimeSpan WarmUpLimit = TimeSpan.FromSeconds(120);

    /// <summary>Runs the benchmark; returns the exit code.</summary>
    public static async Task<int> RunAsync(int repeat, int batchSize, int pbxes, bool events = true, int rate = 0, bool warmUp = true)
    {
        var cs = await BenchDatabase.CreateAsync("ct_bench_events");
        var received = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        var receiverBuilder = WebApplication.CreateSlimBuilder();
        receiverBuilder.WebHost.UseUrls("http://127.0.0.1:0");
        receiverBuilder.Logging.ClearProviders();
        var receiver = receiverBuilder.Build();
        receiver.MapPost("/hook", (HttpRequest request) =>
        {
            received.TryAdd(request.Headers["X-CloudTelephony-Event-Id"].ToString(), Stopwatch.GetTimestamp());
            return Results.Ok();
        });
        await receiver.StartAsync();
        var hookUrl = receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/hook";

        var clock = new CommitClock();
        var key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var app = FunctionsApp.Build(
            ["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Warning",
             $"--Events:WebhookKey={key}", "--Events:AllowHttpWebhooks=true", $"--Events:Enabled={events}"],
            cs, s => s.AddSingleton<IOutboxHandOff>(clock));
        await app.StartAsync();
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        string relayToken;
        await using (var db = NpgsqlDataSource.Create(cs))
        {
            relayToken = (await new TokenStore(db).CreateAsync(1, "relay", default)).Token;
            var secrets = app.Services.GetRequiredService<WebhookSecrets>();
            await EventStore.AddWebhookAsync(db, "default", hookUrl, null, secrets.Protect(WebhookSecrets.NewSecret()), default);
        }

        var source = CoreBenchmarks.LoadFrames("ctip", repeat);
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(5) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", relayToken);
        await using var read = NpgsqlDataSource.Create(cs);

        // warm-up (not measured), to the steady state of a process that has run a while: the same load on PBXes of its
        // own, round after round, until the JIT has settled (tiered compilation recompiles thousands of hot methods in
        // the first half minute under load, at up to half a core) and the round's events are all delivered
        var warm = Stopwatch.StartNew();
        var warmFrames = CoreBenchmarks.LoadFrames("ctip", 4);
        var (rounds, warmEvents, jitRate) = (0, 0, double.MaxValue);
        while (warmUp && warm.Elapsed < WarmUpLimit)
        {
            var jitBefore = System.Runtime.JitInfo.GetCompiledMethodCount();
            var round = Stopwatch.StartNew();
            var prefix = $"warm{rounds++}";
            await SendAsync(http, prefix, warmFrames, batchSize, pbxes, rate, Stopwatch.GetTimestamp());
            var warmIds = await EventIdsAsync(read, prefix + "-%");
            await WaitAsync(received, warmIds, TimeSpan.FromSeconds(60));
            warmEvents += warmIds.Count;
            jitRate = (System.Runtime.JitInfo.GetCompiledMethodCount() - jitBefore) / round.Elapsed.TotalSeconds;
            if (jitRate < SettledJitRate)
            {
                break;
            }
        }

        Console.WriteLine(!warmUp ? "events: no warm-up (cold: a process that has just started)" : $"events: warm-up: {rounds} rounds, {warmEvents:N0} events delivered in {warm.Elapsed.TotalSeconds:F1} s, "
            + $"until the JIT settled ({jitRate:N0} methods compiled/s in the last round; not measured)");

        Console.WriteLine($"events: {pbxes} PBX(es) x {source.Length:N0} frames (the CTIP capture x {repeat}), batches of {batchSize}, "
            + (rate > 0 ? $"paced at {rate:N0} frames/s" : "as fast as the app takes them") + $", webhook {hookUrl}");
        var started = Stopwatch.GetTimestamp();
        await SendAsync(http, "bench", source, batchSize, pbxes, rate, started);
        var ingested = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var ids = await EventIdsAsync(read, "bench-%");
        await WaitAsync(received, ids, TimeSpan.FromSeconds(120));

        var latencies = received
            .Where(x => ids.TryGetValue(x.Key, out var id) && clock.Committed.ContainsKey(id))
            .Select(x => Stopwatch.GetElapsedTime(clock.Committed[ids[x.Key]], x.Value).TotalMilliseconds)
            .Order().ToList();
        var last = received.Where(x => ids.ContainsKey(x.Key)).Select(x => x.Value).DefaultIfEmpty(started).Max();
        var span = Stopwatch.GetElapsedTime(started, last).TotalSeconds;
        Console.WriteLine($"events: {source.Length * (long)pbxes:N0} frames ingested in {ingested:F1} s ({source.Length * pbxes / ingested:N0} frames/s); {ids.Count:N0} events written, {received.Keys.Count(ids.ContainsKey):N0} received by the webhook");
        if (latencies.Count > 0)
        {
            double P(double q) => latencies[Math.Min(latencies.Count - 1, (int)(latencies.Count * q))];
            Console.WriteLine($"events: frame committed -> webhook received: p50 {P(0.5):F1} ms, p99 {P(0.99):F1} ms, max {latencies[^1]:F1} ms");
        }

        Console.WriteLine($"events: the dispatcher delivered {received.Keys.Count(ids.ContainsKey) / span:N0} events/s over the run ({span:F1} s from the first frame sent to the last event received)");
        await app.StopAsync();
        await receiver.StopAsync();
        return 0;
    }

    /// <summary>Each of <paramref name="pbxes"/> senders POSTs the frames as PBX <c>{prefix}-{n}</c> in batches, paced to
    /// <paramref name="rate"/> frames/s in all (0 = as fast as the app answers).</summary>
    private static Task SendAsync(HttpClient http, string prefix, PbxFrame[] frames, int batchSize, int pbxes, int rate, long started)
        => Task.WhenAll(Enumerable.Range(0, pbxes).Select(p => Task.Run(async () =>
        {
            var envelopes = frames.Select(f => new Envelope($"{prefix}-{p}", Protocols.Ctip, f.Session, f.Seq, f.ReceivedAt.ToUniversalTime(), "a" + f.Text)).ToArray();
            var k = 0;
            foreach (var batch in envelopes.Chunk(batchSize))
            {
                if (rate > 0 && TimeSpan.FromSeconds(k++ * (double)batchSize * pbxes / rate) - Stopwatch.GetElapsedTime(started) is { Ticks: > 0 } wait)
                {
                    await Task.Delay(wait);
                }

                using var response = await http.PostAsJsonAsync(Routes.IngestPath, batch, ContractsJson.Default.EnvelopeArray);
                response.EnsureSuccessStatusCode();
            }
        })));

    /// <summary>Outbox ids by CloudEvent id of the events of the PBXes matching <paramref name="pbxLike"/>.</summary>
    private static async Task<Dictionary<string, long>> EventIdsAsync(NpgsqlDataSource db, string pbxLike)
    {
        var ids = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var cmd = db.CreateCommand("SELECT event_id, id FROM ct.call_events_out WHERE pbx LIKE @pbx");
        cmd.Parameters.AddWithValue("pbx", pbxLike);
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            ids[r.GetString(0)] = r.GetInt64(1);
        }

        return ids;
    }

    /// <summary>Waits until the webhook received every one of <paramref name="ids"/>, or <paramref name="timeout"/>.</summary>
    private static async Task WaitAsync(ConcurrentDictionary<string, long> received, Dictionary<string, long> ids, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (ids.Keys.Any(id => !received.ContainsKey(id)) && deadline.Elapsed < timeout)
        {
            await Task.Delay(50);
        }
    }
}
