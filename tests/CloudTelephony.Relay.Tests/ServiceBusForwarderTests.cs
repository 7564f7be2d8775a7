using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Forwarding;
using CloudTelephony.ServiceBus;
using CloudTelephony.ServiceBus.Tests.Broker;
using Microsoft.Extensions.Options;

namespace CloudTelephony.Relay.Tests;

public sealed class ServiceBusForwarderTests : IAsyncLifetime
{
    private readonly TestBroker _broker = new();
    private readonly List<QueueSender> _senders = [];

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

    private (ServiceBusForwarder Forwarder, ListLoggerProvider Logs) Create(TempOutbox box, string key = "a2V5LW9uZQ==")
    {
        var logs = new ListLoggerProvider();
        var options = new RelayOptions
        {
            Transport = RelayOptions.ServiceBusTransport,
            Forwarder = new ForwarderOptions { BatchSize = 100, LingerMilliseconds = 1, RetryDelaySeconds = 0.05, MaxRetryDelaySeconds = 0.2, RejectedRetryDelaySeconds = 0.2 },
            ServiceBus = new ServiceBusOptions { Endpoint = _broker.Endpoint, Queue = Routes.FramesQueue, SasKeyName = "relay-send", SasKey = key, OperationTimeoutSeconds = 3 },
        };
        var sender = new QueueSender(options.ServiceBus);
        _senders.Add(sender);
        return (new ServiceBusForwarder(box.Outbox, sender, Options.Create(options), logs.For<ServiceBusForwarder>()), logs);
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
        Assert.Equal(a.Select(e => e.MessageId), stored.Where(m => m.GroupId == "pbx-a").Select(m => m.MessageId));
        Assert.Equal(b, stored.Where(m => m.GroupId == "pbx-b").Select(m => JsonSerializer.Deserialize(m.Body, ContractsJson.Default.Envelope)));
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
        await Eventually.WaitAsync(() => logs.Lines.Count(l => l.Contains("Service Bus REJECTED: amqp:unauthorized-access", StringComparison.Ordinal)) >= 2, "rejection logged");
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
        Assert.Contains(logs.Lines, l => l.Contains("reconnecting in", StringComparison.Ordinal));
    }
}
