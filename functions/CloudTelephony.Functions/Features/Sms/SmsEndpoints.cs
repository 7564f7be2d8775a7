using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Tenancy;
using Npgsql;

namespace CloudTelephony.Functions.Sms;

/// <summary><c>POST /api/sms</c> body.</summary>
/// <param name="To">Recipient: E.164 (<c>+48600100200</c>) or national in the enterprise's region (<c>600 100 200</c>).</param>
/// <param name="Text">Message text, 1 to <see cref="SmsOptions.MaxLength"/> characters.</param>
/// <param name="CallId">Optional: the call the SMS is about (it then shows in that call's SMS history); must be a call of the enterprise.</param>
public sealed record SmsSendRequest(string? To, string? Text, long? CallId = null);

/// <summary><c>POST /api/sms</c> answer (202).</summary>
/// <param name="Id">The queued SMS.</param>
/// <param name="To">The recipient as stored (E.164).</param>
/// <param name="Status">Always <c>NEW</c> at this point.</param>
public sealed record SmsAcceptedDto(long Id, string To, string Status);

/// <summary>One queued SMS as <c>GET /api/sms/{id}</c> shows it.</summary>
public sealed record SmsDto(
    long Id,
    string To,
    string Text,
    string Status,
    int Attempts,
    DateTimeOffset NextAttemptAt,
    string? LastError,
    string? Provider,
    string? ProviderCode,
    string? ProviderMessageId,
    long? OriginRuleId,
    string? OriginUser,
    long? CallId,
    DateTimeOffset CreatedAt,
    DateTimeOffset? SentAt);

/// <summary>
/// SMS endpoints: <c>SmsSend</c> (<c>POST /api/sms</c>), <c>SmsById</c> (<c>GET /api/sms/{id}</c>) and the two non-HTTP
/// functions the Functions host POSTs to the custom handler: <c>SmsDispatch</c> (Service Bus queue <c>sms</c>, message
/// body = sms id) and <c>SmsSweep</c> (timer, every minute).
/// </summary>
public static class SmsEndpoints
{
    /// <summary>Header whose value is recorded as the SMS's author (<c>origin_user</c>).</summary>
    public const string UserHeader = "X-User-Id";

    /// <summary>Maps the endpoints.</summary>
    public static void MapSmsEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/sms", SendAsync).WithName("SmsSend").RequireToken("crm").WithTags("SMS")
            .WithSummary("Queue an SMS")
            .WithDescription("Body {\"to\": \"600 100 200\", \"text\": \"Dzień dobry\", \"callId\": 42} → 202 {id, to, status: NEW} with a Location. The whole of 'to' must be " +
                             "a phone number (digits, spaces, a leading +, - . / and parentheses). callId is optional: the call of the enterprise the SMS is about " +
                             "(it then shows in that call's SMS history; 400 for an unknown call). Header X-User-Id is recorded as the author. " +
                             "Header Idempotency-Key (1–255 printable characters, e.g. a UUID; kept Sms:IdempotencyHours, 24 by default): " +
                             "the same key with the same request answers the same SMS (Idempotent-Replayed: true), with another request 422.")
            .Accepts<SmsSendRequest>("application/json").RequireJsonBody()
            .Produces<SmsAcceptedDto>(StatusCodes.Status202Accepted).ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable).ProducesCrmAuthProblems();
        app.MapGet("/api/sms/{id:long}", GetAsync).WithName("SmsById").RequireToken("crm").WithTags("SMS")
            .WithSummary("One queued SMS")
            .WithDescription("Status, attempts, last error with the provider's code, provider message id and origin. 404 for an unknown id or an SMS of another enterprise.")
            .Produces<SmsDto>().ProducesProblem(StatusCodes.Status404NotFound).ProducesCrmAuthProblems();
        app.MapPost("/SmsDispatch", DispatchAsync).WithName("SmsDispatch").ExcludeFromDescription();
        app.MapPost("/SmsSweep", SweepAsync).WithName("SmsSweep").ExcludeFromDescription();
    }

    /// <summary>Request header that makes <c>POST /api/sms</c> idempotent (IETF draft "The Idempotency-Key HTTP Header Field").</summary>
    public const string IdempotencyHeader = "Idempotency-Key";

    /// <summary>Answer header set when an idempotent repeat returns the SMS an earlier request created.</summary>
    public const string ReplayedHeader = "Idempotent-Replayed";

    /// <summary>
    /// Queues an SMS for the token's enterprise: 202 + <see cref="SmsAcceptedDto"/> and a Location; 400 problem details
    /// naming the field for a bad body, number, text or header; 503 when the database failed. With an
    /// <c>Idempotency-Key</c>: the same key with the same request (recipient as E.164, text, X-User-Id) answers 202 with the
    /// SMS the first request created (and <c>Idempotent-Replayed: true</c>), the same key with another request 422. With a
    /// <c>callId</c>: the SMS is filed under that call of the enterprise (400 naming <c>callId</c> when there is none).
    /// </summary>
    private static async Task<IResult> SendAsync(
        HttpContext context, NpgsqlDataSource db, SmsOptions options, SmsQueue queue, TimeProvider clock, CancellationToken ct)
    {
        try
        {
            var enterpriseId = context.ApiToken().EnterpriseId;
            SmsSendRequest? body;
            try
            {
                body = await context.Request.ReadFromJsonAsync(ApiJson.Default.SmsSendRequest, ct);
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                return Results.Problem(statusCode: 400, title: "body must be a JSON object {\"to\": \"+48…\", \"text\": \"…\"}", detail: ex.Message);
            }

            var region = await CrmContext.RegionAsync(context, ct);
            var errors = new Dictionary<string, string[]>();
            string? to = null;
            if (string.IsNullOrWhiteSpace(body?.To))
            {
                errors["to"] = ["is required"];
            }
            else if (SmsNumbers.SyntaxProblem(body.To) is { } syntax)
            {
                errors["to"] = [$"'{Contacts.ContactEndpoints.Shown(body.To)}' {syntax}"];
            }
            else if (SmsNumbers.Normalize(body.To, region) is { } n)
            {
                to = n.E164;
            }
            else
            {
                errors["to"] = [$"'{body.To}' is not a valid phone number (E.164 like +48600100200, or national in region {region})"];
            }

            if (string.IsNullOrWhiteSpace(body?.Text))
            {
                errors["text"] = ["is required and must not be blank"];
            }
            else if (body.Text.Length > options.MaxLength)
            {
                errors["text"] = [$"is {body.Text.Length} characters long; at most {options.MaxLength} are allowed"];
            }
            else
            {
                TextInput.CheckText(body.Text, "text", errors);
            }

            var user = context.Request.Headers[UserHeader].ToString().Trim();
            if (user.Length > 200)
            {
                errors[UserHeader] = ["must be at most 200 characters"];
            }
            else
            {
                TextInput.CheckSingleLine(user, UserHeader, errors);
            }

            var key = context.Request.Headers[IdempotencyHeader].ToString();
            if (context.Request.Headers.ContainsKey(IdempotencyHeader) && (key.Length is 0 or > 255 || key.Any(c => c is < '!' or > '~')))
            {
                errors[IdempotencyHeader] = ["must be 1–255 printable ASCII characters without spaces (e.g. a UUID)"];
            }

            if (errors.Count > 0)
            {
                return Results.ValidationProblem(errors, title: "the SMS was not queued");
            }

            var now = clock.GetUtcNow();
            // the request as the idempotency key remembers it (the call, when given, is part of it)
            var request = body!.CallId is { } callId ? $"{to}\n{body.Text}\n{user}\ncall {callId}" : $"{to}\n{body.Text}\n{user}";
            var fingerprint = SHA256.HashData(Encoding.UTF8.GetBytes(request));
            await using var conn = await db.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            if (key.Length > 0)
            {
                // The key row is inserted first: a concurrent request with the same key waits on it, then finds it.
                const string claim = """
                    DELETE FROM ct.sms_idempotency WHERE created_at < @expired;
                    INSERT INTO ct.sms_idempotency (enterprise_id, key, request_sha256, created_at) VALUES (@e, @k, @h, @now)
                    ON CONFLICT (enterprise_id, key) DO NOTHING
                    RETURNING true
                    """;
                await using var cmd = new NpgsqlCommand(claim, conn, tx);
                cmd.Parameters.AddWithValue("expired", now.AddHours(-options.IdempotencyHours));
                cmd.Parameters.AddWithValue("e", enterpriseId);
                cmd.Parameters.AddWithValue("k", key);
                cmd.Parameters.AddWithValue("h", fingerprint);
                cmd.Parameters.AddWithValue("now", now);
                if (await cmd.ExecuteScalarAsync(ct) is not true)
                {
                    await tx.RollbackAsync(ct);
                    return await ReplayAsync(context, db, enterpriseId, key, fingerprint, ct);
                }
            }

            const string sql = """
                INSERT INTO ct.sms_out (enterprise_id, to_number, text, origin_user, next_attempt_at, triggered_at, call_id)
                SELECT @enterprise, @to, @text, @user, @now, @now, @call
                 WHERE @call::bigint IS NULL
                    OR EXISTS (SELECT 1 FROM ct.calls c JOIN ct.pbxes p ON p.id = c.pbx WHERE c.id = @call AND p.enterprise_id = @enterprise)
                RETURNING id
                """;
            long id;
            await using (var cmd = new NpgsqlCommand(sql, conn, tx))
            {
                cmd.Parameters.AddWithValue("enterprise", enterpriseId);
                cmd.Parameters.AddWithValue("to", to!);
                cmd.Parameters.AddWithValue("text", body.Text!);
                cmd.Parameters.AddWithValue("user", user.Length > 0 ? user : DBNull.Value);
                cmd.Parameters.AddWithValue("now", now);
                cmd.Parameters.Add(new NpgsqlParameter("call", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)body.CallId ?? DBNull.Value });
                if (await cmd.ExecuteScalarAsync(ct) is not long inserted)
                {
                    await tx.RollbackAsync(ct); // the idempotency key is not spent on a refused request
                    return Results.ValidationProblem(new Dictionary<string, string[]> { ["callId"] = [$"no call with id {body.CallId}"] }, title: "the SMS was not queued");
                }

                id = inserted;
            }

            if (key.Length > 0)
            {
                await using var cmd = new NpgsqlCommand("UPDATE ct.sms_idempotency SET sms_id = @id WHERE enterprise_id = @e AND key = @k", conn, tx);
                cmd.Parameters.AddWithValue("id", id);
                cmd.Parameters.AddWithValue("e", enterpriseId);
                cmd.Parameters.AddWithValue("k", key);
                await cmd.ExecuteNonQueryAsync(ct);
            }

            await tx.CommitAsync(ct);
            queue.Enqueue([id]);
            return Results.Accepted(SmsPath(id), new SmsAcceptedDto(id, to!, "NEW"));
        }
        catch (NpgsqlException ex)
        {
            return Results.Problem(statusCode: 503, title: "the SMS was not queued: database unavailable", detail: ex.Message);
        }
    }

    /// <summary>The path of an SMS (the <c>Location</c> of a queued one).</summary>
    public static string SmsPath(long id) => "/api/sms/" + id.ToString(CultureInfo.InvariantCulture);

    /// <summary>A repeat of an idempotency key: the SMS it created (202, its current status), or 422 for another request.</summary>
    private static async Task<IResult> ReplayAsync(HttpContext context, NpgsqlDataSource db, long enterpriseId, string key, byte[] fingerprint, CancellationToken ct)
    {
        const string sql = """
            SELECT k.request_sha256, s.id, s.to_number, s.status
              FROM ct.sms_idempotency k LEFT JOIN ct.sms_out s ON s.id = k.sms_id
             WHERE k.enterprise_id = @e AND k.key = @k
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("k", key);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct) || r.IsDBNull(1))
        {
            // the first request's transaction rolled back after we waited on it, or its SMS was deleted
            return Results.Problem(statusCode: 409, title: "idempotency key in use",
                detail: $"the request that used {IdempotencyHeader} '{key}' did not complete; send it again");
        }

        if (!r.GetFieldValue<byte[]>(0).AsSpan().SequenceEqual(fingerprint))
        {
            return Results.Problem(statusCode: 422, title: "idempotency key reused",
                detail: $"{IdempotencyHeader} '{key}' was used for another request (recipient, text, callId or {UserHeader}); use a new key for a new SMS");
        }

        var id = r.GetInt64(1);
        context.Response.Headers[ReplayedHeader] = "true";
        return Results.Accepted(SmsPath(id), new SmsAcceptedDto(id, r.GetString(2), r.GetString(3)));
    }

    private static async Task<IResult> GetAsync(long id, HttpContext context, NpgsqlDataSource db, CancellationToken ct)
    {
        var enterpriseId = context.ApiToken().EnterpriseId;
        const string sql = """
            SELECT id, to_number, text, status, attempts, next_attempt_at, last_error, provider, provider_code, provider_message_id,
                   origin_rule_id, origin_user, call_id, created_at, sent_at
              FROM ct.sms_out WHERE id = @id AND enterprise_id = @enterprise
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("enterprise", enterpriseId);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct))
        {
            return Results.Problem(statusCode: 404, title: "sms not found", detail: $"no sms with id {id}");
        }

        string? S(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        long? L(int i) => r.IsDBNull(i) ? null : r.GetInt64(i);
        return Results.Ok(new SmsDto(
            r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt32(4), r.GetFieldValue<DateTimeOffset>(5),
            S(6), S(7), S(8), S(9), L(10), S(11), L(12), r.GetFieldValue<DateTimeOffset>(13),
            r.IsDBNull(14) ? null : r.GetFieldValue<DateTimeOffset>(14)));
    }

    /// <summary>
    /// <c>SmsDispatch</c>: the host's serviceBusTrigger payload <c>{"Data":{"msg":…},"Metadata":{…}}</c> (queue
    /// <c>sms</c>, <c>"dataType": "string"</c>), decoded by <see cref="InvocationRequest.ServiceBusMessages"/>; the id is
    /// read from the message body (<see cref="SmsMessageIds.Parse(string?)"/>: digits, JSON holding them, or an object
    /// with <c>id</c>). 200 with
    /// <see cref="InvocationResponse"/> whatever the SMS outcome (provider failures are handled in the outbox; a message
    /// that names no sms id cannot get better by redelivery); 503 only when the database failed, so Service Bus redelivers.
    /// </summary>
    private static async Task<IResult> DispatchAsync(HttpRequest request, SmsDispatcher dispatcher, ILogger<SmsDispatcher> logger, CancellationToken ct)
    {
        ServiceBusTriggerMessage? message = null;
        try
        {
            message = (await InvocationRequest.ReadAsync(request, ct)).ServiceBusMessages("msg") is [var first, ..] ? first : null;
        }
        catch (InvocationFormatException ex)
        {
            logger.LogWarning("SmsDispatch: {Message}; ignored", ex.Message);
        }

        if (SmsMessageIds.Parse(message?.Body) is not { } id)
        {
            var shown = message?.Body ?? "(no Data.msg)";
            shown = shown.Length > 100 ? shown[..100] : shown;
            logger.LogWarning("SmsDispatch: message {Message} names no sms id; ignored", shown);
            return Invocation.Ok([$"ignored: the message names no sms id: {shown}"]);
        }

        try
        {
            var outcome = await dispatcher.DispatchAsync(id, ct);
            return Invocation.Ok([$"sms {id}: {outcome.ToString().ToLowerInvariant()}" + (message?.DeliveryCount is { } delivery ? $" (delivery {delivery})" : "")]);
        }
        catch (NpgsqlException ex)
        {
            logger.LogError(LogEvents.SmsDispatchFailed, "SmsDispatch: sms {Id} not dispatched, database failed: {Error}", id, ex.Message);
            return Results.Problem(statusCode: 503, title: "database unavailable; the message will be redelivered", detail: ex.Message);
        }
    }

    /// <summary><c>SmsSweep</c>: the host's timerTrigger payload (ignored apart from being a POST); 200 with the counts in
    /// <c>Logs</c> and <c>ReturnValue</c>; 503 when the database failed (the invocation shows as failed).</summary>
    private static async Task<IResult> SweepAsync(SmsDispatcher dispatcher, ILogger<SmsDispatcher> logger, CancellationToken ct)
    {
        try
        {
            var r = await dispatcher.SweepAsync(ct);
            var line = $"sms sweep: {r.Due} due, {r.Sent} sent, {r.Retry} to retry, {r.Failed} failed, {r.Stuck} stuck";
            if (r.Stuck > 0)
            {
                logger.LogWarning("{Line}", line);
            }

            return Invocation.Ok([line], returnValue: r);
        }
        catch (NpgsqlException ex)
        {
            return Results.Problem(statusCode: 503, title: "sms sweep failed: database unavailable", detail: ex.Message);
        }
    }

}

/// <summary>Reads an sms id from a Service Bus message body as the Functions host hands it to a custom handler.</summary>
public static class SmsMessageIds
{
    /// <summary>
    /// The id in a message <paramref name="body"/>: the digits (<c>42</c>), JSON holding them (<c>"42"</c>, <c>"\"42\""</c>),
    /// an object with <c>id</c> or <c>smsId</c>, or base64 of the digits (a binary body).
    /// </summary>
    /// <returns>The id, or null when there is none (or it is not positive).</returns>
    public static long? Parse(string? body) => body is null ? null : FromText(body.Trim(), 0) is > 0 and var id ? id : null;

    /// <summary>The id in a JSON <paramref name="value"/>: a number, a string as in <see cref="Parse(string?)"/>, or an object with <c>id</c>.</summary>
    /// <returns>The id, or null when there is none (or it is not positive).</returns>
    public static long? Parse(JsonElement value, int depth = 0)
    {
        long? id = value.ValueKind switch
        {
            JsonValueKind.Number when value.TryGetInt64(out var n) => n,
            JsonValueKind.String => FromText(value.GetString()!.Trim(), depth),
            JsonValueKind.Object when value.TryGetProperty("id", out var p) || value.TryGetProperty("smsId", out p) => depth < 3 ? Parse(p, depth + 1) : null,
            _ => null,
        };
        return id is > 0 ? id : null;
    }

    private static long? FromText(string text, int depth)
    {
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return n;
        }

        if (depth >= 3 || text.Length == 0)
        {
            return null;
        }

        try
        {
            using var inner = JsonDocument.Parse(text);
            return Parse(inner.RootElement, depth + 1);
        }
        catch (JsonException)
        {
        }

        var bytes = new byte[text.Length];
        if (Convert.TryFromBase64String(text, bytes, out var written))
        {
            var decoded = Encoding.ASCII.GetString(bytes, 0, written);
            return long.TryParse(decoded, NumberStyles.None, CultureInfo.InvariantCulture, out n) ? n : null;
        }

        return null;
    }
}
