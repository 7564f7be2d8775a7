using System.Text.Json;
using CloudTelephony.Contracts;

namespace CloudTelephony.ServiceBus.Tests;

/// <summary>
/// Interoperability with a real third-party AMQP 1.0 broker: RabbitMQ 3.10 from Debian packages with the
/// <c>rabbitmq_amqp1_0</c> plugin (protocols/service-bus-amqp.md §7), started by <c>infra/local/rabbitmq.sh</c>
/// (./ct test exports <c>CT_RABBITMQ</c>). RabbitMQ has no <c>$cbs</c>, so the client uses SASL PLAIN; the v1 address
/// <c>/queue/&lt;name&gt;</c> declares the queue. What must survive a foreign broker: MessageId, group-id (SessionId),
/// content type, the envelope body, and per-PBX order.
/// </summary>
public sealed class RabbitMqInteropTests
{
    private static readonly string Endpoint = Environment.GetEnvironmentVariable("CT_RABBITMQ") is { Length: > 0 } e
        ? e
        : throw new InvalidOperationException("CT_RABBITMQ is not set: run the tests through ./ct test, which starts RabbitMQ (infra/local/rabbitmq.sh)");

    private static ServiceBusOptions Options(string queue, string password = "guest") => new()
    {
        Endpoint = Endpoint,
        Queue = queue,
        SasKeyName = "guest",
        SasKey = password,
        SaslPlain = true,
        OperationTimeoutSeconds = 10,
    };

    [Fact]
    public async Task Envelopes_sent_to_rabbitmq_come_back_with_their_ids_group_and_body_in_order()
    {
        var queue = $"/queue/ct-interop-{Guid.NewGuid():N}";
        var a = SenderTests.Envelopes("pbx-a", 60);
        var b = SenderTests.Envelopes("pbx-b", 60);
        var sent = a.Zip(b).SelectMany(p => new[] { p.First, p.Second }).ToList();

        await using (var sender = new QueueSender(Options(queue)))
        {
            await sender.SendAsync(sent, CancellationToken.None);
        }

        var received = new List<ReceivedMessage>();
        await using (var receiver = new QueueReceiver(Options(queue)))
        {
            while (received.Count < sent.Count && await receiver.ReceiveAsync(TimeSpan.FromSeconds(10), CancellationToken.None) is { } m)
            {
                QueueReceiver.Accept(m);
                received.Add(m);
            }
        }

        Assert.Equal(sent.Select(e => e.MessageId), received.Select(m => m.MessageId));
        Assert.Equal(sent.Select(e => e.Pbx), received.Select(m => m.SessionId));
        Assert.All(received, m => Assert.Equal("application/json", m.ContentType));
        Assert.Equal(sent, received.Select(m => JsonSerializer.Deserialize(m.Body, ContractsJson.Default.Envelope)));
    }

    [Fact]
    public async Task A_wrong_password_is_a_clear_error_and_sends_nothing()
    {
        await using var sender = new QueueSender(Options($"/queue/ct-interop-{Guid.NewGuid():N}", password: "not-the-password"));

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => sender.SendAsync(SenderTests.Envelopes("p", 3), CancellationToken.None));

        Assert.True(ex is ServiceBusException or Amqp.AmqpException, $"unexpected {ex.GetType().Name}: {ex.Message}");
    }
}
