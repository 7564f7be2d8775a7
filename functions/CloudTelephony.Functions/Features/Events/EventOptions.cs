using System.ComponentModel.DataAnnotations;

namespace CloudTelephony.Functions.Events;

/// <summary>Configuration section <c>Events</c> (env <c>Events__WebhookKey</c>, …): the live call events.</summary>
public sealed class EventOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Events";

    /// <summary>Write call events at all (the outbox handler); false turns the live events off.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The key that encrypts the webhook secrets in <c>ct.webhooks</c>: 32 bytes, base64 (AES-256-GCM;
    /// <c>openssl rand -base64 32</c>). Needed to add webhooks and to sign deliveries; in Azure from Key Vault.</summary>
    public string? WebhookKey { get; set; }

    /// <summary>How long sequenced events stay in the outbox for <c>GET /api/events</c> resumes (<c>Last-Event-ID</c>)
    /// and slow sinks, in hours.</summary>
    [Range(1, 24 * 31, ErrorMessage = "must be 1–744 hours")]
    public int RetentionHours { get; set; } = 24;

    /// <summary>Seconds between sweeps of the dispatcher (what the in-process hand-off did not send: a webhook that failed,
    /// another instance's events, rows that committed late). Under the Functions host the <c>DispatchEvents</c> timer.</summary>
    [Range(0.2, 3600, ErrorMessage = "must be 0.2–3600 seconds")]
    public double SweepSeconds { get; set; } = 5;

    /// <summary>Timeout of one webhook request (each attempt), in seconds.</summary>
    [Range(0.1, 120, ErrorMessage = "must be 0.1–120 seconds")]
    public double WebhookTimeoutSeconds { get; set; } = 10;

    /// <summary>Polly retries of one delivery on 5xx, 408, 429, timeouts and connection failures (exponential with jitter).</summary>
    [Range(0, 10, ErrorMessage = "must be 0–10")]
    public int WebhookRetries { get; set; } = 3;

    /// <summary>First delay of those retries, in milliseconds (doubles per retry).</summary>
    [Range(0, 60000, ErrorMessage = "must be 0–60000 ms")]
    public int WebhookRetryDelayMs { get; set; } = 500;

    /// <summary>A webhook is disabled (with the reason) after this many failed deliveries in a row (each after its retries).</summary>
    [Range(1, 1000, ErrorMessage = "must be 1–1000")]
    public int WebhookMaxFailures { get; set; } = 10;

    /// <summary>Requests in flight per webhook: calls are delivered in parallel, each call's events one after the other.</summary>
    [Range(1, 256, ErrorMessage = "must be 1–256")]
    public int WebhookConcurrency { get; set; } = 32;

    /// <summary>Allow <c>http://</c> webhook URLs (tests, loopback); otherwise only <c>https://</c> is accepted.</summary>
    public bool AllowHttpWebhooks { get; set; }

    /// <summary>The Service Bus namespace of the topic (same keys as the <c>ServiceBus</c> section: <c>Endpoint</c>,
    /// <c>ConnectionString</c>, <c>UseEntraId</c>, …); no endpoint and no connection string = no topic.</summary>
    public CloudTelephony.ServiceBus.ServiceBusOptions ServiceBus { get; set; } = new();

    /// <summary>Service Bus topic the events are sent to (when <c>Events:ServiceBus</c> has an endpoint or connection string).</summary>
    public string Topic { get; set; } = "call-events";
}
