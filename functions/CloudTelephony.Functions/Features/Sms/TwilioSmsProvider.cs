using System.Net;
using Polly.Timeout;
using Twilio.Clients;
using Twilio.Exceptions;
using Twilio.Http;
using Twilio.Rest.Api.V2010.Account;
using Twilio.Types;

namespace CloudTelephony.Functions.Sms;

/// <summary>
/// Twilio Programmable Messaging through the Twilio SDK (8.2.0): <c>POST /2010-04-01/Accounts/{AccountSid}/Messages.json</c>
/// with <c>To</c>, <c>Body</c> and <c>From</c> (a Twilio number) or <c>MessagingServiceSid</c>; HTTP Basic auth with the
/// account SID and auth token, or an API key SID and secret. Success is <c>201</c> with the message resource
/// (<c>sid</c> <c>SM…</c>, <c>status</c> <c>queued</c>/<c>accepted</c>); a failure is Twilio's error body
/// <c>{"code":21211,"message":"…","more_info":"https://www.twilio.com/docs/errors/21211","status":400}</c>, mapped by
/// <see cref="Classify"/> to retry or give up with the reason.
/// </summary>
/// <remarks>
/// Requests go through the named <see cref="System.Net.Http.HttpClient"/> <see cref="ClientName"/> (timeout from
/// <see cref="SmsOptions.TimeoutSeconds"/>; <see cref="TwilioOptions.BaseUrl"/> sends them to another host, e.g. a
/// local stand-in in tests). Twilio's Messages API has no idempotency key: a retry after an answer that was lost may
/// send the text twice; only failures with an answer (or no connection) are retried.
/// </remarks>
public sealed class TwilioSmsProvider(IHttpClientFactory clients, SmsOptions options) : ISmsProvider
{
    /// <summary>Name of the <see cref="System.Net.Http.HttpClient"/> registered for Twilio.</summary>
    public const string ClientName = "sms-twilio";

    /// <summary>
    /// Twilio error codes worth retrying (https://www.twilio.com/docs/api/errors): 20429 too many requests, 14107 SMS
    /// send rate limit exceeded, 20500 internal error, 20503 service unavailable, 21611 the sender's queue of messages
    /// is full, 30001 queue overflow. Every other code is given up (20003 authentication, 20404 not found, 21211 invalid
    /// 'To', 21408 region not enabled, 21606 'From' not SMS-capable, 21610 recipient unsubscribed (STOP), 21612 / 21614
    /// not reachable / not a mobile number, 21602 / 21617 body missing / too long …), unless the HTTP status is 429 or 5xx.
    /// </summary>
    public static readonly IReadOnlySet<int> TransientCodes = new HashSet<int> { 20429, 14107, 20500, 20503, 21611, 30001 };

    /// <inheritdoc />
    public string Name => "twilio";

    /// <inheritdoc />
    public async Task<SmsSendResult> SendAsync(SmsMessage message, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(message);
        var o = options.Twilio;
        var apiKey = !string.IsNullOrEmpty(o.ApiKeySid);
        var client = new TwilioRestClient(
            apiKey ? o.ApiKeySid : o.AccountSid,
            apiKey ? o.ApiKeySecret : o.AuthToken,
            accountSid: o.AccountSid,
            httpClient: new SystemNetHttpClient(clients.CreateClient(ClientName)));
        var create = new CreateMessageOptions(new PhoneNumber(message.To)) { Body = message.Text };
        if (!string.IsNullOrEmpty(o.MessagingServiceSid))
        {
            create.MessagingServiceSid = o.MessagingServiceSid;
        }
        else
        {
            create.From = new PhoneNumber(o.From);
        }

        try
        {
            var sent = await MessageResource.CreateAsync(create, client).WaitAsync(ct);
            return sent.Status == MessageResource.StatusEnum.Failed || sent.Status == MessageResource.StatusEnum.Undelivered
                ? Classify(sent.ErrorCode ?? 0, 200, sent.ErrorMessage ?? $"Twilio answered status {sent.Status}")
                : SmsSendResult.Sent(sent.Sid);
        }
        catch (ApiException ex)
        {
            // an answer that is not Twilio's JSON error (an HTML 503 of a proxy) comes without its status: take it from the response
            var status = ex.Status != 0 ? ex.Status : (int)(client.HttpClient.LastResponse?.StatusCode ?? 0);
            return Classify(ex.Code, status, ex.Message);
        }
        catch (ApiConnectionException ex) when (ex.InnerException is TimeoutRejectedException or TaskCanceledException or TimeoutException)
        {
            return SmsSendResult.Transient("timeout", "Twilio did not answer in time");
        }
        catch (ApiConnectionException ex)
        {
            return SmsSendResult.Transient("network", $"request failed: {ex.InnerException?.Message ?? ex.Message}");
        }
    }

    /// <summary>
    /// A Twilio error as a result: <see cref="TransientCodes"/>, HTTP 429 and 5xx retry; anything else is given up.
    /// The code is Twilio's (<c>21211</c>), or <c>http-&lt;status&gt;</c> when the answer had none.
    /// </summary>
    public static SmsSendResult Classify(int code, int status, string message)
    {
        var text = code > 0 ? code.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"http-{status}";
        var reason = code > 0 ? $"Twilio {code}: {message}" : $"HTTP {status}: {message}";
        return TransientCodes.Contains(code) || status is (int)HttpStatusCode.TooManyRequests or >= 500
            ? SmsSendResult.Transient(text, reason)
            : SmsSendResult.Permanent(text, reason);
    }

    /// <summary>Problems of the Twilio settings, each naming the key (never a value); empty when usable.</summary>
    public static IReadOnlyList<string> Check(TwilioOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        var errors = new List<string>();
        if (o.AccountSid is not { Length: 34 } sid || !sid.StartsWith("AC", StringComparison.Ordinal))
        {
            errors.Add("Sms:Twilio:AccountSid must be the account SID (AC followed by 32 characters; env Sms__Twilio__AccountSid)");
        }

        var apiKey = !string.IsNullOrEmpty(o.ApiKeySid) || !string.IsNullOrEmpty(o.ApiKeySecret);
        if (apiKey && (o.ApiKeySid is not { Length: 34 } key || !key.StartsWith("SK", StringComparison.Ordinal) || string.IsNullOrEmpty(o.ApiKeySecret)))
        {
            errors.Add("Sms:Twilio:ApiKeySid (SK…) and Sms:Twilio:ApiKeySecret go together");
        }
        else if (!apiKey && string.IsNullOrEmpty(o.AuthToken))
        {
            errors.Add("Sms:Twilio needs Sms:Twilio:AuthToken, or Sms:Twilio:ApiKeySid and Sms:Twilio:ApiKeySecret");
        }

        var service = !string.IsNullOrEmpty(o.MessagingServiceSid);
        if (service && !o.MessagingServiceSid!.StartsWith("MG", StringComparison.Ordinal))
        {
            errors.Add("Sms:Twilio:MessagingServiceSid must start with MG");
        }
        else if (!service && (o.From is not { Length: > 1 } from || from[0] != '+' || !from[1..].All(char.IsAsciiDigit)))
        {
            errors.Add("Sms:Twilio needs Sms:Twilio:From (a Twilio number in E.164, e.g. +48123456789) or Sms:Twilio:MessagingServiceSid");
        }

        if (o.BaseUrl is { Length: > 0 } url && !Uri.TryCreate(url, UriKind.Absolute, out _))
        {
            errors.Add("Sms:Twilio:BaseUrl is not an absolute URL");
        }

        return errors;
    }
}

/// <summary>Twilio settings (<c>Sms:Twilio</c>). The auth token and the API key secret are secrets: never logged.</summary>
public sealed class TwilioOptions
{
    /// <summary>Account SID (<c>AC…</c>): the account the messages are sent from.</summary>
    public string? AccountSid { get; set; }

    /// <summary>Auth token of the account (secret); not needed with an API key.</summary>
    public string? AuthToken { get; set; }

    /// <summary>API key SID (<c>SK…</c>), used with <see cref="ApiKeySecret"/> instead of the auth token.</summary>
    public string? ApiKeySid { get; set; }

    /// <summary>API key secret (secret).</summary>
    public string? ApiKeySecret { get; set; }

    /// <summary>Sender: a Twilio phone number in E.164 (or a sender id Twilio allows in the country).</summary>
    public string? From { get; set; }

    /// <summary>Messaging service SID (<c>MG…</c>); when set, Twilio picks the sender from the service and <see cref="From"/> is not used.</summary>
    public string? MessagingServiceSid { get; set; }

    /// <summary>Another base address for the API (<c>https://api.twilio.com</c> when empty): a regional edge, or a local stand-in in tests.</summary>
    public string? BaseUrl { get; set; }
}

/// <summary>Sends the Twilio SDK's requests to <see cref="TwilioOptions.BaseUrl"/> (scheme, host and port replaced, path kept).</summary>
internal sealed class BaseUrlHandler(Uri? baseUrl) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (baseUrl is not null && request.RequestUri is { } uri)
        {
            request.RequestUri = new UriBuilder(uri) { Scheme = baseUrl.Scheme, Host = baseUrl.Host, Port = baseUrl.Port }.Uri;
        }

        return base.SendAsync(request, cancellationToken);
    }
}
