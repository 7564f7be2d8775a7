using Amqp;
using Amqp.Framing;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.ServiceBus;
using CloudTelephony.ServiceBus.Tests.Broker;

namespace CloudTelephony.Functions.Tests;

/// <summary>Standalone mode: the functions app consumes pbx-frames from the AMQP test broker itself.</summary>
public sealed class StandaloneQueueTests : IAsyncLifetime
{
    private readonly TestBroker _broker = new();
    private FunctionsServer _server = null!;

    public async Task InitializeAsync()
    {
        _broker.SasKeys["listen"] = "bGlzdGVu";
        _broker.AddQueue(Routes.FramesQueue);
        _broker.Start();
        _server = new FunctionsServer(0, $"--ServiceBus:Endpoint={_broker.Endpoint}", "--ServiceBus:SasKeyName=listen", "--ServiceBus:SasKey=bGlzdGVu");
        await _server.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _broker.DisposeAsync();
    }

    [Fact]
    public async Task Frames_and_heartbeats_from_the_queue_are_stored_and_poison_is_dead_lettered()
    {
        var options = new ServiceBusOptions { Endpoint = _broker.Endpoint, SasKeyName = "listen", SasKey = "bGlzdGVu" };
        var frames = Capture.Ctip().Take(300).ToList();
        await using (var sender = new QueueSender(options))
        {
            await sender.SendAsync(frames, CancellationToken.None);
            var beat = new RelayHeartbeat(RelayHeartbeat.KindValue, "site-q", "1.0", DateTimeOffset.UtcNow, [], 300, 0, null, false);
            var poison = new Message { Properties = new Properties { MessageId = "junk-1", GroupId = "junk" }, BodySection = new Data { Binary = "not an envelope"u8.ToArray() } };
            await sender.SendMessagesAsync([FrameMessages.ToMessage(beat), poison], CancellationToken.None);
        }

        var queue = _broker.Queue(Routes.FramesQueue);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames") < 300 || queue.DeadLetters.Count == 0) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal(300, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
        Assert.Equal(1, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.relays WHERE relay_id = 'site-q'"));
        Assert.Equal("junk-1", Assert.Single(queue.DeadLetters).MessageId);
        Assert.Equal(301, _server.Services.GetRequiredService<QueueIngestService>().Accepted);
    }
}
