using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Amqp;
using Amqp.Framing;
using Amqp.Handler;
using Amqp.Listener;
using Amqp.Sasl;
using Amqp.Types;

namespace CloudTelephony.ServiceBus.Tests.Broker;

/// <summary>
/// A small Service Bus stand-in for tests on real sockets, written on AMQPNetLite's listener (<see cref="ContainerHost"/>)
/// — an AMQP 1.0 implementation independent of the client library under test (Azure.Messaging.ServiceBus on
/// Microsoft.Azure.Amqp), so what the SDK puts on the wire is checked by someone else's decoder.
/// </summary>
/// <remarks>
/// What the SDK needs on the wire and this broker implements for it:
/// <list type="bullet">
/// <item>SASL: the SDK offers only the mechanism <c>MSSBCBS</c> (an anonymous SASL exchange after which the client
/// authorizes with CBS); <c>ANONYMOUS</c> is offered too. Plain AMQP (the SDK's development-emulator mode, a
/// connection string with <c>UseDevelopmentEmulator=true</c>), AMQP over TLS with a self-signed certificate
/// (<see cref="TlsPort"/>; the client accepts it through <c>CertificateValidationCallback</c>) and AMQP over WebSockets
/// at <c>/$servicebus/websocket/</c> (<see cref="WebSocketPort"/>).</item>
/// <item>The <c>$cbs</c> node: put-token with a SAS token (type <c>servicebus.windows.net:sastoken</c>: HMAC-SHA256
/// signature of the URL-encoded resource and expiry, expiry, key name, audience host and entity checked) or a JWT (type
/// <c>jwt</c>, from <see cref="AcceptedJwts"/>, valid until the expiry registered with it); answers
/// <c>status-code</c>/<c>status-description</c> in the application properties. Grants are per connection and audience
/// (<c>amqp://host/queue</c>, <c>amqps://host/queue</c>, <c>…/queue/$management</c>); a link attach without a valid
/// grant is refused with <c>amqp:unauthorized-access</c>, and so is a transfer after the grant expired (the SDK must
/// renew before expiry).</item>
/// <item>Addresses as the SDK writes them: <c>/pbx-frames</c> (leading slash) for senders and receivers,
/// <c>pbx-frames/$management</c> for the management node.</item>
/// <item>Sender links: the attach answer carries <c>max-message-size</c> (the SDK sizes <c>ServiceBusMessageBatch</c>
/// from it and fails without it); transfers of the batched message format <c>0x80013700</c> (each Data section an
/// encoded AMQP message; the outer message carries the first one's message-id and group-id) are unpacked;
/// <c>group-id</c> (SessionId) is required on session queues; duplicate MessageIds within the window are accepted and
/// dropped.</item>
/// <item>Session receivers: the source filter <c>com.microsoft:session-filter</c> (null = next available session,
/// held until one has messages or the link's <c>com.microsoft:timeout</c> passes, then refused with
/// <c>com.microsoft:timeout</c>); the attach answer names the session in the filter and its lock in
/// <c>com.microsoft:locked-until-utc</c> (ticks); deliveries with a 16-byte delivery tag (the SDK's lock token is a
/// GUID read from it), <c>header.delivery-count</c> = earlier deliveries, annotations <c>x-opt-enqueued-time</c>,
/// <c>x-opt-sequence-number</c>, <c>x-opt-locked-until</c>; link credit and drain.</item>
/// <item>Dispositions: accepted (complete), modified (abandon: delivery count + 1, dead-lettered with
/// <c>MaxDeliveryCountExceeded</c> after <see cref="BrokerQueue.MaxDeliveryCount"/>), released, rejected with
/// <c>com.microsoft:dead-letter</c> and the info fields <c>DeadLetterReason</c> / <c>DeadLetterErrorDescription</c>.</item>
/// <item>The <c>$management</c> operations of a session receiver: <c>com.microsoft:renew-session-lock</c> (answer
/// <c>expiration</c>), <c>com.microsoft:get-session-state</c>, <c>com.microsoft:set-session-state</c>
/// (<c>statusCode</c> in the application properties). A session lock not renewed in time is lost: the link is
/// detached with <c>com.microsoft:session-lock-lost</c> and its unsettled messages are delivered again.</item>
/// <item>Restarts: <see cref="Stop"/> drops every connection; queues, sessions and the duplicate history survive, and
/// <see cref="Start"/> listens again on the same ports.</item>
/// </list>
/// </remarks>
public sealed class TestBroker : IAsyncDisposable
{
    internal const uint BatchedMessageFormat = 0x80013700;
    internal static readonly Symbol SessionFilter = "com.microsoft:session-filter";
    internal static readonly Symbol LockedUntilUtc = "com.microsoft:locked-until-utc";
    internal static readonly Symbol TimeoutProperty = "com.microsoft:timeout";

    private readonly ConditionalWeakTable<Connection, Dictionary<string, DateTimeOffset>> _grants = new();
    private readonly Dictionary<string, BrokerQueue> _queues = new(StringComparer.Ordinal);
    private readonly ConditionalWeakTable<Message, byte[]> _tags = new();
    private ContainerHost? _host;
    private CancellationTokenSource? _running;
    private int _putTokens;
    private int _refusedTokens;

    /// <summary>Creates a broker on <paramref name="port"/> (0: a free loopback port); not started.</summary>
    public TestBroker(string namespaceHost = "127.0.0.1", int port = 0)
    {
        Namespace = namespaceHost;
        Port = port == 0 ? FreePort() : port;
    }

    /// <summary>The host name tokens must be issued for (the audience's host).</summary>
    public string Namespace { get; }

    /// <summary>The plain AMQP TCP port (kept across restarts).</summary>
    public int Port { get; }

    /// <summary><c>amqp://127.0.0.1:{Port}</c>: plain AMQP, what the SDK speaks with <c>UseDevelopmentEmulator=true</c>.</summary>
    public string Endpoint => $"amqp://127.0.0.1:{Port}";

    /// <summary>A listener for AMQP over TLS on this port (0 = none), with <see cref="Certificate"/>; see <see cref="TlsEndpoint"/>.</summary>
    public int TlsPort { get; set; }

    /// <summary><c>amqps://127.0.0.1:{TlsPort}</c>.</summary>
    public string TlsEndpoint => $"amqps://127.0.0.1:{TlsPort}";

    /// <summary>The self-signed certificate of the TLS listener (made on first use).</summary>
    public X509Certificate2 Certificate => field ??= CreateCertificate(Namespace);

    /// <summary>A listener for AMQP over WebSockets on this port (0 = none) at <c>/$servicebus/websocket/</c>.</summary>
    public int WebSocketPort { get; set; }

    /// <summary><c>ws://127.0.0.1:{WebSocketPort}</c> (the SDK adds <c>/$servicebus/websocket/</c>).</summary>
    public string WebSocketEndpoint => $"ws://127.0.0.1:{WebSocketPort}";

    /// <summary>SAS key names and keys the <c>$cbs</c> node accepts.</summary>
    public Dictionary<string, string> SasKeys { get; } = new(StringComparer.Ordinal);

    /// <summary>JWTs (Entra ID tokens) the <c>$cbs</c> node accepts, with the time each expires.</summary>
    public ConcurrentDictionary<string, DateTimeOffset> AcceptedJwts { get; } = new(StringComparer.Ordinal);

    /// <summary>Successful put-token requests.</summary>
    public int PutTokens => Volatile.Read(ref _putTokens);

    /// <summary>Refused put-token requests.</summary>
    public int RefusedTokens => Volatile.Read(ref _refusedTokens);

    /// <summary>Put-token requests, in arrival order: (token type, audience, time).</summary>
    public List<(string Type, string Audience, DateTimeOffset At)> TokenLog { get; } = [];

    /// <summary>Log of notable broker events (refusals, rejections, lock renewals) for assertions.</summary>
    public List<string> Events { get; } = [];

    /// <summary>A SAS connection string for the plain listener in the SDK's development-emulator mode.</summary>
    public string ConnectionString(string keyName, string key) =>
        $"Endpoint=sb://127.0.0.1:{Port};SharedAccessKeyName={keyName};SharedAccessKey={key};UseDevelopmentEmulator=true";

    /// <summary>Declares a queue.</summary>
    public BrokerQueue AddQueue(string name, bool requiresSession = true, TimeSpan? duplicateWindow = null)
    {
        var q = new BrokerQueue(this, name, requiresSession, duplicateWindow ?? TimeSpan.FromMinutes(10));
        _queues[name] = q;
        return q;
    }

    /// <summary>The queue <paramref name="name"/>.</summary>
    public BrokerQueue Queue(string name) => _queues[name];

    /// <summary>Declares a topic: senders send to <paramref name="name"/> like to a queue; each message is also copied
    /// into every subscription (<see cref="AddSubscription"/>) whose filter takes it.</summary>
    public BrokerQueue AddTopic(string name, TimeSpan? duplicateWindow = null) => AddQueue(name, requiresSession: false, duplicateWindow);

    /// <summary>Declares subscription <paramref name="subscription"/> of <paramref name="topic"/> (entity path
    /// <c>topic/Subscriptions/subscription</c>, where the SDK's subscription receivers attach) with a filter standing in
    /// for a SQL filter on the message's application properties.</summary>
    public BrokerQueue AddSubscription(string topic, string subscription, Func<StoredMessage, bool> filter, bool requiresSession = true)
    {
        var q = AddQueue($"{topic}/Subscriptions/{subscription}", requiresSession);
        _queues[topic].Subscriptions.Add((q, filter));
        return q;
    }

    /// <summary>Starts listening (again).</summary>
    public void Start()
    {
        if (_host is not null)
        {
            return;
        }

        var addresses = new List<Address> { new(Endpoint) };
        if (WebSocketPort != 0)
        {
            addresses.Add(new Address($"ws://127.0.0.1:{WebSocketPort}/$servicebus/websocket/"));
        }

        if (TlsPort != 0)
        {
            addresses.Add(new Address(TlsEndpoint));
        }

        var host = TlsPort != 0 ? new ContainerHost(addresses, Certificate) : new ContainerHost(addresses);
        foreach (var listener in host.Listeners)
        {
            listener.SASL.EnableAnonymousMechanism = true;
            listener.SASL.EnableMechanism((Symbol)"MSSBCBS", SaslProfile.Anonymous);
            listener.HandlerFactory = _ => new DeliveryTagHandler(this);
        }

        host.AddressResolver = (_, attach) => Normalize(attach.Role ? ((Source)attach.Source)?.Address : ((Target)attach.Target)?.Address);
        host.RegisterRequestProcessor("$cbs", new CbsNode(this));
        foreach (var q in _queues.Values)
        {
            host.RegisterRequestProcessor(q.Name + "/$management", new ManagementNode(this, q));
        }

        host.RegisterLinkProcessor(new QueueLinks(this));
        _running = new CancellationTokenSource();
        host.Open();
        _host = host;
        _ = WatchLocksAsync(_running.Token);
    }

    /// <summary>Stops listening and drops every connection (the broker "goes down"); queues keep their messages.</summary>
    public void Stop()
    {
        var host = Interlocked.Exchange(ref _host, null);
        _running?.Cancel();
        host?.Close();
        foreach (var q in _queues.Values)
        {
            q.DropConnections();
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Stop();
        return ValueTask.CompletedTask;
    }

    internal void Note(string line)
    {
        lock (Events)
        {
            Events.Add(line);
        }
    }

    /// <summary><c>/pbx-frames</c>, <c>amqp://host/pbx-frames</c> → <c>pbx-frames</c>.</summary>
    internal static string? Normalize(string? address)
    {
        if (address is null)
        {
            return null;
        }

        if (Uri.TryCreate(address, UriKind.Absolute, out var uri) && uri.Scheme is "amqp" or "amqps" or "sb")
        {
            address = uri.AbsolutePath;
        }

        return Uri.UnescapeDataString(address.TrimStart('/'));
    }

    internal void Tag(Message message, byte[] tag) => _tags.AddOrUpdate(message, tag);

    internal bool IsAuthorized(Connection connection, string entity, out string why)
    {
        why = "";
        if (!_grants.TryGetValue(connection, out var grants))
        {
            why = "no token was put to $cbs on this connection";
            return false;
        }

        lock (grants)
        {
            if (!grants.TryGetValue(entity, out var until) && !grants.TryGetValue("", out until))
            {
                why = $"no token for '{entity}'";
                return false;
            }

            if (until <= DateTimeOffset.UtcNow)
            {
                why = $"the token for '{entity}' expired at {until:u}";
                return false;
            }
        }

        return true;
    }

    /// <summary>Checks a SAS token independently of the client library: returns the entity it grants ("" = the namespace), or an error.</summary>
    internal (string? Entity, DateTimeOffset Expires, string? Error) CheckSas(string token, string audience)
    {
        const string prefix = "SharedAccessSignature ";
        if (!token.StartsWith(prefix, StringComparison.Ordinal))
        {
            return (null, default, "not a SharedAccessSignature");
        }

        var fields = token[prefix.Length..].Split('&').Select(kv => kv.Split('=', 2)).Where(kv => kv.Length == 2).ToDictionary(kv => kv[0], kv => kv[1], StringComparer.Ordinal);
        if (!fields.TryGetValue("sr", out var sr) || !fields.TryGetValue("sig", out var sig) || !fields.TryGetValue("se", out var se) || !fields.TryGetValue("skn", out var skn))
        {
            return (null, default, "sr, sig, se and skn are required");
        }

        skn = WebUtility.UrlDecode(skn);
        if (!SasKeys.TryGetValue(skn, out var key))
        {
            return (null, default, $"unknown key name '{skn}'");
        }

        var expected = Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(sr + "\n" + WebUtility.UrlDecode(se))));
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(WebUtility.UrlDecode(sig))))
        {
            return (null, default, "signature does not match");
        }

        var expires = DateTimeOffset.FromUnixTimeSeconds(long.Parse(WebUtility.UrlDecode(se), System.Globalization.CultureInfo.InvariantCulture));
        if (expires <= DateTimeOffset.UtcNow)
        {
            return (null, default, $"token expired at {expires:u}");
        }

        var resource = new Uri(WebUtility.UrlDecode(sr));
        var target = new Uri(audience);
        if (!resource.Host.Equals(Namespace, StringComparison.OrdinalIgnoreCase) || !target.Host.Equals(Namespace, StringComparison.OrdinalIgnoreCase))
        {
            return (null, default, $"audience host '{resource.Host}' is not this namespace '{Namespace}'");
        }

        var granted = resource.AbsolutePath.Trim('/');
        var wanted = EntityOf(audience);
        if (granted.Length > 0 && !granted.Equals(wanted, StringComparison.OrdinalIgnoreCase))
        {
            return (null, default, $"token is for '{granted}', not '{wanted}'");
        }

        return (wanted, expires, null);
    }

    /// <summary>The queue an audience is about: <c>amqp://host/q</c> and <c>amqp://host/q/$management</c> → <c>q</c>.</summary>
    internal static string EntityOf(string audience)
    {
        var path = Normalize(audience) ?? "";
        var slash = path.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? path : path[..slash];
    }

    private async Task WatchLocksAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(200));
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                foreach (var q in _queues.Values)
                {
                    q.ExpireLocks();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    private static X509Certificate2 CreateCertificate(string host)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        if (IPAddress.TryParse(host, out var ip))
        {
            san.AddIpAddress(ip);
        }
        else
        {
            san.AddDnsName(host);
        }

        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pfx), null);
    }

    /// <summary>Sets the delivery tag of queue deliveries to their 16-byte lock token (the SDK reads the lock token from it).</summary>
    private sealed class DeliveryTagHandler(TestBroker broker) : IHandler
    {
        public bool CanHandle(EventId id) => id == EventId.SendDelivery;

        public void Handle(Event protocolEvent)
        {
            if (protocolEvent.Context is IDelivery { Message: { } m } delivery && broker._tags.TryGetValue(m, out var tag))
            {
                delivery.Tag = tag;
            }
        }
    }

    private sealed class CbsNode(TestBroker broker) : IRequestProcessor
    {
        public int Credit => 100;

        public void Process(RequestContext requestContext)
        {
            var request = requestContext.Message;
            var props = request.ApplicationProperties;
            var type = props?["type"] as string;
            var audience = props?["name"] as string ?? "";
            var token = request.Body as string ?? "";
            lock (broker.TokenLog)
            {
                broker.TokenLog.Add((type ?? "", audience, DateTimeOffset.UtcNow));
            }

            string? entity;
            DateTimeOffset expires;
            string? error;
            if (props?["operation"] as string != "put-token")
            {
                (entity, expires, error) = (null, default, "unsupported operation");
            }
            else if (type == "servicebus.windows.net:sastoken")
            {
                (entity, expires, error) = broker.CheckSas(token, audience);
            }
            else if (type == "jwt" && broker.AcceptedJwts.TryGetValue(token, out var until))
            {
                if (until > DateTimeOffset.UtcNow)
                {
                    (entity, expires, error) = (EntityOf(audience), until, null);
                }
                else
                {
                    (entity, expires, error) = (null, default, $"the JWT expired at {until:u}");
                }
            }
            else
            {
                (entity, expires, error) = (null, default, $"token of type '{type}' not accepted");
            }

            var response = new Message
            {
                Properties = new Properties { CorrelationId = request.Properties?.MessageId },
                ApplicationProperties = new ApplicationProperties(),
            };
            if (error is null)
            {
                var connection = requestContext.Link.Session.Connection;
                var grants = broker._grants.GetValue(connection, _ => new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal));
                lock (grants)
                {
                    grants[entity!] = expires;
                }

                Interlocked.Increment(ref broker._putTokens);
                response.ApplicationProperties["status-code"] = 202;
                response.ApplicationProperties["status-description"] = "Accepted";
            }
            else
            {
                Interlocked.Increment(ref broker._refusedTokens);
                broker.Note($"cbs 401: {error}");
                response.ApplicationProperties["status-code"] = 401;
                response.ApplicationProperties["status-description"] = error;
            }

            requestContext.Complete(response);
        }
    }

    private sealed class ManagementNode(TestBroker broker, BrokerQueue queue) : IRequestProcessor
    {
        public int Credit => 100;

        public void Process(RequestContext requestContext)
        {
            var request = requestContext.Message;
            var operation = request.ApplicationProperties?["operation"] as string;
            var linkName = request.ApplicationProperties?["associated-link-name"] as string;
            var body = request.Body as Map;
            var sessionId = body?["session-id"] as string;
            var response = new Message { ApplicationProperties = new ApplicationProperties() };
            var status = 200;
            string description = "OK";
            var result = new Map();
            if (!broker.IsAuthorized(requestContext.Link.Session.Connection, queue.Name, out var why))
            {
                (status, description) = (401, why);
            }
            else
            {
                switch (operation)
                {
                    case "com.microsoft:renew-session-lock":
                        if (queue.RenewSessionLock(sessionId, linkName) is { } until)
                        {
                            result["expiration"] = until.UtcDateTime;
                            broker.Note($"{queue.Name} renewed the lock of session {sessionId} until {until:O}");
                        }
                        else
                        {
                            (status, description) = (410, $"the lock of session '{sessionId}' is lost");
                            response.ApplicationProperties["errorCondition"] = new Symbol("com.microsoft:session-lock-lost");
                        }

                        break;
                    case "com.microsoft:get-session-state":
                        result["session-state"] = queue.GetSessionState(sessionId);
                        break;
                    case "com.microsoft:set-session-state":
                        queue.SetSessionState(sessionId, body?["session-state"] as byte[]);
                        break;
                    default:
                        (status, description) = (501, $"operation '{operation}' is not implemented by the test broker");
                        break;
                }
            }

            response.ApplicationProperties["statusCode"] = status;
            response.ApplicationProperties["statusDescription"] = description;
            response.BodySection = new AmqpValue { Value = result };
            requestContext.Complete(response);
        }
    }

    /// <summary>Attaches of sender and receiver links to queues (the <c>$cbs</c> and <c>$management</c> nodes are request processors).</summary>
    private sealed class QueueLinks(TestBroker broker) : ILinkProcessor
    {
        public void Process(AttachContext attachContext)
        {
            var attach = attachContext.Attach;
            var link = attachContext.Link;
            var address = Normalize(link.Role ? ((Target)attach.Target)?.Address : ((Source)attach.Source)?.Address) ?? "";
            if (!broker._queues.TryGetValue(address, out var queue))
            {
                attachContext.Complete(new Error(ErrorCode.NotFound) { Description = $"The messaging entity '{address}' could not be found." });
                return;
            }

            if (!broker.IsAuthorized(link.Session.Connection, queue.Name, out var why))
            {
                broker.Note($"attach to {queue.Name} refused: {why}");
                attachContext.Complete(new Error(ErrorCode.UnauthorizedAccess) { Description = $"Unauthorized access to '{queue.Name}': {why}" });
                return;
            }

            if (link.Role)
            {
                // the client sends: the SDK sizes its message batches from max-message-size
                attach.MaxMessageSize = (ulong)queue.MaxMessageBytes;
                attachContext.Complete(new TargetLinkEndpoint(queue, link), queue.Credit);
                return;
            }

            _ = queue.AttachReceiverAsync(attachContext);
        }
    }
}

/// <summary>A message as the broker stored it.</summary>
public sealed record StoredMessage(string? MessageId, string? SessionId, string? ContentType, string? Subject, byte[]? Body, long SequenceNumber, DateTimeOffset EnqueuedAt)
{
    /// <summary>The message's application properties (what topic subscriptions filter on).</summary>
    public IReadOnlyDictionary<string, object?> Properties { get; init; } = new Dictionary<string, object?>();

    /// <summary>The body as UTF-8 text.</summary>
    public string Text => Body is null ? "" : Encoding.UTF8.GetString(Body);

    /// <summary>Deliveries that did not end in completion so far (abandoned, lock lost).</summary>
    public int DeliveryCount { get; set; }
}

/// <summary>A dead-lettered message with the reason the receiver (or the broker) gave.</summary>
public sealed record DeadLetter(StoredMessage Message, string? Reason, string? Description);

/// <summary>One queue of <see cref="TestBroker"/>: target of sender links (<see cref="IMessageProcessor"/>) and source of (session) receiver links.</summary>
public sealed class BrokerQueue : IMessageProcessor
{
    private readonly TestBroker _broker;
    private readonly TimeSpan _window;
    private readonly Dictionary<string, DateTimeOffset> _seen = new(StringComparer.Ordinal);
    private readonly List<StoredMessage> _all = [];
    private readonly Dictionary<string, SessionState> _sessions = new(StringComparer.Ordinal);
    private readonly List<MessageContext> _held = [];
    private readonly List<DeadLetter> _deadLetters = [];
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _sequence;
    private int _duplicates;
    private int _rejected;
    private int _transfers;
    private int _batchedTransfers;
    private int _completed;

    internal BrokerQueue(TestBroker broker, string name, bool requiresSession, TimeSpan window)
    {
        _broker = broker;
        Name = name;
        RequiresSession = requiresSession;
        _window = window;
    }

    /// <summary>Queue name.</summary>
    public string Name { get; }

    /// <summary>Messages without SessionId (group-id) are rejected; receivers must name or accept a session.</summary>
    public bool RequiresSession { get; }

    /// <summary>Largest accepted transfer (a message or a message batch), in bytes (default 256 KB like Service Bus Standard); sent as the link's max-message-size.</summary>
    public int MaxMessageBytes { get; set; } = 256 * 1024;

    /// <summary>Deliveries after which a message is dead-lettered with <c>MaxDeliveryCountExceeded</c> (default 10).</summary>
    public int MaxDeliveryCount { get; set; } = 10;

    /// <summary>How long a session lock lasts without renewal (default 30 s).</summary>
    public TimeSpan LockDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>When set, every incoming transfer is rejected with this condition (simulates an entity refusing).</summary>
    public string? RejectAllWith { get; set; }

    /// <inheritdoc />
    public int Credit { get; set; } = 300;

    /// <summary>Time the broker takes per incoming transfer (a slow broker, so a backlog builds up in tests).</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>
    /// When true, transfers are stored (and listed in <see cref="Accepted"/>) as they arrive but their settlement is held
    /// back until <see cref="SettleHeld"/>: shows what a sender writes while earlier transfers are unsettled.
    /// </summary>
    public bool HoldSettlements { get; set; }

    /// <summary>Transfers stored whose settlement is held back (see <see cref="HoldSettlements"/>).</summary>
    public int Held
    {
        get
        {
            lock (_held)
            {
                return _held.Count;
            }
        }
    }

    /// <summary>Every message accepted and stored, in arrival order (duplicates not included).</summary>
    public IReadOnlyList<StoredMessage> Accepted
    {
        get
        {
            lock (_lock)
            {
                return [.. _all];
            }
        }
    }

    /// <summary>Messages dead-lettered (by a receiver, or after too many deliveries), in order.</summary>
    public IReadOnlyList<DeadLetter> DeadLetters
    {
        get
        {
            lock (_lock)
            {
                return [.. _deadLetters];
            }
        }
    }

    /// <summary>Raised on the broker's thread for each message accepted and stored (not for duplicates), before it is settled.</summary>
    public event Action<StoredMessage>? Stored;

    /// <summary>Messages dropped as duplicates (accepted, not stored).</summary>
    public int Duplicates => Volatile.Read(ref _duplicates);

    /// <summary>Transfers rejected.</summary>
    public int Rejected => Volatile.Read(ref _rejected);

    /// <summary>Transfers received (a message batch is one).</summary>
    public int Transfers => Volatile.Read(ref _transfers);

    /// <summary>Transfers of the batched format <c>0x80013700</c>.</summary>
    public int BatchedTransfers => Volatile.Read(ref _batchedTransfers);

    /// <summary>Messages completed by receivers.</summary>
    public int Completed => Volatile.Read(ref _completed);

    /// <summary>Messages waiting (not completed, not dead-lettered), including locked ones.</summary>
    public int Pending
    {
        get
        {
            lock (_lock)
            {
                return _sessions.Values.Sum(s => s.Ready.Count + s.Unsettled.Count);
            }
        }
    }

    /// <summary>Sends the held-back settlements (accepted), in arrival order.</summary>
    public void SettleHeld()
    {
        MessageContext[] held;
        lock (_held)
        {
            held = [.. _held];
            _held.Clear();
        }

        foreach (var context in held)
        {
            context.Complete();
        }
    }

    /// <summary>Stores a message as if a sender had sent it (for receive tests).</summary>
    public void Enqueue(string? messageId, string? sessionId, byte[] body, string? contentType = "application/json") =>
        Store(messageId, sessionId, contentType, null, body);

    /// <inheritdoc />
    public void Process(MessageContext messageContext)
    {
        Interlocked.Increment(ref _transfers);
        if (Delay > TimeSpan.Zero)
        {
            Thread.Sleep(Delay);
        }

        var m = messageContext.Message;
        if (!_broker.IsAuthorized(messageContext.Link.Session.Connection, Name, out var why))
        {
            Reject(messageContext, ErrorCode.UnauthorizedAccess, $"unauthorized: {why}");
            return;
        }

        if (RejectAllWith is { } condition)
        {
            Reject(messageContext, condition, "rejected by test setup");
            return;
        }

        List<Message> messages;
        if (m.Format == TestBroker.BatchedMessageFormat)
        {
            Interlocked.Increment(ref _batchedTransfers);
            messages = [];
            foreach (var data in DataSections(m))
            {
                messages.Add(Message.Decode(new ByteBuffer(data, 0, data.Length, data.Length)));
            }
        }
        else
        {
            messages = [m];
        }

        var size = messages.Sum(x => Body(x)?.Length ?? 0);
        if (size > MaxMessageBytes)
        {
            Reject(messageContext, ErrorCode.MessageSizeExceeded, $"the transfer of {size} bytes exceeds {MaxMessageBytes}");
            return;
        }

        if (RequiresSession && messages.FirstOrDefault(x => string.IsNullOrEmpty(x.Properties?.GroupId)) is { } noSession)
        {
            Reject(messageContext, ErrorCode.NotAllowed, $"queue '{Name}' requires sessions: message {noSession.Properties?.MessageId} has no SessionId (group-id)");
            return;
        }

        foreach (var x in messages)
        {
            Store(x.Properties?.MessageId?.ToString(), x.Properties?.GroupId, x.Properties?.ContentType?.ToString(), x.Properties?.Subject, Body(x),
                x.ApplicationProperties?.Map.ToDictionary(kv => kv.Key.ToString()!, kv => (object?)kv.Value));
        }

        if (HoldSettlements)
        {
            lock (_held)
            {
                _held.Add(messageContext);
            }

            return;
        }

        messageContext.Complete();
    }

    /// <summary>Subscriptions when this queue is a topic (<see cref="TestBroker.AddSubscription"/>).</summary>
    internal List<(BrokerQueue Queue, Func<StoredMessage, bool> Filter)> Subscriptions { get; } = [];

    private void Store(string? messageId, string? sessionId, string? contentType, string? subject, byte[]? body, Dictionary<string, object?>? properties = null)
    {
        StoredMessage stored;
        lock (_lock)
        {
            var now = DateTimeOffset.UtcNow;
            if (messageId is not null)
            {
                if (_seen.TryGetValue(messageId, out var at) && now - at < _window)
                {
                    _duplicates++;
                    return;
                }

                _seen[messageId] = now;
            }

            stored = new StoredMessage(messageId, sessionId, contentType, subject, body, ++_sequence, now) { Properties = properties ?? [] };
            _all.Add(stored);
            Session(sessionId ?? "").Ready.AddLast(stored);
            Signal();
        }

        Stored?.Invoke(stored);
        foreach (var (queue, filter) in Subscriptions)
        {
            if (filter(stored))
            {
                queue.Store(messageId, sessionId, contentType, subject, body, properties);
            }
        }
    }

    private static IEnumerable<byte[]> DataSections(Message m) => m.BodySection switch
    {
        DataList list => Enumerable.Range(0, list.Count).Select(i => list[i].Binary),
        Data d => [d.Binary],
        _ => [],
    };

    private static byte[]? Body(Message message) => message.BodySection switch
    {
        DataList list => [.. Enumerable.Range(0, list.Count).SelectMany(i => list[i].Binary)],
        Data d => d.Binary,
        AmqpValue { Value: string s } => Encoding.UTF8.GetBytes(s),
        AmqpValue { Value: byte[] b } => b,
        _ => null,
    };

    private void Reject(MessageContext context, string condition, string description)
    {
        Interlocked.Increment(ref _rejected);
        _broker.Note($"{Name} rejected {context.Message.Properties?.MessageId}: {condition} {description}");
        context.Complete(new Error(new Symbol(condition)) { Description = description });
    }

    private SessionState Session(string id)
    {
        if (!_sessions.TryGetValue(id, out var s))
        {
            _sessions[id] = s = new SessionState(id);
        }

        return s;
    }

    private void Signal()
    {
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }

    /// <summary>Attaches a receiver: picks (or waits for) its session, then answers the attach with the session and its lock.</summary>
    internal async Task AttachReceiverAsync(AttachContext attachContext)
    {
        var attach = attachContext.Attach;
        var link = attachContext.Link;
        var source = (Source)attach.Source;
        var filters = source.FilterSet;
        var sessionful = filters is not null && filters.ContainsKey(TestBroker.SessionFilter);
        if (RequiresSession && !sessionful)
        {
            attachContext.Complete(new Error(ErrorCode.NotAllowed) { Description = $"queue '{Name}' requires sessions: attach a session receiver" });
            return;
        }

        var wanted = sessionful ? filters![TestBroker.SessionFilter] as string : "";
        var timeout = attach.Properties?[TestBroker.TimeoutProperty] is uint ms ? TimeSpan.FromMilliseconds(ms) : TimeSpan.FromSeconds(60);
        var deadline = DateTimeOffset.UtcNow + timeout;
        var endpoint = new ReceiverEndpoint(this, link);
        SessionState? session = null;
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (wanted is not null)
                {
                    var s = Session(wanted);
                    if (s.Owner is null || !RequiresSession)
                    {
                        session = s;
                    }
                    else
                    {
                        attachContext.Complete(new Error(new Symbol("com.microsoft:session-cannot-be-locked")) { Description = $"session '{wanted}' is locked by another receiver" });
                        return;
                    }
                }
                else
                {
                    session = _sessions.Values.OrderBy(s => s.Ready.First?.Value.SequenceNumber ?? long.MaxValue).FirstOrDefault(s => s.Owner is null && s.Ready.Count > 0);
                }

                if (session is not null)
                {
                    if (RequiresSession)
                    {
                        session.Owner = endpoint;
                        session.LockedUntil = DateTimeOffset.UtcNow + LockDuration;
                    }

                    endpoint.Session = session;
                    break;
                }

                changed = _changed.Task;
            }

            var left = deadline - DateTimeOffset.UtcNow;
            if (left <= TimeSpan.Zero || link.IsClosed)
            {
                attachContext.Complete(new Error(new Symbol("com.microsoft:timeout")) { Description = $"no session of '{Name}' became available within {timeout.TotalSeconds:0.#} s" });
                return;
            }

            await Task.WhenAny(changed, Task.Delay(left)).ConfigureAwait(false);
        }

        if (sessionful)
        {
            filters![TestBroker.SessionFilter] = session.Id;
            attach.Properties ??= new Fields();
            attach.Properties[TestBroker.LockedUntilUtc] = session.LockedUntil.UtcTicks;
        }

        link.AddClosedCallback((_, _) => Release(endpoint, null));
        attachContext.Complete(endpoint, 0);
    }

    /// <summary>The next ready message of <paramref name="endpoint"/>'s session, marked unsettled under a new lock token; null when none.</summary>
    internal (StoredMessage Stored, Guid LockToken, DateTimeOffset LockedUntil)? Take(ReceiverEndpoint endpoint, out Task changed)
    {
        lock (_lock)
        {
            changed = _changed.Task;
            var s = endpoint.Session!;
            if (!ReferenceEquals(s.Owner, endpoint) && RequiresSession)
            {
                return null;
            }

            if (s.Ready.First is not { } first)
            {
                return null;
            }

            s.Ready.RemoveFirst();
            var token = Guid.NewGuid();
            s.Unsettled[token] = first.Value;
            return (first.Value, token, RequiresSession ? s.LockedUntil : DateTimeOffset.UtcNow + LockDuration);
        }
    }

    /// <summary>Settles an unsettled delivery by its disposition.</summary>
    internal void Settle(ReceiverEndpoint endpoint, Guid token, DeliveryState? state)
    {
        lock (_lock)
        {
            var s = endpoint.Session!;
            if (!s.Unsettled.Remove(token, out var m))
            {
                return; // settled after its link closed (the SDK releases prefetched messages then): already back in the queue
            }

            switch (state)
            {
                case Amqp.Framing.Accepted:
                    _completed++;
                    break;
                case Rejected r when r.Error?.Condition.ToString() == "com.microsoft:dead-letter":
                    _deadLetters.Add(new DeadLetter(m, Info(r.Error, "DeadLetterReason"), Info(r.Error, "DeadLetterErrorDescription")));
                    break;
                case Rejected r:
                    _deadLetters.Add(new DeadLetter(m, r.Error?.Condition.ToString(), r.Error?.Description));
                    break;
                case Released:
                    s.Ready.AddFirst(m);
                    break;
                default: // modified: abandon
                    _broker.Note($"{Name}: {m.MessageId} abandoned ({state?.GetType().Name})");
                    Redeliver(s, m);
                    break;
            }

            Signal();
        }
    }

    private static string? Info(Error error, string key) =>
        error.Info is { } info && info.ContainsKey((Symbol)key) ? info[(Symbol)key] as string : null;

    /// <summary>A message that was delivered and not completed goes back to the front of its session, or to the dead letters after too many deliveries.</summary>
    private void Redeliver(SessionState s, StoredMessage m)
    {
        m.DeliveryCount++;
        if (m.DeliveryCount >= MaxDeliveryCount)
        {
            _deadLetters.Add(new DeadLetter(m, "MaxDeliveryCountExceeded", $"Message could not be consumed after {MaxDeliveryCount} delivery attempts."));
            return;
        }

        s.Ready.AddFirst(m);
    }

    /// <summary>Ends a receiver: its unsettled messages are delivered again (in their order) and its session lock is released.</summary>
    internal void Release(ReceiverEndpoint endpoint, string? why)
    {
        lock (_lock)
        {
            var s = endpoint.Session;
            if (s is null)
            {
                return;
            }

            foreach (var m in s.Unsettled.Values.OrderByDescending(m => m.SequenceNumber))
            {
                Redeliver(s, m);
            }

            s.Unsettled.Clear();
            if (ReferenceEquals(s.Owner, endpoint))
            {
                s.Owner = null;
            }

            Signal();
        }

        if (why is not null)
        {
            _broker.Note($"{Name}: {why}");
        }
    }

    internal DateTimeOffset? RenewSessionLock(string? sessionId, string? linkName)
    {
        lock (_lock)
        {
            if (sessionId is null || !_sessions.TryGetValue(sessionId, out var s) || s.Owner is null || (linkName is not null && s.Owner.Link.Name != linkName))
            {
                return null;
            }

            s.LockedUntil = DateTimeOffset.UtcNow + LockDuration;
            s.Renewals++;
            return s.LockedUntil;
        }
    }

    /// <summary>Session lock renewals so far.</summary>
    public int SessionLockRenewals
    {
        get
        {
            lock (_lock)
            {
                return _sessions.Values.Sum(s => s.Renewals);
            }
        }
    }

    internal byte[]? GetSessionState(string? sessionId)
    {
        lock (_lock)
        {
            return sessionId is not null && _sessions.TryGetValue(sessionId, out var s) ? s.State : null;
        }
    }

    internal void SetSessionState(string? sessionId, byte[]? state)
    {
        lock (_lock)
        {
            if (sessionId is not null)
            {
                Session(sessionId).State = state;
            }
        }
    }

    /// <summary>Session locks that ran out: the receiver loses the session (its link is detached with session-lock-lost).</summary>
    internal void ExpireLocks()
    {
        List<ReceiverEndpoint> lost = [];
        lock (_lock)
        {
            foreach (var s in _sessions.Values)
            {
                if (RequiresSession && s.Owner is { } owner && s.LockedUntil < DateTimeOffset.UtcNow)
                {
                    lost.Add(owner);
                }
            }
        }

        foreach (var e in lost)
        {
            Release(e, $"the lock of session {e.Session!.Id} expired");
            e.Lose(new Error(new Symbol("com.microsoft:session-lock-lost")) { Description = $"The session lock of '{e.Session.Id}' has expired." });
        }
    }

    /// <summary>Forgets connections (the broker stopped): unsettled messages go back, held settlements are dropped.</summary>
    internal void DropConnections()
    {
        lock (_held)
        {
            _held.Clear();
        }

        List<ReceiverEndpoint> owners;
        lock (_lock)
        {
            owners = [.. _sessions.Values.Where(s => s.Owner is not null || s.Unsettled.Count > 0).Select(s => s.Owner).OfType<ReceiverEndpoint>()];
        }

        foreach (var o in owners)
        {
            Release(o, null);
        }
    }

    internal sealed class SessionState(string id)
    {
        public string Id { get; } = id;

        public LinkedList<StoredMessage> Ready { get; } = new();

        public Dictionary<Guid, StoredMessage> Unsettled { get; } = [];

        public ReceiverEndpoint? Owner { get; set; }

        public DateTimeOffset LockedUntil { get; set; }

        public int Renewals { get; set; }

        public byte[]? State { get; set; }
    }

    /// <summary>The broker side of a receiver link: sends the session's messages while the link has credit, handles drain and dispositions.</summary>
    internal sealed class ReceiverEndpoint(BrokerQueue queue, ListenerLink link) : LinkEndpoint
    {
        private readonly Lock _lock = new();
        private readonly ConditionalWeakTable<Message, object> _tokens = new();
        private int _credit;
        private bool _pumping;

        public ListenerLink Link { get; } = link;

        public SessionState? Session { get; set; }

        public override void OnFlow(FlowContext flowContext)
        {
            lock (_lock)
            {
                _credit = flowContext.Messages;
                if (_pumping)
                {
                    return;
                }

                _pumping = true;
            }

            _ = Task.Run(PumpAsync);
        }

        public override void OnDisposition(DispositionContext dispositionContext)
        {
            try
            {
                if (_tokens.TryGetValue(dispositionContext.Message, out var token))
                {
                    queue.Settle(this, (Guid)token, dispositionContext.DeliveryState);
                }
            }
            finally
            {
                dispositionContext.Complete();
            }
        }

        public override void OnLinkClosed(ListenerLink link, Error error) => queue.Release(this, null);

        public void Lose(Error error)
        {
            try
            {
                Link.Close(TimeSpan.Zero, error);
            }
            catch (AmqpException)
            {
            }
            catch (ObjectDisposedException)
            {
            }
        }

        private async Task PumpAsync()
        {
            while (!Link.IsClosed)
            {
                lock (_lock)
                {
                    if (_credit <= 0)
                    {
                        _pumping = false;
                        return;
                    }
                }

                var next = queue.Take(this, out var changed);
                if (next is null)
                {
                    if (Link.IsDraining)
                    {
                        lock (_lock)
                        {
                            _credit = 0;
                            _pumping = false;
                        }

                        Link.CompleteDrain();
                        return;
                    }

                    await Task.WhenAny(changed, Task.Delay(50)).ConfigureAwait(false);
                    continue;
                }

                var (m, token, lockedUntil) = next.Value;
                var message = new Message
                {
                    Header = new Header { DeliveryCount = (uint)m.DeliveryCount },
                    Properties = new Properties { MessageId = m.MessageId, GroupId = m.SessionId, ContentType = m.ContentType, Subject = m.Subject },
                    MessageAnnotations = new MessageAnnotations(),
                    BodySection = new Data { Binary = m.Body ?? [] },
                };
                message.MessageAnnotations[(Symbol)"x-opt-enqueued-time"] = m.EnqueuedAt.UtcDateTime;
                message.MessageAnnotations[(Symbol)"x-opt-sequence-number"] = m.SequenceNumber;
                message.MessageAnnotations[(Symbol)"x-opt-locked-until"] = lockedUntil.UtcDateTime;
                _tokens.Add(message, token);
                queue._broker.Tag(message, token.ToByteArray());
                lock (_lock)
                {
                    _credit--;
                }

                try
                {
                    Link.SendMessage(message);
                }
                catch (AmqpException)
                {
                    queue.Settle(this, token, new Released());
                    return;
                }
            }
        }
    }
}
