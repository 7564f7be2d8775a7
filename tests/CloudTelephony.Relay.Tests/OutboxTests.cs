using System.Diagnostics;
using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Outbox;
using CloudTelephony.Relay.Simulator;
using CloudTelephony.ServiceBus.Tests.Broker;
using CloudTelephony.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace CloudTelephony.Relay.Tests;

public sealed class OutboxTests
{
    private static Envelope E(string pbx, long seq, string session = "s1") =>
        new(pbx, Protocols.Ctip, session, seq, DateTimeOffset.UnixEpoch.AddMilliseconds(seq), $"aREL {seq}_ 1");

    /// <summary>Appends frames with seq 1..<paramref name="count"/> one call each, PBX by <paramref name="pbx"/>(seq).</summary>
    private static async Task<List<Envelope>> AppendEachAsync(TempOutbox box, int count, Func<int, string> pbx)
    {
        var sent = new List<Envelope>();
        for (var i = 1; i <= count; i++)
        {
            var e = E(pbx(i), i);
            sent.Add(e);
            await box.Outbox.AppendAsync(e, CancellationToken.None);
        }

        return sent;
    }

    /// <summary>Reads batches of up to <paramref name="batchSize"/> and acknowledges each until <paramref name="count"/> frames came.</summary>
    private static async Task<List<Envelope>> DrainAsync(SqliteOutbox outbox, int count, int batchSize, CancellationToken ct)
    {
        var all = new List<Envelope>();
        while (all.Count < count)
        {
            var b = await outbox.ReadBatchAsync(batchSize, TimeSpan.Zero, ct);
            all.AddRange(b);
            await outbox.AcknowledgeAsync(b, CancellationToken.None);
        }

        return all;
    }

    [Fact]
    public async Task Frames_survive_a_restart_and_come_back_in_order_per_pbx()
    {
        await using var box = new TempOutbox();
        var sent = await AppendEachAsync(box, 100, i => i % 2 == 0 ? "pbx-a" : "pbx-b");

        var first = await box.Outbox.ReadBatchAsync(30, TimeSpan.Zero, CancellationToken.None);
        await box.Outbox.AcknowledgeAsync(first, CancellationToken.None);
        var unacked = await box.Outbox.ReadBatchAsync(30, TimeSpan.Zero, CancellationToken.None);
        InOrderPerPbx(sent.Skip(30).Take(30), unacked);

        await box.ReopenAsync();
        Assert.Equal(70, box.Outbox.Depth);
        var rest = await DrainAsync(box.Outbox, 70, 25, CancellationToken.None);

        InOrderPerPbx(sent.Skip(30), rest);
        Assert.Equal(0, box.Outbox.Depth);
        Assert.Contains(box.Logs.Lines, l => l.Contains("70 frames pending from before the restart", StringComparison.Ordinal));

        // ids keep growing after everything was deleted and the file reopened
        await box.ReopenAsync();
        await box.Outbox.AppendAsync(E("pbx-a", 101), CancellationToken.None);
        Assert.Equal([E("pbx-a", 101)], await box.Outbox.ReadBatchAsync(10, TimeSpan.Zero, CancellationToken.None));
    }

    [Fact]
    public async Task Next_batch_is_handed_out_before_the_first_is_acknowledged_and_acknowledgements_follow_the_read_order()
    {
        await using var box = new TempOutbox();
        await AppendEachAsync(box, 10, _ => "p");

        var b1 = await box.Outbox.ReadBatchAsync(4, TimeSpan.Zero, CancellationToken.None);
        var b2 = await box.Outbox.ReadBatchAsync(4, TimeSpan.Zero, CancellationToken.None);
        var b3 = await box.Outbox.ReadBatchAsync(4, TimeSpan.Zero, CancellationToken.None);
        Assert.Equal([1L, 2L, 3L, 4L], b1.Select(e => e.Seq));
        Assert.Equal([5L, 6L, 7L, 8L], b2.Select(e => e.Seq));
        Assert.Equal([9L, 10L], b3.Select(e => e.Seq));

        var outOfOrder = await Assert.ThrowsAsync<InvalidOperationException>(async () => await box.Outbox.AcknowledgeAsync(b2, CancellationToken.None));
        Assert.Contains("must be acknowledged in the order ReadBatchAsync returned them", outOfOrder.Message, StringComparison.Ordinal);
        var foreign = await Assert.ThrowsAsync<InvalidOperationException>(async () => await box.Outbox.AcknowledgeAsync([E("p", 1)], CancellationToken.None));
        Assert.Contains("not the oldest unacknowledged one", foreign.Message, StringComparison.Ordinal);
        Assert.Equal(10, box.Outbox.Depth);

        // the second acknowledgement starts before the first one is committed
        var ack1 = box.Outbox.AcknowledgeAsync(b1, CancellationToken.None).AsTask();
        var ack2 = box.Outbox.AcknowledgeAsync(b2, CancellationToken.None).AsTask();
        await Task.WhenAll(ack1, ack2);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await box.Outbox.AcknowledgeAsync(b2, CancellationToken.None));
        Assert.Equal(2, box.Outbox.Depth);
        Assert.Equal([9L, 10L], ReadOutbox(box.Options.Path!).Select(e => e.Seq));

        await box.Outbox.AcknowledgeAsync(b3, CancellationToken.None);
        Assert.Equal(0, box.Outbox.Depth);
        Assert.Empty(ReadOutbox(box.Options.Path!));
        Assert.Equal(10, box.Status.Outbox.Forwarded);
    }

    [Fact]
    public async Task Rewind_hands_out_everything_unacknowledged_again_from_the_oldest_in_order()
    {
        await using var box = new TempOutbox();
        var sent = await AppendEachAsync(box, 12, i => i % 3 == 0 ? "pbx-a" : "pbx-b");

        var b1 = await box.Outbox.ReadBatchAsync(3, TimeSpan.Zero, CancellationToken.None);
        var b2 = await box.Outbox.ReadBatchAsync(3, TimeSpan.Zero, CancellationToken.None);
        var b3 = await box.Outbox.ReadBatchAsync(3, TimeSpan.Zero, CancellationToken.None);
        await box.Outbox.AcknowledgeAsync(b1, CancellationToken.None);
        var pendingAck = box.Outbox.AcknowledgeAsync(b2, CancellationToken.None).AsTask();

        // b2's acknowledgement was started before the failure: it counts; b3 was handed out only
        await box.Outbox.RewindAsync(CancellationToken.None);
        await pendingAck;
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await box.Outbox.AcknowledgeAsync(b3, CancellationToken.None));
        await box.Outbox.AppendAsync(E("pbx-a", 13), CancellationToken.None);
        sent.Add(E("pbx-a", 13));

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(15)); // a missing frame fails the test instead of hanging it
        var again = await DrainAsync(box.Outbox, 7, 2, deadline.Token);

        InOrderPerPbx(sent.Except(b1).Except(b2), again); // what was acknowledged is gone, the rest comes again
        Assert.Equal(0, box.Outbox.Depth);
    }

    [Fact]
    public async Task Rewind_is_refused_while_a_read_is_waiting_and_a_cancelled_read_hands_out_nothing()
    {
        await using var box = new TempOutbox();
        using var cancel = new CancellationTokenSource();
        var waiting = box.Outbox.ReadBatchAsync(10, TimeSpan.Zero, cancel.Token).AsTask();
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(async () => await box.Outbox.RewindAsync(CancellationToken.None));
        Assert.Contains("while ReadBatchAsync is running", refused.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await box.Outbox.ReadBatchAsync(10, TimeSpan.Zero, CancellationToken.None));
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);

        await box.Outbox.AppendAsync(E("p", 1), CancellationToken.None);
        await box.Outbox.RewindAsync(CancellationToken.None);
        var b = await box.Outbox.ReadBatchAsync(10, TimeSpan.Zero, CancellationToken.None);
        Assert.Equal([1L], b.Select(e => e.Seq));
        await box.Outbox.AcknowledgeAsync(b, CancellationToken.None);
        Assert.Equal(0, box.Outbox.Depth);
    }

    [Fact]
    public async Task After_a_crash_with_batches_handed_out_and_not_acknowledged_every_pending_frame_is_read_again_in_order()
    {
        await using var box = new TempOutbox();
        var sent = await AppendEachAsync(box, 20, i => i % 2 == 0 ? "pbx-a" : "pbx-b");

        var b1 = await box.Outbox.ReadBatchAsync(5, TimeSpan.Zero, CancellationToken.None);
        _ = await box.Outbox.ReadBatchAsync(5, TimeSpan.Zero, CancellationToken.None);
        _ = await box.Outbox.ReadBatchAsync(5, TimeSpan.Zero, CancellationToken.None);
        await box.Outbox.AcknowledgeAsync(b1, CancellationToken.None);

        // the process dies: the first outbox is abandoned as it is (never disposed), a new one opens the same file
        var logs = new ListLoggerProvider();
        await using var restarted = new SqliteOutbox(box.Options, logs.For<SqliteOutbox>());
        Assert.Equal(15, restarted.Depth);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(15)); // a missing frame fails the test instead of hanging it
        var again = await DrainAsync(restarted, 15, 4, deadline.Token);

        InOrderPerPbx(sent.Except(b1), again);
        Assert.Empty(ReadOutbox(box.Options.Path!));
        Assert.Contains(logs.Lines, l => l.Contains("15 frames pending from before the restart", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Concurrent_appends_share_commits()
    {
        await using var box = new TempOutbox();
        var writers = Enumerable.Range(0, 20).Select(w => Task.Run(async () =>
        {
            for (var i = 1; i <= 100; i++)
            {
                await box.Outbox.AppendAsync(E($"pbx-{w}", i), CancellationToken.None);
            }
        }));
        await Task.WhenAll(writers);

        Assert.Equal(2000, box.Outbox.Depth);
        Assert.True(box.Outbox.GroupCommits < 2000, $"{box.Outbox.GroupCommits} commits for 2000 frames");
        var all = await DrainAsync(box.Outbox, 2000, 500, CancellationToken.None);

        foreach (var g in all.GroupBy(e => e.Pbx))
        {
            Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), g.Select(e => e.Seq));
        }
    }

    [Fact]
    public async Task The_frames_of_one_append_share_one_commit_in_order()
    {
        await using var box = new TempOutbox();
        await box.Outbox.AppendAsync(E("p", 1), CancellationToken.None);
        var before = box.Outbox.GroupCommits;
        var burst = Enumerable.Range(2, 300).Select(i => E("p", i)).ToList();

        await box.Outbox.AppendAsync(burst, CancellationToken.None);

        Assert.Equal(before + 1, box.Outbox.GroupCommits);
        Assert.Equal(301, box.Outbox.Depth);
        var all = await box.Outbox.ReadBatchAsync(1000, TimeSpan.Zero, CancellationToken.None);
        Assert.Equal(Enumerable.Range(1, 301).Select(i => (long)i), all.Select(e => e.Seq));
    }

    [Fact]
    public async Task An_append_larger_than_the_room_left_goes_in_parts_and_waits_without_dropping()
    {
        await using var box = new TempOutbox(maxFrames: 5);
        var burst = Enumerable.Range(1, 12).Select(i => E("p", i)).ToList();

        var append = box.Outbox.AppendAsync(burst, CancellationToken.None).AsTask();

        // the first five are committed and readable while the append waits for room for the rest
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(15)); // a missing frame fails the test instead of hanging it
        var all = await DrainAsync(box.Outbox, 12, 3, deadline.Token);

        await append.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(Enumerable.Range(1, 12).Select(i => (long)i), all.Select(e => e.Seq));
        Assert.Equal(0, box.Outbox.Depth);
        Assert.Contains(box.Logs.Lines, l => l.StartsWith("Error: ALARM: outbox full (5 frames", StringComparison.Ordinal));
    }

    [Fact]
    public async Task At_the_cap_the_alarm_is_raised_and_appenders_wait_without_dropping()
    {
        await using var box = new TempOutbox(maxFrames: 5);
        await AppendEachAsync(box, 5, _ => "p");

        var sixth = box.Outbox.AppendAsync(E("p", 6), CancellationToken.None).AsTask();
        var seventh = box.Outbox.AppendAsync(E("p", 7), CancellationToken.None).AsTask();
        await Eventually.WaitAsync(() => box.Status.Outbox.AtCap, "alarm flag in the status");
        await Task.Delay(100);
        Assert.False(sixth.IsCompleted);
        Assert.False(seventh.IsCompleted);
        Assert.True(box.Outbox.AtCap);
        Assert.Equal(5, box.Status.Outbox.Depth);
        Assert.Single(box.Logs.Lines, l => l.StartsWith("Error: ALARM: outbox full (5 frames", StringComparison.Ordinal));

        var first = await box.Outbox.ReadBatchAsync(2, TimeSpan.Zero, CancellationToken.None);
        await box.Outbox.AcknowledgeAsync(first, CancellationToken.None);
        await Task.WhenAll(sixth, seventh).WaitAsync(TimeSpan.FromSeconds(5));

        var all = first.ToList();
        while (all.Count < 7)
        {
            var b = await box.Outbox.ReadBatchAsync(10, TimeSpan.Zero, CancellationToken.None);
            all.AddRange(b);
            await box.Outbox.AcknowledgeAsync(b, CancellationToken.None);
        }

        Assert.Equal([1L, 2L, 3L, 4L, 5L, 6L, 7L], all.Select(e => e.Seq).Order());
        Assert.Equal([1L, 2L, 3L, 4L, 5L], all.Take(5).Select(e => e.Seq));
        Assert.False(box.Status.Outbox.AtCap);
        Assert.Contains(box.Logs.Lines, l => l.Contains("below its cap again", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Http")]
    [InlineData("ServiceBus")]
    public async Task Kill_9_in_the_middle_of_a_replay_loses_nothing(string transport)
    {
        var frames = Captures.Retimed(Captures.Slican(), TimeSpan.FromMilliseconds(1));
        await using var pbx = new CtipSimulator(new CtipSimulatorOptions { Port = 0, Pin = "4321", Speed = 0, Frames = frames });
        await pbx.StartAsync();
        await using var ingest = new SlowIngestServer(TimeSpan.FromMilliseconds(40));
        await ingest.StartAsync();
        await using var broker = new TestBroker();
        broker.SasKeys["send"] = "a2lsbC05";
        broker.AddQueue(Routes.FramesQueue).Delay = TimeSpan.FromMilliseconds(4);
        broker.Start();
        Func<IReadOnlyList<Envelope>> received = transport == "Http"
            ? () => ingest.Received
            : () => broker.Queue(Routes.FramesQueue).Accepted.Where(m => m.GroupId?.StartsWith("relay:", StringComparison.Ordinal) == false).Select(m => JsonSerializer.Deserialize(m.Body, ContractsJson.Default.Envelope)!).ToList();
        var dir = Directory.CreateTempSubdirectory("ct-kill9-").FullName;
        try
        {
            var outbox = Path.Combine(dir, "outbox.db");
            await File.WriteAllTextAsync(Path.Combine(dir, "appsettings.json"), $$"""
                { "Relay": {
                    "RelayId": "kill9",
                    "Transport": "{{transport}}",
                    "Forwarder": { "Url": "{{ingest.BaseUrl}}", "BatchSize": 10, "LingerMilliseconds": 0, "RetryDelaySeconds": 0.05, "MaxRetryDelaySeconds": 0.2 },
                    "ServiceBus": { "Endpoint": "{{broker.Endpoint}}", "Queue": "pbx-frames", "SasKeyName": "send", "SasKey": "a2lsbC05" },
                    "Outbox": { "Path": "{{outbox}}" },
                    "Pbxes": [ { "Id": "kill-pbx", "Host": "127.0.0.1", "Port": {{pbx.Port}}, "Pin": "4321" } ] } }
                """);

            using (var first = ChildRelay.Start(dir))
            {
                await Eventually.WaitAsync(() => received().Count >= 100, "first frames delivered", TimeSpan.FromSeconds(60));
                first.Kill9();
            }

            var deliveredBeforeKill = received().Count;
            var pending = ReadOutbox(outbox);
            Assert.NotEmpty(pending); // the kill happened mid-replay, with frames waiting in the outbox
            var session = received()[0].Session;
            var mustArrive = pending.Where(e => e.Session == session).Select(e => e.Seq)
                .Concat(received().Where(e => e.Session == session).Select(e => e.Seq))
                .Max();

            using (var second = ChildRelay.Start(dir))
            {
                await Eventually.WaitAsync(
                    () => received().Where(e => e.Session == session).Select(e => e.Seq).Distinct().Count() >= mustArrive,
                    $"session {session} seq 1..{mustArrive} delivered",
                    TimeSpan.FromSeconds(60));
                second.Kill9();
            }

            var firstSession = received().Where(e => e.Session == session).ToList();
            var distinct = firstSession.Select(e => e.Seq).Distinct().ToList();
            Assert.Equal(Enumerable.Range(1, (int)mustArrive).Select(i => (long)i), distinct.Order()); // none lost
            Assert.Equal(distinct.Order(), distinct); // first arrivals in seq order
            Assert.True(deliveredBeforeKill < frames.Count, "killed before the replay was through");
            Assert.Equal(frames.Take((int)mustArrive).Select(f => f.Frame.StartsWith('a') ? f.Frame : "a" + f.Frame), DistinctBy(firstSession).Select(e => e.Frame));
            if (transport == "ServiceBus")
            {
                Assert.Equal(firstSession.Count, distinct.Count); // the broker dropped resends by MessageId
            }
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// The same frames, and each PBX's in the same order: the outbox reads fairly across PBXes (a flooding PBX must not
    /// delay the others), so only the order within a PBX is kept, which is what each PBX's stream needs.
    /// </summary>
    private static void InOrderPerPbx(IEnumerable<Envelope> expected, IEnumerable<Envelope> actual)
    {
        var e = expected.ToList();
        var a = actual.ToList();
        Assert.Equal(e.Count, a.Count);
        foreach (var pbx in e.Select(x => x.Pbx).Distinct())
        {
            Assert.Equal(e.Where(x => x.Pbx == pbx), a.Where(x => x.Pbx == pbx));
        }
    }

    private static IEnumerable<Envelope> DistinctBy(IEnumerable<Envelope> items) => items.DistinctBy(e => e.Seq).OrderBy(e => e.Seq);

    private static List<Envelope> ReadOutbox(string path)
    {
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT body FROM frames ORDER BY id";
        using var r = cmd.ExecuteReader();
        var list = new List<Envelope>();
        while (r.Read())
        {
            list.Add(JsonSerializer.Deserialize((byte[])r.GetValue(0), ContractsJson.Default.Envelope)!);
        }

        return list;
    }

    /// <summary>The relay program as a child process (the relay's own build output), killed with SIGKILL.</summary>
    private sealed class ChildRelay : IDisposable
    {
        private readonly Process _process;

        private ChildRelay(Process process) => _process = process;

        public static ChildRelay Start(string contentRoot)
        {
            var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
            var dll = Path.Combine(TestPaths.RepoRoot, "relay", "CloudTelephony.Relay", "bin", configuration, "net10.0", "relay.dll");
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(dll);
            psi.ArgumentList.Add("run");
            psi.ArgumentList.Add("--contentRoot");
            psi.ArgumentList.Add(contentRoot);
            var p = Process.Start(psi)!;
            p.OutputDataReceived += (_, _) => { };
            p.ErrorDataReceived += (_, _) => { };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            return new ChildRelay(p);
        }

        /// <summary>Process.Kill sends SIGKILL on Unix: no shutdown code runs.</summary>
        public void Kill9()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: false);
            }

            _process.WaitForExit(10_000);
        }

        public void Dispose()
        {
            Kill9();
            _process.Dispose();
        }
    }

    /// <summary>Kestrel ingest endpoint that stores each batch, then answers slowly (so a backlog builds up).</summary>
    private sealed class SlowIngestServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly List<Envelope> _received = [];

        public SlowIngestServer(TimeSpan delay)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            _app = builder.Build();
            _app.MapPost(Routes.IngestPath, async (HttpContext http) =>
            {
                var batch = await JsonSerializer.DeserializeAsync(http.Request.Body, ContractsJson.Default.EnvelopeArray);
                lock (_received)
                {
                    _received.AddRange(batch!);
                }

                await Task.Delay(delay);
                return Results.Text("stored");
            });
        }

        public string BaseUrl => _app.Urls.First();

        public IReadOnlyList<Envelope> Received
        {
            get
            {
                lock (_received)
                {
                    return [.. _received];
                }
            }
        }

        public Task StartAsync() => _app.StartAsync();

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
