using System.Collections.Concurrent;
using System.Text.Json;
using Azure.Core;
using Azure.Messaging.ServiceBus;
using CloudTelephony.Contracts;
using CloudTelephony.ServiceBus.Tests.Broker;

namespace CloudTelephony.ServiceBus.Tests;

/// <summary>The official SDK (through <see cref="FrameSender"/> and <see cref="ServiceBusOptions"/>) against the test broker on real sockets.</summary>
public sealed class SenderTests : IAsyncLifetime
{
    internal const string Key = "c2VjcmV0LWtleS1mb3ItdGVzdHM=";
    private const string Queue = "pbx-frames";
    private readonly TestBroker _broker = new();

    public Task InitializeAsync()
    {
        _broker.SasKeys["relay-send"] = Key;
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
            SasKey = Key,
            OperationTimeoutSeconds = 5,
            MaxRetries = 1,
            RetryDelaySeconds = 0.2,
            MaxRetryDelaySeconds = 1,
        };
        change?.Invoke(o);
        return o;
    }

    internal static List<Envelope> Envelopes(string pbx, int count, string session = "20260101T000000Z-aaaaaa", int from = 1, string? frame = null) =>
        Enumerable.Range(from, count)
            .Select(i => new Envelope(pbx, Protocols.Ctip, session, i, new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMilliseconds(i), frame ?? $"aRING {i}_ 101"))
            .ToList();

    private static void AssertInOrderPerPbx(IEnumerable<Envelope> expected, IReadOnlyList<StoredMessage> stored)
    {
        foreach (var pbx in expected.GroupBy(e => e.Pbx))
        {
            Assert.Equal(pbx.Select(e => e.MessageId), stored.Where(m => m.SessionId == pbx.Key).Select(m => m.MessageId));
        }
    }

    [Fact]
    public async Task Sends_message_batches_with_sas_via_cbs_one_transfer_per_pbx_and_maps_the_message()
    {
        await using var sender = new FrameSender(Options());
        var a = Envelopes("pbx-a", 150);
        var b = Envelopes("pbx-b", 150);
        var mixed = a.Zip(b).SelectMany(p => new[] { p.First, p.Second }).ToList();
        await sender.SendAsync(mixed, CancellationToken.None);

        var queue = _broker.Queue(Queue);
        var stored = queue.Accepted;
        Assert.Equal(300, stored.Count);
        AssertInOrderPerPbx(mixed, stored);
        Assert.All(stored, m => Assert.Equal("application/json", m.ContentType));
        Assert.Equal(mixed[0], JsonSerializer.Deserialize(stored.First(m => m.MessageId == mixed[0].MessageId).Body, ContractsJson.Default.Envelope));
        Assert.Equal(2, queue.Transfers);
        Assert.Equal(2, queue.BatchedTransfers); // the SDK's batched format 0x80013700, unpacked by the broker
        Assert.Contains(_broker.TokenLog, t => t is { Type: "servicebus.windows.net:sastoken", Audience: "amqp://127.0.0.1/pbx-frames" });
        Assert.Equal(0, _broker.RefusedTokens);
    }

    [Fact]
    public async Task Connection_string_of_the_portal_works_too()
    {
        await using var sender = new FrameSender(new ServiceBusOptions { ConnectionString = _broker.ConnectionString("relay-send", Key), Queue = Queue });
        await sender.SendAsync(Envelopes("p", 3), CancellationToken.None);
        Assert.Equal(3, _broker.Queue(Queue).Accepted.Count);
    }

    [Fact]
    public async Task Wrong_key_is_refused_by_cbs_with_a_clear_error_that_counts_as_a_rejection()
    {
        await using var sender = new FrameSender(Options(o => o.SasKey = "bm90LXRoZS1rZXk="));
        var ex = await Assert.ThrowsAsync<UnauthorizedAccessException>(() => sender.SendAsync(Envelopes("p", 3), CancellationToken.None));
        Assert.Contains("signature does not match", ex.Message, StringComparison.Ordinal);
        Assert.True(FrameSender.IsRejection(ex));
        Assert.Equal("Unauthorized", FrameSender.ConditionOf(ex));
        Assert.Empty(_broker.Queue(Queue).Accepted);
    }

    [Fact]
    public async Task Wrong_key_costs_the_sdks_retries_then_one_exception()
    {
        await using var sender = new FrameSender(Options(o => { o.SasKey = "bm90LXRoZS1rZXk="; o.MaxRetries = 2; o.RetryDelaySeconds = 0.05; o.MaxRetryDelaySeconds = 0.1; }));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => sender.SendAsync(Envelopes("p", 3), CancellationToken.None));
        Assert.Equal(3, _broker.RefusedTokens); // first try + MaxRetries, then the caller backs off (the relay: Relay:Forwarder:RejectedRetryDelaySeconds)
    }

    [Fact]
    public async Task Unknown_key_name_is_refused()
    {
        await using var sender = new FrameSender(Options(o => o.SasKeyName = "other"));
        var ex = await Assert.ThrowsAsync<UnauthorizedAccessException>(() => sender.SendAsync(Envelopes("p", 3), CancellationToken.None));
        Assert.Contains("unknown key name 'other'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Message_without_session_id_is_rejected_by_a_session_queue()
    {
        await using var client = Options().CreateClient();
        await using var raw = client.CreateSender(Queue);
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => raw.SendMessageAsync(new ServiceBusMessage("x") { MessageId = "x:1" }));
        Assert.Contains("requires sessions", ex.Message, StringComparison.Ordinal);
        Assert.True(FrameSender.IsRejection(ex), ex.GetType().Name);
        await raw.SendMessageAsync(new ServiceBusMessage("x") { MessageId = "x:2", SessionId = "x" });
        Assert.Single(_broker.Queue(Queue).Accepted);
    }

    [Fact]
    public async Task Duplicate_message_ids_are_dropped()
    {
        await using var sender = new FrameSender(Options());
        var batch = Envelopes("p", 20);
        await sender.SendAsync(batch, CancellationToken.None);
        await sender.SendAsync(batch, CancellationToken.None);
        await sender.SendAsync(batch.Take(5).ToList(), CancellationToken.None);
        Assert.Equal(20, _broker.Queue(Queue).Accepted.Count);
        Assert.Equal(25, _broker.Queue(Queue).Duplicates);
    }

    [Fact]
    public async Task Unknown_queue_fails_with_entity_not_found()
    {
        await using var sender = new FrameSender(Options(o => o.Queue = "no-such-queue"));
        var ex = await Assert.ThrowsAsync<ServiceBusException>(() => sender.SendAsync(Envelopes("p", 1), CancellationToken.None));
        Assert.Equal(ServiceBusFailureReason.MessagingEntityNotFound, ex.Reason);
        Assert.True(FrameSender.IsRejection(ex));
    }

    [Fact]
    public async Task Batches_are_cut_at_the_links_max_message_size_and_a_message_too_large_for_any_batch_is_a_rejection()
    {
        _broker.Queue(Queue).MaxMessageBytes = 8 * 1024;
        await using var sender = new FrameSender(Options());
        var frames = Envelopes("p", 200);
        await sender.SendAsync(frames, CancellationToken.None);
        Assert.True(_broker.Queue(Queue).Transfers > 2, $"{_broker.Queue(Queue).Transfers} transfers");
        AssertInOrderPerPbx(frames, _broker.Queue(Queue).Accepted);

        var huge = Envelopes("p", 1, from: 201, frame: new string('x', 9000));
        var ex = await Assert.ThrowsAsync<ServiceBusException>(() => sender.SendAsync(huge, CancellationToken.None));
        Assert.Equal(ServiceBusFailureReason.MessageSizeExceeded, ex.Reason);
        Assert.True(FrameSender.IsRejection(ex));
    }

    [Fact]
    public async Task Entra_id_token_is_put_as_jwt_over_tls()
    {
        await _broker.DisposeAsync();
        var broker = new TestBroker { TlsPort = FreePort() };
        broker.AddQueue(Queue);
        broker.Start();
        await using var _ = broker;
        var credential = new TestCredential(broker, TimeSpan.FromHours(1));
        var options = new ServiceBusOptions
        {
            Endpoint = broker.TlsEndpoint,
            Queue = Queue,
            UseEntraId = true,
            Credential = credential,
            CertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == broker.Certificate.GetCertHashString(),
            OperationTimeoutSeconds = 5,
        };
        Assert.Empty(options.Check("ServiceBus"));
        await using (var sender = new FrameSender(options))
        {
            await sender.SendAsync(Envelopes("p", 3), CancellationToken.None);
        }

        Assert.Equal(3, broker.Queue(Queue).Accepted.Count);
        Assert.Contains(broker.TokenLog, t => t is { Type: "jwt", Audience: "amqps://127.0.0.1/pbx-frames" });
        Assert.Contains(ServiceBusOptions.EntraScope, credential.Scopes);

        options.Credential = new TestCredential(null, TimeSpan.FromHours(1)); // tokens the broker does not know
        await using var wrong = new FrameSender(options);
        var ex = await Assert.ThrowsAsync<UnauthorizedAccessException>(() => wrong.SendAsync(Envelopes("p", 1, from: 4), CancellationToken.None));
        Assert.Contains("not accepted", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Amqp_over_websockets()
    {
        await _broker.DisposeAsync();
        var broker = new TestBroker { WebSocketPort = FreePort() };
        broker.SasKeys["relay-send"] = Key;
        broker.AddQueue(Queue);
        broker.Start();
        await using var _ = broker;
        var options = Options(o => o.Endpoint = broker.WebSocketEndpoint);
        Assert.Equal(ServiceBusTransportType.AmqpWebSockets, options.ClientOptions().TransportType);
        await using var sender = new FrameSender(options);
        await sender.SendAsync(Envelopes("p", 10), CancellationToken.None);
        Assert.Equal(10, broker.Queue(Queue).Accepted.Count);
    }

    [Fact]
    public async Task Broker_down_for_a_while_then_back_delivers_everything_once_in_order_per_pbx()
    {
        var frames = new[] { "pbx-a", "pbx-b", "pbx-c" }.SelectMany(p => Envelopes(p, 400)).OrderBy(e => e.Seq).ToList();
        await using var sender = new FrameSender(Options(o => o.OperationTimeoutSeconds = 2));
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
                catch (Exception ex) when (!FrameSender.IsRejection(ex))
                {
                    failures++;
                    await Task.Delay(200);
                }
            }

            sent += batch.Length;
        }

        await outage;
        var stored = _broker.Queue(Queue).Accepted;
        Assert.Equal(frames.Count, stored.Count);
        Assert.Equal(frames.Count, stored.Select(m => m.MessageId).Distinct().Count());
        AssertInOrderPerPbx(frames, stored);
        Assert.True(failures > 0 || _broker.Queue(Queue).Duplicates >= 0);
    }

    [Fact]
    public async Task Sequence_starts_nothing_after_a_failed_send_until_a_new_sequence_resends()
    {
        var queue = _broker.Queue(Queue);
        await using var sender = new FrameSender(Options());
        await sender.SendAsync(Envelopes("p", 1), CancellationToken.None); // link up
        queue.RejectAllWith = "amqp:unauthorized-access";
        var sequence = sender.StartSequence();
        var first = sequence.SendAsync(Envelopes("p", 10, from: 2), CancellationToken.None);
        var second = sequence.SendAsync(Envelopes("p", 10, from: 12), CancellationToken.None);
        var third = sequence.SendAsync(Envelopes("q", 10, from: 1), CancellationToken.None);
        await Assert.ThrowsAnyAsync<Exception>(() => first);
        var refused = await Assert.ThrowsAsync<SendRefusedException>(() => second);
        Assert.True(FrameSender.IsRejection(refused));
        await Assert.ThrowsAnyAsync<Exception>(() => third); // started after the failure, or failed itself
        Assert.DoesNotContain(_broker.Events, e => e.Contains("rejected p:20260101T000000Z-aaaaaa:12", StringComparison.Ordinal)); // never sent
        Assert.Contains(_broker.Events, e => e.Contains("rejected p:20260101T000000Z-aaaaaa:2", StringComparison.Ordinal));

        queue.RejectAllWith = null;
        var resend = sender.StartSequence();
        await Task.WhenAll(
            resend.SendAsync(Envelopes("p", 20, from: 2), CancellationToken.None),
            resend.SendAsync(Envelopes("q", 10, from: 1), CancellationToken.None));
        Assert.Equal(Enumerable.Range(1, 21).Select(i => $"p:20260101T000000Z-aaaaaa:{i}"), queue.Accepted.Where(m => m.SessionId == "p").Select(m => m.MessageId));
        Assert.Equal(10, queue.Accepted.Count(m => m.SessionId == "q"));
    }

    [Fact]
    public async Task Heartbeat_goes_in_its_own_session_with_subject_heartbeat()
    {
        await using var sender = new FrameSender(Options());
        var hb = new RelayHeartbeat(RelayHeartbeat.KindValue, "relay-7", "1.0", DateTimeOffset.UtcNow, [], 5, 0, null, false);
        await sender.SendAsync(hb, CancellationToken.None);
        var m = Assert.Single(_broker.Queue(Queue).Accepted);
        Assert.Equal("relay:relay-7", m.SessionId);
        Assert.Equal("heartbeat", m.Subject);
        Assert.Equal(hb.MessageId, m.MessageId);
    }

    [Theory]
    [InlineData("{}", "Endpoint is missing")]
    [InlineData("""{"Endpoint":"https://ns.servicebus.windows.net"}""", "is not an sb://")]
    [InlineData("""{"Endpoint":"sb://ns.servicebus.windows.net"}""", "SasKeyName and ServiceBus:SasKey are required")]
    [InlineData("""{"Endpoint":"amqp://127.0.0.1:5672","UseEntraId":true}""", "Entra ID needs sb://")]
    [InlineData("""{"ConnectionString":"not one"}""", "ConnectionString is not a Service Bus connection string")]
    [InlineData("""{"Endpoint":"sb://ns.servicebus.windows.net","UseEntraId":true,"ClientSecret":"s"}""", "ClientSecret needs ServiceBus:TenantId")]
    [InlineData("""{"Endpoint":"sb://ns.servicebus.windows.net","UseEntraId":true,"TransportType":"Pigeon"}""", "TransportType 'Pigeon' is unknown")]
    public void Bad_settings_are_named(string json, string expected)
    {
        var o = JsonSerializer.Deserialize<ServiceBusOptions>(json)!;
        Assert.Contains(o.Check("ServiceBus"), e => e.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Endpoint_forms_map_to_the_sdks_transport_and_custom_endpoint()
    {
        Assert.Equal(ServiceBusTransportType.AmqpWebSockets, new ServiceBusOptions { Endpoint = "wss://ns.servicebus.windows.net" }.ClientOptions().TransportType);
        Assert.Equal(ServiceBusTransportType.AmqpTcp, new ServiceBusOptions { Endpoint = "sb://ns.servicebus.windows.net" }.ClientOptions().TransportType);
        Assert.Equal(ServiceBusTransportType.AmqpWebSockets, new ServiceBusOptions { Endpoint = "sb://ns.servicebus.windows.net", TransportType = "AmqpWebSockets" }.ClientOptions().TransportType);
        Assert.Null(new ServiceBusOptions { Endpoint = "amqps://ns.servicebus.windows.net" }.ClientOptions().CustomEndpointAddress);
        Assert.Equal(new Uri("sb://10.0.0.5:5671"), new ServiceBusOptions { Endpoint = "amqps://10.0.0.5:5671" }.ClientOptions().CustomEndpointAddress);
        Assert.Equal("Entra ID (ClientSecretCredential)", new ServiceBusOptions { UseEntraId = true, ClientSecret = "x" }.AuthName);
        Assert.Equal("SAS key relay-send", new ServiceBusOptions { SasKeyName = "relay-send", SasKey = "k" }.AuthName);
    }

    internal static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        var port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }
}

/// <summary>An Entra ID stand-in: issues numbered JWT-like tokens valid for <paramref name="lifetime"/> and registers them with the broker (null: unknown tokens).</summary>
internal sealed class TestCredential(TestBroker? broker, TimeSpan lifetime) : TokenCredential
{
    private int _issued;

    public ConcurrentBag<string> Scopes { get; } = [];

    public int Issued => Volatile.Read(ref _issued);

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        foreach (var s in requestContext.Scopes)
        {
            Scopes.Add(s);
        }

        var n = Interlocked.Increment(ref _issued);
        var token = $"eyJ.test-{Guid.NewGuid():N}.{n}";
        var expires = DateTimeOffset.UtcNow + lifetime;
        broker?.AcceptedJwts.TryAdd(token, expires);
        return new AccessToken(token, expires);
    }

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        ValueTask.FromResult(GetToken(requestContext, cancellationToken));
}
