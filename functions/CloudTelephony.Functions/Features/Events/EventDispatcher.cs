using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using Azure.Messaging.ServiceBus;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Outbox;
using CloudTelephony.Storage;
using Npgsql;
using Polly;

namespace CloudTelephony.Functions.Events;

/// <summary>Wakes the server-sent event streams of this process when new events were sequenced.</summary>
public sealed class EventHub
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Wakes every waiter.</summary>
    public void Notify() => Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>Waits until <see cref="Notify"/> or <paramref name="timeout"/> (then another instance may have sequenced).</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken ct)
    {
        try
        {
            await Volatile.Read(ref _next).Task.WaitAsync(timeout, ct);
        }
        catch (TimeoutException)
        {
        }
    }
}

/// <summary>The result of one webhook delivery request.</summary>
/// <param name="Ok">A 2xx answer.</param>
/// <param name="Status">The HTTP status, or null when no answer came.</param>
/// <param name="Error">Why it failed, or null.</param>
public sealed record WebhookAttempt(bool Ok, int? Status, string? Error);

/// <summary>
/// Sends the live call events from the outbox (<see cref="IOutboxDispatcher"/> of <see cref="OutboxPump"/>: the ingest
/// transaction's rows are handed to it after the commit, and it sweeps every <see cref="EventOptions.SweepSeconds"/>).
/// A run (one at a time per process; a hand-off during a run makes another run follow):
/// <list type="number">
/// <item>gives the committed rows their positions in commit order (<see cref="EventStore.SequenceAsync"/>) and wakes the
/// <c>GET /api/events</c> streams;</item>
/// <item>delivers to every enabled webhook from its cursor, in position order (so per call in order), one request at a
/// time per webhook, webhooks in parallel: HTTPS POST of the CloudEvent (structured mode), signed; Polly retries on
/// 5xx/408/429/timeouts; a delivery that still fails stops that webhook's run (its later events wait, order kept), counts
/// a failure and backs off; after <see cref="EventOptions.WebhookMaxFailures"/> in a row the webhook is disabled with
/// the reason;</item>
/// <item>sends to the Service Bus topic (<see cref="EventOptions.Topic"/>) from its cursor, when configured.</item>
/// </list>
/// At least once: a cursor moves only after the receiver accepted, so a crash in between sends an event again (same id).
/// </summary>
public sealed class EventDispatcher(
    NpgsqlDataSource db,
    EventOptions options,
    WebhookSecrets secrets,
    EventHub hub,
    IHttpClientFactory http,
    WebhookResilience resilience,
    TimeProvider clock,
    ILogger<EventDispatcher> logger,
    EventTopic? topic = null) : IOutboxDispatcher
{
    /// <summary>The named HttpClient of the webhooks (no timeout of its own; <see cref="WebhookResilience"/> retries and times out).</summary>
    public const string ClientName = "webhooks";

    /// <summary>The Service Bus sink's cursor name.</summary>
    public const string TopicCursor = "servicebus";

    private const int Page = 500;

    private readonly SemaphoreSlim _running = new(1, 1);
    private int _again;
    private DateTimeOffset _lastPrune = DateTimeOffset.MinValue;

    /// <inheritdoc />
    public string Outbox => LiveEventsHandler.Outbox;

    /// <summary>Events sent to webhooks by this process (for the benchmark and logs).</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    private long _delivered;

    /// <inheritdoc />
    public Task DispatchAsync(IReadOnlyList<long> ids, CancellationToken ct) => RunAsync(ct);

    /// <inheritdoc />
    public async Task SweepAsync(CancellationToken ct)
    {
        await RunAsync(ct);
        var now = clock.GetUtcNow();
        if (now - _lastPrune > TimeSpan.FromMinutes(10))
        {
            _lastPrune = now;
            var pruned = await EventStore.PruneAsync(db, now.AddHours(-options.RetentionHours), ct);
            if (pruned > 0)
            {
                logger.LogInformation("call events: {Count} events older than {Hours} h removed from the outbox", pruned, options.RetentionHours);
            }
        }
    }

    /// <summary>One dispatch run (see the class); returns when this process has nothing more to send now.</summary>
    /// <exception cref="NpgsqlException">The database failed.</exception>
    public async Task RunAsync(CancellationToken ct)
    {
        Interlocked.Exchange(ref _again, 1);
        if (!await _running.WaitAsync(0, ct))
        {
            return; // the running one sees _again and goes round once more
        }

        try
        {
            while (Interlocked.Exchange(ref _again, 0) == 1)
            {
                await RoundAsync(ct);
            }
        }
        finally
        {
            _running.Release();
        }
    }

    private async Task RoundAsync(CancellationToken ct)
    {
        // rows of a transaction that committed while an older one still ran get their position once that one ended:
        // wait for them a little (a few ms under load) rather than until the next sweep
        var waited = Stopwatch.StartNew();
        while (true)
        {
            int n;
            var total = 0;
            while ((n = await EventStore.SequenceAsync(db, 1000, ct)) > 0)
            {
                total += n;
            }

            if (total > 0)
            {
                hub.Notify();
            }

            await DeliverAllAsync(ct);
            if (!await EventStore.PendingAsync(db, ct) || waited.Elapsed > TimeSpan.FromSeconds(2))
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10), clock, ct);
        }
    }

    private async Task DeliverAllAsync(CancellationToken ct)
    {
        var hooks = await EventStore.WebhooksAsync(db, null, ct, enabledOnly: true);
        var work = hooks.Select(h => DeliverAsync(h, ct)).ToList();
        if (topic is not null)
        {
            work.Add(SendTopicAsync(topic, ct));
        }

        await Task.WhenAll(work);
    }

    /// <summary>Delivers a webhook's pending events (at most what is sequenced now).</summary>
    private async Task DeliverAsync(Webhook hook, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        if (hook.ConsecutiveFailures > 0 && hook.LastFailureAt is { } failed
            && now - failed < TimeSpan.FromSeconds(Math.Min(300, Math.Pow(2, hook.ConsecutiveFailures - 1))))
        {
            return; // backing off after a failure
        }

        try
        {
            var top = await EventStore.TopAsync(db, ct);
            if (top <= hook.Position || !await EventStore.LeaseWebhookAsync(db, hook.Id, TimeSpan.FromMinutes(2), ct))
            {
                return;
            }

            var secret = secrets.Unprotect(hook.SecretEncrypted);
            var client = http.CreateClient(ClientName);
            var position = hook.Position;
            var delivered = 0;
            while (true)
            {
                var rows = (await EventStore.ReadAsync(db, hook.EnterpriseId, position, hook.Types, Page, ct)).Where(r => r.Position <= top).ToList();
                if (rows.Count == 0)
                {
                    break;
                }

                // calls in parallel (a call's events one after the other, in order), up to WebhookConcurrency requests at
                // once; after a failure no further event starts (a receiver that is down costs one round of attempts, not
                // one per call)
                var calls = rows.GroupBy(r => (r.Pbx, r.CallKey)).Select(g => g.ToList()).ToList();
                var sent = new System.Collections.Concurrent.ConcurrentDictionary<long, bool>();
                var failures = new System.Collections.Concurrent.ConcurrentBag<(SequencedEvent Event, string Error)>();
                await Parallel.ForEachAsync(calls, new ParallelOptions { MaxDegreeOfParallelism = options.WebhookConcurrency, CancellationToken = ct }, async (call, token) =>
                {
                    foreach (var row in call)
                    {
                        if (!failures.IsEmpty)
                        {
                            return;
                        }

                        var attempt = await PostAsync(client, resilience.Pipeline, hook.Url, secret, row.EventId, hook.Id, row.Body, token);
                        if (!attempt.Ok)
                        {
                            failures.Add((row, attempt.Error ?? "failed"));
                            return;
                        }

                        sent[row.Position] = true;
                        Interlocked.Increment(ref _delivered);
                    }
                });
                if (failures.OrderBy(f => f.Event.Position).FirstOrDefault() is { Event: { } firstFailed } failure)
                {
                    // the cursor stops before the first event not delivered (failed, or not tried after the failure):
                    // events after it that were delivered come again later (at least once; their order per call holds)
                    var (before, prefix) = DeliveredPrefix(rows, position, sent.ContainsKey);
                    delivered += prefix;
                    await EventStore.WebhookDeliveredAsync(db, hook.Id, before, delivered, ct);
                    if (await EventStore.WebhookFailedAsync(db, hook.Id, failure.Error, options.WebhookMaxFailures, ct))
                    {
                        logger.LogWarning(LogEvents.WebhookDisabled, "webhook {Id} ({Url}) disabled after {Max} failed deliveries in a row: {Error}",
                            hook.Id, SafeUrl(hook.Url), options.WebhookMaxFailures, failure.Error);
                    }
                    else
                    {
                        logger.LogWarning(LogEvents.EventDispatchFailed, "webhook {Id} ({Url}): event {Event} not delivered: {Error}; retried later",
                            hook.Id, SafeUrl(hook.Url), firstFailed.EventId, failure.Error);
                    }

                    return;
                }

                delivered += rows.Count;
                position = rows[^1].Position;
                if (rows.Count < Page || position >= top)
                {
                    break;
                }
            }

            await EventStore.WebhookDeliveredAsync(db, hook.Id, Math.Max(position, top), delivered, ct);
        }
        catch (Exception ex) when (ex is NpgsqlException or System.Security.Cryptography.CryptographicException or InvalidOperationException or FormatException)
        {
            logger.LogWarning(LogEvents.EventDispatchFailed, "webhook {Id}: delivery run failed: {Error}", hook.Id, ex.Message);
            try
            {
                await EventStore.WebhookDeliveredAsync(db, hook.Id, hook.Position, 0, ct); // lets go of the lease (what was sent comes again)
            }
            catch (NpgsqlException)
            {
                // the lease runs out by itself
            }
        }
    }

    /// <summary>
    /// Where a webhook's cursor may go after a run that did not deliver everything: the last position of the run's rows
    /// (in position order) before the first one not delivered — failed, or not tried because another call failed — so no
    /// event is passed over; delivered events after it come again (at least once).
    /// </summary>
    /// <param name="rows">The run's events in position order.</param>
    /// <param name="cursor">The cursor before the run.</param>
    /// <param name="delivered">Whether the event at a position was accepted.</param>
    /// <returns>The new cursor, and how many events it moved over.</returns>
    public static (long Cursor, int Count) DeliveredPrefix(IReadOnlyList<SequencedEvent> rows, long cursor, Func<long, bool> delivered)
    {
        var count = 0;
        foreach (var row in rows)
        {
            if (!delivered(row.Position))
            {
                break;
            }

            cursor = row.Position;
            count++;
        }

        return (cursor, count);
    }

    /// <summary>The content type of a delivery: one CloudEvent, JSON structured mode.</summary>
    public const string ContentType = "application/cloudevents+json; charset=utf-8";

    /// <summary>
    /// POSTs one CloudEvent (structured mode) with its signature through <paramref name="resilience"/> (the webhooks'
    /// Polly pipeline: retries on 5xx/408/429/timeouts with backoff, a timeout per attempt; each attempt a new request);
    /// 2xx = delivered.
    /// </summary>
    /// <param name="client">The HTTP client (no timeout of its own: the pipeline's applies).</param>
    /// <param name="resilience">Retries and timeouts (<see cref="ResiliencePipeline{T}.Empty"/>: one attempt).</param>
    /// <param name="url">The webhook URL.</param>
    /// <param name="secret">The webhook's signing secret.</param>
    /// <param name="eventId">The CloudEvent id (header <c>X-CloudTelephony-Event-Id</c>).</param>
    /// <param name="webhookId">The webhook's id (header <c>X-CloudTelephony-Webhook</c>).</param>
    /// <param name="body">The CloudEvent JSON.</param>
    /// <param name="ct">Cancels the delivery (thrown as <see cref="OperationCanceledException"/>).</param>
    /// <returns>Whether the receiver accepted, its status, and why not.</returns>
    public static async Task<WebhookAttempt> PostAsync(
        HttpClient client, ResiliencePipeline<HttpResponseMessage> resilience, string url, string secret, string eventId, long webhookId, string body, CancellationToken ct)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var request = new DeliveryRequest(client, url, bytes, WebhookSecrets.Sign(secret, bytes), eventId,
            webhookId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            using var response = await resilience.ExecuteAsync(static (r, token) => r.SendAsync(token), request, ct);
            return response.IsSuccessStatusCode
                ? new WebhookAttempt(true, (int)response.StatusCode, null)
                : new WebhookAttempt(false, (int)response.StatusCode, $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or Polly.Timeout.TimeoutRejectedException && !ct.IsCancellationRequested)
        {
            return new WebhookAttempt(false, null, ex is HttpRequestException ? $"no answer: {ex.Message}" : "timed out");
        }
    }

    /// <summary>One delivery's request, sent anew per attempt (a request message is sent once).</summary>
    private sealed record DeliveryRequest(HttpClient Client, string Url, byte[] Body, string Signature, string EventId, string WebhookId)
    {
        public async ValueTask<HttpResponseMessage> SendAsync(CancellationToken ct)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, Url) { Content = new ByteArrayContent(Body) };
            request.Content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
            request.Headers.TryAddWithoutValidation(WebhookSecrets.SignatureHeader, Signature);
            request.Headers.TryAddWithoutValidation("X-CloudTelephony-Event-Id", EventId);
            request.Headers.TryAddWithoutValidation("X-CloudTelephony-Webhook", WebhookId);
            return await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        }
    }

    private async Task SendTopicAsync(EventTopic sink, CancellationToken ct)
    {
        try
        {
            var position = await EventStore.CursorAsync(db, TopicCursor, ct);
            while (true)
            {
                var rows = await EventStore.ReadAsync(db, null, position, null, Page, ct);
                if (rows.Count == 0)
                {
                    return;
                }

                await sink.SendAsync(rows, ct);
                position = rows[^1].Position;
                await EventStore.SetCursorAsync(db, TopicCursor, position, ct);
                if (rows.Count < Page)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or ServiceBusException or InvalidOperationException or UnauthorizedAccessException)
        {
            logger.LogWarning(LogEvents.EventDispatchFailed, "call events: Service Bus topic send failed: {Error}; retried later", ex.Message);
        }
    }

    /// <summary>The URL without its query (which may carry a key) for logs.</summary>
    public static string SafeUrl(string url) => Uri.TryCreate(url, UriKind.Absolute, out var u) ? u.GetLeftPart(UriPartial.Path) : "(invalid url)";
}

/// <summary>
/// The Service Bus topic sink (<see cref="EventOptions.Topic"/>, default <c>call-events</c>) through the official SDK:
/// one message per event, body = the CloudEvent JSON (structured mode, content type
/// <c>application/cloudevents+json</c>), MessageId = the CloudEvent id (duplicate detection), application properties
/// <c>enterprise</c>, <c>type</c>, <c>pbx</c> and <c>subject</c> (subscriptions filter on them: <c>enterprise = 'office'</c>),
/// SessionId = <c>pbx:callKey</c> so a session-enabled subscription keeps each call's order.
/// </summary>
public sealed class EventTopic(ServiceBusClient client, string topic) : IAsyncDisposable
{
    private readonly ServiceBusSender _sender = client.CreateSender(topic);

    /// <summary>The topic name.</summary>
    public string Topic => topic;

    /// <summary>Sends the events, in order, in as few batches as fit.</summary>
    /// <exception cref="ServiceBusException">The send failed.</exception>
    public async Task SendAsync(IReadOnlyList<SequencedEvent> events, CancellationToken ct)
    {
        var i = 0;
        while (i < events.Count)
        {
            using var batch = await _sender.CreateMessageBatchAsync(ct);
            while (i < events.Count && batch.TryAddMessage(Message(events[i])))
            {
                i++;
            }

            if (batch.Count == 0)
            {
                throw new InvalidOperationException($"event {events[i].EventId} does not fit into a Service Bus message");
            }

            await _sender.SendMessagesAsync(batch, ct);
        }
    }

    /// <summary>The message of one event.</summary>
    public static ServiceBusMessage Message(SequencedEvent e)
    {
        var message = new ServiceBusMessage(Encoding.UTF8.GetBytes(e.Body))
        {
            MessageId = e.EventId,
            ContentType = "application/cloudevents+json; charset=utf-8",
            Subject = e.Type,
            SessionId = $"{e.Pbx}:{e.CallKey}",
        };
        message.ApplicationProperties["enterprise"] = e.Enterprise;
        message.ApplicationProperties["type"] = e.Type;
        message.ApplicationProperties["pbx"] = e.Pbx;
        message.ApplicationProperties["subject"] = e.CallKey;
        return message;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _sender.DisposeAsync();
        await client.DisposeAsync();
    }
}
