using System.Text;
using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Storage;
using Npgsql;

namespace CloudTelephony.Functions.Ingest;

/// <summary>
/// <c>IngestFrames</c>: the serviceBusTrigger on <c>pbx-frames</c> (sessions, cardinality many). The Functions host POSTs
/// <c>{"Data":{"msg":...},"Metadata":{...}}</c> to <c>/IngestFrames</c> (protocols/functions-custom-handler.md §4.1–4.2).
/// </summary>
/// <remarks>
/// <para><c>Data.msg</c> is parsed defensively: an envelope object, a string holding envelope JSON (possibly base64 of
/// it), or an array of either (batch). Metadata is only used for logging (MessageId / SessionId / DeliveryCount, single
/// or <c>...Array</c>).</para>
/// <para>Answers: <b>200</b> + <see cref="InvocationResponse"/> when every envelope of the batch is stored (a frame that
/// merely fails to parse is stored with its error). <b>500</b> when the database failed: nothing is committed, the
/// host abandons the batch, Service Bus redelivers it and finally dead-letters it. <b>400</b> when a message is not an
/// envelope (poison): the valid envelopes of the batch are still stored (idempotent on pbx, session, seq, so the
/// redeliveries change nothing), the reason is logged with the MessageId, and the failed invocation makes Service Bus
/// redeliver until <c>maxDeliveryCount</c> and dead-letter it (reason MaxDeliveryCountExceeded) — a custom handler
/// cannot dead-letter explicitly, and answering 200 would silently lose the message.</para>
/// </remarks>
public static class IngestFramesEndpoint
{
    /// <summary>The function name (folder of function.json) and the path the host posts to.</summary>
    public const string Path = "/IngestFrames";

    /// <summary>Maps <c>POST /IngestFrames</c>.</summary>
    public static void MapIngestFramesEndpoint(this IEndpointRouteBuilder app)
        => app.MapPost(Path, IngestAsync).WithName("IngestFrames").ExcludeFromDescription();

    private static async Task<IResult> IngestAsync(
        HttpRequest request, IngestPipeline pipeline, IngestProgress progress, HeartbeatStore heartbeats, TimeProvider clock, ILogger<IngestPipeline> logger, CancellationToken ct)
    {
        JsonDocument doc;
        try
        {
            doc = await JsonDocument.ParseAsync(request.Body, cancellationToken: ct);
        }
        catch (JsonException ex)
        {
            logger.LogError("IngestFrames: the invocation body is not JSON: {Message}", ex.Message);
            return Answer(400, [$"invocation body is not JSON: {ex.Message}"], []);
        }

        using (doc)
        {
            var (status, logs, sms) = await HandleAsync(doc.RootElement, pipeline, progress, heartbeats, clock, logger, ct);
            return Answer(status, logs, sms);
        }
    }

    /// <summary>
    /// Handles one invocation payload (<c>{"Data":{"msg":...},"Metadata":{...}}</c>): the same code serves the Functions
    /// host and the standalone queue consumer. Returns the HTTP status (200, 400 poison, 500 storage), log lines and the
    /// ids of SMS the batch's rules created (for the <c>outSms</c> output binding to queue <c>sms</c>).
    /// </summary>
    public static async Task<(int Status, IReadOnlyList<string> Logs, IReadOnlyList<long> SmsIds)> HandleAsync(
        JsonElement root, IngestPipeline pipeline, IngestProgress progress, HeartbeatStore heartbeats, TimeProvider clock, ILogger logger, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(progress);
        ArgumentNullException.ThrowIfNull(heartbeats);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(logger);
        {
            if (root.ValueKind != JsonValueKind.Object
                || !TryGet(root, "Data", out var data) || data.ValueKind != JsonValueKind.Object
                || !TryGet(data, "msg", out var msg))
            {
                logger.LogError("IngestFrames: the invocation has no Data.msg");
                return (400, ["invocation has no Data.msg"], []);
            }

            var meta = TryGet(root, "Metadata", out var m) && m.ValueKind == JsonValueKind.Object ? m : default;
            var messages = msg.ValueKind == JsonValueKind.Array ? msg.EnumerateArray().ToList() : [msg];
            var envelopes = new List<Envelope>(messages.Count);
            var beats = new List<RelayHeartbeat>();
            var poison = new List<string>();
            for (var i = 0; i < messages.Count; i++)
            {
                if (TryReadMessage(messages[i], out var envelope, out var heartbeat, out var why) && heartbeat is not null)
                {
                    beats.Add(heartbeat);
                }
                else if (envelope is not null && IngestPipeline.Validate([envelope]) is null)
                {
                    envelopes.Add(envelope);
                }
                else
                {
                    poison.Add($"message {MetaAt(meta, "MessageId", i, messages.Count) ?? $"#{i}"} (session {MetaAt(meta, "SessionId", i, messages.Count) ?? "?"}, "
                        + $"delivery {MetaAt(meta, "DeliveryCount", i, messages.Count) ?? "?"}) is not an envelope: {why ?? IngestPipeline.Validate([envelope])}");
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
                    logger.LogError("IngestFrames: batch of {Count} messages NOT stored ({Message}); failing the invocation so Service Bus redelivers it", messages.Count, ex.Message);
                    return (500, [$"batch not stored: {ex.Message}"], []);
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
                    logger.LogError("IngestFrames: {Count} heartbeats NOT stored ({Message}); failing the invocation", beats.Count, ex.Message);
                    return (500, [$"heartbeats not stored: {ex.Message}"], []);
                }
            }

            var summary = $"IngestFrames: {messages.Count} messages (session {MetaAt(meta, "SessionId", 0, messages.Count) ?? "?"}), "
                + $"{result?.Stored ?? 0} frames stored, {result?.ParseErrors ?? 0} parse errors, {result?.Calls ?? 0} calls, {beats.Count} heartbeats";
            if (poison.Count > 0)
            {
                foreach (var p in poison)
                {
                    logger.LogError("IngestFrames: POISON {Reason}; answering 400 so it is redelivered and dead-lettered", p);
                }

                return (400, [summary, .. poison], []);
            }

            return (200, [summary], result?.SmsIds ?? []);
        }
    }

    /// <summary>The output binding (function.json) that puts the ids of new SMS on queue <c>sms</c> for SmsDispatch.</summary>
    public const string SmsOutput = "outSms";

    /// <summary>The invocation answer; new SMS ids go to the <see cref="SmsOutput"/> binding as one message each (the id as
    /// text). The host processes outputs only on success, and dispatch claims each row once, so the in-process dispatch
    /// of the same ids is harmless.</summary>
    private static IResult Answer(int status, IReadOnlyList<string> logs, IReadOnlyList<long> sms)
    {
        var outputs = new Dictionary<string, object?>();
        if (sms.Count > 0)
        {
            outputs[SmsOutput] = sms.Select(id => id.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        }

        return Results.Json(new InvocationResponse(outputs, logs, null), ApiJson.Default.InvocationResponse, statusCode: status);
    }

    /// <summary>
    /// Reads one message value: an envelope or a relay heartbeat (<c>"kind":"heartbeat"</c>) as an object, or a string
    /// holding its JSON (or base64 of it). False with <paramref name="why"/> when it is neither.
    /// </summary>
    public static bool TryReadMessage(JsonElement value, out Envelope? envelope, out RelayHeartbeat? heartbeat, out string? why)
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
                    var text = value.GetString()!;
                    if (!LooksLikeJson(text) && TryBase64(text, out var decoded))
                    {
                        text = decoded;
                    }

                    using (var inner = JsonDocument.Parse(text))
                    {
                        return TryReadMessage(inner.RootElement, out envelope, out heartbeat, out why);
                    }

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

    /// <summary>Metadata value of message <paramref name="i"/>: <c>{key}Array[i]</c> for batches, else <c>{key}</c>.</summary>
    private static string? MetaAt(JsonElement meta, string key, int i, int count)
    {
        if (meta.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (TryGet(meta, key + "Array", out var arr) && arr.ValueKind == JsonValueKind.Array && i < arr.GetArrayLength())
        {
            return Text(arr[i]);
        }

        return count == 1 || i == 0 ? (TryGet(meta, key, out var v) ? Text(v) : null) : null;
    }

    private static string? Text(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => e.GetRawText(),
        _ => null,
    };
}
