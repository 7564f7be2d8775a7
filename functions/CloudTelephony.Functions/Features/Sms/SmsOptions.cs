using System.ComponentModel.DataAnnotations;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Tenancy;
namespace CloudTelephony.Functions.Sms;

/// <summary>
/// Configuration section <c>Sms</c> (env <c>Sms__Provider</c>, <c>Sms__Smsapi__Token</c>, <c>Sms__Twilio__AuthToken</c> …).
/// Secrets (the SMSAPI token, the Twilio auth token or API key secret, the webhook auth header) are read from here and
/// never logged.
/// </summary>
public sealed class SmsOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Sms";

    /// <summary><c>log</c> (default: writes the SMS to the log, sends nothing), <c>smsapi</c>, <c>twilio</c> or <c>webhook</c>.</summary>
    public string Provider { get; set; } = "log";

    /// <summary>SMSAPI (smsapi.pl) settings.</summary>
    public SmsapiOptions Smsapi { get; set; } = new();

    /// <summary>Generic HTTP webhook settings.</summary>
    public WebhookOptions Webhook { get; set; } = new();

    /// <summary>Twilio settings.</summary>
    public TwilioOptions Twilio { get; set; } = new();

    /// <summary>Provider requests per SMS before it is given up as ERROR (all dispatches together).</summary>
    [Range(1, 100, ErrorMessage = "must be 1–100")]
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Immediate retries (Polly, exponential with jitter) within one dispatch after a transient failure.</summary>
    [Range(0, 10, ErrorMessage = "must be 0–10")]
    public int RetriesPerDispatch { get; set; } = 2;

    /// <summary>First delay of the immediate retries, in seconds (doubles per retry).</summary>
    [Range(0, 600, ErrorMessage = "must be 0–600 seconds")]
    public double RetryDelaySeconds { get; set; } = 2;

    /// <summary>When a dispatch ends with a transient failure the row goes back to NEW, due after this many seconds,
    /// doubling with each further dispatch up to <see cref="MaxBackoffSeconds"/>; the sweep sends it then.</summary>
    [Range(0, 86400, ErrorMessage = "must be 0–86400 seconds")]
    public double BackoffSeconds { get; set; } = 60;

    /// <summary>Upper bound of the backoff between dispatches, in seconds.</summary>
    [Range(0, 604800, ErrorMessage = "must be 0–604800 seconds")]
    public double MaxBackoffSeconds { get; set; } = 3600;

    /// <summary>Timeout of one provider request, in seconds.</summary>
    [Range(0.1, 600, ErrorMessage = "must be 0.1–600 seconds")]
    public double TimeoutSeconds { get; set; } = 15;

    /// <summary>Standalone mode: sweep schedule, 6-field cron (seconds first) like the <c>SmsSweep</c> function's NCRONTAB;
    /// empty = no in-process sweep.</summary>
    public string SweepCron { get; set; } = "0 * * * * *";

    /// <summary>Rows due at most per sweep.</summary>
    [Range(1, 10000, ErrorMessage = "must be 1–10000")]
    public int SweepBatch { get; set; } = 100;

    /// <summary>A row SENDING for longer than this many minutes is reported and set to ERROR (code <c>stuck</c>).</summary>
    [Range(0.1, 10080, ErrorMessage = "must be 0.1–10080 minutes")]
    public double StuckMinutes { get; set; } = 10;

    /// <summary>New rows (API, rules) are dispatched at once by an in-process worker; the sweep is the safety net.</summary>
    public bool DispatchInProcess { get; set; } = true;

    /// <summary>Rules ignore calls that ended more than this many minutes before they were stored (backfills, replays
    /// of old captures, a relay that was offline for a day); 0 = no limit.</summary>
    [Range(0, 5256000, ErrorMessage = "must be 0 (no limit) or more minutes")]
    public double RuleMaxAgeMinutes { get; set; } = 60;

    /// <summary>Longest text accepted by <c>POST /api/sms</c> (918 = six concatenated GSM-7 parts).</summary>
    [Range(1, 10000, ErrorMessage = "must be 1–10000 characters")]
    public int MaxLength { get; set; } = 918;

    /// <summary>How long an <c>Idempotency-Key</c> of <c>POST /api/sms</c> is kept per enterprise, in hours (1–720): a
    /// repeat within it answers the SMS the key created. Default 24.</summary>
    [Range(1, 720, ErrorMessage = "must be 1–720 hours")]
    public int IdempotencyHours { get; set; } = 24;
}

/// <summary>SMSAPI (<c>https://api.smsapi.pl/sms.do</c>, OAuth bearer token).</summary>
public sealed class SmsapiOptions
{
    /// <summary>The endpoint (tests point it at a local server; <c>https://api.smsapi.com/sms.do</c> for the international platform).</summary>
    public string Url { get; set; } = "https://api.smsapi.pl/sms.do";

    /// <summary>OAuth token (secret).</summary>
    public string? Token { get; set; }

    /// <summary>Sender name registered at SMSAPI (<c>from</c>); empty = the account's default.</summary>
    public string? From { get; set; }

    /// <summary>Prefix of the <c>idx</c> sent with <c>check_idx=1</c> (<c>idx</c> = prefix + sms id): SMSAPI refuses a second
    /// message with the same idx, so a retry after a lost answer cannot send twice.</summary>
    public string IdxPrefix { get; set; } = "ct";

    /// <summary>Send with <c>test=1</c> (validated and charged nothing, not delivered).</summary>
    public bool Test { get; set; }
}

/// <summary>Generic webhook: <c>POST Url</c> with <c>{"id","to","text"}</c>.</summary>
public sealed class WebhookOptions
{
    /// <summary>Target URL.</summary>
    public string? Url { get; set; }

    /// <summary>One header <c>Name: value</c> sent with every request (secret), e.g. <c>Authorization: Bearer abc</c>;
    /// a value without a colon is sent as <c>Authorization</c>.</summary>
    public string? AuthHeader { get; set; }
}
