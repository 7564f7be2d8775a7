using Azure.Messaging.ServiceBus;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.ServiceBus;
using CloudTelephony.ServiceBus.Tests.Broker;

namespace CloudTelephony.Functions.Tests;

/// <summary>Standalone mode: the functions app consumes pbx-frames from the test broker itself (the SDK's ServiceBusSessionProcessor).</summary>
public sealed class StandaloneQueueTests : IAsyncLifetime
{
    private const string Key = "bGlzdGVu";
    private readonly TestBroker _broker = new();
    private FunctionsServer _server = null!;

    public async Task InitializeAsync()
    {
        _broker.SasKeys["listen"] = Key;
        _broker.AddQueue(Routes.FramesQueue);
        _broker.Start();
        _server = new FunctionsServer(0, $"--ServiceBus:Endpoint={_broker.Endpoint}", "--ServiceBus:SasKeyName=listen", $"--ServiceBus:SasKey={Key}", "--ServiceBus:SessionIdleTimeoutSeconds=1", "--ServiceBus:StorageRetryAttempts=1");
        await _server.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _broker.DisposeAsync();
    }

    private ServiceBusOptions Options => new() { Endpoint = _broker.Endpoint, SasKeyName = "listen", SasKey = Key };

    private QueueIngestService Consumer => _server.Services.GetRequiredService<QueueIngestService>();

    private static async Task WaitAsync(Func<Task<bool>> condition, string what, int seconds = 30, Func<Task<string>>? describe = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for: {what}" + (describe is null ? "" : $" ({await describe()})"));
            }

            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Frames_of_two_pbxes_and_heartbeats_are_stored_in_order_and_poison_is_dead_lettered_with_the_reason()
    {
        var a = Capture.Ctip().Take(200).ToList();
        var b = a.Select(e => e with { Pbx = "second-slican" }).ToList();
        await using (var sender = new FrameSender(Options))
        {
            await sender.SendAsync([.. a.Zip(b).SelectMany(p => new[] { p.First, p.Second })], CancellationToken.None);
            await sender.SendAsync(new RelayHeartbeat(RelayHeartbeat.KindValue, "site-q", "1.0", DateTimeOffset.UtcNow, [], 400, 0, null, false), CancellationToken.None);
        }

        await using (var client = Options.CreateClient())
        await using (var raw = client.CreateSender(Routes.FramesQueue))
        {
            await raw.SendMessageAsync(new ServiceBusMessage("not an envelope") { MessageId = "junk-1", SessionId = "junk" });
        }

        var queue = _broker.Queue(Routes.FramesQueue);
        await WaitAsync(
            async () => await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames") == 400 && queue.DeadLetters.Count == 1 && Consumer.Completed == 401 && Consumer.DeadLettered == 1,
            "frames, heartbeat and poison handled",
            describe: async () => $"frames {await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames")}, dead {queue.DeadLetters.Count}, completed {Consumer.Completed}, abandoned {Consumer.Abandoned}, deadlettered {Consumer.DeadLettered}, broker completed {queue.Completed}, pending {queue.Pending}, accepted {queue.Accepted.Count} sessions {string.Join(",", queue.Accepted.Select(m => m.SessionId).Distinct())}, events {string.Join(" | ", _broker.Events.Where(e => !e.Contains("unknown lock", StringComparison.Ordinal)))}");

        Assert.Equal(200, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE pbx = 'second-slican'"));
        Assert.Equal(1, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.relays WHERE relay_id = 'site-q'"));
        var dead = Assert.Single(queue.DeadLetters);
        Assert.Equal("junk-1", dead.Message.MessageId);
        Assert.Equal(QueueIngestService.PoisonReason, dead.Reason);
        Assert.False(string.IsNullOrEmpty(dead.Description));
        Assert.Equal(1, Consumer.DeadLettered);
        Assert.Equal(0, queue.Pending);
        // both PBXes' calls came out the same: each stream was ingested in its own order
        Assert.Equal(
            await _server.Db.ScalarAsync("SELECT count(*) FROM ct.calls WHERE pbx = 'second-slican'"),
            await _server.Db.ScalarAsync($"SELECT count(*) FROM ct.calls WHERE pbx = '{a[0].Pbx}'"));
    }

    [Fact]
    public async Task Storage_failure_is_retried_then_abandoned_its_delivery_count_grows_and_the_redelivery_is_stored()
    {
        // StorageRetryAttempts=1 (the server's setting): one retry after about 0.5 s, then the message is abandoned
        var frames = Capture.Ctip().Take(5).ToList();
        await _server.Db.ScalarAsync("ALTER TABLE ct.frames RENAME TO frames_away; SELECT 0");
        var queue = _broker.Queue(Routes.FramesQueue);
        try
        {
            await using var sender = new FrameSender(Options);
            await sender.SendAsync(frames, CancellationToken.None);
            await WaitAsync(() => Task.FromResult(Consumer.Abandoned >= 2 && queue.Accepted[0].DeliveryCount >= 2), "abandoned twice");
        }
        finally
        {
            await _server.Db.ScalarAsync("ALTER TABLE ct.frames_away RENAME TO frames; SELECT 0");
        }

        // the consumer completes the messages after the commit: the rows can be visible a moment before it counts them
        await WaitAsync(
            async () => await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames") == 5 && Consumer.Completed == 5,
            "stored after the database came back, and completed",
            describe: async () => $"frames {await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames")}, completed {Consumer.Completed}, abandoned {Consumer.Abandoned}");
        Assert.Empty(queue.DeadLetters); // two deliveries in seconds, far from the max delivery count
        Assert.InRange(queue.Accepted[0].DeliveryCount, 2, 4);
    }

    [Fact]
    public async Task Broker_restart_mid_stream_delivers_every_frame_once()
    {
        var frames = Capture.Ctip().Take(600).ToList();
        var queue = _broker.Queue(Routes.FramesQueue);
        await using (var sender = new FrameSender(new ServiceBusOptions { Endpoint = _broker.Endpoint, SasKeyName = "listen", SasKey = Key, MaxRetries = 0, OperationTimeoutSeconds = 2 }))
        {
            var sent = 0;
            foreach (var chunk in frames.Chunk(50))
            {
                if (sent == 300)
                {
                    await WaitAsync(async () => await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames") >= 100, "consuming before the restart");
                    _broker.Stop(); // drops the consumer's session links and the sender's connection; unsettled messages go back
                    await Task.Delay(1000);
                    _broker.Start();
                }

                while (true)
                {
                    try
                    {
                        await sender.SendAsync(chunk, CancellationToken.None);
                        break;
                    }
                    catch (Exception ex) when (!FrameSender.IsRejection(ex))
                    {
                        await Task.Delay(200); // what the relay's forwarder does: keep the batch, try again
                    }
                }

                sent += chunk.Length;
            }
        }

        await WaitAsync(async () => await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames") == 600 && queue.Pending == 0, "all frames stored after the restart", seconds: 60,
            describe: async () => $"frames {await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames")}, pending {queue.Pending}, accepted {queue.Accepted.Count}, completed {Consumer.Completed}, abandoned {Consumer.Abandoned}, dead {queue.DeadLetters.Count}, events {string.Join(" | ", _broker.Events.TakeLast(5))}");
        Assert.Equal(600, queue.Accepted.Count); // the broker kept each MessageId once
        Assert.Equal(600, await _server.Db.ScalarAsync("SELECT count(DISTINCT (session, seq)) FROM ct.frames"));
        Assert.Empty(queue.DeadLetters);
    }

    [Fact]
    public void Consumer_settings_are_checked_by_name()
    {
        var bad = new ServiceBusOptions { Endpoint = "amqp://127.0.0.1:5672", SasKeyName = "k", SasKey = "v", MaxConcurrentSessions = 0 };
        Assert.Contains(bad.Check("ServiceBus"), e => e.StartsWith("ServiceBus:MaxConcurrentSessions", StringComparison.Ordinal));
    }
}
