using System.CommandLine;
using System.Globalization;
using System.Text;
using CloudTelephony.Functions.Events;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Storage;
using Npgsql;

namespace CloudTelephony.Functions.Commands;

/// <summary>
/// <c>admin webhook add|list|remove|enable|test</c>: the live call events' webhooks per enterprise. The signing secret is
/// made by <c>add</c>, printed once and stored encrypted with <c>Events:WebhookKey</c> (env <c>Events__WebhookKey</c>),
/// the same key the functions app signs with.
/// </summary>
public static class WebhookCommand
{
    /// <summary>Builds the command.</summary>
    /// <param name="open">Opens the database.</param>
    /// <param name="output">Results.</param>
    /// <param name="errors">Mistakes, one line each.</param>
    /// <param name="configuration">Settings (<c>Events</c> section); null = appsettings.json and the environment.</param>
    public static Command Create(Func<NpgsqlDataSource> open, TextWriter output, TextWriter errors, Microsoft.Extensions.Configuration.IConfiguration? configuration = null)
    {
        EventOptions Options() => Settings.Read<EventOptions>(configuration ?? AppConfig.Load(), EventOptions.Section);
        int Fail(string message)
        {
            errors.WriteLine($"error: {message}");
            return 2;
        }

        var enterprise = new Option<string>("--enterprise") { Description = "enterprise name", Required = true };
        var url = new Option<string>("--url") { Description = "where the events are POSTed (https://…)", Required = true };
        var types = new Option<string?>("--types") { Description = $"comma-separated event types ({string.Join(", ", CallEventTypes.All)}); default all" };
        var add = new Command("add", "Add a webhook: prints its signing secret once") { enterprise, url, types };
        add.SetAction(async (parse, ct) =>
        {
            var options = Options();
            var target = parse.GetValue(url)!;
            if (!Uri.TryCreate(target, UriKind.Absolute, out var uri) || !(uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && options.AllowHttpWebhooks)))
            {
                return Fail($"--url '{EventDispatcher.SafeUrl(target)}' must be an absolute https:// URL" + (options.AllowHttpWebhooks ? " or http://" : " (http:// only with Events__AllowHttpWebhooks=true)"));
            }

            string[]? typeList = null;
            if (parse.GetValue(types) is { Length: > 0 } t)
            {
                typeList = t.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                if (typeList.FirstOrDefault(x => !CallEventTypes.All.Contains(x)) is { } bad)
                {
                    return Fail($"--types: unknown event type '{bad}' (expected {string.Join(", ", CallEventTypes.All)})");
                }
            }

            var secrets = new WebhookSecrets(options);
            if (!secrets.HasKey)
            {
                return Fail("no webhook key: set Events__WebhookKey to 32 random bytes in base64 (openssl rand -base64 32), the same as the functions app's");
            }

            await using var db = open();
            var secret = WebhookSecrets.NewSecret();
            try
            {
                var hook = await EventStore.AddWebhookAsync(db, parse.GetValue(enterprise)!, target, typeList, secrets.Protect(secret), ct);
                output.WriteLine($"webhook {hook.Id} for {hook.Enterprise}: {EventDispatcher.SafeUrl(hook.Url)} ({(typeList is null ? "every type" : string.Join(", ", typeList))})");
                output.WriteLine($"secret (shown once; verify {WebhookSecrets.SignatureHeader} = sha256=HMAC-SHA256(secret, body) in hex): {secret}");
                return 0;
            }
            catch (InvalidOperationException ex)
            {
                return Fail(ex.Message);
            }
        });

        var listEnterprise = new Option<string?>("--enterprise") { Description = "only this enterprise" };
        var list = new Command("list", "List webhooks: state, deliveries, last error") { listEnterprise };
        list.SetAction(async (parse, ct) =>
        {
            await using var db = open();
            long? only = null;
            if (parse.GetValue(listEnterprise) is { } name)
            {
                only = await new RoutingStore(db).FindEnterpriseAsync(name, ct);
                if (only is null)
                {
                    return Fail($"no enterprise '{name}'");
                }
            }

            output.WriteLine("id\tenterprise\turl\ttypes\tstate\tdelivered\tfailures\tlast success (UTC)\tlast error");
            foreach (var h in await EventStore.WebhooksAsync(db, only, ct))
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{h.Id}\t{h.Enterprise}\t{EventDispatcher.SafeUrl(h.Url)}\t{(h.Types is null ? "all" : string.Join(",", h.Types))}\t{(h.Enabled ? "enabled" : "disabled: " + h.DisabledReason)}\t{h.Delivered}\t{h.ConsecutiveFailures}\t{h.LastSuccessAt?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "-"}\t{h.LastError ?? "-"}"));
            }

            return 0;
        });

        var id = new Option<long>("--id") { Description = "webhook id (webhook list)", Required = true };
        var remove = new Command("remove", "Remove a webhook") { id };
        remove.SetAction(async (parse, ct) =>
        {
            await using var db = open();
            if (!await EventStore.RemoveWebhookAsync(db, parse.GetValue(id), ct))
            {
                return Fail($"no webhook {parse.GetValue(id)}");
            }

            output.WriteLine($"webhook {parse.GetValue(id)} removed");
            return 0;
        });

        var enableId = new Option<long>("--id") { Description = "webhook id (webhook list)", Required = true };
        var enable = new Command("enable", "Enable a disabled webhook again (delivery continues where it stopped)") { enableId };
        enable.SetAction(async (parse, ct) =>
        {
            await using var db = open();
            if (!await EventStore.EnableWebhookAsync(db, parse.GetValue(enableId), ct))
            {
                return Fail($"no webhook {parse.GetValue(enableId)}");
            }

            output.WriteLine($"webhook {parse.GetValue(enableId)} enabled");
            return 0;
        });

        var testId = new Option<long>("--id") { Description = "webhook id (webhook list)", Required = true };
        var test = new Command("test", "POST a signed test event (type call.test) to a webhook now and print the answer") { testId };
        test.SetAction(async (parse, ct) =>
        {
            var options = Options();
            await using var db = open();
            if (await EventStore.WebhookAsync(db, parse.GetValue(testId), ct) is not { } hook)
            {
                return Fail($"no webhook {parse.GetValue(testId)}");
            }

            var secrets = new WebhookSecrets(options);
            if (!secrets.HasKey)
            {
                return Fail("no webhook key: set Events__WebhookKey (the functions app's)");
            }

            string secret;
            try
            {
                secret = secrets.Unprotect(hook.SecretEncrypted);
            }
            catch (System.Security.Cryptography.CryptographicException)
            {
                return Fail("Events__WebhookKey is not the key this webhook's secret was stored with");
            }

            var ev = new CloudNative.CloudEvents.CloudEvent(CloudNative.CloudEvents.CloudEventsSpecVersion.V1_0, [CallEventBuilder.EnterpriseAttribute])
            {
                Id = "test-" + Guid.NewGuid().ToString("N"),
                Type = "call.test",
                Source = new Uri("/cloudtelephony/admin", UriKind.Relative),
                Subject = "test",
                Time = DateTimeOffset.UtcNow,
                DataContentType = "application/json",
                Data = System.Text.Json.JsonDocument.Parse("""{"message":"webhook test from ct admin webhook test"}""").RootElement.Clone(),
            };
            ev[CallEventBuilder.EnterpriseAttribute] = hook.Enterprise;
            var body = Encoding.UTF8.GetString(CallEventBuilder.Formatter.EncodeStructuredModeMessage(ev, out _).Span);
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(options.WebhookTimeoutSeconds) };
            var attempt = await EventDispatcher.PostAsync(client, Polly.ResiliencePipeline<HttpResponseMessage>.Empty, hook.Url, secret, ev.Id, hook.Id, body, ct);
            output.WriteLine(attempt.Ok
                ? $"webhook {hook.Id}: delivered (HTTP {attempt.Status})"
                : $"webhook {hook.Id}: not delivered: {attempt.Error}");
            return attempt.Ok ? 0 : 1;
        });

        return new Command("webhook", "Webhooks of the live call events (signed CloudEvents POSTed per enterprise)") { add, list, remove, enable, test };
    }
}
