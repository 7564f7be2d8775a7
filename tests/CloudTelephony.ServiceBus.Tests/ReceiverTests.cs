using System.Collections.Concurrent;
using Azure.Messaging.ServiceBus;
using CloudTelephony.ServiceBus.Tests.Broker;

namespace CloudTelephony.ServiceBus.Tests;

/// <summary>The SDK's session processor and receivers against the test broker: what the functions app's standalone consumer relies on.</summary>
public sealed class ReceiverTests : IAsyncLifetime
{
    private const string Queue = "pbx-frames";
    private readonly TestBroker _broker = new();

    public Task InitializeAsync()
    {
        _broker.SasKeys["listen"] = SenderTests.Key;
        _broker.AddQueue(Queue);
        _broker.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    private ServiceBusClient Client() => new ServiceBusOptions { Endpoint = _broker.Endpoint, SasKeyName = "listen", SasKey = SenderTests.Key, OperationTimeoutSeconds = 5 }.CreateClient();

    private static async Task WaitAsync(Func<bool> condition, string what, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for: {what}");
            }

            await Task.Delay(25);
        }
    }

    [Fact]
    public async Task Session_processor_gets_each_session_in_order_with_the_brokers_properties()
    {
        var q = _broker.Queue(Queue);
        foreach (var i in Enumerable.Range(1, 50))
        {
            foreach (var s in new[] { "pbx-a", "pbx-b", "pbx-c" })
            {
                q.Enqueue($"{s}:{i}", s, System.Text.Encoding.UTF8.GetBytes($"{{\"seq\":{i}}}"));
            }
        }

        await using var client = Client();
        await using var processor = client.CreateSessionProcessor(Queue, new ServiceBusSessionProcessorOptions { AutoCompleteMessages = false, MaxConcurrentSessions = 2, SessionIdleTimeout = TimeSpan.FromSeconds(1) });
        var seen = new ConcurrentDictionary<string, List<string>>();
        var errors = new ConcurrentQueue<Exception>();
        processor.ProcessMessageAsync += async args =>
        {
            Assert.Equal(1, args.Message.DeliveryCount);
            Assert.True(args.Message.SequenceNumber > 0);
            Assert.True(args.Message.EnqueuedTime > DateTimeOffset.UtcNow.AddMinutes(-1));
            seen.GetOrAdd(args.SessionId, _ => []).Add(args.Message.MessageId);
            await args.CompleteMessageAsync(args.Message);
        };
        processor.ProcessErrorAsync += args =>
        {
            errors.Enqueue(args.Exception);
            return Task.CompletedTask;
        };
        await processor.StartProcessingAsync();
        await WaitAsync(() => q.Completed == 150, "150 completed");
        await processor.StopProcessingAsync();

        foreach (var s in new[] { "pbx-a", "pbx-b", "pbx-c" })
        {
            Assert.Equal(Enumerable.Range(1, 50).Select(i => $"{s}:{i}"), seen[s]);
        }

        Assert.Equal(0, q.Pending);
        Assert.DoesNotContain(errors, e => e is not ServiceBusException { Reason: ServiceBusFailureReason.ServiceTimeout });
    }

    [Fact]
    public async Task Abandon_counts_deliveries_and_after_the_max_the_broker_dead_letters_with_its_reason()
    {
        var q = _broker.Queue(Queue);
        q.MaxDeliveryCount = 3;
        q.Enqueue("bad:1", "bad", "{}"u8.ToArray());
        await using var client = Client();
        var counts = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            await using var receiver = await client.AcceptSessionAsync(Queue, "bad");
            var m = await receiver.ReceiveMessageAsync(TimeSpan.FromSeconds(5));
            Assert.NotNull(m);
            counts.Add(m.DeliveryCount);
            await receiver.AbandonMessageAsync(m);
        }

        Assert.Equal([1, 2, 3], counts);
        var dead = Assert.Single(q.DeadLetters);
        Assert.Equal("MaxDeliveryCountExceeded", dead.Reason);
    }

    [Fact]
    public async Task Dead_letter_with_a_reason_and_description_reaches_the_broker()
    {
        var q = _broker.Queue(Queue);
        q.Enqueue("junk:1", "junk", "not an envelope"u8.ToArray());
        await using var client = Client();
        await using var receiver = await client.AcceptNextSessionAsync(Queue);
        Assert.Equal("junk", receiver.SessionId);
        var m = await receiver.ReceiveMessageAsync(TimeSpan.FromSeconds(5));
        await receiver.DeadLetterMessageAsync(m, "NotAnEnvelope", "'n' is an invalid start of a value");
        var dead = Assert.Single(q.DeadLetters);
        Assert.Equal(("junk:1", "NotAnEnvelope", "'n' is an invalid start of a value"), (dead.Message.MessageId, dead.Reason, dead.Description));
    }

    [Fact]
    public async Task Session_lock_is_renewed_by_the_processor_while_a_message_is_being_processed()
    {
        var q = _broker.Queue(Queue);
        q.LockDuration = TimeSpan.FromSeconds(3);
        q.Enqueue("slow:1", "slow", "{}"u8.ToArray());
        await using var client = Client();
        await using var processor = client.CreateSessionProcessor(Queue, new ServiceBusSessionProcessorOptions { AutoCompleteMessages = false, SessionIdleTimeout = TimeSpan.FromSeconds(1) });
        processor.ProcessMessageAsync += async args =>
        {
            await Task.Delay(TimeSpan.FromSeconds(7)); // longer than two lock durations
            await args.CompleteMessageAsync(args.Message);
        };
        processor.ProcessErrorAsync += _ => Task.CompletedTask;
        await processor.StartProcessingAsync();
        await WaitAsync(() => q.Completed == 1, "completed after the long handler");
        await processor.StopProcessingAsync();
        Assert.True(q.SessionLockRenewals >= 2, $"{q.SessionLockRenewals} renewals");
        Assert.Empty(q.DeadLetters);
    }

    [Fact]
    public async Task Session_state_round_trips_through_management()
    {
        _broker.Queue(Queue).Enqueue("st:1", "st", "{}"u8.ToArray());
        await using var client = Client();
        await using var receiver = await client.AcceptSessionAsync(Queue, "st");
        await receiver.SetSessionStateAsync(new BinaryData("watermark=41"u8.ToArray()));
        Assert.Equal("watermark=41", (await receiver.GetSessionStateAsync()).ToString());
    }

    [Fact]
    public async Task A_locked_session_cannot_be_taken_by_a_second_receiver()
    {
        _broker.Queue(Queue).Enqueue("x:1", "x", "{}"u8.ToArray());
        await using var client = Client();
        await using var first = await client.AcceptSessionAsync(Queue, "x");
        var ex = await Assert.ThrowsAsync<ServiceBusException>(() => client.AcceptSessionAsync(Queue, "x"));
        Assert.Equal(ServiceBusFailureReason.SessionCannotBeLocked, ex.Reason);
    }
}
