using System.Globalization;
using Amqp;
using Amqp.Framing;
using Amqp.Sasl;
using Azure.Core;
using Azure.Identity;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.ServiceBus;

/// <summary>
/// One AMQP connection to a Service Bus namespace (or another AMQP 1.0 broker), with one session, the <c>$cbs</c>
/// request/response link pair and the token refresh. Senders and receivers attach their links to it. When the
/// connection breaks, <see cref="IsBroken"/> turns true and the owner creates a new one (with backoff).
/// </summary>
public sealed class ServiceBusConnection : IAsyncDisposable
{
    /// <summary>CBS token type of a SAS token.</summary>
    public const string SasTokenType = "servicebus.windows.net:sastoken";

    /// <summary>CBS token type of an Entra ID token.</summary>
    public const string JwtTokenType = "jwt";

    private readonly ServiceBusOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Uri _endpoint;
    private readonly SemaphoreSlim _cbsLock = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private Connection? _connection;
    private Session? _session;
    private SenderLink? _cbsSender;
    private ReceiverLink? _cbsReceiver;
    private string? _cbsReplyTo;
    private Task? _refresh;
    private int _cbsRequests;

    private ServiceBusConnection(ServiceBusOptions options, ILogger logger, TimeProvider time)
    {
        _options = options;
        _logger = logger;
        _time = time;
        _endpoint = new Uri(options.Endpoint!, UriKind.Absolute);
    }

    /// <summary>The namespace host name (e.g. <c>ns.servicebus.windows.net</c>); the audience of tokens.</summary>
    public string Host => _endpoint.Host;

    /// <summary>True once the connection or its session closed (error, broker gone, idle timeout).</summary>
    public bool IsBroken => _connection is null || _connection.IsClosed || _session is null || _session.IsClosed;

    /// <summary>The AMQP session links are attached to (for callers that need their own links).</summary>
    public Session Session => _session ?? throw new InvalidOperationException("not connected");

    /// <summary>The resource URI of <paramref name="entity"/> signed in SAS tokens: <c>https://{host}/{entity}</c>.</summary>
    public string ResourceUri(string entity) => $"https://{Host}/{entity}";

    /// <summary>The CBS audience (<c>name</c>) of <paramref name="entity"/>: <c>amqp://{host}/{entity}</c>.</summary>
    public string Audience(string entity) => $"amqp://{Host}/{entity}";

    /// <summary>
    /// Opens the connection and session; with CBS (the default) also the <c>$cbs</c> links, puts a token for
    /// <paramref name="entity"/> and keeps renewing it before it expires.
    /// </summary>
    public static async Task<ServiceBusConnection> OpenAsync(ServiceBusOptions options, string entity, ILogger? logger = null, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        var c = new ServiceBusConnection(options, logger ?? NullLogger.Instance, time ?? TimeProvider.System);
        try
        {
            await c.ConnectAsync(cancellationToken).ConfigureAwait(false);
            if (!options.SaslPlain)
            {
                var expires = await c.PutTokenAsync(entity, cancellationToken).ConfigureAwait(false);
                c._refresh = Task.Run(() => c.RefreshLoopAsync(entity, expires));
            }

            return c;
        }
        catch
        {
            await c.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task ConnectAsync(CancellationToken ct)
    {
        var factory = new ConnectionFactory();
        factory.AMQP.ContainerId = "ct-" + Guid.NewGuid().ToString("N")[..12];
        factory.AMQP.HostName = Host;
        factory.AMQP.IdleTimeout = 120_000;
        var port = _endpoint.IsDefaultPort || _endpoint.Port <= 0 ? (_endpoint.Scheme switch { "amqps" => 5671, "amqp" => 5672, "wss" => 443, _ => 80 }) : _endpoint.Port;
        Address address;
        if (_options.SaslPlain)
        {
            address = new Address(Host, port, _options.SasKeyName, _options.SasKey, _endpoint.AbsolutePath, _endpoint.Scheme.ToUpperInvariant());
        }
        else
        {
            factory.SASL.Profile = SaslProfile.Anonymous;
            address = new Address(Host, port, null, null, _endpoint.AbsolutePath, _endpoint.Scheme.ToUpperInvariant());
        }

        // TLS is chosen by the scheme (amqps, wss)
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(_options.OperationTimeoutSeconds));
        _connection = await factory.CreateAsync(address, timeout.Token).ConfigureAwait(false);
        _connection.AddClosedCallback((_, error) =>
        {
            if (error is not null && !_stop.IsCancellationRequested)
            {
                _logger.LogWarning("AMQP connection to {Host} closed: {Condition} {Description}", Host, error.Condition, error.Description);
            }
        });
        _session = new Session(_connection);
    }

    /// <summary>Puts a fresh token for <paramref name="entity"/> to <c>$cbs</c>; returns its expiry. Throws <see cref="ServiceBusException"/> when refused.</summary>
    public async Task<DateTimeOffset> PutTokenAsync(string entity, CancellationToken cancellationToken)
    {
        string token;
        string type;
        DateTimeOffset expires;
        if (_options.UseEntraId)
        {
            var credential = _options.Credential ?? new DefaultAzureCredential();
            var access = await credential.GetTokenAsync(new TokenRequestContext([ServiceBusOptions.EntraScope]), cancellationToken).ConfigureAwait(false);
            token = access.Token;
            type = JwtTokenType;
            expires = access.ExpiresOn;
        }
        else
        {
            expires = _time.GetUtcNow().AddSeconds(_options.TokenLifetimeSeconds);
            token = SasToken.Create(ResourceUri(entity), _options.SasKeyName!, _options.SasKey!, expires);
            type = SasTokenType;
        }

        await _cbsLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_cbsSender is null || _cbsSender.IsClosed || _cbsReceiver is null || _cbsReceiver.IsClosed)
            {
                _cbsReplyTo = "cbs-reply-" + Guid.NewGuid().ToString("N")[..12];
                _cbsSender = new SenderLink(Session, "cbs-sender-" + _cbsReplyTo, "$cbs");
                _cbsReceiver = new ReceiverLink(
                    Session,
                    "cbs-receiver-" + _cbsReplyTo,
                    new Attach { Source = new Source { Address = "$cbs" }, Target = new Target { Address = _cbsReplyTo } },
                    null);
                _cbsReceiver.SetCredit(10, autoRestore: true);
            }

            var id = $"put-token-{Interlocked.Increment(ref _cbsRequests)}";
            var request = new Message(token)
            {
                Properties = new Properties { MessageId = id, ReplyTo = _cbsReplyTo },
                ApplicationProperties = new ApplicationProperties(),
            };
            request.ApplicationProperties["operation"] = "put-token";
            request.ApplicationProperties["type"] = type;
            request.ApplicationProperties["name"] = Audience(entity);
            var timeout = TimeSpan.FromSeconds(_options.OperationTimeoutSeconds);
            await _cbsSender.SendAsync(request, timeout).WaitAsync(cancellationToken).ConfigureAwait(false);
            while (true)
            {
                var response = await _cbsReceiver.ReceiveAsync(timeout).WaitAsync(cancellationToken).ConfigureAwait(false)
                    ?? throw new TimeoutException($"no answer from $cbs of {Host} within {timeout.TotalSeconds:0} s");
                _cbsReceiver.Accept(response);
                if (!Equals(response.Properties?.CorrelationId, id))
                {
                    continue; // a late answer to an earlier request
                }

                var status = Convert.ToInt32(response.ApplicationProperties?["status-code"] ?? 0, CultureInfo.InvariantCulture);
                if (status is 200 or 202)
                {
                    return expires;
                }

                var description = response.ApplicationProperties?["status-description"] as string;
                throw new ServiceBusException(
                    status == 401 ? "amqp:unauthorized-access" : $"cbs:{status}",
                    $"$cbs refused the {type} token for {Audience(entity)}: {status} {description}");
            }
        }
        finally
        {
            _cbsLock.Release();
        }
    }

    private async Task RefreshLoopAsync(string entity, DateTimeOffset expires)
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            var lifetime = expires - _time.GetUtcNow();
            var early = TimeSpan.FromSeconds(Math.Min(_options.TokenRefreshBeforeSeconds, Math.Max(0, lifetime.TotalSeconds / 2)));
            var wait = lifetime - early;
            try
            {
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _time, ct).ConfigureAwait(false);
                }

                if (IsBroken)
                {
                    return;
                }

                expires = await PutTokenAsync(entity, ct).ConfigureAwait(false);
                _logger.LogDebug("renewed the token for {Audience} until {Expires:u}", Audience(entity), expires);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is AmqpException or ServiceBusException or TimeoutException or AuthenticationFailedException or ObjectDisposedException)
            {
                _logger.LogError("renewing the token for {Audience} failed: {Message}; closing the connection so it is rebuilt", Audience(entity), ex.Message);
                Abort();
                return;
            }
        }
    }

    /// <summary>Closes the connection at once (the owner reconnects).</summary>
    public void Abort()
    {
        try
        {
            _connection?.Close(TimeSpan.Zero, null);
        }
        catch (AmqpException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_connection is { IsClosed: false } c)
        {
            try
            {
                await c.CloseAsync(TimeSpan.FromSeconds(2), null).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AmqpException or TimeoutException or ObjectDisposedException or IOException)
            {
            }
        }

        if (_refresh is { } r)
        {
            await r.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _stop.Dispose();
        _cbsLock.Dispose();
    }

    /// <summary>The error condition of <paramref name="ex"/> when it is an AMQP error, else null.</summary>
    public static string? ConditionOf(Exception ex) => ex switch
    {
        AmqpException a => a.Error?.Condition?.ToString(),
        ServiceBusException s => s.Condition,
        _ => null,
    };
}

/// <summary>A Service Bus / AMQP error with its condition (e.g. <c>amqp:unauthorized-access</c>).</summary>
public sealed class ServiceBusException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ServiceBusException(string condition, string message, Exception? inner = null)
        : base(message, inner) => Condition = condition;

    /// <summary>Creates an exception without a condition.</summary>
    public ServiceBusException()
        : this("unknown", "Service Bus error")
    {
    }

    /// <summary>Creates an exception without a condition.</summary>
    public ServiceBusException(string message)
        : this("unknown", message)
    {
    }

    /// <summary>Creates an exception without a condition.</summary>
    public ServiceBusException(string message, Exception inner)
        : this("unknown", message, inner)
    {
    }

    /// <summary>The AMQP error condition, e.g. <c>amqp:unauthorized-access</c>, <c>amqp:not-found</c>, <c>amqp:link:message-size-exceeded</c>.</summary>
    public string Condition { get; }
}
