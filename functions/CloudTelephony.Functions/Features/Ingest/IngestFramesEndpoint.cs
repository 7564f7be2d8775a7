using System.Text;
using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Storage;
using Npgsql;

namespace CloudTelephony.Functions.Ingest;

/// <summary>
/// <c>IngestFrames</c>: the serviceBusTrigger on <c>pbx-frames</c> (sessions, cardinality many, <c>"dataType":
/// "string"</c>). The Functions host POSTs <c>{"Data":{"msg":…},"Metadata":{…}}</c> to <c>/IngestFrames</c>; the
/// payload is decoded by <see cref="InvocationRequest.ServiceBusMessages"/> exactly as the host writes it
/// (protocols/functions-custom-handler.md §4.2: <c>Data.msg</c> is a JSON string holding the array of body strings,
/// the metadata arrays are JSON strings too).
/// </summary>
/// <remarks>
/// <para>Each body is an envelope or a relay heartbeat as JSON (base64 of it is accepted too: a body bound as bytes).
/// Metadata (MessageId / SessionId / DeliveryCount) is only used for logging.</para>
/// <para>Answers: <b>200</b> + <see cref="InvocationResponse"/> when every envelope of the batch is stored (a frame that
/// merely fails to parse is stored with its error). <b>500</b> when the database failed: nothing is committed, the
/// host abandons the batch, Service Bus redelivers it and finally dead-letters it. <b>400</b> when a message is not an
/// envelope (poison): the valid envelopes of the batch are still stored (idempotent on pbx, session, seq, so the
/// redeliveries change nothing), the reason is logged with the MessageId, and the failed invocation makes Service Bus
/// redeliver until <c>maxDeliveryCount</c> and dead-letter it (reason MaxDeliveryCountExceeded) — a custom handler
/// cannot dead-letter explicitly, and answering 200 would silently lose the message. (The standalone consumer,
/// <see cref="QueueIngestService"/>, dead-letters a poison message at once with the reason.)</para>
/// </remarks>
public static class IngestFramesEndpoint
{
    /// <summary>The function name (folder of function.json) and the path the host posts to.</summary>
    public const string Path = "/IngestFrames";

    /// <summary>The trigger's binding name.</summary>
    public const string Binding = "msg";

    /// <summary>Maps <c>POST /IngestFrames</c>.</summary>
    public static void MapIngestFramesEndpoint(this IEndpointRouteBuilder app)
        => app.MapPost(Path, IngestAsync).WithName("IngestFrames").ExcludeFromDescription();

    private static async Task<IResult> IngestAsync(
        HttpRequest request, CorrelateAndStore pipeline, IngestProgress progress, HeartbeatStore heartbeats, TimeProvider clock, ILogger<CorrelateAndStore> logger, CancellationToken ct)
    {
        IReadOnlyList<ServiceBusTriggerMessage> messages;
        try
        {
            messages = (await InvocationRequest.ReadAsync(request, ct)).ServiceBusMessages(Binding);
        }
        catch (InvocationFormatException ex)
        {
            logger.LogError(LogEvents.PoisonMessage, "IngestFrames: {Message}", ex.Message);
            return Invocation.Failed(400, [ex.Message]);
        }

        if (messages.Count == 0)
        {
            logger.LogError(LogEvents.PoisonMessage, "IngestFrames: the invocation has no Data.msg");
            return Invocation.Failed(400, ["invocation has no Data.msg"]);
        }

        var outcome = await HandleAsync(messages, pipeline, progress, heartbeats, clock, logger, ct);
        return outcome.Status == 200
            ? Invocation.Ok(outcome.Logs, outcome.SmsIds.Count > 0 ? Invocation.ServiceBusOutput(SmsOutput, outcome.SmsIds.Select(id => id.ToString(System.Globalization.CultureInfo.InvariantCulture))) : null)
            : Invocation.Failed(outcome.Status, outcome.Logs);
    }

    /// <summary>
    /// Stores the messages of one invocation (the Functions host's batch, or one message of the standalone consumer):
    /// envelopes through <see cref="CorrelateAndStore"/>, relay heartbeats through <see cref="HeartbeatStore"/>.
    /// </summary>
    /// <returns>
    /// Status 200 (stored), 400 (a message is not an envelope; the others are stored; <see cref="FramesOutcome.Poison"/>
    /// says which and why) or 500 (storage failed, nothing stored); log lines; the ids of SMS the batch's rules created
    /// (for the <c>outSms</c> output binding to queue <c>sms</c>).
    /// </returns>
    public static async Task<FramesOutcome> HandleAsync(
        IReadOnlyList<ServiceBusTriggerMessage> messages, CorrelateAndStore pipeline, IngestProgress progress, HeartbeatStore heartbeats, TimeProvider clock, ILogger logger, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(progress);
        ArgumentNullException.ThrowIfNull(heartbeats);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(logger);
        var envelopes = new List<Envelope>(messages.Count);
        var beats = new List<RelayHeartbeat>();
        var poison = new List<(ServiceBusTriggerMessage Message, string Reason)>();
        foreach (var m in messages)
        {
            if (TryReadMessage(m.Body, out var envelope, out var heartbeat, out var why) && heartbeat is not null)
            {
                beats.Add(heartbeat);
            }
            else if (envelope is not null && CorrelateAndStore.Validate([envelope]) is null)
            {
                envelopes.Add(envelope);
            }
            else
            {
                poison.Add((m, why ?? CorrelateAndStore.Validate([envelope]) ?? "not an envelope"));
            }
        }

        IngestResult? result = null;
        if (envelopes.Count > 0)
        {
            try
            {
                result = await pipeline.IngestAsync(envelopes, ct);
                progress.Add(result);
            }
            catch (NpgsqlException ex)
            {
                logger.LogError(LogEvents.BatchFailed, "IngestFrames: batch of {Count} messages NOT stored ({Message}); failing the invocation so Service Bus redelivers it", messages.Count, ex.Message);
                return new FramesOutcome(500, [$"batch not stored: {ex.Message}"], [], []);
            }
        }

        if (beats.Count > 0)
        {
            try
            {
                await heartbeats.SaveAsync(beats, clock.GetUtcNow(), ct);
            }
            catch (NpgsqlException ex)
            {
                logger.LogError(LogEvents.HeartbeatFailed, "IngestFrames: {Count} heartbeats NOT stored ({Message}); failing the invocation", beats.Count, ex.Message);
                return new FramesOutcome(500, [$"heartbeats not stored: {ex.Message}"], [], []);
            }
        }

        var summary = $"IngestFrames: {messages.Count} messages (session {messages[0].SessionId ?? "?"}), "
            + $"{result?.Stored ?? 0} frames stored, {result?.ParseErrors ?? 0} parse errors, {result?.Calls ?? 0} calls, {beats.Count} heartbeats";
        if (poison.Count > 0)
        {
            var lines = poison.Select(p => $"message {p.Message.MessageId ?? $"#{p.Message.Index}"} (session {p.Message.SessionId ?? "?"}, delivery {p.Message.DeliveryCount?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}) is not an envelope: {p.Reason}").ToList();
            foreach (var p in lines)
            {
                logger.LogError(LogEvents.PoisonMessage, "IngestFrames: POISON {Reason}; answering 400 so it is redelivered and dead-lettered", p);
            }

            return new FramesOutcome(400, [summary, .. lines], result?.SmsIds ?? [], [.. poison.Select(p => p.Reason)]);
        }

        return new FramesOutcome(200, [summary], result?.SmsIds ?? [], []);
    }

    /// <summary>The output binding (function.json) that puts the ids of new SMS on queue <c>sms</c> for SmsDispatch.</summary>
    public const string SmsOutput = "outSms";

    /// <summary>
    /// Reads one message body: an envelope or a relay heartbeat (<c>"kind":"heartbeat"</c>) as JSON, or base64 of that
    /// JSON. False with <paramref name="why"/> when it is neither.
    /// </summary>
    public static bool TryReadMessage(string body, out Envelope? envelope, out RelayHeartbeat? heartbeat, out string? why)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (!LooksLikeJson(body) && TryBase64(body, out var decoded))
        {
            body = decoded;
        }

        try
        {
            using var doc = JsonDocument.Parse(body);
            return TryReadMessage(doc.RootElement, out envelope, out heartbeat, out why);
        }
        catch (JsonException ex)
        {
            (envelope, heartbeat, why) = (null, null, ex.Message);
            return false;
        }
    }

    /// <summary>Reads one message value: an envelope or heartbeat object, or a string holding its JSON.</summary>
    private static bool TryReadMessage(JsonElement value, out Envelope? envelope, out RelayHeartbeat? heartbeat, out string? why)
    {
        envelope = null;
        heartbeat = null;
        why = null;
        try
        {
            switch (value.ValueKind)
            {
                case JsonValueKind.Object:
                    if (TryGet(value, "kind", out var kind) && kind.ValueKind == JsonValueKind.String && kind.GetString() == RelayHeartbeat.KindValue)
                    {
                        heartbeat = value.Deserialize(ContractsJson.Default.RelayHeartbeat);
                        why = heartbeat is { RelayId.Length: > 0 } ? null : "heartbeat without relayId";
                        return why is null;
                    }

                    envelope = value.Deserialize(ContractsJson.Default.Envelope);
                    break;
                case JsonValueKind.String:
                    return TryReadMessage(value.GetString()!, out envelope, out heartbeat, out why);
                default:
                    why = $"a JSON {value.ValueKind.ToString().ToLowerInvariant()}, not an object";
                    return false;
            }
        }
        catch (JsonException ex)
        {
            why = ex.Message;
            return false;
        }

        why = envelope is null ? "null" : null;
        return envelope is not null;
    }

    private static bool LooksLikeJson(string s)
    {
        var t = s.TrimStart();
        return t.Length > 0 && t[0] is '{' or '[' or '"';
    }

    private static bool TryBase64(string s, out string text)
    {
        var buffer = new byte[s.Length];
        if (Convert.TryFromBase64String(s, buffer, out var n))
        {
            text = Encoding.UTF8.GetString(buffer, 0, n);
            return LooksLikeJson(text);
        }

        text = s;
        return false;
    }

    private static bool TryGet(JsonElement e, string name, out JsonElement value)
    {
        foreach (var p in e.EnumerateObject())
        {
            if (p.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                value = p.Value;
                return true;
            }
        }

        value = default;
        return false;
    }
}

/// <summary>What <see cref="IngestFramesEndpoint.HandleAsync"/> did with one invocation's messages.</summary>
/// <param name="Status">200 stored, 400 poison (the others stored), 500 storage failed (nothing stored).</param>
/// <param name="Logs">Log lines for the invocation.</param>
/// <param name="SmsIds">Ids of SMS created by the batch's rules.</param>
/// <param name="Poison">Why each poison message is not an envelope (empty unless 400).</param>
public sealed record FramesOutcome(int Status, IReadOnlyList<string> Logs, IReadOnlyList<long> SmsIds, IReadOnlyList<string> Poison);
