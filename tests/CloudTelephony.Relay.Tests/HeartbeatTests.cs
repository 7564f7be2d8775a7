using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Hosting;
using CloudTelephony.Relay.Status;
using CloudTelephony.ServiceBus;
using CloudTelephony.ServiceBus.Tests.Broker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CloudTelephony.Relay.Tests;

public sealed class HeartbeatTests
{
    [Fact]
    public async Task Heartbeat_goes_through_service_bus_with_pbx_states_and_outbox_depth()
    {
        await using var broker = new TestBroker();
        broker.SasKeys["send"] = "aGI=";
        broker.AddQueue(Routes.FramesQueue);
        broker.Start();
        var options = new RelayOptions
        {
            RelayId = "site-7",
            Transport = RelayOptions.ServiceBusTransport,
            HeartbeatSeconds = 0.2,
            ServiceBus = new ServiceBusOptions { Endpoint = broker.Endpoint, SasKeyName = "send", SasKey = "aGI=" },
        };
        var status = new RelayStatus();
        status.SetState("office-slican", PbxConnectionState.Connected);
        status.SetState("branch", PbxConnectionState.Refused, "wrong key (NA 11)");
        status.SetOutbox(new OutboxStatus(42, 1000, false, DateTimeOffset.UtcNow.AddSeconds(-5), 777));
        await using var services = new ServiceCollection().AddSingleton(new FrameSender(options.ServiceBus)).BuildServiceProvider();
        var heartbeat = new HeartbeatService(Options.Create(options), status, services, new ListLoggerProvider().For<HeartbeatService>());

        await heartbeat.StartAsync(CancellationToken.None);
        await Eventually.WaitAsync(() => broker.Queue(Routes.FramesQueue).Accepted.Count >= 2, "two heartbeats");
        await heartbeat.StopAsync(CancellationToken.None);

        var m = broker.Queue(Routes.FramesQueue).Accepted[0];
        Assert.Equal("relay:site-7", m.SessionId);
        Assert.StartsWith("heartbeat:site-7:", m.MessageId, StringComparison.Ordinal);
        var beat = JsonSerializer.Deserialize(m.Body, ContractsJson.Default.RelayHeartbeat)!;
        Assert.Equal("heartbeat", beat.Kind);
        Assert.Equal(["refused: wrong key (NA 11)", "connected"], beat.Pbxes.Select(p => p.State));
        Assert.Equal(42, beat.OutboxDepth);
        Assert.Equal(777, beat.FramesSent);
        Assert.False(beat.OutboxAtCap);
        Assert.Equal(HeartbeatService.Version, beat.Version);
    }
}
