using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Web;
using Amqp;
using Amqp.Framing;
using Amqp.Listener;

namespace CloudTelephony.ServiceBus.Tests.Broker;

/// <summary>
/// A small AMQP 1.0 broker for tests, on a real TCP socket (AMQPNetLite's <see cref="ContainerHost"/>): SASL ANONYMOUS
/// and PLAIN, a <c>$cbs</c> node that checks SAS tokens (signature, expiry, audience) and known JWTs and answers with
/// status codes, queues that reject messages without group-id when sessions are required, drop duplicate MessageIds
/// within a window, settle with accepted / rejected, and serve receivers. It can be stopped and started again on the
/// same port mid-test; queue contents survive a restart (like a real broker's store).
/// </summary>
public sealed class TestBroker : IAsyncDisposable
{
    private readonly ConditionalWeakTable<Connection, Dictionary<string, DateTimeOffset>> _grants = new();
    private readonly Dictionary<string, BrokerQueue> _queues = new(StringComparer.Ordinal);
    private ContainerHost? _host;
    private int _putTokens;
    private int _refusedTokens;

    /// <summary>Creates a broker on <paramref name="port"/> (0: a free loopback port); not started.</summary>
    public TestBroker(string namespaceHost = "127.0.0.1", int port = 0)
    {
        Namespace = namespaceHost;
        if (port == 0)
        {
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
        }

        Port = port;
    }

    /// <summary>The host name tokens must be issued for (the audience's host).</summary>
    public string Namespace { get; }

    /// <summary>The TCP port (kept across restarts).</summary>
    public int Port { get; }

    /// <summary><c>amqp://127.0.0.1:{Port}</c>.</summary>
    public string Endpoint => $"amqp://127.0.0.1:{Port}";

    /// <summary>A second listener for AMQP over WebSockets on this port (0 = none); see <see cref="WebSocketEndpoint"/>.</summary>
    public int WebSocketPort { get; set; }

    /// <summary><c>ws://127.0.0.1:{WebSocketPort}/$servicebus/websocket/</c> (the Service Bus path).</summary>
    public string WebSocketEndpoint => $"ws://127.0.0.1:{WebSocketPort}/$servicebus/websocket/";

    /// <summary>SAS key names and keys the <c>$cbs</c> node accepts.</summary>
    public Dictionary<string, string> SasKeys { get; } = new(StringComparer.Ordinal);

    /// <summary>JWTs (Entra ID tokens) the <c>$cbs</c> node accepts, with the entity they grant.</summary>
    public HashSet<string> AcceptedJwts { get; } = new(StringComparer.Ordinal);

    /// <summary>SASL PLAIN user and password; null disables PLAIN.</summary>
    public (string User, string Password)? Plain { get; set; }

    /// <summary>True (default): anonymous connections need a CBS token for the queue; PLAIN connections are trusted.</summary>
    public bool RequireToken { get; set; } = true;

    /// <summary>Successful put-token requests.</summary>
    public int PutTokens => Volatile.Read(ref _putTokens);

    /// <summary>Refused put-token requests.</summary>
    public int RefusedTokens => Volatile.Read(ref _refusedTokens);

    /// <summary>Log of notable broker events (refusals, rejections) for assertions.</summary>
    public List<string> Events { get; } = [];

    /// <summary>Declares a queue.</summary>
    public BrokerQueue AddQueue(string name, bool requiresSession = true, TimeSpan? duplicateWindow = null)
    {
        var q = new BrokerQueue(this, name, requiresSession, duplicateWindow ?? TimeSpan.FromMinutes(10));
        _queues[name] = q;
        return q;
    }

    /// <summary>The queue <paramref name="name"/>.</summary>
    public BrokerQueue Queue(string name) => _queues[name];

    /// <summary>Starts listening (again).</summary>
    public void Start()
    {
        if (_host is not null)
        {
            return;
        }

        var host = new ContainerHost(WebSocketPort == 0 ? [Endpoint] : [Endpoint, WebSocketEndpoint]);
        foreach (var listener in host.Listeners)
        {
            listener.SASL.EnableAnonymousMechanism = true;
            if (Plain is { } p)
            {
                listener.SASL.EnablePlainMechanism(p.User, p.Password);
            }
        }

        host.RegisterRequestProcessor("$cbs", new CbsNode(this));
        foreach (var q in _queues.Values)
        {
            host.RegisterMessageProcessor(q.Name, q);
            host.RegisterMessageSource(q.Name, q);
        }

        host.Open();
        _host = host;
    }

    /// <summary>Stops listening and drops every connection (the broker "goes down"); queues keep their messages.</summary>
    public void Stop()
    {
        var host = Interlocked.Exchange(ref _host, null);
        host?.Close();
        foreach (var q in _queues.Values)
        {
            q.ReturnInFlight();
            q.DropHeld();
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

    internal bool IsAuthorized(ListenerConnection connection, string entity, out string why)
    {
        why = "";
        if (!RequireToken || connection.Principal?.Identity is { IsAuthenticated: true, Name.Length: > 0 })
        {
            return true; // SASL PLAIN authenticated the connection
        }

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

    /// <summary>Checks a SAS token independently of the client library: returns the entity it grants, or an error.</summary>
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

        if (!SasKeys.TryGetValue(skn, out var key))
        {
            return (null, default, $"unknown key name '{skn}'");
        }

        var expected = Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(sr + "\n" + se)));
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(HttpUtility.UrlDecode(sig))))
        {
            return (null, default, "signature does not match");
        }

        var expires = DateTimeOffset.FromUnixTimeSeconds(long.Parse(se, System.Globalization.CultureInfo.InvariantCulture));
        if (expires <= DateTimeOffset.UtcNow)
        {
            return (null, default, $"token expired at {expires:u}");
        }

        var resource = new Uri(HttpUtility.UrlDecode(sr));
        var target = new Uri(audience);
        if (!resource.Host.Equals(Namespace, StringComparison.OrdinalIgnoreCase) || !target.Host.Equals(Namespace, StringComparison.OrdinalIgnoreCase))
        {
            return (null, default, $"audience host '{resource.Host}' is not this namespace '{Namespace}'");
        }

        var granted = resource.AbsolutePath.Trim('/');
        var wanted = target.AbsolutePath.Trim('/');
        if (granted.Length > 0 && !granted.Equals(wanted, StringComparison.OrdinalIgnoreCase))
        {
            return (null, default, $"token is for '{granted}', not '{wanted}'");
        }

        return (wanted, expires, null);
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
            else if (type == "jwt" && broker.AcceptedJwts.Contains(token))
            {
                (entity, expires, error) = (new Uri(audience).AbsolutePath.Trim('/'), DateTimeOffset.UtcNow.AddHours(1), null);
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
                var connection = (Connection)requestContext.Link.Session.Connection;
                var grants = broker._grants.GetValue(connection, _ => new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal));
                lock (grants)
                {
                    grants[entity!] = expires;
                }

                Interlocked.Increment(ref broker._putTokens);
                response.ApplicationProperties["status-code"] = 200;
                response.ApplicationProperties["status-description"] = "OK";
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
}

/// <summary>A message as the broker stored it.</summary>
public sealed record StoredMessage(string? MessageId, string? GroupId, string? ContentType, byte[]? Body)
{
    /// <summary>The body as UTF-8 text.</summary>
    public string Text => Body is null ? "" : Encoding.UTF8.GetString(Body);
}

/// <summary>One queue of <see cref="TestBroker"/>: target for senders (IMessageProcessor) and source for receivers (IMessageSource).</summary>
public sealed class BrokerQueue : IMessageProcessor, IMessageSource
{
    private readonly TestBroker _broker;
    private readonly TimeSpan _window;
    private readonly Dictionary<string, DateTimeOffset> _seen = new(StringComparer.Ordinal);
    private readonly LinkedList<StoredMessage> _ready = new();
    private readonly List<StoredMessage> _all = [];
    private readonly List<StoredMessage> _inFlight = [];
    private readonly SemaphoreSlim _available = new(0);
    private readonly List<MessageContext> _held = [];
    private int _duplicates;
    private int _rejected;

    internal BrokerQueue(TestBroker broker, string name, bool requiresSession, TimeSpan window)
    {
        _broker = broker;
        Name = name;
        RequiresSession = requiresSession;
        _window = window;
    }

    /// <summary>Queue name.</summary>
    public string Name { get; }

    /// <summary>Messages without group-id are rejected.</summary>
    public bool RequiresSession { get; }

    /// <summary>Largest accepted message body, in bytes (default 256 KB like Service Bus Standard).</summary>
    public int MaxBodyBytes { get; set; } = 256 * 1024;

    /// <summary>When set, every incoming message is rejected with this condition (simulates an entity refusing).</summary>
    public string? RejectAllWith { get; set; }

    /// <inheritdoc />
    public int Credit { get; set; } = 300;

    /// <summary>Time the broker takes per incoming message (a slow broker, so a backlog builds up in tests).</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>
    /// When true, messages are stored (and listed in <see cref="Accepted"/>) as they arrive but their settlement is held
    /// back until <see cref="SettleHeld"/>: shows what a sender writes while earlier messages are unsettled.
    /// </summary>
    public bool HoldSettlements { get; set; }

    /// <summary>Messages stored whose settlement is held back (see <see cref="HoldSettlements"/>).</summary>
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

    /// <summary>Every message accepted and stored, in arrival order (duplicates not included).</summary>
    public IReadOnlyList<StoredMessage> Accepted
    {
        get
        {
            lock (_all)
            {
                return [.. _all];
            }
        }
    }

    /// <summary>Raised on the broker's thread for each message accepted and stored (not for duplicates), before it is settled.</summary>
    public event Action<StoredMessage>? Stored;

    /// <summary>Messages dropped as duplicates (accepted, not stored).</summary>
    public int Duplicates => Volatile.Read(ref _duplicates);

    /// <summary>Messages rejected.</summary>
    public int Rejected => Volatile.Read(ref _rejected);

    /// <summary>Messages dead-lettered by receivers (rejected on receive).</summary>
    public List<StoredMessage> DeadLetters { get; } = [];

    /// <inheritdoc />
    public void Process(MessageContext messageContext)
    {
        if (Delay > TimeSpan.Zero)
        {
            Thread.Sleep(Delay);
        }

        var m = messageContext.Message;
        var connection = (ListenerConnection)messageContext.Link.Session.Connection;
        if (!_broker.IsAuthorized(connection, Name, out var why))
        {
            Reject(messageContext, ErrorCode.UnauthorizedAccess, $"unauthorized: {why}");
            return;
        }

        if (RejectAllWith is { } condition)
        {
            Reject(messageContext, condition, "rejected by test setup");
            return;
        }

        var stored = new StoredMessage(m.Properties?.MessageId?.ToString(), m.Properties?.GroupId, m.Properties?.ContentType?.ToString(), FrameMessages.BodyBytes(m));
        if (RequiresSession && string.IsNullOrEmpty(stored.GroupId))
        {
            Reject(messageContext, ErrorCode.NotAllowed, $"queue '{Name}' requires sessions: the message has no SessionId (group-id)");
            return;
        }

        if (stored.Body is { Length: var n } && n > MaxBodyBytes)
        {
            Reject(messageContext, ErrorCode.MessageSizeExceeded, $"message of {n} bytes exceeds {MaxBodyBytes}");
            return;
        }

        lock (_all)
        {
            var now = DateTimeOffset.UtcNow;
            if (stored.MessageId is { } id)
            {
                if (_seen.TryGetValue(id, out var at) && now - at < _window)
                {
                    _duplicates++;
                    messageContext.Complete();
                    return;
                }

                _seen[id] = now;
            }

            _all.Add(stored);
            _ready.AddLast(stored);
        }

        Stored?.Invoke(stored);
        _available.Release();
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

    private void Reject(MessageContext context, string condition, string description)
    {
        Interlocked.Increment(ref _rejected);
        _broker.Note($"{Name} rejected {context.Message.Properties?.MessageId}: {condition} {description}");
        context.Complete(new Error(new Amqp.Types.Symbol(condition)) { Description = description });
    }

    /// <inheritdoc />
    public async Task<ReceiveContext> GetMessageAsync(ListenerLink link)
    {
        while (true)
        {
            await _available.WaitAsync().ConfigureAwait(false);
            StoredMessage? next = null;
            lock (_all)
            {
                if (_ready.First is { } first)
                {
                    next = first.Value;
                    _ready.RemoveFirst();
                    _inFlight.Add(next);
                }
            }

            if (next is null)
            {
                continue;
            }

            var message = new Message
            {
                Properties = new Properties { MessageId = next.MessageId, GroupId = next.GroupId, ContentType = next.ContentType },
                BodySection = new Data { Binary = next.Body ?? [] },
            };
            return new ReceiveContext(link, message) { UserToken = next };
        }
    }

    /// <inheritdoc />
    public void DisposeMessage(ReceiveContext receiveContext, DispositionContext dispositionContext)
    {
        var stored = (StoredMessage)receiveContext.UserToken;
        lock (_all)
        {
            _inFlight.Remove(stored);
            switch (dispositionContext.DeliveryState)
            {
                case Amqp.Framing.Accepted:
                    break;
                case Amqp.Framing.Rejected:
                    DeadLetters.Add(stored);
                    break;
                default:
                    _ready.AddFirst(stored);
                    _available.Release();
                    break;
            }
        }

        dispositionContext.Complete();
    }

    /// <summary>Forgets held-back settlements (their senders' connections are gone).</summary>
    internal void DropHeld()
    {
        lock (_held)
        {
            _held.Clear();
        }
    }

    /// <summary>Puts unsettled deliveries back at the front (their receivers' connections are gone).</summary>
    internal void ReturnInFlight()
    {
        lock (_all)
        {
            for (var i = _inFlight.Count - 1; i >= 0; i--)
            {
                _ready.AddFirst(_inFlight[i]);
                _available.Release();
            }

            _inFlight.Clear();
        }
    }
}
