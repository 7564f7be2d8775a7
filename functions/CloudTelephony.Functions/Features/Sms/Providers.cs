using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CloudTelephony.Functions.Hosting;
using Polly.Timeout;

namespace CloudTelephony.Functions.Sms;

/// <summary>The <c>log</c> provider for local runs: logs that an SMS would be sent and reports it sent. The log line carries
/// the recipient masked like telemetry does (<see cref="CloudTelephony.Telemetry.PhoneMask"/>, last 3 digits) and the
/// text's length, never the text: logs travel further than the outbox.</summary>
public sealed class LogSmsProvider(ILogger<LogSmsProvider> logger) : ISmsProvider
{
    /// <inheritdoc />
    public string Name => "log";

    /// <inheritdoc />
    public Task<SmsSendResult> SendAsync(SmsMessage message, CancellationToken ct)
    {
        logger.LogInformation("SMS {Id} to {To} (log provider, not sent): {Length} characters", message.Id,
            CloudTelephony.Telemetry.PhoneMask.Mask(message.To), message.Text.Length);
        return Task.FromResult(SmsSendResult.Sent($"log-{message.Id}"));
    }
}

/// <summary>HTTP plumbing shared by the HTTP providers: the named client (timeout from Microsoft.Extensions.Http.Resilience)
/// and the mapping of network failures and HTTP statuses to transient/permanent results.</summary>
public abstract class HttpSmsProvider(IHttpClientFactory clients) : ISmsProvider
{
    /// <summary>Name of the <see cref="HttpClient"/> registered for providers.</summary>
    public const string ClientName = "sms-provider";

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public async Task<SmsSendResult> SendAsync(SmsMessage message, CancellationToken ct)
    {
        using var request = CreateRequest(message);
        try
        {
            using var response = await clients.CreateClient(ClientName).SendAsync(request, ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            return Interpret(response.StatusCode, body);
        }
        catch (TimeoutRejectedException)
        {
            return SmsSendResult.Transient("timeout", "the provider did not answer in time");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return SmsSendResult.Transient("timeout", "the provider did not answer in time");
        }
        catch (HttpRequestException ex)
        {
            return SmsSendResult.Transient("network", $"request failed: {ex.Message}");
        }
    }

    /// <summary>Builds the provider request (headers with secrets included).</summary>
    protected abstract HttpRequestMessage CreateRequest(SmsMessage message);

    /// <summary>Maps the provider's answer to a result.</summary>
    protected abstract SmsSendResult Interpret(HttpStatusCode status, string body);

    /// <summary>429, 408 and 5xx are transient; other non-2xx statuses permanent; null for 2xx.</summary>
    protected static SmsSendKind? KindOf(HttpStatusCode status) => (int)status switch
    {
        >= 200 and < 300 => null,
        429 or 408 or >= 500 => SmsSendKind.Transient,
        _ => SmsSendKind.Permanent,
    };

    /// <summary>A short, single-line excerpt of a body for an error reason.</summary>
    protected static string Excerpt(string body)
    {
        var flat = string.Join(' ', body.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return flat.Length == 0 ? "(empty body)" : flat.Length <= 200 ? flat : flat[..200] + "…";
    }

    /// <summary>Reads a JSON body; null when it is not a JSON object.</summary>
    protected static JsonElement? TryParseObject(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.ValueKind == JsonValueKind.Object ? doc.RootElement.Clone() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A JSON property as text whether it is a string or a number; null when absent or null.</summary>
    protected static string? Text(JsonElement obj, string name)
        => obj.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Number => v.GetRawText(),
            _ => null,
        } : null;
}

/// <summary>
/// SMSAPI (smsapi.pl): <c>POST https://api.smsapi.pl/sms.do</c>, header <c>Authorization: Bearer &lt;token&gt;</c>,
/// form fields <c>to</c>, <c>message</c>, <c>format=json</c>, <c>encoding=utf-8</c>, <c>idx</c> + <c>check_idx=1</c>
/// (idempotency), optional <c>from</c>, <c>test</c>. Success: <c>{"count":1,"list":[{"id":"…","points":0.16,"number":"48…","status":"QUEUE"}]}</c>;
/// failure: <c>{"error":&lt;code&gt;,"message":"…"}</c> (code a number on the legacy endpoint; the newer REST API answers a
/// string code such as <c>invalid_request_data</c>).
/// </summary>
public sealed class SmsapiProvider(IHttpClientFactory clients, SmsOptions options) : HttpSmsProvider(clients)
{
    /// <summary>Error codes worth retrying: 52 too many messages to one number in a short time, 201 internal error,
    /// 202/203 too many (simultaneous) requests, 999 internal error. Every other code is permanent (authorisation 101/102,
    /// no credit 103, bad number 13, bad text 11 …).</summary>
    private static readonly HashSet<string> TransientCodes = ["52", "201", "202", "203", "999"];

    /// <summary>check_idx refused a second message with the same idx: our earlier attempt was accepted.</summary>
    private const string DuplicateIdx = "53";

    /// <inheritdoc />
    public override string Name => "smsapi";

    /// <inheritdoc />
    protected override HttpRequestMessage CreateRequest(SmsMessage message)
    {
        var o = options.Smsapi;
        var form = new List<KeyValuePair<string, string>>
        {
            new("to", message.To.TrimStart('+')),
            new("message", message.Text),
            new("format", "json"),
            new("encoding", "utf-8"),
            new("idx", o.IdxPrefix + message.Id.ToString(CultureInfo.InvariantCulture)),
            new("check_idx", "1"),
        };
        if (!string.IsNullOrWhiteSpace(o.From))
        {
            form.Add(new("from", o.From));
        }

        if (o.Test)
        {
            form.Add(new("test", "1"));
        }

        var request = new HttpRequestMessage(HttpMethod.Post, o.Url) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", o.Token);
        return request;
    }

    /// <inheritdoc />
    protected override SmsSendResult Interpret(HttpStatusCode status, string body)
    {
        var json = TryParseObject(body);
        var kind = KindOf(status);
        if (json is { } root && Text(root, "error") is { } code)
        {
            var reason = Text(root, "message") ?? $"SMSAPI error {code}";
            if (code == DuplicateIdx)
            {
                return new SmsSendResult(SmsSendKind.Sent, null, code, $"SMSAPI: already sent (check_idx): {reason}");
            }

            return kind == SmsSendKind.Transient || TransientCodes.Contains(code)
                ? SmsSendResult.Transient(code, reason)
                : SmsSendResult.Permanent(code, reason);
        }

        if (kind is { } failure)
        {
            var code2 = $"http-{(int)status}";
            var reason = $"HTTP {(int)status}: {Excerpt(body)}";
            return failure == SmsSendKind.Transient ? SmsSendResult.Transient(code2, reason) : SmsSendResult.Permanent(code2, reason);
        }

        if (json is { } ok && ok.TryGetProperty("list", out var list) && list.ValueKind == JsonValueKind.Array && list.GetArrayLength() > 0
            && list[0].ValueKind == JsonValueKind.Object)
        {
            var item = list[0];
            if (Text(item, "error") is { } itemCode)
            {
                var reason = Text(item, "message") ?? $"SMSAPI error {itemCode}";
                return TransientCodes.Contains(itemCode) ? SmsSendResult.Transient(itemCode, reason) : SmsSendResult.Permanent(itemCode, reason);
            }

            if (Text(item, "id") is { Length: > 0 } id)
            {
                return SmsSendResult.Sent(id);
            }
        }

        // A 2xx we cannot read: the message may or may not have been accepted. Retrying is safe because of check_idx.
        return SmsSendResult.Transient("bad-response", $"unreadable SMSAPI answer (HTTP {(int)status}): {Excerpt(body)}");
    }
}

/// <summary>
/// Generic webhook: <c>POST {Sms:Webhook:Url}</c> with JSON <c>{"id":123,"to":"+48…","text":"…"}</c>, header
/// <c>Idempotency-Key: sms-123</c> and the configured auth header. Any 2xx = accepted (message id from the answer's
/// <c>messageId</c> or <c>id</c> when it is a JSON object, else none); 408, 429, 5xx = transient; other statuses permanent.
/// </summary>
public sealed class WebhookSmsProvider(IHttpClientFactory clients, SmsOptions options) : HttpSmsProvider(clients)
{
    /// <inheritdoc />
    public override string Name => "webhook";

    /// <inheritdoc />
    protected override HttpRequestMessage CreateRequest(SmsMessage message)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("id", message.Id);
            w.WriteString("to", message.To);
            w.WriteString("text", message.Text);
            w.WriteEndObject();
        }

        var content = new ByteArrayContent(buffer.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        var request = new HttpRequestMessage(HttpMethod.Post, options.Webhook.Url) { Content = content };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", $"sms-{message.Id.ToString(CultureInfo.InvariantCulture)}");
        if (options.Webhook.AuthHeader is { Length: > 0 } header)
        {
            var colon = header.IndexOf(':', StringComparison.Ordinal);
            var (name, value) = colon > 0 ? (header[..colon].Trim(), header[(colon + 1)..].Trim()) : ("Authorization", header.Trim());
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }

    /// <inheritdoc />
    protected override SmsSendResult Interpret(HttpStatusCode status, string body)
    {
        if (KindOf(status) is { } failure)
        {
            var code = $"http-{(int)status}";
            var reason = $"HTTP {(int)status}: {Excerpt(body)}";
            return failure == SmsSendKind.Transient ? SmsSendResult.Transient(code, reason) : SmsSendResult.Permanent(code, reason);
        }

        var json = TryParseObject(body);
        return SmsSendResult.Sent(json is { } o ? Text(o, "messageId") ?? Text(o, "id") : null);
    }
}

/// <summary>Builds the provider named by <see cref="SmsOptions.Provider"/> and checks its settings.</summary>
public static class SmsProviders
{
    /// <summary>Known provider names.</summary>
    public static readonly string[] Names = ["log", "smsapi", "webhook"];

    /// <summary>Checks the configuration of the chosen provider.</summary>
    /// <exception cref="ConfigException">Unknown provider or a missing setting (named, never its value).</exception>
    public static void Validate(SmsOptions o)
    {
        switch (o.Provider.ToLowerInvariant())
        {
            case "log":
                break;
            case "smsapi" when string.IsNullOrWhiteSpace(o.Smsapi.Token):
                throw new ConfigException("Sms:Provider is smsapi but Sms:Smsapi:Token is not set (env Sms__Smsapi__Token)");
            case "smsapi" when !Uri.TryCreate(o.Smsapi.Url, UriKind.Absolute, out _):
                throw new ConfigException("Sms:Smsapi:Url is not an absolute URL");
            case "smsapi":
                break;
            case "webhook" when !Uri.TryCreate(o.Webhook.Url, UriKind.Absolute, out _):
                throw new ConfigException("Sms:Provider is webhook but Sms:Webhook:Url is not an absolute URL (env Sms__Webhook__Url)");
            case "webhook":
                break;
            default:
                throw new ConfigException($"Sms:Provider '{o.Provider}' is unknown; expected one of {string.Join(", ", Names)}");
        }

        if (!string.IsNullOrWhiteSpace(o.SweepCron))
        {
            try
            {
                Cronos.CronExpression.Parse(o.SweepCron, Cronos.CronFormat.IncludeSeconds);
            }
            catch (Cronos.CronFormatException ex)
            {
                throw new ConfigException($"Sms:SweepCron '{o.SweepCron}' is not a 6-field cron expression (seconds first): {ex.Message}");
            }
        }

        if (o.MaxAttempts < 1 || o.RetriesPerDispatch < 0 || o.TimeoutSeconds <= 0 || o.BackoffSeconds < 0)
        {
            throw new ConfigException("Sms: MaxAttempts must be ≥ 1, RetriesPerDispatch ≥ 0, TimeoutSeconds > 0, BackoffSeconds ≥ 0");
        }
    }

    /// <summary>The configured provider.</summary>
    public static ISmsProvider Create(IServiceProvider services, SmsOptions o) => o.Provider.ToLowerInvariant() switch
    {
        "smsapi" => new SmsapiProvider(services.GetRequiredService<IHttpClientFactory>(), o),
        "webhook" => new WebhookSmsProvider(services.GetRequiredService<IHttpClientFactory>(), o),
        _ => new LogSmsProvider(services.GetRequiredService<ILogger<LogSmsProvider>>()),
    };
}
