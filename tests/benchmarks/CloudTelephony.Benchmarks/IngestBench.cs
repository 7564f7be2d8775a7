using System.Diagnostics;
using System.Net.Http.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace CloudTelephony.Benchmarks;

/// <summary>
/// End-to-end ingest: the real functions app on Kestrel over a fresh PostgreSQL database; the real CTIP capture
/// repeated to at least <c>--frames</c> frames is POSTed to <c>/api/frames</c> in batches, by <c>--pbxes</c> concurrent
/// senders (one PBX each, in order, like relays). Prints frames/s and calls/s.
/// </summary>
public static class IngestBench
{
    /// <summary>Runs the benchmark; returns the exit code.</summary>
    public static async Task<int> RunAsync(int totalFrames, int batchSize, int pbxes)
    {
        var cs = await BenchDatabase.CreateAsync("ct_bench");
        var app = FunctionsApp.Build(["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Warning"], cs);
        await app.StartAsync();
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        var perPbx = (totalFrames + pbxes - 1) / pbxes;
        var capture = CoreBenchmarks.LoadFrames("ctip", 1);
        var repeats = (perPbx + capture.Length - 1) / capture.Length;
        var source = CoreBenchmarks.LoadFrames("ctip", repeats);
        // the copies follow each other for years: moved back so the last ends an hour ago (the app stores frames stamped
        // more than Ingest:MaxFutureSkewSeconds ahead uncorrelated, as it should)
        var past = TimeSpan.FromTicks(Math.Min(0, (DateTimeOffset.UtcNow.AddHours(-1) - source[^1].ReceivedAt).Ticks));
        Console.WriteLine($"ingest: {pbxes} PBX(es) x {source.Length:N0} frames = {pbxes * (long)source.Length:N0} frames, batches of {batchSize}, {url}");

        // like a relay: a relay-scope token of the enterprise its PBXes are registered under
        string relayToken;
        await using (var tokens = NpgsqlDataSource.Create(cs))
        {
            relayToken = (await new TokenStore(tokens).CreateAsync(1, "relay", default)).Token;
        }

        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(5) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", relayToken);
        var clock = Stopwatch.StartNew();
        var latencies = new List<double>();
        var senders = Enumerable.Range(0, pbxes).Select(p => Task.Run(async () =>
        {
            var envelopes = source.Select(f => new Envelope($"bench-{p}", Protocols.Ctip, f.Session, f.Seq, (f.ReceivedAt + past).ToUniversalTime(), "a" + f.Text)).ToArray();
            var mine = new List<double>();
            foreach (var batch in envelopes.Chunk(batchSize))
            {
                var t = Stopwatch.GetTimestamp();
                using var response = await http.PostAsJsonAsync(Routes.IngestPath, batch, ContractsJson.Default.EnvelopeArray);
                response.EnsureSuccessStatusCode();
                mine.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }

            lock (latencies)
            {
                latencies.AddRange(mine);
            }
        })).ToArray();
        await Task.WhenAll(senders);
        var elapsed = clock.Elapsed.TotalSeconds;

        await using var db = NpgsqlDataSource.Create(cs);
        var frames = (long)(await db.CreateCommand("SELECT count(*) FROM ct.frames").ExecuteScalarAsync())!;
        var calls = (long)(await db.CreateCommand("SELECT count(*) FROM ct.calls").ExecuteScalarAsync())!;
        latencies.Sort();
        Console.WriteLine($"ingest: {frames:N0} frames and {calls:N0} calls stored in {elapsed:F1} s");
        Console.WriteLine($"ingest: {frames / elapsed:N0} frames/s, {calls / elapsed:N0} calls/s; batch latency p50 {latencies[latencies.Count / 2]:F1} ms, p99 {latencies[(int)(latencies.Count * 0.99)]:F1} ms");
        await app.StopAsync();
        return 0;
    }
}
