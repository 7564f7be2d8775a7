using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Relay.Simulator;
using CloudTelephony.Storage;
using CloudTelephony.Telemetry;
using CloudTelephony.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace CloudTelephony.Benchmarks;

/// <summary>
/// The whole pipeline on one box (issue 13 item 6): a Slican NCP stand-in (the relay's <see cref="CtipSimulator"/>, real
/// TCP, real CTIP handshake) writes the real capture <c>repeat</c> times as fast as the socket takes it; the real relay
/// program (a child process: CTIP connector, SQLite outbox, HTTP forwarder) forwards it to the real functions app
/// (Kestrel, in this process) over a fresh PostgreSQL database. Before the capture the stand-in opens N calls that stay
/// in progress (answered, on extensions the capture does not use), so the same figures come out with 0, 10, 100, 1,000
/// and 5,000 calls in progress: per-batch cost must not grow with them.
/// </summary>
/// <remarks>
/// Printed, never asserted: frames/s from the first frame sent to the last frame committed (the functions app's
/// <c>ct.ingest.frames</c> counter, recorded after each commit), the seconds from the last frame committed until the
/// capture's calls are all stored (the call sweep closes the last ones: it runs every second here, a stream counts as
/// idle after one second), and the server-side batch latency p50/p99 (<c>ct.ingest.batch.duration</c>).
/// </remarks>
public static class PipelineBench
{
    /// <summary>Calls in progress for the runs after the first.</summary>
    public static readonly int[] InProgress = [0, 10, 100, 1000, 5000];

    /// <summary>Runs every scenario (after an unreported warm-up run); returns the exit code (1 when frames went missing).</summary>
    /// <param name="repeat">Copies of the capture per run.</param>
    /// <param name="batchSize">The relay's <c>Relay:Forwarder:BatchSize</c> (its default is 500).</param>
    /// <param name="relayDll">The relay program (<c>relay.dll</c> of a Release build).</param>
    public static async Task<int> RunAsync(int repeat, int batchSize, string relayDll)
    {
        var capture = CaptureFile.Read(TestPaths.Sample("slican-ncp-2025-09-02_04.tsv"), Protocols.Ctip).ToList();
        Console.WriteLine($"pipeline: PBX stand-in (CTIP, TCP) → relay program (outbox, HTTP, batches of {batchSize}) → functions app → PostgreSQL; "
            + $"capture x{repeat} = {capture.Count * repeat:N0} frames per run, {Environment.ProcessorCount} cores, load {Load()}");
        await RunOnceAsync(capture, 2, 0, batchSize, relayDll, print: false);
        Console.WriteLine("  in progress |  frames/s | calls stored | all stored after | batches | batch p50 | batch p99 | engine loaded");
        var rc = 0;
        foreach (var open in InProgress)
        {
            rc |= await RunOnceAsync(capture, repeat, open, batchSize, relayDll, print: true);
        }

        Console.WriteLine($"  (frames/s: first frame sent → last frame committed; all stored after: last frame committed → the capture's calls all in ct.calls, "
            + $"call sweep every 1 s; batch: server side, one transaction; engine loaded: batches that read the open calls from the database; load now {Load()})");
        return rc;
    }

    private static async Task<int> RunOnceAsync(List<CapturedFrame> capture, int repeat, int inProgress, int batchSize, string relayDll, bool print)
    {
        NpgsqlConnection.ClearAllPools();
        var cs = await BenchDatabase.CreateAsync("ct_bench_pipeline");
        var batches = new List<double>();
        long committed = 0;
        long lastCommit = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == CtTelemetry.Meter.Name
                && instrument.Name is CtTelemetry.Instruments.IngestFrames or CtTelemetry.Instruments.IngestBatchDuration)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) =>
        {
            Interlocked.Add(ref committed, value);
            Volatile.Write(ref lastCommit, Stopwatch.GetTimestamp());
        });
        listener.SetMeasurementEventCallback<double>((_, value, _, _) =>
        {
            lock (batches)
            {
                batches.Add(value);
            }
        });
        listener.Start();

        string relayToken;
        await using (var tokens = NpgsqlDataSource.Create(cs))
        {
            relayToken = (await new TokenStore(tokens).CreateAsync(1, "relay", default)).Token;   // the default enterprise's
        }

        var app = FunctionsApp.Build(
            ["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", "--Ingest:SweepSeconds=1", "--Ingest:IdleSeconds=1"], cs);
        await app.StartAsync();
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        // N answered calls first (extensions 30000+, external callers), then the capture `repeat` times
        var frames = new List<CapturedFrame>(inProgress * 2 + capture.Count * repeat);
        for (var i = 0; i < inProgress; i++)
        {
            var ext = (30000 + i).ToString(CultureInfo.InvariantCulture);
            var caller = (600000000 + i).ToString(CultureInfo.InvariantCulture);
            frames.Add(new CapturedFrame(null, $"RING {ext} {caller} 0 618999999 _ {caller}"));
            frames.Add(new CapturedFrame(null, $"CONN {ext} {caller} 0"));
        }

        for (var r = 0; r < repeat; r++)
        {
            frames.AddRange(capture);
        }

        await using var pbx = new CtipSimulator(new CtipSimulatorOptions { Frames = frames, Port = FreePort(), Pin = "1234", Speed = 0 });
        await pbx.StartAsync();
        var dir = Directory.CreateTempSubdirectory("ct-pipeline-bench-").FullName;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(relayDll);
        start.ArgumentList.Add("run");
        var env = start.Environment;
        env["Relay__RelayId"] = "bench-relay";
        env["Relay__Transport"] = "Http";
        env["Relay__Forwarder__Url"] = url;
        env["Relay__Forwarder__Token"] = relayToken;
        env["Relay__Outbox__Path"] = Path.Combine(dir, "outbox.db");
        env["Relay__Pbxes__0__Id"] = "bench-slican";
        env["Relay__Pbxes__0__Protocol"] = Protocols.Ctip;
        env["Relay__Pbxes__0__Host"] = "127.0.0.1";
        env["Relay__Pbxes__0__Port"] = pbx.Port.ToString(CultureInfo.InvariantCulture);
        env["Relay__Pbxes__0__Pin"] = "1234";
        env["Relay__Forwarder__BatchSize"] = batchSize.ToString(CultureInfo.InvariantCulture);
        env["Logging__LogLevel__Default"] = "Warning";
        using var relay = Process.Start(start)!;
        relay.OutputDataReceived += (_, _) => { };
        relay.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine("  relay: " + e.Data); } };
        relay.BeginOutputReadLine();
        relay.BeginErrorReadLine();

        var rc = 0;
        try
        {
            // the first frame leaves the stand-in right after the relay's login
            var firstSent = 0L;
            var wait = Stopwatch.StartNew();
            while (pbx.FramesSent == 0 && wait.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(1);
            }

            firstSent = Stopwatch.GetTimestamp();
            while (Interlocked.Read(ref committed) < frames.Count && wait.Elapsed < TimeSpan.FromMinutes(5) && !relay.HasExited)
            {
                await Task.Delay(5);
            }

            var stored = Interlocked.Read(ref committed);
            var last = Volatile.Read(ref lastCommit);
            var seconds = Stopwatch.GetElapsedTime(firstSent, last).TotalSeconds;

            // the capture's calls close as the sweep passes their graces; the in-progress ones stay open
            await using var db = NpgsqlDataSource.Create(cs);
            var allStored = Stopwatch.StartNew();
            long open;
            do
            {
                await Task.Delay(50);
                open = (long)(await db.CreateCommand("SELECT coalesce(sum(open_calls), 0) FROM ct.correlator_state").ExecuteScalarAsync())!;
            }
            while (open > inProgress && allStored.Elapsed < TimeSpan.FromSeconds(120));

            var afterLast = Stopwatch.GetElapsedTime(last).TotalSeconds;
            var calls = (long)(await db.CreateCommand("SELECT count(*) FROM ct.calls").ExecuteScalarAsync())!;
            double[] sorted;
            lock (batches)
            {
                sorted = [.. batches.Order()];
            }

            var cache = app.Services.GetRequiredService<Functions.Ingest.StreamCache>();
            if (print)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {inProgress,11:N0} | {stored / seconds,9:N0} | {calls,12:N0} | {afterLast,14:F1} s | {sorted.Length,7} | {Percentile(sorted, 0.5),6:F1} ms | {Percentile(sorted, 0.99),6:F1} ms | {cache.Misses} of {cache.Hits + cache.Misses}"));
            }

            if (stored != frames.Count)
            {
                Console.WriteLine($"  !! {stored:N0} of {frames.Count:N0} frames committed (relay {(relay.HasExited ? $"exited {relay.ExitCode}" : "running")})");
                rc = 1;
            }

            if (open > inProgress)
            {
                Console.WriteLine($"  !! {open - inProgress} calls of the capture still open after 120 s");
            }
        }
        finally
        {
            if (!relay.HasExited)
            {
                relay.Kill(entireProcessTree: true);
            }

            await relay.WaitForExitAsync();
            await app.StopAsync();
            await app.DisposeAsync();
            NpgsqlConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }

        return rc;
    }

    private static double Percentile(double[] sorted, double q) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

    private static string Load() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
