using System.Text.Json;
using Amqp;
using Amqp.Framing;
using Azure.Core;
using CloudTelephony.Contracts;
using CloudTelephony.ServiceBus.Tests.Broker;

namespace CloudTelephony.ServiceBus.Tests;

public sealed class SasTokenTests
{
    [Fact]
    public void Known_answer()
    {
        // expected signature computed outside .NET (Python hmac/hashlib/base64) from the documented formula:
        // Base64(HMACSHA256(key=UTF8(key), UTF8(UrlEncode(uri) + "\n" + se)))
        var token = SasToken.Create(
            "https://contoso.servicebus.windows.net/pbx-frames",
            "relay-send",
            "2fVbM3y0r3kGxYfHh9bQ5u0mK1L6rN8sT4wV7zA+cDE=",
            DateTimeOffset.FromUnixTimeSeconds(1767225600));
        Assert.Equal(
            "SharedAccessSignature sr=https%3a%2f%2fcontoso.servicebus.windows.net%2fpbx-frames&sig=b7mvlIhXbTgxww0qiOJYU78vM4oy4Tgy6CNx8094xFQ%3d&se=1767225600&skn=relay-send",
            token);
    }

    [Fact]
    public void Signature_matches_a_direct_hmac()
    {
        var key = "k3y";
        var data = "https%3a%2f%2fns.servicebus.windows.net%2fq\n1700000000";
        using var hmac = new System.Security.Cryptography.HMACSHA256(System.Text.Encoding.UTF8.GetBytes(key));
        Assert.Equal(Convert.ToBase64String(hmac.ComputeHash(System.Text.Encoding.UTF8.GetBytes(data))), SasToken.Sign(key, data));
    }
}

public sealed class SenderTests : IAsyncLifetime
{
    private const string Queue = "pbx-frames";
    private readonly TestBroker _broker = new();

    public Task InitializeAsync()
    {
        _broker.SasKeys["relay-send"] = "c2VjcmV0LWtleS1mb3ItdGVzdHM=";
        _broker.AddQueue(Queue);
        _broker.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    private ServiceBusOptions Options(Action<ServiceBusOptions>? change = null)
    {
        var o = new ServiceBusOptions
        {
            Endpoint = _broker.Endpoint,
            Queue = Queue,
            SasKeyName = "relay-send",
            SasKey = "c2VjcmV0LWtleS1mb3ItdGVzdHM=",
            OperationTimeoutSeconds = 5,
        };
        change?.Invoke(o);
        return o;
    }

    internal static List<Envelope> Envelopes(string pbx, int count, string session = "20260101T000000Z-aaaaaa", int from = 1) =>
        Enumerable.Range(from, count)
            .Select(i => new Envelope(pbx, Protocols.Ctip, session, i, new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMilliseconds(i), $"aRING {i}_ 101"))
            .ToList();

    [Fact]
    public async Task Sends_with_a_sas_token_via_cbs_and_maps_the_message()
    {
        await using var sender = new QueueSender(Options());
        var a = Envelopes("pbx-a", 150);
        var b = Envelopes("pbx-b", 150);
        var mixed = a.Zip(b).SelectMany(p => new[] { p.First, p.Second }).ToList();
        await sender.SendAsync(mixed, CancellationToken.None);

        var stored = _broker.Queue(Queue).Accepted;
        Assert.Equal(300, stored.Count);
        Assert.Equal(mixed.Select(e => e.MessageId), stored.Select(m => m.MessageId));
        Assert.Equal(mixed.Select(e => e.Pbx), stored.Select(m => m.GroupId));
        Assert.All(stored, m => Assert.Equal("application/json", m.ContentType));
        Assert.Equal(mixed[0], JsonSerializer.Deserialize(stored[0].Body, ContractsJson.Default.Envelope));
        Assert.Equal("pbx-a:20260101T000000Z-aaaaaa:1", stored[0].MessageId);
        Assert.Equal(1, _broker.PutTokens);
        Assert.Equal(1, sender.Connects);
    }

    [Fact]
    public async Task Wrong_key_is_refused_by_cbs_with_a_clear_condition()
    {
        await using var sender = new QueueSender(Options(o => o.SasKey = "bm90LXRoZS1rZXk="));
        var ex = await Assert.ThrowsAsync<ServiceBusException>(() => sender.SendAsync(Envelopes("p", 3), CancellationToken.None));
        Assert.Equal("amqp:unauthorized-access", ex.Condition);
        Assert.Contains("signature does not match", ex.Message, StringComparison.Ordinal);
        Assert.Empty(_broker.Queue(Queue).Accepted);
    }

    [Fact]
    public async Task Unknown_key_name_is_refused()
    {
        await using var sender = new QueueSender(Options(o => o.SasKeyName = "other"));
        var ex = await Assert.ThrowsAsync<ServiceBusException>(() => sender.SendAsync(Envelopes("p", 3), CancellationToken.None));
        Assert.Contains("unknown key name 'other'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Expired_token_is_refused()
    {
        await using var sender = new QueueSender(Options(o => o.TokenLifetimeSeconds = 60), time: new ShiftedTime(TimeSpan.FromHours(-2)));
        var ex = await Assert.ThrowsAsync<ServiceBusException>(() => sender.SendAsync(Envelopes("p", 3), CancellationToken.None));
        Assert.Equal("amqp:unauthorized-access", ex.Condition);
        Assert.Contains("expired", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Token_is_renewed_before_it_expires()
    {
        await using var sender = new QueueSender(Options(o => { o.TokenLifetimeSeconds = 2; o.TokenRefreshBeforeSeconds = 1; }));
        var until = DateTime.UtcNow.AddSeconds(4.5);
        var seq = 1;
        while (DateTime.UtcNow < until)
        {
            await sender.SendAsync(Envelopes("p", 10, from: seq), CancellationToken.None);
            seq += 10;
            await Task.Delay(100);
        }

        Assert.True(_broker.PutTokens >= 3, $"{_broker.PutTokens} put-token requests");
        Assert.Equal(seq - 1, _broker.Queue(Queue).Accepted.Count);
        Assert.Equal(1, sender.Connects);
    }

    [Fact]
    public async Task Message_without_group_id_is_rejected_by_a_session_queue()
    {
        await using var connection = await ServiceBusConnection.OpenAsync(Options(), Queue);
        var link = new SenderLink(connection.Session, "raw", Queue);
        var ex = await Assert.ThrowsAsync<AmqpException>(() => link.SendAsync(new Message { Properties = new Properties { MessageId = "x:1" }, BodySection = new Data { Binary = [1] } }));
        Assert.Equal("amqp:not-allowed", ex.Error.Condition.ToString());
        Assert.Contains("requires sessions", ex.Error.Description, StringComparison.Ordinal);
        await link.SendAsync(new Message { Properties = new Properties { MessageId = "x:2", GroupId = "x" }, BodySection = new Data { Binary = [1] } });
        Assert.Single(_broker.Queue(Queue).Accepted);
    }

    [Fact]
    public async Task Duplicate_message_ids_are_dropped()
    {
        await using var sender = new QueueSender(Options());
        var batch = Envelopes("p", 20);
        await sender.SendAsync(batch, CancellationToken.None);
        await sender.SendAsync(batch, CancellationToken.None);
        await sender.SendAsync(batch.Take(5).ToList(), CancellationToken.None);
        Assert.Equal(20, _broker.Queue(Queue).Accepted.Count);
        Assert.Equal(25, _broker.Queue(Queue).Duplicates);
    }

    [Fact]
    public async Task Unknown_queue_fails_with_not_found()
    {
        await using var sender = new QueueSender(Options(o => o.Queue = "no-such-queue"));
        var ex = await Assert.ThrowsAsync<ServiceBusException>(() => sender.SendAsync(Envelopes("p", 1), CancellationToken.None));
        Assert.Equal("amqp:not-found", ex.Condition);
    }

    [Fact]
    public async Task Oversized_message_is_rejected_with_the_size_condition()
    {
        _broker.Queue(Queue).MaxBodyBytes = 100;
        await using var sender = new QueueSender(Options());
        var ex = await Assert.ThrowsAsync<ServiceBusException>(() => sender.SendAsync(Envelopes("p", 2), CancellationToken.None));
        Assert.Equal("amqp:link:message-size-exceeded", ex.Condition);
        Assert.Contains("p:20260101T000000Z-aaaaaa:1", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sasl_plain_without_cbs()
    {
        await _broker.DisposeAsync();
        _broker.Plain = ("relay", "pw");
        _broker.Start();
        await using (var sender = new QueueSender(Options(o => { o.SaslPlain = true; o.SasKeyName = "relay"; o.SasKey = "pw"; })))
        {
            await sender.SendAsync(Envelopes("p", 5), CancellationToken.None);
        }

        Assert.Equal(5, _broker.Queue(Queue).Accepted.Count);
        Assert.Equal(0, _broker.PutTokens);
        await using var bad = new QueueSender(Options(o => { o.SaslPlain = true; o.SasKeyName = "relay"; o.SasKey = "wrong"; }));
        await Assert.ThrowsAnyAsync<Exception>(() => bad.SendAsync(Envelopes("p", 1, from: 6), CancellationToken.None));
        Assert.Equal(5, _broker.Queue(Queue).Accepted.Count);
    }

    [Fact]
    public async Task Entra_id_token_is_put_as_jwt()
    {
        _broker.AcceptedJwts.Add("eyJ.test.jwt");
        await using var sender = new QueueSender(Options(o => { o.UseEntraId = true; o.SasKeyName = null; o.SasKey = null; o.Credential = new FixedCredential("eyJ.test.jwt"); }));
        await sender.SendAsync(Envelopes("p", 3), CancellationToken.None);
        Assert.Equal(3, _broker.Queue(Queue).Accepted.Count);

        await using var wrong = new QueueSender(Options(o => { o.UseEntraId = true; o.Credential = new FixedCredential("eyJ.other"); }));
        var ex = await Assert.ThrowsAsync<ServiceBusException>(() => wrong.SendAsync(Envelopes("p", 1, from: 4), CancellationToken.None));
        Assert.Contains("jwt", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broker_down_for_a_while_then_back_delivers_everything_once_in_order_per_pbx()
    {
        var frames = new[] { "pbx-a", "pbx-b", "pbx-c" }.SelectMany(p => Envelopes(p, 400)).OrderBy(e => e.Seq).ToList();
        await using var sender = new QueueSender(Options(o => o.OperationTimeoutSeconds = 2));
        var failures = 0;
        var sent = 0;
        var outage = Task.CompletedTask;
        foreach (var batch in frames.Chunk(40))
        {
            if (sent == 400)
            {
                _broker.Stop();
                outage = Task.Delay(1500).ContinueWith(_ => _broker.Start(), TaskScheduler.Default);
            }

            while (true)
            {
                try
                {
                    await sender.SendAsync(batch, CancellationToken.None);
                    break;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    failures++;
                    await Task.Delay(100);
                }
            }

            sent += batch.Length;
        }

        await outage;
        var stored = _broker.Queue(Queue).Accepted;
        Assert.True(failures > 0, "the outage was noticed");
        Assert.True(sender.Connects >= 2, "reconnected");
        Assert.Equal(frames.Count, stored.Count);
        Assert.Equal(frames.Count, stored.Select(m => m.MessageId).Distinct().Count());
        foreach (var g in stored.GroupBy(m => m.GroupId))
        {
            var seqs = g.Select(m => long.Parse(m.MessageId!.Split(':')[^1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(Enumerable.Range(1, 400).Select(i => (long)i), seqs);
        }
    }

    [Fact]
    public async Task Amqp_over_websockets()
    {
        await _broker.DisposeAsync();
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            _broker.WebSocketPort = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }

        _broker.Start();
        await using var sender = new QueueSender(Options(o => o.Endpoint = _broker.WebSocketEndpoint));
        await sender.SendAsync(Envelopes("p", 25), CancellationToken.None);
        Assert.Equal(25, _broker.Queue(Queue).Accepted.Count);
        Assert.Equal(1, _broker.PutTokens);
    }

    [Fact]
    public async Task Receiver_gets_what_was_sent_and_settles_it()
    {
        await using (var sender = new QueueSender(Options()))
        {
            await sender.SendAsync(Envelopes("p", 10), CancellationToken.None);
        }

        await using var receiver = new QueueReceiver(Options(), credit: 5);
        var got = new List<ReceivedMessage>();
        while (got.Count < 10)
        {
            var m = await receiver.ReceiveAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
            Assert.NotNull(m);
            got.Add(m);
            QueueReceiver.Accept(m);
        }

        Assert.Equal(Envelopes("p", 10).Select(e => e.MessageId), got.Select(m => m.MessageId));
        Assert.All(got, m => Assert.Equal("p", m.SessionId));
        Assert.Null(await receiver.ReceiveAsync(TimeSpan.FromMilliseconds(200), CancellationToken.None));
    }

    [Fact]
    public async Task Next_send_goes_on_the_wire_while_the_previous_one_is_unsettled_in_call_order_with_a_heartbeat_between()
    {
        var queue = _broker.Queue(Queue);
        queue.HoldSettlements = true;
        await using var sender = new QueueSender(Options());
        var frames = Envelopes("p", 60).ToArray();
        var beat = Beat();
        var first = sender.SendAsync(frames[..20], CancellationToken.None);
        var heartbeat = sender.SendMessagesAsync([FrameMessages.ToMessage(beat)], CancellationToken.None);
        var second = sender.SendAsync(frames[20..40], CancellationToken.None);
        var third = sender.SendAsync(frames[40..], CancellationToken.None);

        // every transfer reached the broker before any settlement came back
        await WaitUntilAsync(() => queue.Accepted.Count == 61, "61 messages on the wire");
        Assert.Equal(61, queue.Held);
        Assert.False(first.IsCompleted);

        queue.HoldSettlements = false;
        queue.SettleHeld();
        await Task.WhenAll(first, heartbeat, second, third);
        var expected = frames[..20].Select(e => e.MessageId).Append(FrameMessages.ToMessage(beat).Properties.MessageId).Concat(frames[20..].Select(e => e.MessageId));
        Assert.Equal(expected, queue.Accepted.Select(m => m.MessageId));
        Assert.Equal(1, sender.Connects);
    }

    [Fact]
    public async Task Sequence_writes_nothing_after_a_failed_send_until_a_new_sequence_resends()
    {
        var queue = _broker.Queue(Queue);
        queue.MaxBodyBytes = 1000;
        await using var sender = new QueueSender(Options());
        var frames = Envelopes("p", 30).ToArray();
        frames[14] = frames[14] with { Frame = "aRING " + new string('x', 2000) };
        var sequence = sender.StartSequence();
        var first = sender.SendAsync(frames[..10], sequence, CancellationToken.None);
        var second = sender.SendAsync(frames[10..20], sequence, CancellationToken.None);
        await first;
        var rejected = await Assert.ThrowsAsync<ServiceBusException>(() => second);
        Assert.Equal("amqp:link:message-size-exceeded", rejected.Condition);
        Assert.Same(rejected, sequence.Failure);

        var refused = await Assert.ThrowsAsync<ServiceBusException>(() => sender.SendAsync(frames[20..], sequence, CancellationToken.None));
        Assert.Equal("amqp:link:message-size-exceeded", refused.Condition);
        Assert.Contains("an earlier send of this sequence failed", refused.Message, StringComparison.Ordinal);

        // calls outside the sequence (the heartbeat) still go out
        var beat = FrameMessages.ToMessage(Beat());
        await sender.SendMessagesAsync([beat], CancellationToken.None);

        // the cause is fixed; a new sequence resends from the rejected message on
        queue.MaxBodyBytes = 256 * 1024;
        var again = sender.StartSequence();
        var resend = sender.SendAsync(frames[14..20], again, CancellationToken.None);
        await sender.SendAsync(frames[20..], again, CancellationToken.None);
        await resend;
        Assert.Null(again.Failure);
        Assert.Equal(0, again.Unsettled);

        // 16..20 were on the wire behind the rejected 15 and were accepted then; nothing of the refused send was written
        var expected = frames[..14].Concat(frames[15..20]).Select(e => e.MessageId)
            .Append(beat.Properties.MessageId)
            .Concat(frames[14..15].Concat(frames[20..]).Select(e => e.MessageId));
        Assert.Equal(expected, queue.Accepted.Select(m => m.MessageId));
    }

    [Fact]
    public async Task Sequence_does_not_follow_its_unsettled_sends_onto_a_new_connection()
    {
        var queue = _broker.Queue(Queue);
        queue.HoldSettlements = true;
        await using var sender = new QueueSender(Options());
        var frames = Envelopes("p", 20).ToArray();
        var sequence = sender.StartSequence();
        var first = sender.SendAsync(frames[..10], sequence, CancellationToken.None);
        await WaitUntilAsync(() => queue.Accepted.Count == 10, "first send on the wire");

        // another caller's send is rejected (no group-id): the shared connection is dropped under the unsettled first send
        var orphan = new Message { Properties = new Properties { MessageId = "orphan:1" }, BodySection = new Data { Binary = [1] } };
        await Assert.ThrowsAsync<ServiceBusException>(() => sender.SendMessagesAsync([orphan], CancellationToken.None));
        queue.HoldSettlements = false;
        var second = sender.SendAsync(frames[10..], sequence, CancellationToken.None);
        await Assert.ThrowsAnyAsync<Exception>(() => first);
        await Assert.ThrowsAsync<ServiceBusException>(() => second);
        Assert.Equal(10, queue.Accepted.Count); // the second send was not written on the new connection
        Assert.NotNull(sequence.Failure);

        var again = sender.StartSequence();
        await sender.SendAsync(frames, again, CancellationToken.None);
        Assert.Equal(frames.Select(e => e.MessageId), queue.Accepted.Select(m => m.MessageId));
        Assert.Equal(10, queue.Duplicates);
        Assert.Equal(2, sender.Connects);
    }

    private static RelayHeartbeat Beat() =>
        new(RelayHeartbeat.KindValue, "relay-1", "test", DateTimeOffset.UtcNow, [], 0, 0, null, false);

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for: {what}");
            }

            await Task.Delay(10);
        }
    }

    private sealed class ShiftedTime(TimeSpan shift) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + shift;
    }

    private sealed class FixedCredential(string token) : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            Assert.Equal([ServiceBusOptions.EntraScope], requestContext.Scopes);
            return new AccessToken(token, DateTimeOffset.UtcNow.AddHours(1));
        }

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }
}
