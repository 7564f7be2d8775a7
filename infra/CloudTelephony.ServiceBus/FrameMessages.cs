using System.Text;
using System.Text.Json;
using Amqp;
using Amqp.Framing;
using CloudTelephony.Contracts;

namespace CloudTelephony.ServiceBus;

/// <summary>The mapping of an <see cref="Envelope"/> to a Service Bus message (DESIGN.md, protocols/service-bus-amqp.md §4).</summary>
public static class FrameMessages
{
    /// <summary>Content type of envelope messages.</summary>
    public const string ContentType = "application/json";

    /// <summary>
    /// MessageId = <c>pbx:session:seq</c> (deterministic: resends are dropped by duplicate detection), GroupId
    /// (SessionId) = pbx, content type application/json, one Data section with the UTF-8 envelope JSON.
    /// </summary>
    public static Message ToMessage(Envelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        return new Message
        {
            Properties = new Properties { MessageId = envelope.MessageId, GroupId = envelope.Pbx, ContentType = ContentType },
            BodySection = new Data { Binary = JsonSerializer.SerializeToUtf8Bytes(envelope, ContractsJson.Default.Envelope) },
        };
    }

    /// <summary>A relay heartbeat as a message: Subject <c>heartbeat</c>, SessionId <c>relay:&lt;id&gt;</c>, JSON body.</summary>
    public static Message ToMessage(RelayHeartbeat heartbeat)
    {
        ArgumentNullException.ThrowIfNull(heartbeat);
        return new Message
        {
            Properties = new Properties { MessageId = heartbeat.MessageId, GroupId = heartbeat.SessionId, ContentType = ContentType, Subject = RelayHeartbeat.KindValue },
            BodySection = new Data { Binary = JsonSerializer.SerializeToUtf8Bytes(heartbeat, ContractsJson.Default.RelayHeartbeat) },
        };
    }

    /// <summary>The body of <paramref name="message"/> as bytes: a Data section, or an AmqpValue string/binary; null for anything else.</summary>
    public static byte[]? BodyBytes(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return message.BodySection switch
        {
            Data d => d.Binary,
            AmqpValue { Value: string s } => Encoding.UTF8.GetBytes(s),
            AmqpValue { Value: byte[] b } => b,
            _ => null,
        };
    }
}
