using System.Text.Json;
using Azure.Messaging.ServiceBus;
using CloudTelephony.Contracts;

namespace CloudTelephony.ServiceBus;

/// <summary>The mapping of an <see cref="Envelope"/> or <see cref="RelayHeartbeat"/> to a Service Bus message (DESIGN.md, protocols/service-bus-amqp.md §4).</summary>
public static class FrameMessages
{
    /// <summary>Content type of envelope messages.</summary>
    public const string ContentType = "application/json";

    /// <summary>
    /// MessageId = <c>pbx:session:seq</c> (deterministic: resends are dropped by duplicate detection), SessionId = pbx,
    /// content type application/json, the UTF-8 envelope JSON as the body (one AMQP Data section).
    /// </summary>
    public static ServiceBusMessage ToMessage(Envelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        return new ServiceBusMessage(JsonSerializer.SerializeToUtf8Bytes(envelope, ContractsJson.Default.Envelope))
        {
            MessageId = envelope.MessageId,
            SessionId = envelope.Pbx,
            ContentType = ContentType,
        };
    }

    /// <summary>A relay heartbeat as a message: Subject <c>heartbeat</c>, SessionId <c>relay:&lt;id&gt;</c>, JSON body.</summary>
    public static ServiceBusMessage ToMessage(RelayHeartbeat heartbeat)
    {
        ArgumentNullException.ThrowIfNull(heartbeat);
        return new ServiceBusMessage(JsonSerializer.SerializeToUtf8Bytes(heartbeat, ContractsJson.Default.RelayHeartbeat))
        {
            MessageId = heartbeat.MessageId,
            SessionId = heartbeat.SessionId,
            ContentType = ContentType,
            Subject = RelayHeartbeat.KindValue,
        };
    }
}
