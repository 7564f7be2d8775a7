using System.Net;
using System.Net.Sockets;
using System.Text;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Simulator;
using CloudTelephony.Tests;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace CloudTelephony.Functions.Tests;

/// <summary>
/// Issue 18, end to end: one CTIP PBX sends random bytes, NULs, CR without LF, lines far over the relay's cap and
/// nonsense commands through a REAL relay (connector, SQLite outbox, HTTP forwarder) into the real functions app and
/// PostgreSQL, while a second, well-behaved PBX on the same relay replays the real Slican capture. The good PBX's frames
/// all arrive in order without an error and its calls are stored exactly as when those frames are posted alone, and every frame the relay took from the garbage PBX (its
/// seqs 1..n without a gap) ends up stored — with its error — or in the relay's dead letters with a reason: none lost,
/// no batch failed.
/// </summary>
public sealed class HostileEndToEndTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Seed = 1818;
    private readonly FunctionsServer _server = new(sweepSeconds: 0.5);
    private readonly string _outbox = Path.Combine(Path.GetTempPath(), $"ct-hostile-e2e-{Guid.NewGuid():N}.db");
    private GarbagePbx _garbage = null!;
    private CtipSimulator _good = null!;
    private IHost _relay = null!;
    private IReadOnlyList<CapturedFrame> _capture = null!;

    public async Task InitializeAsync()
    {
        await _server.InitializeAsync();
        await _server.CreateTokenAsync("hostile", "crm", "good", "garbage", "reference");
        _capture = CaptureFile.Read(TestPaths.Sample("slican-ncp-2025-09-02_04.tsv"), Protocols.Ctip).ToList();
        _good = new CtipSimulator(new CtipSimulatorOptions { Frames = _capture, Port = 0, Pin = "1234", Speed = 1000, MaxGap = TimeSpan.FromMilliseconds(20) });
        await _good.StartAsync();
        _garbage = new GarbagePbx(Seed, rounds: 400);
        _garbage.Start();
        var settings = new Dictionary<string, string?>
        {
            ["Relay:RelayId"] = "hostile-e2e",
            ["Relay:Forwarder:Url"] = _server.BaseUrl,
            ["Relay:Outbox:Path"] = _outbox,
        };
        foreach (var (i, id, port, cap) in new[] { (0, "garbage", _garbage.Port, "8192"), (1, "good", _good.Port, "65536") })
        {
            settings[$"Relay:Pbxes:{i}:Id"] = id;
            settings[$"Relay:Pbxes:{i}:Protocol"] = "ctip";
            settings[$"Relay:Pbxes:{i}:Host"] = "127.0.0.1";
            settings[$"Relay:Pbxes:{i}:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            settings[$"Relay:Pbxes:{i}:Ctip:Pin"] = "1234";
            settings[$"Relay:Pbxes:{i}:MaxFrameBytes"] = cap;
        }

        _relay = await E2e.StartRelayAsync(settings, await _server.Db.RelayTokenAsync("hostile"));
    }

    public async Task DisposeAsync()
    {
        await _relay.StopAsync();
        _relay.Dispose();
        await _good.DisposeAsync();
        await _garbage.DisposeAsync();
        await _server.DisposeAsync();
        SqliteConnection.ClearAllPools();
        foreach (var f in new[] { _outbox, _outbox + "-wal", _outbox + "-shm" })
        {
            File.Delete(f);
        }
    }

    private long Outbox(string sql)
    {
        using var conn = new SqliteConnection($"Data Source={_outbox};Mode=ReadOnly");
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Seqs of the relay's dead letters whose message id (pbx:session:seq) starts with <paramref name="prefix"/>.</summary>
    private List<long> DeadLetterSeqs(string prefix)
    {
        using var conn = new SqliteConnection($"Data Source={_outbox};Mode=ReadOnly");
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT message_id FROM dead_letters";
        using var r = cmd.ExecuteReader();
        var seqs = new List<long>();
        while (r.Read())
        {
            var id = r.GetString(0);
            if (id.StartsWith(prefix, StringComparison.Ordinal))
            {
                seqs.Add(long.Parse(id[prefix.Length..], System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return seqs;
    }

    private const string Calls = """
        SELECT string_agg(concat_ws('|', direction, status, caller, called, answered_by, array_to_string(extensions, ','), transfers::text), E'\n'
                          ORDER BY started_at, call_key)
          FROM ct.calls WHERE pbx = @pbx
        """;

    private async Task<string?> CallsOfAsync(string pbx)
    {
        await using var cmd = _server.Db.DataSource.CreateCommand(Calls);
        cmd.Parameters.AddWithValue("pbx", pbx);
        return await cmd.ExecuteScalarAsync() as string;
    }

    [Fact]
    public async Task Garbage_from_one_pbx_through_a_real_relay_is_stored_or_dead_lettered_and_the_other_pbx_keeps_delivering()
    {
        output.WriteLine($"fuzz seed {Seed}");
        await E2e.WaitStoredAsync(_server, "good", _capture.Count, maxOpen: 1);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!(_garbage.PayloadDone && Outbox("SELECT count(*) FROM frames") == 0) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        Assert.True(_garbage.PayloadDone, "the garbage PBX sent everything");
        Assert.Equal(0, Outbox("SELECT count(*) FROM frames")); // nothing stuck in the relay's outbox

        // none lost: every seq the relay gave the garbage session is stored or dead-lettered
        var session = Assert.Single(await SessionsAsync("garbage"));
        var stored = await _server.Db.ScalarAsync($"SELECT count(*) FROM ct.frames WHERE pbx = 'garbage' AND session = '{session}'");
        var maxSeq = await _server.Db.ScalarAsync($"SELECT coalesce(max(seq), 0) FROM ct.frames WHERE pbx = 'garbage' AND session = '{session}'");
        var deadSeqs = DeadLetterSeqs($"garbage:{session}:");
        var dead = deadSeqs.Count;
        var deadMax = deadSeqs.Count == 0 ? 0 : deadSeqs.Max();
        Assert.True(stored > 100, $"{stored} garbage frames stored");
        Assert.Equal(Math.Max(maxSeq, deadMax), stored + dead);
        Assert.Equal(0, Outbox("SELECT count(*) FROM dead_letters WHERE reason IS NULL OR reason = ''"));
        // flagged by the relay: stored with its problem, not correlated
        Assert.True(await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE pbx = 'garbage' AND parse_error LIKE 'relay: %NUL%'") > 0);
        Assert.True(await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE pbx = 'garbage' AND parse_error LIKE 'relay: %cap%'") > 0);
        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE pbx = 'garbage' AND text LIKE '[relay: %' AND parse_error IS NULL"));
        Assert.Equal(1, _garbage.ConnectionsAccepted); // the garbage never broke the link

        // the good PBX: every frame, no error, and the same calls as its capture posted alone
        Assert.Equal(_capture.Count, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE pbx = 'good'"));
        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE pbx = 'good' AND parse_error IS NOT NULL"));
        // reference: the very frames the good PBX delivered (as the relay stamped them), posted alone in one batch
        var received = new List<Envelope>();
        await using (var cmd = _server.Db.DataSource.CreateCommand("SELECT session, seq, received_at, text FROM ct.frames WHERE pbx = 'good' ORDER BY session, seq"))
        await using (var r = await cmd.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                received.Add(new Envelope("reference", Protocols.Ctip, r.GetString(0), r.GetInt64(1), r.GetFieldValue<DateTimeOffset>(2), r.GetString(3)));
            }
        }

        Assert.Equal(_capture.Select(f => f.Frame.StartsWith('a') ? f.Frame : "a" + f.Frame), received.Select(e => e.Frame)); // every frame, in order
        Assert.Equal(HttpStatusCode.OK, (await _server.PostFramesAsync(received)).StatusCode);
        await E2e.WaitStoredAsync(_server, "reference", _capture.Count, maxOpen: 1);
        var good = await CallsOfAsync("good");
        Assert.False(string.IsNullOrEmpty(good));
        Assert.Equal(await CallsOfAsync("reference"), good);
        output.WriteLine($"good: {_capture.Count} frames; garbage: {stored} stored ({await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE pbx = 'garbage' AND parse_error IS NOT NULL")} with an error), {dead} dead-lettered");
    }

    private async Task<List<string>> SessionsAsync(string pbx)
    {
        await using var cmd = _server.Db.DataSource.CreateCommand("SELECT DISTINCT session FROM ct.frames WHERE pbx = $1");
        cmd.Parameters.AddWithValue(pbx);
        var list = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            list.Add(r.GetString(0));
        }

        return list;
    }

    /// <summary>A CTIP PBX that logs the relay in (WHO/LOGA) and then sends garbage: random bytes, NULs, lines of 70–300 KB,
    /// CR without LF, nonsense commands (seeded, so a failure can be replayed); then it stays connected, silent.</summary>
    private sealed class GarbagePbx(int seed, int rounds) : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private Task _accept = Task.CompletedTask;
        private int _accepted;
        private volatile bool _done;

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public int ConnectionsAccepted => Volatile.Read(ref _accepted);

        public bool PayloadDone => _done;

        public void Start()
        {
            _listener.Start();
            _accept = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    TcpClient client;
                    try
                    {
                        client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }

                    Interlocked.Increment(ref _accepted);
                    _ = ServeAsync(client);
                }
            });
        }

        private async Task ServeAsync(TcpClient client)
        {
            using var owned = client;
            var stream = client.GetStream();
            var reader = new StreamReader(stream, Encoding.Latin1);
            try
            {
                while (await reader.ReadLineAsync(_stop.Token) is { } line)
                {
                    if (line == "aWHO")
                    {
                        await stream.WriteAsync("aOK NCP-000 garbage\r\n"u8.ToArray(), _stop.Token);
                    }
                    else if (line.StartsWith("aLOGA ", StringComparison.Ordinal))
                    {
                        await stream.WriteAsync("aOK NCP 1.23 15\r\n"u8.ToArray(), _stop.Token);
                        _ = Task.Run(async () =>
                        {
                            await PayloadAsync(stream, _stop.Token);
                            _done = true;
                        });
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
                // the relay went away or the test ended
            }
        }

        private async Task PayloadAsync(Stream s, CancellationToken ct)
        {
            var random = new Random(seed);
            for (var round = 0; round < rounds && !ct.IsCancellationRequested; round++)
            {
                byte[] chunk = (round % 6) switch
                {
                    0 => Bytes(random, random.Next(1, 5000)),
                    1 => Encoding.Latin1.GetBytes("aRING 101_ 6001\0\0" + new string('\0', random.Next(1, 50)) + "\r\n"),
                    2 => Encoding.Latin1.GetBytes("aSTAT " + new string('9', random.Next(70_000, 300_000)) + "\r\n"),
                    3 => Encoding.Latin1.GetBytes("aREL 10" + random.Next(10) + "_ 16\r\r\r\n"),
                    4 => Encoding.Latin1.GetBytes($"aRING 1{random.Next(100):00}_ {random.Next(100_000_000, 999_999_999)} 0 618386710 _ Zażółć\\x00\r\n"),
                    _ => [.. Bytes(random, random.Next(1, 200)), (byte)'\n'],
                };
                await s.WriteAsync(chunk, ct);
            }

            await s.WriteAsync("\r\n"u8.ToArray(), ct); // ends the last partial line
        }

        private static byte[] Bytes(Random random, int n)
        {
            var b = new byte[n];
            random.NextBytes(b);
            return b;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accept;
            _stop.Dispose();
        }
    }
}
