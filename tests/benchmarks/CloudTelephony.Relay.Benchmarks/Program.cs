using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Forwarding;
using CloudTelephony.Relay.Outbox;
using CloudTelephony.Relay.Sink;
using CloudTelephony.ServiceBus;
using CloudTelephony.ServiceBus.Tests.Broker;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

// relay-bench [seconds] [pbxes] [synchronous]   — figures printed, never asserted
// relay-bench broker <port>                     — the child process: the AMQP test broker
if (args.Length > 0 && args[0] == "broker")
{
    await using var broker = new TestBroker(port: int.Parse(args[1], CultureInfo.InvariantCulture));
    broker.SasKeys["bench"] = "YmVuY2gta2V5";
    broker.AddQueue(Routes.FramesQueue, duplicateWindow: TimeSpan.FromSeconds(30)).Credit = 1000;
    broker.Start();
    Console.WriteLine("ready");
    await Task.Delay(Timeout.Infinite);
    return 0;
}

// relay-bench process <label> <seconds> <rate, 0 = max> <pbxes> <relay command...>   — the relay program itself
if (args.Length > 5 && args[0] == "process")
{
    return await ProcessBench.RunAsync(
        args[5..],
        double.Parse(args[2], CultureInfo.InvariantCulture),
        double.Parse(args[3], CultureInfo.InvariantCulture),
        int.Parse(args[4], CultureInfo.InvariantCulture),
        args[1]);
}

var seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 15;
var pbxes = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 4;
var synchronous = args.Length > 2 ? args[2] : "Full";
var port = BenchSupport.FreePort();
using var child = Process.Start(new ProcessStartInfo("dotnet") { ArgumentList = { typeof(Program).Assembly.Location, "broker", port.ToString(CultureInfo.InvariantCulture) }, RedirectStandardOutput = true })!;
await child.StandardOutput.ReadLineAsync();
try
{
    Console.WriteLine($"relay → outbox (SQLite WAL, synchronous={synchronous}) → Service Bus forwarder → AMQP test broker (child process), {pbxes} PBXes, {Environment.ProcessorCount} cores");
    await RunAsync("max rate", seconds, pbxes, synchronous, port, rate: 0);
    await RunAsync("paced 10,000 frames/s", seconds, pbxes, synchronous, port, rate: 10_000);
}
finally
{
    child.Kill();
}

return 0;

static async Task RunAsync(string name, double seconds, int pbxes, string synchronous, int port, double rate)
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  RSS before {name}: {Process.GetCurrentProcess().WorkingSet64 / 1048576.0:F0} MB, managed heap {GC.GetTotalMemory(false) / 1048576.0:F0} MB"));
    var dir = Directory.CreateTempSubdirectory("ct-relay-bench-").FullName;
    var stamps = new ConcurrentDictionary<(string, long), long>();
    var latencies = new List<double>(1 << 20);
    await using var outbox = new SqliteOutbox(new OutboxOptions { Path = Path.Combine(dir, "outbox.db"), Synchronous = synchronous, MaxFrames = 1_000_000 });
    var source = new TimingSource(outbox, stamps, latencies);
    var options = new RelayOptions
    {
        Transport = RelayOptions.ServiceBusTransport,
        Forwarder = new ForwarderOptions { BatchSize = 500, LingerMilliseconds = 1 },
        ServiceBus = new ServiceBusOptions { Endpoint = $"amqp://127.0.0.1:{port}", SasKeyName = "bench", SasKey = "YmVuY2gta2V5" },
    };
    await using var sender = new FrameSender(options.ServiceBus);
    var forwarder = new ServiceBusForwarder(source, sender, Options.Create(options), NullLogger<ServiceBusForwarder>.Instance);
    await forwarder.StartAsync(CancellationToken.None);
    var session = Guid.NewGuid().ToString("N")[..8];
    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
    var clock = Stopwatch.StartNew();
    long appended = 0;
    var peakRss = 0L;
    var producers = Enumerable.Range(0, pbxes).Select(p => Task.Run(async () =>
    {
        var pbx = $"pbx-{p}";
        long seq = 0;
        var perPbx = rate / pbxes;
        while (!stop.IsCancellationRequested)
        {
            if (perPbx > 0)
            {
                var due = TimeSpan.FromSeconds(seq / perPbx);
                if (due > clock.Elapsed)
                {
                    await Task.Delay(due - clock.Elapsed > TimeSpan.FromMilliseconds(2) ? TimeSpan.FromMilliseconds(1) : TimeSpan.Zero);
                    continue;
                }
            }

            seq++;
            var e = new Envelope(pbx, Protocols.Ctip, session, seq, DateTimeOffset.UtcNow, $"aRING {seq % 1000}_ 1 0 0 1 1 1 123456789 Jan Kowalski");
            stamps[(pbx, seq)] = Stopwatch.GetTimestamp();
            await outbox.AppendAsync(e, CancellationToken.None);
            Interlocked.Increment(ref appended);
        }
    })).ToArray();
    var sampler = Task.Run(async () =>
    {
        while (!stop.IsCancellationRequested)
        {
            var p = Process.GetCurrentProcess();
            peakRss = Math.Max(peakRss, p.WorkingSet64);
            await Task.Delay(250);
        }
    });
    await Task.WhenAll(producers);
    await sampler;
    var produced = Interlocked.Read(ref appended);
    while (outbox.Depth > 0 && clock.Elapsed.TotalSeconds < seconds + 60)
    {
        await Task.Delay(20);
    }

    var elapsed = clock.Elapsed.TotalSeconds;
    await forwarder.StopAsync(CancellationToken.None);
    double[] sorted;
    lock (latencies)
    {
        sorted = [.. latencies.Order()];
    }

    GC.Collect();
    var rss = Process.GetCurrentProcess().WorkingSet64;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{name}: {produced:N0} frames in {elapsed:F1} s = {produced / elapsed:N0} frames/s delivered (appended {produced / seconds:N0}/s); "
        + $"append→broker-accept p50 {BenchSupport.Percentile(sorted, 0.50):F1} ms, p99 {BenchSupport.Percentile(sorted, 0.99):F1} ms, max {sorted.LastOrDefault():F1} ms; "
        + $"group commits {outbox.GroupCommits:N0}; managed heap {GC.GetTotalMemory(true) / 1048576.0:F0} MB; RSS peak {peakRss / 1048576.0:F0} MB, after GC {rss / 1048576.0:F0} MB"));
    Directory.Delete(dir, true);
}

/// <summary>Passes the outbox through and records, per acknowledged envelope, the time since it was appended.</summary>
internal sealed class TimingSource(SqliteOutbox inner, ConcurrentDictionary<(string, long), long> stamps, List<double> latencies) : IFrameSource
{
    public ValueTask<IReadOnlyList<Envelope>> ReadBatchAsync(int maxCount, TimeSpan linger, CancellationToken cancellationToken) =>
        inner.ReadBatchAsync(maxCount, linger, cancellationToken);

    public ValueTask RewindAsync(CancellationToken cancellationToken) => inner.RewindAsync(cancellationToken);

    public async ValueTask AcknowledgeAsync(IReadOnlyList<Envelope> batch, CancellationToken cancellationToken)
    {
        var now = Stopwatch.GetTimestamp();
        await inner.AcknowledgeAsync(batch, cancellationToken);
        lock (latencies)
        {
            foreach (var e in batch)
            {
                if (stamps.TryRemove((e.Pbx, e.Seq), out var t))
                {
                    latencies.Add(Stopwatch.GetElapsedTime(t, now).TotalMilliseconds);
                }
            }
        }
    }
}
