using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.ServiceBus;
using CloudTelephony.Storage;

namespace CloudTelephony.Functions.Ingest;

/// <summary>
/// Standalone mode (no Functions host): consumes the frames queue from an AMQP 1.0 broker itself (configuration
/// section <c>ServiceBus</c>: Endpoint, Queue, SasKeyName/SasKey or SaslPlain), builds the payload the host would post
/// for a serviceBusTrigger batch (<c>Data.msg</c> array of body strings, <c>MessageIdArray</c>, <c>SessionIdArray</c>,
/// <c>DeliveryCountArray</c>) per session, and runs <see cref="IngestFramesEndpoint.HandleAsync"/>: 200 → accept,
/// 500 → release (redelivered), 400 → release until <see cref="MaxDeliveryCount"/>, then reject (dead-letter), like
/// Service Bus does for a failing function.
/// </summary>
public sealed class QueueIngestService(
    ServiceBusOptions options,
    IngestPipeline pipeline,
    IngestProgress progress,
    HeartbeatStore heartbeats,
    TimeProvider clock,
    ILogger<QueueIngestService> logger) : BackgroundService
{
    /// <summary>Deliveries of a failing message before it is dead-lettered (Service Bus default 10).</summary>
    public const int MaxDeliveryCount = 10;

    private readonly Dictionary<string, int> _deliveries = new(StringComparer.Ordinal);

    /// <summary>Messages accepted since start.</summary>
    public long Accepted { get; private set; }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        logger.LogInformation("standalone: consuming {Queue} from {Endpoint}", options.Queue, options.Endpoint);
        await using var receiver = new QueueReceiver(options, credit: 500, logger);
        var backoff = TimeSpan.FromMilliseconds(200);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var first = await receiver.ReceiveAsync(TimeSpan.FromSeconds(5), stoppingToken);
                if (first is null)
                {
                    continue;
                }

                var batch = new List<ReceivedMessage> { first };
                while (batch.Count < 500 && await receiver.ReceiveAsync(TimeSpan.FromMilliseconds(20), stoppingToken) is { } more)
                {
                    batch.Add(more);
                }

                foreach (var session in batch.GroupBy(m => m.SessionId ?? ""))
                {
                    await InvokeAsync([.. session], stoppingToken);
                }

                backoff = TimeSpan.FromMilliseconds(200);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is Amqp.AmqpException or ServiceBusException or TimeoutException or IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
            {
                logger.LogWarning("standalone: receiving from {Endpoint} failed: {Message}; retrying in {Delay:0.0} s", options.Endpoint, ex.Message, backoff.TotalSeconds);
                await Task.Delay(backoff, clock, stoppingToken);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }
    }

    private async Task InvokeAsync(List<ReceivedMessage> messages, CancellationToken ct)
    {
        var counts = messages.Select(m => _deliveries.TryGetValue(m.MessageId ?? "", out var n) ? n + 1 : 1).ToList();
        var payload = new JsonObject
        {
            ["Data"] = new JsonObject { ["msg"] = new JsonArray([.. messages.Select(m => (JsonNode?)JsonValue.Create(m.Body is null ? "" : Encoding.UTF8.GetString(m.Body)))]) },
            ["Metadata"] = new JsonObject
            {
                ["MessageIdArray"] = new JsonArray([.. messages.Select(m => (JsonNode?)JsonValue.Create(m.MessageId))]),
                ["SessionIdArray"] = new JsonArray([.. messages.Select(m => (JsonNode?)JsonValue.Create(m.SessionId))]),
                ["DeliveryCountArray"] = new JsonArray([.. counts.Select(c => (JsonNode?)JsonValue.Create(c))]),
            },
        };
        using var doc = JsonDocument.Parse(payload.ToJsonString());
        var (status, logs, _) = await IngestFramesEndpoint.HandleAsync(doc.RootElement, pipeline, progress, heartbeats, clock, logger, ct);
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            var id = m.MessageId ?? "";
            if (status / 100 == 2)
            {
                QueueReceiver.Accept(m);
                _deliveries.Remove(id);
                Accepted++;
            }
            else if (counts[i] >= MaxDeliveryCount)
            {
                QueueReceiver.Reject(m, "MaxDeliveryCountExceeded", string.Join("; ", logs));
                _deliveries.Remove(id);
                logger.LogError("standalone: message {MessageId} dead-lettered after {Count} deliveries: {Reason}", id, counts[i], string.Join("; ", logs));
            }
            else
            {
                QueueReceiver.Release(m);
                _deliveries[id] = counts[i];
            }
        }
    }
}
