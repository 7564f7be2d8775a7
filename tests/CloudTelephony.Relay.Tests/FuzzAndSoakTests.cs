using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Simulator;
using CloudTelephony.Tests;
using Xunit.Abstractions;

namespace CloudTelephony.Relay.Tests;

/// <summary>
/// #18: one PBX's garbage or flood slows only itself. The fuzz test feeds random bytes, long lines and NULs through a real
/// relay connection while a second, well-behaved PBX on the same relay replays the real Slican capture; the soak test
/// (2 minutes here, longer with <c>CT_SOAK_SECONDS</c> via <c>./ct bench relay-soak</c>) floods the relay program for
/// real and samples its RSS.
/// </summary>
public sealed class FuzzAndSoakTests(ITestOutputHelper output)
{
    private static string S(long v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>Random bytes, NULs, CR without LF, lines far over the cap, and some well-formed lines between them.</summary>
    private static async Task FuzzAsync(Stream s, int seed, int rounds, CancellationToken ct)
    {
        var random = new Random(seed);
        for (var round = 0; round < rounds && !ct.IsCancellationRequested; round++)
        {
            byte[] chunk = (round % 5) switch
            {
                0 => RandomBytes(random, random.Next(1, 5000)),
                1 => Encoding.Latin1.GetBytes("aRING 101_ 6001\0\0" + new string('\0', random.Next(1, 50)) + "\r\n"),
                2 => Encoding.Latin1.GetBytes("aSTAT " + new string('9', random.Next(70_000, 300_000)) + "\r\n"),
                3 => Encoding.Latin1.GetBytes("aREL 10" + random.Next(10) + "_ 16\r\r\r\n"),
                _ => [.. RandomBytes(random, random.Next(1, 200)), (byte)'\n'],
            };
            await s.WriteAsync(chunk, ct);
        }
    }

    private static byte[] RandomBytes(Random random, int n)
    {
        var b = new byte[n];
        random.NextBytes(b);
        return b;
    }

    [Fact]
    public async Task Random_bytes_long_lines_and_NULs_from_one_PBX_never_stop_a_well_behaved_PBX_on_the_same_relay()
    {
        const int Seed = 18;
        output.WriteLine($"fuzz seed {Seed}");
        await using var fuzz = new HostileCtipPbx((s, ct) => FuzzAsync(s, Seed, 400, ct));
        fuzz.Start();
        var capture = Captures.Retimed(Captures.Slican(), TimeSpan.FromMilliseconds(2));
        await using var good = new CtipSimulator(new CtipSimulatorOptions { Frames = capture, Port = 0, Pin = "1234", Speed = 1 });
        await good.StartAsync();
        await using var ingest = new TestIngest
        {
            // like PostgreSQL text: a NUL would fail the whole batch
            Refuse = batch => batch.Any(e => e.Frame.Contains('\0', StringComparison.Ordinal)) ? (500, "invalid byte sequence 0x00") : (200, "stored"),
        };
        await ingest.StartAsync();
        var settings = new Dictionary<string, string?> { ["Relay:Forwarder:Url"] = ingest.BaseUrl, ["Relay:Pbxes:0:MaxFrameBytes"] = "8192" };
        foreach (var (i, id, port) in new[] { (0, "fuzz", fuzz.Port), (1, "good", good.Port) })
        {
            settings[$"Relay:Pbxes:{i}:Id"] = id;
            settings[$"Relay:Pbxes:{i}:Host"] = "127.0.0.1";
            settings[$"Relay:Pbxes:{i}:Port"] = S(port);
            settings[$"Relay:Pbxes:{i}:Ctip:Pin"] = "1234";
        }

        await using var relay = await TestRelay.StartAsync(settings);

        await Eventually.WaitAsync(() => ingest.Of("good").Count >= capture.Count && fuzz.PayloadDone, "the good PBX's capture delivered, the fuzz sent", TimeSpan.FromSeconds(90));
        await Eventually.WaitAsync(() => ingest.Of("fuzz").Count > 0, "fuzz frames delivered too");
        var delivered = ingest.Of("good");
        Assert.Equal(capture.Select(f => f.Frame.StartsWith('a') ? f.Frame : "a" + f.Frame), delivered.Select(e => e.Frame));
        Assert.Equal(Enumerable.Range(1, capture.Count).Select(i => (long)i), delivered.Select(e => e.Seq));
        var garbage = ingest.Of("fuzz");
        Assert.All(garbage, e => Assert.DoesNotContain('\0', e.Frame));
        Assert.All(garbage.Where(e => e.Problem is not null), e => Assert.StartsWith("[relay: ", e.Frame, StringComparison.Ordinal));
        Assert.Contains(garbage, e => e.Problem?.Contains("NUL", StringComparison.Ordinal) == true);
        Assert.Contains(garbage, e => e.Problem?.Contains("cap", StringComparison.Ordinal) == true);
        Assert.All(garbage, e => Assert.True(e.Frame.Length < 8192 * 4 + 200, "a frame stays within its cap (escaped)"));
        Assert.Equal(1, fuzz.ConnectionsAccepted); // the garbage never broke the link
        Assert.Equal(1, good.ConnectionsAccepted);
        output.WriteLine($"good: {delivered.Count} frames in order; fuzz: {garbage.Count} frames, {garbage.Count(e => e.Problem is not null)} flagged");
    }

    [Fact]
    public async Task Soak_a_flooding_SMDR_PBX_and_a_garbage_CTIP_PBX_keep_the_relay_program_bounded_in_memory()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("CT_SOAK_SECONDS"), NumberStyles.None, CultureInfo.InvariantCulture, out var s) && s > 0 ? s : 120;
        await using var ingest = new TestIngest();
        await ingest.StartAsync();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        await using var garbage = new HostileCtipPbx(async (st, ct) =>
        {
            var round = 0;
            while (!ct.IsCancellationRequested && !stop.IsCancellationRequested)
            {
                await FuzzAsync(st, round++, 200, stop.Token).ConfigureAwait(false);
            }
        });
        garbage.Start();
        var capture = Captures.Retimed(Captures.Slican(), TimeSpan.FromMilliseconds(5));
        await using var good = new CtipSimulator(new CtipSimulatorOptions { Frames = capture, Port = 0, Pin = "1234", Speed = 1, Loop = true });
        await good.StartAsync();
        var smdrPort = FreePort();
        var dir = Directory.CreateTempSubdirectory("ct-soak-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(dir, "appsettings.json"), $$"""
                { "Logging": { "LogLevel": { "Default": "Error" } },
                  "Relay": { "RelayId": "soak", "HeartbeatSeconds": 0,
                    "Forwarder": { "Url": "{{ingest.BaseUrl}}", "LingerMilliseconds": 5 },
                    "Outbox": { "Path": "{{Path.Combine(dir, "outbox.db")}}", "Synchronous": "Normal" },
                    "Smdr": { "Address": "127.0.0.1", "Port": {{smdrPort}} },
                    "Pbxes": [
                      { "Id": "smdr-flood", "Protocol": "smdr", "Smdr": { "AllowedSources": [ "127.0.0.1" ] } },
                      { "Id": "ctip-garbage", "Host": "127.0.0.1", "Port": {{garbage.Port}}, "Ctip": { "Pin": "1234" } },
                      { "Id": "ctip-good", "Host": "127.0.0.1", "Port": {{good.Port}}, "Ctip": { "Pin": "1234" } } ] } }
                """);
            var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
            var dll = Path.Combine(TestPaths.RepoRoot, "relay", "CloudTelephony.Relay", "bin", configuration, "net10.0", "relay.dll");
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(dll);
            psi.ArgumentList.Add("run");
            psi.ArgumentList.Add("--contentRoot");
            psi.ArgumentList.Add(dir);
            using var process = Process.Start(psi)!;
            _ = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            try
            {
                // IP Office side: 20 MB without a line end, again and again, plus binary
                var flood = Task.Run(async () =>
                {
                    long sent = 0;
                    var random = new Random(20);
                    var chunk = new byte[64 * 1024];
                    while (!stop.IsCancellationRequested)
                    {
                        try
                        {
                            using var client = new TcpClient();
                            await client.ConnectAsync(IPAddress.Loopback, smdrPort, stop.Token);
                            var stream = client.GetStream();
                            for (var i = 0; i < 320 && !stop.IsCancellationRequested; i++)
                            {
                                if (i % 2 == 0)
                                {
                                    Array.Fill(chunk, (byte)'x');
                                }
                                else
                                {
                                    random.NextBytes(chunk);
                                    for (var j = 0; j < chunk.Length; j++)
                                    {
                                        chunk[j] = chunk[j] == (byte)'\n' ? (byte)'y' : chunk[j];
                                    }
                                }

                                await stream.WriteAsync(chunk, stop.Token);
                                sent += chunk.Length;
                            }
                        }
                        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
                        {
                            await Task.Delay(100, CancellationToken.None);
                        }
                    }

                    return sent;
                });

                var samples = new List<(double At, double Mb)>();
                var clock = Stopwatch.StartNew();
                while (!stop.IsCancellationRequested)
                {
                    await Task.Delay(1000, CancellationToken.None);
                    Assert.False(process.HasExited, $"the relay exited with {(process.HasExited ? process.ExitCode + ": " + await stderr : "")}");
                    samples.Add((clock.Elapsed.TotalSeconds, RssMb(process.Id)));
                }

                var floodBytes = await flood;
                var good1 = ingest.Of("ctip-good").Count;
                await Task.Delay(3000, CancellationToken.None);
                var good2 = ingest.Of("ctip-good").Count;
                var max = samples.Max(x => x.Mb);
                var quarter = Math.Max(1, samples.Count / 4);
                var secondQuarter = samples.Skip(quarter).Take(quarter).Max(x => x.Mb);
                var lastQuarter = samples.Skip(samples.Count - quarter).Max(x => x.Mb);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"soak {seconds} s: SMDR flood {floodBytes / 1048576.0:F0} MB without line ends; delivered smdr {ingest.Of("smdr-flood").Count}, garbage {ingest.Of("ctip-garbage").Count}, good {good2} frames; relay RSS max {max:F0} MB, 2nd quarter max {secondQuarter:F0} MB, last quarter max {lastQuarter:F0} MB"));
                Assert.True(max < 350, $"relay RSS reached {max:F0} MB"); // the defect: 526 MB after 20 MB of SMDR without line ends
                Assert.True(lastQuarter <= Math.Max(secondQuarter * 1.5, secondQuarter + 64), $"RSS grew from {secondQuarter:F0} MB to {lastQuarter:F0} MB");
                Assert.True(good2 > capture.Count, "the well-behaved PBX kept delivering during the flood");
                Assert.True(ingest.Of("smdr-flood").Count > 100, "the flood was received and forwarded (cut, flagged)");
                Assert.All(ingest.Of("smdr-flood").Take(50), e => Assert.NotNull(e.Problem));
                Assert.True(good2 >= good1);
            }
            finally
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static double RssMb(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
            }
        }

        return 0;
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
