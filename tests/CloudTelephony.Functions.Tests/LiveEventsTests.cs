using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Commands;
using CloudTelephony.Functions.Events;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.Storage;
using CloudTelephony.Tests;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Npgsql;

namespace CloudTelephony.Functions.Tests;

/// <summary>A real HTTP receiver (Kestrel on loopback) standing in for a CRM's webhook endpoint.</summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    /// <summary>Every request: its body, signature header and the status answered.</summary>
    public ConcurrentQueue<(byte[] Body, string? Signature, int Status)> Requests { get; } = new();

    /// <summary>Status to answer for the n-th request (from 1); 200 by default.</summary>
    public Func<int, int> Answer { get; set; } = _ => 200;

    /// <summary>When set, the status to answer for a request by its CloudEvent (instead of <see cref="Answer"/>).</summary>
    public Func<JsonElement, int>? AnswerEvent { get; set; }

    public string Url { get; }

    private int _count;

    private WebhookReceiver(WebApplication app, string url) => (_app, Url) = (app, url);

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        WebhookReceiver? self = null;
        app.MapPost("/hook", async (HttpRequest request) =>
        {
            using var ms = new MemoryStream();
            await request.Body.CopyToAsync(ms);
            var n = Interlocked.Increment(ref self!._count);
            var status = self.AnswerEvent is { } byEvent ? byEvent(JsonDocument.Parse(ms.ToArray()).RootElement) : self.Answer(n);
            self.Requests.Enqueue((ms.ToArray(), request.Headers[WebhookSecrets.SignatureHeader].ToString(), status));
            return Results.StatusCode(status);
        });
        await app.StartAsync();
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/hook";
        self = new WebhookReceiver(app, url);
        return self;
    }

    /// <summary>The CloudEvents accepted (2xx), in arrival order.</summary>
    public List<JsonElement> Accepted => Requests.Where(r => r.Status is >= 200 and < 300).Select(r => JsonDocument.Parse(r.Body).RootElement.Clone()).ToList();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>
/// Live call events end to end: the real functions app on Kestrel over real PostgreSQL ingests the real captures; webhooks
/// go to a real Kestrel receiver; the server-sent event stream is read over a real socket.
/// </summary>
public sealed class LiveEventsTests : IAsyncLifetime
{
    private static readonly string Key = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
    private readonly ConcurrentQueue<int> _failNext = new();
    private readonly FunctionsServer _server;
    private WebhookReceiver _receiver = null!;

    public LiveEventsTests()
    {
        _server = new FunctionsServer(0,
            $"--Events:WebhookKey={Key}", "--Events:SweepSeconds=0.5", "--Events:WebhookRetries=3", "--Events:WebhookRetryDelayMs=10",
            "--Events:WebhookMaxFailures=3", "--Events:AllowHttpWebhooks=true")
        {
            Configure = s => s.AddSingleton<ICallChangeHandler>(new FailingHandler(_failNext)),
        };
    }

    public async Task InitializeAsync()
    {
        await _server.InitializeAsync();
        _receiver = await WebhookReceiver.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _receiver.DisposeAsync();
        await _server.DisposeAsync();
    }

    /// <summary>Throws once per queued item: the ingest transaction fails and rolls back.</summary>
    private sealed class FailingHandler(ConcurrentQueue<int> fail) : ICallChangeHandler
    {
        public Task HandleAsync(CallChangeContext context, CancellationToken ct)
            => fail.TryDequeue(out _) ? throw new Npgsql.NpgsqlException("injected failure after the events were written") : Task.CompletedTask;
    }

    private async Task<(Webhook Hook, string Secret)> AddWebhookAsync(string enterprise = "default", string? url = null, IReadOnlyList<string>? types = null)
    {
        var secrets = _server.Services.GetRequiredService<WebhookSecrets>();
        var secret = WebhookSecrets.NewSecret();
        await _server.Db.CreateTokenAsync(enterprise, "crm");
        var hook = await EventStore.AddWebhookAsync(_server.Db.DataSource, enterprise, url ?? _receiver.Url, types, secrets.Protect(secret), default);
        return (hook, secret);
    }

    private async Task IngestAsync(IReadOnlyList<Envelope> frames, int chunk = 50)
    {
        foreach (var part in frames.Chunk(chunk))
        {
            Assert.Equal(HttpStatusCode.OK, (await _server.PostFramesAsync(part)).StatusCode);
        }
    }

    private static async Task WaitAsync(Func<Task<bool>> done, string what, int seconds = 30)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (!await done())
        {
            Assert.True(DateTime.UtcNow < until, $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }

    private async Task<long> OutboxCountAsync(string? enterprise = null)
    {
        await using var cmd = _server.Db.DataSource.CreateCommand(
            "SELECT count(*) FROM ct.call_events_out o JOIN ct.enterprises e ON e.id = o.enterprise_id WHERE @e::text IS NULL OR e.name = @e");
        cmd.Parameters.Add(new Npgsql.NpgsqlParameter("e", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)enterprise ?? DBNull.Value });
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    private static IEnumerable<JsonElement> OfCall(IEnumerable<JsonElement> events, string key) => events.Where(e => e.GetProperty("subject").GetString() == key);

    [Fact]
    public async Task The_ring_group_call_of_the_real_capture_reaches_a_webhook_signed_one_ringing_per_extension_one_answer_by_101_one_end()
    {
        var (_, secret) = await AddWebhookAsync();
        await IngestAsync(Capture.Ctip());
        var total = await OutboxCountAsync();
        await WaitAsync(() => Task.FromResult(_receiver.Accepted.Count >= total), $"{total} events at the webhook");

        foreach (var (body, signature, _) in _receiver.Requests)
        {
            var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));
            Assert.Equal(expected, signature);
        }

        var events = _receiver.Accepted;
        Assert.Equal(events.Count, events.Select(e => e.GetProperty("id").GetString()).Distinct().Count());
        var completed = events.Single(e => e.GetProperty("type").GetString() == "call.completed"
                                           && e.GetProperty("data").GetProperty("startedAt").GetDateTimeOffset() == DateTimeOffset.Parse("2025-09-03T07:07:42.924412Z", System.Globalization.CultureInfo.InvariantCulture));
        var key = completed.GetProperty("subject").GetString()!;
        var call = OfCall(events, key).ToList();
        Assert.Equal(["101", "102", "103", "104", "105", "109"], call.Where(e => e.GetProperty("type").GetString() == "call.ringing").Select(e => e.GetProperty("data").GetProperty("extension").GetString()));
        Assert.Equal("101", call.Single(e => e.GetProperty("type").GetString() == "call.answered").GetProperty("data").GetProperty("answeredBy").GetString());
        var ended = call.Single(e => e.GetProperty("type").GetString() == "call.ended").GetProperty("data");
        Assert.Equal("answered", ended.GetProperty("status").GetString());
        Assert.Equal(14.821, ended.GetProperty("ringSeconds").GetDouble(), 3);
        Assert.Equal(["call.ringing", "call.ringing", "call.ringing", "call.ringing", "call.ringing", "call.ringing", "call.answered", "call.ended", "call.completed"],
            call.Select(e => e.GetProperty("type").GetString()));
        var seqs = call.Select(e => e.GetProperty("callseq").GetInt32()).ToList();
        Assert.Equal(seqs.Order(), seqs);
        Assert.All(call, e => Assert.Equal("default", e.GetProperty("enterprise").GetString()));
        Assert.Equal("/pbxes/slican", completed.GetProperty("source").GetString());

        // call.completed carries the call exactly as the API lists it
        using var crm = _server.Client(await _server.CreateTokenAsync("default", "crm"));
        var id = completed.GetProperty("data").GetProperty("id").GetInt64();
        using var detail = JsonDocument.Parse(await crm.GetStringAsync($"/api/calls/{id}"));
        Assert.Equal(detail.RootElement.GetProperty("call").GetRawText(), completed.GetProperty("data").GetRawText());
    }

    [Fact]
    public async Task A_webhook_answering_503_gets_the_same_event_again_and_delivery_goes_on_in_order()
    {
        _receiver.Answer = n => n <= 2 ? 503 : 200;
        await AddWebhookAsync();
        await IngestAsync(Capture.Ctip().Take(120).ToList());
        var total = await OutboxCountAsync();
        Assert.True(total > 0);
        await WaitAsync(() => Task.FromResult(_receiver.Accepted.Count >= total), "every event after the 503s");

        var all = _receiver.Requests.ToList();
        Assert.Equal(2, all.Count(r => r.Status == 503));
        var accepted = _receiver.Accepted.Select(e => e.GetProperty("id").GetString()).ToList();
        Assert.Equal(accepted.Distinct().Count(), accepted.Count);
        // each event answered 503 was sent again (Polly) and then accepted: the same bytes
        foreach (var refused in all.Where(r => r.Status == 503))
        {
            Assert.Contains(all, r => r.Status == 200 && r.Body.AsSpan().SequenceEqual(refused.Body));
        }

        // per call in order at the receiver
        foreach (var call in _receiver.Accepted.GroupBy(e => e.GetProperty("subject").GetString()))
        {
            var seqs = call.Select(e => e.GetProperty("callseq").GetInt32()).ToList();
            Assert.Equal(seqs.Order(), seqs);
        }

        var hook = (await EventStore.WebhooksAsync(_server.Db.DataSource, null, default)).Single();
        Assert.True(hook.Enabled);
        Assert.Equal(0, hook.ConsecutiveFailures);
    }

    [Fact]
    public async Task A_call_whose_event_fails_past_the_retries_holds_the_cursor_and_no_event_of_the_calls_delivered_beside_it_is_lost()
    {
        // the receiver refuses the 20th call.completed to arrive 6 times (more than 1 + 3 Polly retries: one failed
        // delivery) and is slow with the rest; the other calls of the page are delivered in parallel, or not started
        // once the failure is known, and some of those sit before the refused event
        var refusals = 6;
        var completedSeen = 0;
        string? refused = null;
        _receiver.AnswerEvent = e =>
        {
            var id = e.GetProperty("id").GetString()!;
            if (e.GetProperty("type").GetString() == CallEventTypes.Completed && Interlocked.Increment(ref completedSeen) == 20)
            {
                refused = id;
            }

            if (id == Volatile.Read(ref refused) && Interlocked.Decrement(ref refusals) >= 0)
            {
                return 500;
            }

            Thread.Sleep(10);
            return 200;
        };
        var (hook, _) = await AddWebhookAsync();
        await IngestAsync(Capture.Ctip(), 1000); // one batch: one page of many calls
        var total = await OutboxCountAsync();
        var expected = new HashSet<string>(StringComparer.Ordinal);
        await using (var cmd = _server.Db.DataSource.CreateCommand("SELECT event_id FROM ct.call_events_out"))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                expected.Add(reader.GetString(0));
            }
        }

        await WaitAsync(() => Task.FromResult(expected.IsSubsetOf(_receiver.Accepted.Select(e => e.GetProperty("id").GetString()!))),
            $"all {total} events accepted after the refusals", 60);

        Assert.Equal(6, _receiver.Requests.Count(r => r.Status == 500));
        // per call, the first acceptance of each event follows the call's order
        foreach (var call in _receiver.Accepted.DistinctBy(e => e.GetProperty("id").GetString()).GroupBy(e => e.GetProperty("subject").GetString()))
        {
            var seqs = call.Select(e => e.GetProperty("callseq").GetInt32()).ToList();
            Assert.Equal(seqs.Order(), seqs);
        }

        var stored = (await EventStore.WebhookAsync(_server.Db.DataSource, hook.Id, default))!;
        Assert.True(stored.Enabled);
        Assert.Equal(0, stored.ConsecutiveFailures);
        Assert.Equal(await MaxPositionAsync(), stored.Position);
    }

    [Fact]
    public void After_a_failed_run_the_cursor_stops_before_the_first_event_not_delivered_even_one_not_tried()
    {
        // positions 11..16 of two overlapping calls a and b: b's event at 13 failed, so a's event at 14 was not tried;
        // a's 12 and b's 15 were delivered
        var rows = new[] { (11, "a"), (12, "a"), (13, "b"), (14, "a"), (15, "b"), (16, "b") }
            .Select(x => new SequencedEvent(x.Item1, $"e{x.Item1}", 1, "default", "call.ringing", "pbx", x.Item2, DateTimeOffset.UnixEpoch, "{}")).ToList();
        Assert.Equal((12L, 2), EventDispatcher.DeliveredPrefix(rows, 10, p => p is 11 or 12 or 15));
        Assert.Equal((10L, 0), EventDispatcher.DeliveredPrefix(rows, 10, p => p is 12 or 13 or 14));
        Assert.Equal((16L, 6), EventDispatcher.DeliveredPrefix(rows, 10, _ => true));
    }

    [Fact]
    public async Task Pruning_keeps_the_newest_position_so_positions_go_on_increasing_after_it()
    {
        var db = _server.Db.DataSource;
        var frames = Capture.Ctip();
        await IngestAsync(frames.Take(300).ToList());
        var first = await OutboxCountAsync();
        await WaitAsync(async () => await EventStore.TopAsync(db, default) == first && !await EventStore.PendingAsync(db, default), "the first events sequenced");

        Assert.Equal(first - 1, await EventStore.PruneAsync(db, DateTimeOffset.UtcNow.AddHours(1), default));
        Assert.Equal(first, await EventStore.TopAsync(db, default));
        Assert.Equal(1, await OutboxCountAsync());

        await IngestAsync(frames.Skip(300).ToList());
        var added = await OutboxCountAsync() - 1;
        Assert.True(added > 0);
        await WaitAsync(async () => !await EventStore.PendingAsync(db, default) && await EventStore.TopAsync(db, default) == first + added, "the new events sequenced after it");
        var next = await EventStore.ReadAsync(db, null, first, null, 10_000, default);
        Assert.Equal(added, next.Count);
        Assert.Equal(Enumerable.Range(1, (int)added).Select(i => first + i), next.Select(e => e.Position));
    }

    [Fact]
    public async Task Asking_whether_events_wait_for_a_position_does_not_read_the_whole_outbox()
    {
        // a day's retention of events, all sequenced: the dispatcher asks this on every round, so it must go by the
        // (written_xid, id) index from the newest position, not scan the outbox
        await using (var cmd = _server.Db.DataSource.CreateCommand("""
            INSERT INTO ct.call_events_out (event_id, enterprise_id, pbx, call_key, type, call_seq, occurred_at, body)
            SELECT 'bulk-' || n, e.id, 'bulk', 'call-' || n, 'call.ringing', 1, now(), '{}'
              FROM generate_series(1, 20000) n, ct.enterprises e WHERE e.name = 'default';
            INSERT INTO ct.call_event_positions (position, event, written_xid, enterprise_id)
            SELECT row_number() OVER (ORDER BY written_xid, id), id, written_xid, enterprise_id FROM ct.call_events_out;
            ANALYZE ct.call_events_out;
            """))
        {
            await cmd.ExecuteNonQueryAsync();
        }

        // one connection, so this backend's table statistics can be flushed on demand and read back
        await using var one = NpgsqlDataSource.Create(_server.Db.ConnectionString + ";Maximum Pool Size=1");
        async Task<long> SeqTuplesReadAsync()
        {
            await using (var flush = one.CreateCommand("SELECT pg_stat_force_next_flush()"))
            {
                await flush.ExecuteNonQueryAsync();
            }

            await using var read = one.CreateCommand("SELECT seq_tup_read FROM pg_stat_user_tables WHERE schemaname = 'ct' AND relname = 'call_events_out'");
            return (long)(await read.ExecuteScalarAsync())!;
        }

        var before = await SeqTuplesReadAsync();
        Assert.False(await EventStore.PendingAsync(one, default));
        var read = await SeqTuplesReadAsync() - before;
        Assert.True(read < 1000, $"PendingAsync read {read:N0} outbox rows in sequential scans (20,000 sequenced)");
    }

    private async Task<long> MaxPositionAsync()
    {
        await using var cmd = _server.Db.DataSource.CreateCommand("SELECT coalesce(max(position), 0) FROM ct.call_event_positions");
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task A_webhook_that_keeps_failing_is_disabled_with_its_reason_and_shown_in_health()
    {
        _receiver.Answer = _ => 500;
        var (hook, _) = await AddWebhookAsync();
        await IngestAsync(Capture.Ctip().Take(60).ToList());
        await WaitAsync(async () => (await EventStore.WebhookAsync(_server.Db.DataSource, hook.Id, default))!.Enabled == false, "the webhook disabled", 60);

        var stored = (await EventStore.WebhookAsync(_server.Db.DataSource, hook.Id, default))!;
        Assert.Equal(3, stored.ConsecutiveFailures);
        Assert.Contains("3 consecutive failed deliveries", stored.DisabledReason);
        Assert.Contains("HTTP 500", stored.DisabledReason);
        Assert.Equal(0, stored.Delivered);
        var health = await _server.HealthAsync(await _server.CreateTokenAsync("default", "crm"));
        var shown = Assert.Single(health.Webhooks!);
        Assert.False(shown.Enabled);
        Assert.Equal(stored.DisabledReason, shown.DisabledReason);
        Assert.Equal("degraded", health.Status);
    }

    [Fact]
    public async Task A_rolled_back_batch_emits_nothing_and_a_replayed_capture_no_event_twice()
    {
        await AddWebhookAsync();
        var frames = Capture.Ctip();
        _failNext.Enqueue(1);
        var failed = await _server.PostFramesAsync(frames.Take(200));
        Assert.False(failed.IsSuccessStatusCode);
        Assert.Equal(0, await OutboxCountAsync());

        await IngestAsync(frames);
        await IngestAsync(frames, 97); // the relay sends everything again, split differently
        var total = await OutboxCountAsync();
        await WaitAsync(() => Task.FromResult(_receiver.Accepted.Count >= total), "every event");
        await Task.Delay(1500); // two sweeps more: nothing else may come
        var ids = _receiver.Accepted.Select(e => e.GetProperty("id").GetString()!).ToList();
        Assert.Equal(total, ids.Count);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.NotEmpty(ids);
    }

    [Fact]
    public async Task Calls_in_progress_show_who_rings_and_who_talks_and_leave_when_they_complete()
    {
        var token = await _server.CreateTokenAsync("default", "crm");
        using var crm = _server.Client(token);
        var frames = Capture.Ctip();
        // up to the ring group call of 09:07:42 answered by 101 (its answer frame), not its end
        var answered = frames.Select((f, i) => (f, i)).First(x => x.f.ReceivedAt >= DateTimeOffset.Parse("2025-09-03T07:07:58Z", System.Globalization.CultureInfo.InvariantCulture)).i;
        await IngestAsync(frames.Take(answered).ToList());
        var active = (await crm.GetFromJsonAsync("/api/calls/active", Hosting.ApiJson.Default.ActiveCallsDto))!;
        var call = Assert.Single(active.Items, c => c.StartedAt == DateTimeOffset.Parse("2025-09-03T07:07:42.924412Z", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("talking", call.State);
        Assert.Equal("101", call.AnsweredBy);
        Assert.Empty(call.Ringing);
        Assert.Equal("693109180", call.Caller);

        await IngestAsync(frames.Skip(answered).ToList());
        active = (await crm.GetFromJsonAsync("/api/calls/active", Hosting.ApiJson.Default.ActiveCallsDto))!;
        Assert.DoesNotContain(active.Items, c => c.CallKey == call.CallKey);

        // another enterprise's token sees none of them
        using var other = _server.Client(await _server.CreateTokenAsync("other", "crm"));
        Assert.Empty((await other.GetFromJsonAsync("/api/calls/active", Hosting.ApiJson.Default.ActiveCallsDto))!.Items);
    }

    [Fact]
    public async Task The_event_stream_gives_a_client_connected_during_a_replay_every_event_of_its_enterprise_only_and_resumes_after_Last_Event_ID()
    {
        var tokenA = await _server.CreateTokenAsync("office-a", "crm", "pbx-a");
        await _server.CreateTokenAsync("office-b", "crm", "pbx-b");
        using var sse = new HttpClient { BaseAddress = new Uri(_server.BaseUrl), Timeout = Timeout.InfiniteTimeSpan };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        // EventSource style: the token in the query
        using var response = await sse.GetAsync($"/api/events?access_token={tokenA}", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var received = new List<(long Id, string Type, JsonElement Event)>();
        var reader = Task.Run(async () => received.AddRange(await ReadEventsAsync(await response.Content.ReadAsStreamAsync(cts.Token), cts.Token)));

        var a = Capture.Ctip("pbx-a");
        var b = Capture.Ctip("pbx-b");
        for (var i = 0; i < a.Count; i += 100)
        {
            await IngestAsync(a.Skip(i).Take(100).ToList());
            await IngestAsync(b.Skip(i).Take(100).ToList());
        }

        var expected = await OutboxCountAsync("office-a");
        await WaitAsync(() => Task.FromResult(Volatile.Read(ref _sseCount) >= expected), $"{expected} events on the stream");
        await cts.CancelAsync();
        await Task.WhenAny(reader, Task.Delay(5000));
        var events = received.ToList();
        Assert.Equal(expected, events.Count);
        Assert.All(events, e => Assert.Equal("office-a", e.Event.GetProperty("enterprise").GetString()));
        Assert.All(events, e => Assert.Equal("/pbxes/pbx-a", e.Event.GetProperty("source").GetString()));
        Assert.Equal(events.Select(e => e.Id).Order(), events.Select(e => e.Id));
        Assert.All(events, e => Assert.Equal(e.Type, e.Event.GetProperty("type").GetString()));

        // resume: Last-Event-ID of the 100th event gives exactly the rest
        var middle = events[99].Id;
        using var resume = new HttpRequestMessage(HttpMethod.Get, "/api/events");
        resume.Headers.Add("Last-Event-ID", middle.ToString(System.Globalization.CultureInfo.InvariantCulture));
        resume.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", tokenA);
        using var cts2 = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var again = await sse.SendAsync(resume, HttpCompletionOption.ResponseHeadersRead, cts2.Token);
        Interlocked.Exchange(ref _sseCount, 0);
        var rest = new List<(long Id, string Type, JsonElement Event)>();
        var reader2 = Task.Run(async () => rest.AddRange(await ReadEventsAsync(await again.Content.ReadAsStreamAsync(cts2.Token), cts2.Token)));
        await WaitAsync(() => Task.FromResult(Volatile.Read(ref _sseCount) >= events.Count - 100), "the rest after Last-Event-ID");
        await cts2.CancelAsync();
        await Task.WhenAny(reader2, Task.Delay(5000));
        Assert.Equal(events.Skip(100).Select(e => e.Id), rest.Select(e => e.Id));
    }

    private int _sseCount;

    /// <summary>Reads server-sent events until cancelled (id, event, data lines), skipping keep-alives.</summary>
    private async Task<List<(long, string, JsonElement)>> ReadEventsAsync(Stream stream, CancellationToken ct)
    {
        var list = new List<(long, string, JsonElement)>();
        try
        {
            await foreach (var item in System.Net.ServerSentEvents.SseParser.Create(stream).EnumerateAsync(ct))
            {
                if (item.EventType == "keepalive")
                {
                    continue;
                }

                list.Add((long.Parse(item.EventId!, System.Globalization.CultureInfo.InvariantCulture), item.EventType, JsonDocument.Parse(item.Data).RootElement.Clone()));
                Interlocked.Increment(ref _sseCount);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
        {
        }

        return list;
    }

    [Theory]
    [InlineData("ami", "ami/asterisk20/f_queue_answered.txt", "1796113132.24", "201,202", "202", 6.51)]
    [InlineData("smdr", "smdr/ipo-30field-2015-crisisline.csv", "1008741", "218", "218", 5)]
    public async Task An_AMI_queue_call_and_an_SMDR_call_give_one_ringing_per_extension_one_answer_naming_who_took_it_and_one_end(
        string protocol, string fixture, string callKey, string rang, string answeredBy, double ringSeconds)
    {
        var pbx = "live-" + protocol;
        var frames = CaptureFile.Read(TestPaths.Fixture(fixture.Split('/')), protocol)
            .Select((f, i) => new Envelope(pbx, protocol, "s1", i + 1, (f.ReceivedAt ?? DateTimeOffset.UnixEpoch.AddMilliseconds(i)).ToUniversalTime(), f.Frame))
            .ToList();
        await IngestAsync(frames);
        await using var cmd = _server.Db.DataSource.CreateCommand("SELECT body FROM ct.call_events_out WHERE pbx = @pbx AND call_key = @key ORDER BY id");
        cmd.Parameters.AddWithValue("pbx", pbx);
        cmd.Parameters.AddWithValue("key", callKey);
        var events = new List<JsonElement>();
        await using (var r = await cmd.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                events.Add(JsonDocument.Parse(r.GetString(0)).RootElement.Clone());
            }
        }

        string Type(JsonElement e) => e.GetProperty("type").GetString()!;
        // one ringing per extension that rang, in the order the phones really rang (AMI: Newstate Ringing, not the dial)
        Assert.Equal(rang.Split(','), events.Where(e => Type(e) == "call.ringing").Select(e => e.GetProperty("data").GetProperty("extension").GetString()).Order());
        var answer = Assert.Single(events, e => Type(e) == "call.answered").GetProperty("data");
        Assert.Equal(answeredBy, answer.GetProperty("answeredBy").GetString());
        Assert.Equal(ringSeconds, answer.GetProperty("ringSeconds").GetDouble(), 2);
        Assert.Equal("answered", Assert.Single(events, e => Type(e) == "call.ended").GetProperty("data").GetProperty("status").GetString());
        Assert.Equal(answeredBy, Assert.Single(events, e => Type(e) == "call.completed").GetProperty("data").GetProperty("answeredBy").GetString());
        Assert.Equal("call.completed", Type(events[^1]));
    }

    [Fact]
    public void Correlate_events_prints_one_CloudEvent_a_line_for_the_capture_offline()
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = CorrelateCommand.RunEvents("ctip", new FileInfo(TestPaths.Fixture("ctip", "slican-ncp-2025-09-02_04.tsv")), "UTC", "office", default, "acme", output, errors);

        Assert.Equal(0, code);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        Assert.Contains("855 frames, 0 parse errors", errors.ToString());
        Assert.All(lines, e =>
        {
            Assert.Equal("1.0", e.GetProperty("specversion").GetString());
            Assert.Equal("/pbxes/office", e.GetProperty("source").GetString());
            Assert.Equal("acme", e.GetProperty("enterprise").GetString());
            Assert.EndsWith("Z", e.GetProperty("time").GetString());
        });
        Assert.Equal(lines.Count, lines.Select(e => e.GetProperty("id").GetString()).Distinct().Count());
        // every completed call of the capture ends with exactly one call.completed, as many as correlate prints calls
        var calls = CorrelateCommand.Correlate("ctip", [new FileInfo(TestPaths.Fixture("ctip", "slican-ncp-2025-09-02_04.tsv"))], TimeZoneInfo.Utc, "office", default).Calls;
        Assert.Equal(calls.Count, lines.Count(e => e.GetProperty("type").GetString() == "call.completed"));
    }

    [Fact]
    public async Task An_unknown_Last_Event_ID_or_event_type_is_a_problem_naming_the_parameter()
    {
        using var crm = _server.Client(await _server.CreateTokenAsync("default", "crm"));
        var bad = await crm.GetAsync("/api/events?lastEventId=abc");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("lastEventId", await bad.Content.ReadAsStringAsync());
        bad = await crm.GetAsync("/api/events?types=call.exploded");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("types", await bad.Content.ReadAsStringAsync());
        using var anonymous = new HttpClient { BaseAddress = new Uri(_server.BaseUrl) };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/events")).StatusCode);
        // the query token is for the event stream only (EventSource); elsewhere it is an unknown parameter
        Assert.Equal(HttpStatusCode.BadRequest, (await anonymous.GetAsync("/api/calls/active?access_token=nope")).StatusCode);
    }
}
