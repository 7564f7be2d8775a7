using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Forwarding;
using CloudTelephony.Relay.Outbox;
using CloudTelephony.Relay.Sink;
using CloudTelephony.ServiceBus;
using CloudTelephony.ServiceBus.Tests.Broker;
using Microsoft.Extensions.Options;

namespace CloudTelephony.Relay.Tests;

public sealed class ServiceBusForwarderTests : IAsyncLifetime
{
    private readonly TestBroker _broker = new();
    private readonly List<FrameSender> _senders = [];

    public Task InitializeAsync()
    {
        _broker.SasKeys["relay-send"] = "a2V5LW9uZQ==";
        _broker.AddQueue(Routes.FramesQueue);
        _broker.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var s in _senders)
        {
            await s.DisposeAsync();
        }

        await _broker.DisposeAsync();
    }

    private (ServiceBusForwarder Forwarder, ListLoggerProvider Logs) Create(
        TempOutbox box,
        string key = "a2V5LW9uZQ==",
        IFrameSource? source = null,
        Action<ForwarderOptions>? forwarder = null)
    {
        var logs = new ListLoggerProvider();
        var options = new RelayOptions
        {
            Transport = RelayOptions.ServiceBusTransport,
            Forwarder = new ForwarderOptions { BatchSize = 100, LingerMilliseconds = 1, RetryDelaySeconds = 0.05, MaxRetryDelaySeconds = 0.2, RejectedRetryDelaySeconds = 0.2 },
            ServiceBus = new ServiceBusOptions { Endpoint = _broker.Endpoint, Queue = Routes.FramesQueue, SasKeyName = "relay-send", SasKey = key, OperationTimeoutSeconds = 3, MaxRetries = 0 }, // failures reach the forwarder at once (the SDK's retries: ServiceBus.Tests)
        };
        forwarder?.Invoke(options.Forwarder);
        var sender = new FrameSender(options.ServiceBus);
        _senders.Add(sender);
        return (new ServiceBusForwarder(source ?? box.Outbox, sender, Options.Create(options), logs.For<ServiceBusForwarder>()), logs);
    }

    private static List<Envelope> Frames(string pbx, int count) =>
        Enumerable.Range(1, count).Select(i => new Envelope(pbx, Protocols.Ctip, "s1", i, DateTimeOffset.UnixEpoch.AddSeconds(i), $"aRING {i}")).ToList();

    [Fact]
    public async Task Outbox_is_drained_to_the_queue_in_order_per_pbx()
    {
        await using var box = new TempOutbox();
        var (forwarder, _) = Create(box);
        var a = Frames("pbx-a", 500);
        var b = Frames("pbx-b", 500);
        foreach (var (x, y) in a.Zip(b))
        {
            await box.Outbox.AppendAsync(x, CancellationToken.None);
            await box.Outbox.AppendAsync(y, CancellationToken.None);
        }

        await forwarder.StartAsync(CancellationToken.None);
        await Eventually.WaitAsync(() => box.Outbox.Depth == 0, "outbox drained");
        await forwarder.StopAsync(CancellationToken.None);

        var stored = _broker.Queue(Routes.FramesQueue).Accepted;
        Assert.Equal(1000, stored.Count);
        Assert.Equal(a.Select(e => e.MessageId), stored.Where(m => m.SessionId == "pbx-a").Select(m => m.MessageId));
        Assert.Equal(b, stored.Where(m => m.SessionId == "pbx-b").Select(m => JsonSerializer.Deserialize(m.Body, ContractsJson.Default.Envelope)));
        Assert.Equal(1000, forwarder.Delivered);
    }

    [Fact]
    public async Task Rejection_is_logged_with_its_condition_and_the_frames_stay_until_accepted()
    {
        await using var box = new TempOutbox();
        var (forwarder, logs) = Create(box, key: "d3Jvbmc=");
        foreach (var e in Frames("p", 20))
        {
            await box.Outbox.AppendAsync(e, CancellationToken.None);
        }

        await forwarder.StartAsync(CancellationToken.None);
        await Eventually.WaitAsync(() => logs.Lines.Count(l => l.Contains("Service Bus REJECTED: Unauthorized", StringComparison.Ordinal)) >= 2, "rejection logged");
        Assert.Equal(20, box.Outbox.Depth);
        Assert.Empty(_broker.Queue(Routes.FramesQueue).Accepted);

        _broker.SasKeys["relay-send"] = "d3Jvbmc="; // the operator fixes the key on the namespace
        await Eventually.WaitAsync(() => box.Outbox.Depth == 0, "delivered after the fix");
        await forwarder.StopAsync(CancellationToken.None);
        Assert.Equal(20, _broker.Queue(Routes.FramesQueue).Accepted.Count);
        Assert.Contains(logs.Lines, l => l.StartsWith("Error: Service Bus REJECTED", StringComparison.Ordinal) && l.Contains("batch kept in the outbox", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Broker_outage_is_ridden_out_with_nothing_lost_or_duplicated()
    {
        await using var box = new TempOutbox();
        var (forwarder, logs) = Create(box);
        await forwarder.StartAsync(CancellationToken.None);
        var frames = Frames("p", 3000);
        var writer = Task.Run(async () =>
        {
            foreach (var e in frames)
            {
                await box.Outbox.AppendAsync(e, CancellationToken.None);
                if (e.Seq % 100 == 0)
                {
                    await Task.Delay(10);
                }
            }
        });
        await Eventually.WaitAsync(() => _broker.Queue(Routes.FramesQueue).Accepted.Count >= 500, "first frames through");
        _broker.Stop();
        await Task.Delay(1000);
        _broker.Start();
        await writer;
        await Eventually.WaitAsync(() => box.Outbox.Depth == 0, "outbox drained", TimeSpan.FromSeconds(30));
        await forwarder.StopAsync(CancellationToken.None);

        var ids = _broker.Queue(Routes.FramesQueue).Accepted.Select(m => m.MessageId).ToList();
        Assert.Equal(frames.Select(e => e.MessageId), ids);
        Assert.Contains(logs.Lines, l => l.Contains("next try in", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Several_batches_in_flight_deliver_everything_once_in_order_per_pbx()
    {
        await using var box = new TempOutbox();
        var source = new ObservedSource(box.Outbox);
        var (forwarder, _) = Create(box, source: source, forwarder: f => { f.BatchSize = 25; f.MaxBatchesInFlight = 4; });
        _broker.Queue(Routes.FramesQueue).Delay = TimeSpan.FromMilliseconds(1); // settling takes longer than reading
        var pbxes = new[] { Frames("pbx-a", 400), Frames("pbx-b", 400), Frames("pbx-c", 400) };
        for (var i = 0; i < 400; i++)
        {
            foreach (var p in pbxes)
            {
                await box.Outbox.AppendAsync(p[i], CancellationToken.None);
            }
        }

        await forwarder.StartAsync(CancellationToken.None);
        await Eventually.WaitAsync(() => box.Outbox.Depth == 0, "outbox drained", TimeSpan.FromSeconds(30));
        await forwarder.StopAsync(CancellationToken.None);

        var queue = _broker.Queue(Routes.FramesQueue);
        Assert.Equal(1200, queue.Accepted.Count);
        Assert.Equal(0, queue.Duplicates); // nothing failed, nothing was sent twice
        foreach (var p in pbxes)
        {
            Assert.Equal(p.Select(e => e.MessageId), queue.Accepted.Where(m => m.SessionId == p[0].Pbx).Select(m => m.MessageId));
        }

        Assert.Equal(1200, forwarder.Delivered);
        Assert.InRange(source.MostOutstanding, 2, 4); // pipelined, within the limit
        Assert.Equal(0, source.Rewinds);
    }

    [Fact]
    public async Task Broker_stopped_twice_mid_stream_with_batches_in_flight_loses_nothing_and_keeps_each_pbx_in_order()
    {
        await using var box = new TempOutbox();
        var source = new ObservedSource(box.Outbox);
        var (forwarder, logs) = Create(box, source: source, forwarder: f => { f.BatchSize = 20; f.MaxBatchesInFlight = 4; });
        await forwarder.StartAsync(CancellationToken.None);
        var pbxes = new[] { Frames("pbx-a", 1500), Frames("pbx-b", 1500), Frames("pbx-c", 1500) };
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < 1500; i++)
            {
                foreach (var p in pbxes)
                {
                    await box.Outbox.AppendAsync(p[i], CancellationToken.None);
                }

                if (i % 50 == 0)
                {
                    await Task.Delay(5);
                }
            }
        });
        var queue = _broker.Queue(Routes.FramesQueue);
        foreach (var after in new[] { 600, 2400 })
        {
            await Eventually.WaitAsync(() => queue.Accepted.Count >= after, $"{after} frames through", TimeSpan.FromSeconds(30));
            _broker.Stop();
            await Task.Delay(800);
            _broker.Start();
        }

        await writer;
        await Eventually.WaitAsync(() => box.Outbox.Depth == 0, "outbox drained", TimeSpan.FromSeconds(60));
        await forwarder.StopAsync(CancellationToken.None);

        Assert.Equal(4500, queue.Accepted.Count); // duplicates of resends were dropped by MessageId
        foreach (var p in pbxes)
        {
            Assert.Equal(p.Select(e => e.MessageId), queue.Accepted.Where(m => m.SessionId == p[0].Pbx).Select(m => m.MessageId));
        }

        Assert.True(source.Rewinds >= 1, "the outages made the forwarder go back to the oldest unacknowledged frame");
        Assert.Contains(logs.Lines, l => l.Contains("next try in", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rejection_in_the_middle_of_the_pipeline_is_logged_and_the_frame_kept_until_it_is_accepted()
    {
        await using var box = new TempOutbox();
        var source = new ObservedSource(box.Outbox);
        var (forwarder, logs) = Create(box, source: source, forwarder: f => { f.BatchSize = 20; f.MaxBatchesInFlight = 4; });
        var queue = _broker.Queue(Routes.FramesQueue);
        queue.MaxMessageBytes = 2000;
        var a = Frames("pbx-a", 300);
        a[149] = a[149] with { Frame = "aRING " + new string('x', 3000) }; // seq 150: too big for the queue as configured
        var b = Frames("pbx-b", 300);
        foreach (var (x, y) in a.Zip(b))
        {
            await box.Outbox.AppendAsync(x, CancellationToken.None);
            await box.Outbox.AppendAsync(y, CancellationToken.None);
        }

        await forwarder.StartAsync(CancellationToken.None);
        await Eventually.WaitAsync(
            () => logs.Lines.Count(l => l.StartsWith("Error: Service Bus REJECTED: MessageSizeExceeded", StringComparison.Ordinal)) >= 3,
            "rejection logged and retried");
        Assert.DoesNotContain(queue.Accepted, m => m.MessageId == a[149].MessageId);
        Assert.True(box.Outbox.Depth >= 300, $"the rejected frame and everything after it stay in the outbox (depth {box.Outbox.Depth})");
        Assert.Contains(logs.Lines, l => l.Contains(a[149].MessageId, StringComparison.Ordinal) && l.Contains("batch kept in the outbox", StringComparison.Ordinal));

        queue.MaxMessageBytes = 256 * 1024; // the operator raises the limit; the SDK reads it when its link attaches again
        _broker.Stop();
        _broker.Start();
        await Eventually.WaitAsync(() => box.Outbox.Depth == 0, "delivered after the fix", TimeSpan.FromSeconds(30));
        await forwarder.StopAsync(CancellationToken.None);

        var accepted = queue.Accepted;
        Assert.Equal(600, accepted.Count);
        Assert.Equal(b.Select(e => e.MessageId), accepted.Where(m => m.SessionId == "pbx-b").Select(m => m.MessageId));
        var aIds = accepted.Where(m => m.SessionId == "pbx-a").Select(m => m.MessageId).ToList();
        Assert.Equal(a.Select(e => e.MessageId).Order(StringComparer.Ordinal), aIds.Order(StringComparer.Ordinal));
        Assert.Equal(a.Where(e => e.Seq != 150).Select(e => e.MessageId), aIds.Where(id => id != a[149].MessageId));

        // only what was already on the wire behind the rejected message (at most the batches in flight) got ahead of it
        var overtook = aIds.IndexOf(a[149].MessageId) - 149;
        Assert.InRange(overtook, 0, 4 * 20);
        Assert.True(source.Rewinds >= 3);
    }

    /// <summary>Passes the outbox through and counts the batches handed out and not acknowledged, and the rewinds.</summary>
    private sealed class ObservedSource(SqliteOutbox inner) : IFrameSource
    {
        private int _outstanding;
        private int _most;
        private int _rewinds;

        public int MostOutstanding => Volatile.Read(ref _most);

        public int Rewinds => Volatile.Read(ref _rewinds);

        public async ValueTask<IReadOnlyList<Envelope>> ReadBatchAsync(int maxCount, TimeSpan linger, CancellationToken cancellationToken)
        {
            var batch = await inner.ReadBatchAsync(maxCount, linger, cancellationToken);
            var now = Interlocked.Increment(ref _outstanding);
            int most;
            while (now > (most = Volatile.Read(ref _most)) && Interlocked.CompareExchange(ref _most, now, most) != most)
            {
            }

            return batch;
        }

        public ValueTask AcknowledgeAsync(IReadOnlyList<Envelope> batch, CancellationToken cancellationToken)
        {
            Interlocked.Decrement(ref _outstanding);
            return inner.AcknowledgeAsync(batch, cancellationToken);
        }

        public ValueTask RewindAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _rewinds);
            Volatile.Write(ref _outstanding, 0);
            return inner.RewindAsync(cancellationToken);
        }
    }
}
