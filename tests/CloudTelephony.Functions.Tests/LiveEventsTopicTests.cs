using System.Net;
using System.Text.Json;
using CloudTelephony.ServiceBus.Tests.Broker;

namespace CloudTelephony.Functions.Tests;

/// <summary>The live call events sent to the Service Bus topic <c>call-events</c> through the SDK, against the AMQP test
/// broker (a topic with a subscription per consumer filtered on the <c>enterprise</c> property, as the Bicep declares).</summary>
public sealed class LiveEventsTopicTests : IAsyncLifetime
{
    private const string Key = "c2VuZA==";
    private readonly TestBroker _broker = new();
    private FunctionsServer _server = null!;

    public async Task InitializeAsync()
    {
        _broker.SasKeys["send"] = Key;
        _broker.AddTopic("call-events");
        _broker.AddSubscription("call-events", "crm-a", m => m.Properties.GetValueOrDefault("enterprise") as string == "office-a");
        _broker.Start();
        _server = new FunctionsServer(0, $"--Events:ServiceBus:Endpoint={_broker.Endpoint}", "--Events:ServiceBus:SasKeyName=send",
            $"--Events:ServiceBus:SasKey={Key}", "--Events:SweepSeconds=0.5");
        await _server.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _broker.DisposeAsync();
    }

    [Fact]
    public async Task Every_event_of_an_enterprise_reaches_its_subscription_in_order_per_call_with_the_CloudEvent_id_as_MessageId()
    {
        await _server.CreateTokenAsync("office-a", "crm", "pbx-a");
        await _server.CreateTokenAsync("office-b", "crm", "pbx-b");
        foreach (var pbx in new[] { "pbx-a", "pbx-b" })
        {
            foreach (var chunk in Capture.Ctip(pbx).Take(300).Chunk(60))
            {
                Assert.Equal(HttpStatusCode.OK, (await _server.PostFramesAsync(chunk)).StatusCode);
            }
        }

        var expected = await _server.Db.ScalarAsync("SELECT count(*) FROM ct.call_events_out WHERE pbx = 'pbx-a'");
        Assert.True(expected > 0);
        var subscription = _broker.Queue("call-events/Subscriptions/crm-a");
        var until = DateTime.UtcNow.AddSeconds(30);
        while (subscription.Accepted.Count < expected)
        {
            Assert.True(DateTime.UtcNow < until, $"{subscription.Accepted.Count} of {expected} events on the subscription");
            await Task.Delay(50);
        }

        await Task.Delay(1200); // two sweeps more: nothing is sent twice
        var messages = subscription.Accepted;
        Assert.Equal(expected, messages.Count);
        var events = messages.Select(m => (Message: m, Event: JsonDocument.Parse(m.Text).RootElement)).ToList();
        Assert.All(events, x =>
        {
            Assert.Equal(x.Event.GetProperty("id").GetString(), x.Message.MessageId);
            Assert.Equal("office-a", x.Event.GetProperty("enterprise").GetString());
            Assert.Equal($"pbx-a:{x.Event.GetProperty("subject").GetString()}", x.Message.SessionId);
            Assert.StartsWith("application/cloudevents+json", x.Message.ContentType);
            Assert.Equal(x.Event.GetProperty("type").GetString(), x.Message.Subject);
        });
        foreach (var call in events.GroupBy(x => x.Message.SessionId))
        {
            var seqs = call.Select(x => x.Event.GetProperty("callseq").GetInt32()).ToList();
            Assert.Equal(seqs.Order(), seqs);
        }

        Assert.Equal(expected + await _server.Db.ScalarAsync("SELECT count(*) FROM ct.call_events_out WHERE pbx = 'pbx-b'"), _broker.Queue("call-events").Accepted.Count);
    }
}
