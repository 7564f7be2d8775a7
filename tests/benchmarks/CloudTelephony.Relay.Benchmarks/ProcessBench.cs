using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CloudTelephony.Contracts;
using CloudTelephony.ServiceBus.Tests.Broker;

/// <summary>
/// The relay as users run it, measured from outside: the relay program (Native AOT or JIT, a child process) with
/// <c>pbxes</c> SMDR PBXes (the benchmark connects to the relay's listeners and pushes real IP Office records at a
/// paced rate), its SQLite outbox (synchronous=FULL) and the Service Bus forwarder to the AMQP test broker (in this
/// process). Latency is from the write of a record on the PBX socket to the broker storing its message (before it
/// settles); RSS is the relay process's resident set (/proc/PID/status VmRSS), sampled every 200 ms.
/// </summary>
/// <remarks>
/// SMDR is used because IP Office needs no handshake, so a paced load generator is a plain TCP writer; from the outbox
/// on, every protocol takes the same path. Figures are printed, never asserted.
/// </remarks>
internal static class ProcessBench
{
    private const string SasKey = "YmVuY2gta2V5";

    /// <summary>Runs one measurement; returns 0, or 1 when frames were lost or the relay failed.</summary>
    public static async Task<int> RunAsync(string[] relayCommand, double seconds, double rate, int pbxes, string label)
    {
        var records = SampleRecords();
        await using var broker = new TestBroker();
        broker.SasKeys["bench"] = SasKey;
        var queue = broker.AddQueue(Routes.FramesQueue, duplicateWindow: TimeSpan.FromMinutes(5));
        queue.Credit = 1000;
        broker.Start();

        var dir = Directory.CreateTempSubdirectory("ct-relay-process-bench-").FullName;
        var ports = Enumerable.Range(0, pbxes).Select(_ => BenchSupport.FreePort()).ToArray();
        var capacity = rate > 0 ? (int)(rate / pbxes * seconds * 1.2) + 1024 : 4_000_000;
        var written = ports.Select(_ => new long[capacity]).ToArray();
        var latencies = new List<double>(1 << 20);
        long delivered = 0;
        queue.Stored += m =>
        {
            // MessageId = pbx:session:seq; the heartbeat has another shape and is not counted
            var now = Stopwatch.GetTimestamp();
            var parts = m.MessageId?.Split(':');
            if (parts is not { Length: 3 } || !parts[0].StartsWith("bench-", StringComparison.Ordinal))
            {
                return;
            }

            var pbx = int.Parse(parts[0].AsSpan(6), CultureInfo.InvariantCulture);
            var seq = long.Parse(parts[2], CultureInfo.InvariantCulture);
            var at = Volatile.Read(ref written[pbx][seq - 1]);
            lock (latencies)
            {
                latencies.Add(Stopwatch.GetElapsedTime(at, now).TotalMilliseconds);
            }

            Interlocked.Increment(ref delivered);
        };

        var start = new ProcessStartInfo(relayCommand[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in relayCommand.Skip(1))
        {
            start.ArgumentList.Add(a);
        }

        start.ArgumentList.Add("run");
        var env = start.Environment;
        env["Relay__RelayId"] = "bench-relay";
        env["Relay__Transport"] = "ServiceBus";
        env["Relay__ServiceBus__Endpoint"] = broker.Endpoint;
        env["Relay__ServiceBus__SasKeyName"] = "bench";
        env["Relay__ServiceBus__SasKey"] = SasKey;
        env["Relay__Outbox__Path"] = Path.Combine(dir, "outbox.db");
        env["Relay__Outbox__Synchronous"] = "Full";
        env["Logging__LogLevel__Default"] = "Warning";
        for (var i = 0; i < pbxes; i++)
        {
            env[$"Relay__Pbxes__{i}__Id"] = $"bench-{i}";
            env[$"Relay__Pbxes__{i}__Protocol"] = Protocols.Smdr;
            env[$"Relay__Pbxes__{i}__Host"] = "127.0.0.1";
            env[$"Relay__Pbxes__{i}__Port"] = ports[i].ToString(CultureInfo.InvariantCulture);
        }

        var logPath = Path.Combine(dir, "relay.log");
        using var relay = Process.Start(start)!;
        var log = new StreamWriter(logPath) { AutoFlush = true };
        relay.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        relay.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        relay.BeginOutputReadLine();
        relay.BeginErrorReadLine();
        var failed = false;
        try
        {
            var sockets = new Socket[pbxes];
            for (var i = 0; i < pbxes; i++)
            {
                sockets[i] = await ConnectAsync(ports[i], relay);
            }

            await Task.Delay(TimeSpan.FromSeconds(3));
            var idleBefore = Rss(relay.Id);
            var clock = Stopwatch.StartNew();
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
            var samples = new List<(double At, long Rss)>();
            var sampler = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    samples.Add((clock.Elapsed.TotalSeconds, Rss(relay.Id)));
                    await Task.Delay(200);
                }
            });
            var writers = Enumerable.Range(0, pbxes).Select(i => Task.Run(() => WriteAsync(sockets[i], records, rate / pbxes, written[i], clock, stop.Token))).ToArray();
            var counts = await Task.WhenAll(writers);
            await sampler;
            var loadSeconds = clock.Elapsed.TotalSeconds;
            var total = counts.Sum();
            while (Interlocked.Read(ref delivered) < total && clock.Elapsed.TotalSeconds < loadSeconds + 60 && !relay.HasExited)
            {
                await Task.Delay(20);
            }

            var drained = clock.Elapsed.TotalSeconds;
            await Task.Delay(TimeSpan.FromSeconds(5));
            var idleAfter = Rss(relay.Id);
            foreach (var s in sockets)
            {
                s.Dispose();
            }

            double[] sorted;
            lock (latencies)
            {
                sorted = [.. latencies.Order()];
            }

            var steady = samples.Where(s => s.At >= seconds / 4).Select(s => s.Rss).Order().ToArray();
            var got = Interlocked.Read(ref delivered);
            failed = got != total;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{label}: {total:N0} frames written at {(rate > 0 ? $"{rate:N0}/s" : "max rate")} by {pbxes} PBXes in {loadSeconds:F1} s, "
                + $"{got:N0} delivered once ({queue.Duplicates} duplicates dropped) by {drained:F1} s = {got / drained:N0} frames/s; "
                + $"receive→broker p50 {BenchSupport.Percentile(sorted, 0.50):F1} ms, p99 {BenchSupport.Percentile(sorted, 0.99):F1} ms, max {sorted.LastOrDefault():F1} ms; "
                + $"relay RSS idle {idleBefore / 1024.0:F1} MB, under load median {Median(steady) / 1024.0:F1} MB (max {steady.LastOrDefault() / 1024.0:F1}), idle after {idleAfter / 1024.0:F1} MB"));
            if (failed)
            {
                Console.WriteLine($"  LOST FRAMES: {total - got}; relay log: {logPath}");
            }
        }
        finally
        {
            if (!relay.HasExited)
            {
                relay.Kill(entireProcessTree: true);
            }

            await relay.WaitForExitAsync();
            lock (log)
            {
                log.Dispose();
            }

            if (!failed)
            {
                Directory.Delete(dir, true);
            }
        }

        return failed ? 1 : 0;
    }

    private static async Task<long> WriteAsync(Socket socket, byte[][] records, double perPbx, long[] written, Stopwatch clock, CancellationToken stop)
    {
        var buffer = new MemoryStream();
        long n = 0;
        while (!stop.IsCancellationRequested && n < written.Length)
        {
            var due = perPbx > 0 ? Math.Min(written.Length, (long)(clock.Elapsed.TotalSeconds * perPbx)) : n + 64;
            if (due <= n)
            {
                await Task.Delay(1);
                continue;
            }

            buffer.SetLength(0);
            var first = n;
            for (; n < due && n < written.Length; n++)
            {
                buffer.Write(records[n % records.Length]);
            }

            var now = Stopwatch.GetTimestamp();
            for (var i = first; i < n; i++)
            {
                Volatile.Write(ref written[i], now);
            }

            await socket.SendAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), SocketFlags.None);
        }

        return n;
    }

    /// <summary>The real IP Office records of samples/smdr (30-field lines), CR LF terminated.</summary>
    private static byte[][] SampleRecords()
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "../../../../../../samples/smdr");
        var lines = Directory.GetFiles(dir, "*.csv").Order(StringComparer.Ordinal)
            .SelectMany(File.ReadLines)
            .Where(l => l.Count(c => c == ',') >= 20)
            .Select(l => Encoding.UTF8.GetBytes(l.TrimEnd('\r') + "\r\n"))
            .ToArray();
        return lines.Length > 0 ? lines : throw new InvalidOperationException($"no SMDR records in {dir}");
    }

    private static async Task<Socket> ConnectAsync(int port, Process relay)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await s.ConnectAsync(IPAddress.Loopback, port);
                return s;
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(30) && !relay.HasExited)
            {
                s.Dispose();
                await Task.Delay(100);
            }
        }
    }

    private static long Rss(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    private static double Median(long[] sorted) => sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
}
