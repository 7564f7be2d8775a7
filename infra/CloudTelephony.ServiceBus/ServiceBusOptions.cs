using System.Net.Security;
using Azure;
using Azure.Core;
using Azure.Identity;
using Azure.Messaging.ServiceBus;

namespace CloudTelephony.ServiceBus;

/// <summary>
/// Where and how to reach a Service Bus namespace and which queue to use; turned into a <see cref="ServiceBusClient"/>
/// of the official SDK by <see cref="CreateClient"/>. Bound from configuration (<c>Relay:ServiceBus</c> on the relay,
/// <c>ServiceBus</c> in the functions app's standalone mode).
/// </summary>
/// <remarks>
/// Authentication, in this order: <see cref="ConnectionString"/> (a SAS connection string as the portal shows it);
/// <see cref="SasKeyName"/> + <see cref="SasKey"/> with <see cref="Endpoint"/>; Entra ID (<see cref="UseEntraId"/>):
/// <see cref="Credential"/> when set in code, else <c>ClientSecretCredential</c> when <see cref="ClientSecret"/> is
/// set, else <c>ManagedIdentityCredential</c> when <see cref="ManagedIdentityClientId"/> is set, else
/// <c>DefaultAzureCredential</c>. The SDK puts the SAS token or JWT to the namespace's <c>$cbs</c> node and renews it
/// before it expires.
/// </remarks>
public sealed class ServiceBusOptions
{
    /// <summary>Scope of Entra ID tokens for Service Bus.</summary>
    public const string EntraScope = "https://servicebus.azure.net/.default";

    /// <summary>
    /// Namespace endpoint: <c>sb://&lt;ns&gt;.servicebus.windows.net</c> or <c>amqps://…</c> (AMQP over TLS, 5671),
    /// <c>wss://&lt;ns&gt;.servicebus.windows.net</c> (AMQP over WebSockets, 443, for sites where 5671 is closed), or
    /// <c>amqp://host:port</c> / <c>ws://host:port</c> for a local broker without TLS (the SDK's development-emulator
    /// mode; SAS only). A port other than the default is used as the SDK's custom endpoint address. Not needed with
    /// <see cref="ConnectionString"/>.
    /// </summary>
    public string? Endpoint { get; set; }

    /// <summary>
    /// A Service Bus connection string (<c>Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…</c>, optionally
    /// <c>EntityPath</c> and <c>UseDevelopmentEmulator=true</c>). A secret: never logged. Takes the place of
    /// <see cref="Endpoint"/>, <see cref="SasKeyName"/> and <see cref="SasKey"/>.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>Queue name (default <c>pbx-frames</c>).</summary>
    public string Queue { get; set; } = "pbx-frames";

    /// <summary>SAS policy name (e.g. a Send-only policy scoped to the queue).</summary>
    public string? SasKeyName { get; set; }

    /// <summary>SAS key. A secret: never logged.</summary>
    public string? SasKey { get; set; }

    /// <summary>Authenticate with Entra ID (Azure.Identity) instead of SAS; needs a TLS endpoint (sb://, amqps://, wss://).</summary>
    public bool UseEntraId { get; set; }

    /// <summary>Entra ID tenant of the service principal (with <see cref="ClientId"/> and <see cref="ClientSecret"/>).</summary>
    public string? TenantId { get; set; }

    /// <summary>Application (client) id of the service principal.</summary>
    public string? ClientId { get; set; }

    /// <summary>Client secret of the service principal. A secret: never logged.</summary>
    public string? ClientSecret { get; set; }

    /// <summary>Client id of a user-assigned managed identity (Azure VM, Arc-enabled server); empty: not used.</summary>
    public string? ManagedIdentityClientId { get; set; }

    /// <summary>
    /// <c>AmqpTcp</c> (5671) or <c>AmqpWebSockets</c> (443); default: WebSockets for a <c>wss://</c> or <c>ws://</c>
    /// <see cref="Endpoint"/>, else TCP.
    /// </summary>
    public string? TransportType { get; set; }

    /// <summary>Timeout of one try of an operation (connect, attach, send of one batch), in seconds (default 30): the SDK's <c>TryTimeout</c>.</summary>
    public double OperationTimeoutSeconds { get; set; } = 30;

    /// <summary>Retries of the SDK for a transient failure of one operation (default 3): <c>ServiceBusRetryOptions.MaxRetries</c>.</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>First delay between the SDK's retries, in seconds (default 0.8; exponential with jitter).</summary>
    public double RetryDelaySeconds { get; set; } = 0.8;

    /// <summary>Largest delay between the SDK's retries, in seconds (default 60).</summary>
    public double MaxRetryDelaySeconds { get; set; } = 60;

    /// <summary>Receivers (the functions app's standalone consumer): sessions processed at once (default 8).</summary>
    public int MaxConcurrentSessions { get; set; } = 8;

    /// <summary>Receivers: how long a session may stay without messages before its lock is released for the next session, in seconds (default 5).</summary>
    public double SessionIdleTimeoutSeconds { get; set; } = 5;

    /// <summary>
    /// Receivers: messages fetched ahead per session (default 0 = none). A prefetched message is delivered and locked:
    /// when the session receiver closes (idle, restart) before it is processed, the broker counts that delivery, so a
    /// large prefetch with short sessions can push messages to the dead-letter queue unprocessed.
    /// </summary>
    public int PrefetchCount { get; set; }

    /// <summary>
    /// Receivers: tries again to store a message whose storage failed (database down) before it is abandoned, with
    /// exponential backoff from 0.5 s to 10 s, holding the session lock (default 6, about 30 s): an outage does not burn
    /// through the queue's max delivery count in milliseconds.
    /// </summary>
    public int StorageRetryAttempts { get; set; } = 6;

    /// <summary>Entra ID credential set in code (not bound from configuration); wins over the credential settings when <see cref="UseEntraId"/>.</summary>
    public TokenCredential? Credential { get; set; }

    /// <summary>Certificate check of the TLS connection set in code (tests with a local broker's own certificate); null: the system's check.</summary>
    public RemoteCertificateValidationCallback? CertificateValidationCallback { get; set; }

    /// <summary>The namespace host the client connects to (from <see cref="ConnectionString"/> or <see cref="Endpoint"/>), for log lines; null when neither parses.</summary>
    public string? Host =>
        ConnectionString is { Length: > 0 } cs
            ? TryParse(cs)?.FullyQualifiedNamespace
            : Uri.TryCreate(Endpoint, UriKind.Absolute, out var uri) ? uri.Host : null;

    /// <summary>How the client authenticates, for log lines (never a secret): e.g. <c>SAS key relay-send</c>, <c>Entra ID (ClientSecretCredential)</c>.</summary>
    public string AuthName =>
        ConnectionString is { Length: > 0 } cs ? $"SAS key {TryParse(cs)?.SharedAccessKeyName ?? "(shared access signature)"}"
        : !UseEntraId ? $"SAS key {SasKeyName}"
        : Credential is not null ? $"Entra ID ({Credential.GetType().Name})"
        : !string.IsNullOrEmpty(ClientSecret) ? "Entra ID (ClientSecretCredential)"
        : !string.IsNullOrEmpty(ManagedIdentityClientId) ? "Entra ID (ManagedIdentityCredential)"
        : "Entra ID (DefaultAzureCredential)";

    /// <summary>Problems of this configuration, each naming the key under <paramref name="prefix"/>; empty when usable.</summary>
    public IReadOnlyList<string> Check(string prefix)
    {
        var errors = new List<string>();
        if (ConnectionString is { Length: > 0 } cs)
        {
            if (TryParse(cs) is null)
            {
                errors.Add($"{prefix}:ConnectionString is not a Service Bus connection string (Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…)");
            }
        }
        else if (string.IsNullOrWhiteSpace(Endpoint))
        {
            errors.Add($"{prefix}:Endpoint is missing (sb://<namespace>.servicebus.windows.net), or set {prefix}:ConnectionString");
        }
        else if (!Uri.TryCreate(Endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("sb" or "amqp" or "amqps" or "ws" or "wss"))
        {
            errors.Add($"{prefix}:Endpoint '{Endpoint}' is not an sb://, amqps://, wss://, amqp:// or ws:// URL");
        }
        else if (UseEntraId && !IsTls(uri))
        {
            errors.Add($"{prefix}:Endpoint '{Endpoint}' has no TLS: Entra ID needs sb://, amqps:// or wss:// (amqp:// and ws:// are for a local broker with SAS)");
        }
        else if (!UseEntraId && (string.IsNullOrWhiteSpace(SasKeyName) || string.IsNullOrEmpty(SasKey)))
        {
            errors.Add($"{prefix}:SasKeyName and {prefix}:SasKey are required unless {prefix}:UseEntraId is true or {prefix}:ConnectionString is set");
        }

        if (UseEntraId && Credential is null && !string.IsNullOrEmpty(ClientSecret) && (string.IsNullOrWhiteSpace(TenantId) || string.IsNullOrWhiteSpace(ClientId)))
        {
            errors.Add($"{prefix}:ClientSecret needs {prefix}:TenantId and {prefix}:ClientId");
        }

        if (string.IsNullOrWhiteSpace(Queue))
        {
            errors.Add($"{prefix}:Queue is empty");
        }

        if (TransportType is { Length: > 0 } t && !Enum.TryParse<ServiceBusTransportType>(t, ignoreCase: true, out _))
        {
            errors.Add($"{prefix}:TransportType '{t}' is unknown (expected AmqpTcp or AmqpWebSockets)");
        }

        if (!(OperationTimeoutSeconds > 0))
        {
            errors.Add($"{prefix}:OperationTimeoutSeconds must be positive");
        }

        if (MaxRetries is < 0 or > 100)
        {
            errors.Add($"{prefix}:MaxRetries must be between 0 and 100");
        }

        if (MaxConcurrentSessions < 1)
        {
            errors.Add($"{prefix}:MaxConcurrentSessions must be a positive number");
        }

        if (!(SessionIdleTimeoutSeconds > 0))
        {
            errors.Add($"{prefix}:SessionIdleTimeoutSeconds must be positive");
        }

        if (StorageRetryAttempts < 0)
        {
            errors.Add($"{prefix}:StorageRetryAttempts must not be negative");
        }

        if (PrefetchCount < 0)
        {
            errors.Add($"{prefix}:PrefetchCount must not be negative");
        }

        if (!(RetryDelaySeconds > 0) || !(MaxRetryDelaySeconds >= RetryDelaySeconds))
        {
            errors.Add($"{prefix}:RetryDelaySeconds must be positive and at most {prefix}:MaxRetryDelaySeconds");
        }

        return errors;
    }

    /// <summary>
    /// The SDK's client options: transport, retry options (exponential, <see cref="MaxRetries"/>,
    /// <see cref="OperationTimeoutSeconds"/> per try), custom endpoint address for a non-default port, certificate check.
    /// </summary>
    public ServiceBusClientOptions ClientOptions()
    {
        var options = new ServiceBusClientOptions
        {
            TransportType = Transport(),
            RetryOptions = new ServiceBusRetryOptions
            {
                Mode = ServiceBusRetryMode.Exponential,
                MaxRetries = MaxRetries,
                Delay = TimeSpan.FromSeconds(RetryDelaySeconds),
                MaxDelay = TimeSpan.FromSeconds(MaxRetryDelaySeconds),
                TryTimeout = TimeSpan.FromSeconds(OperationTimeoutSeconds),
            },
            CertificateValidationCallback = CertificateValidationCallback,
        };
        if (string.IsNullOrEmpty(ConnectionString) && Uri.TryCreate(Endpoint, UriKind.Absolute, out var uri) && IsTls(uri) && !uri.IsDefaultPort && uri.Port > 0)
        {
            options.CustomEndpointAddress = new Uri($"sb://{uri.Host}:{uri.Port}");
        }

        return options;
    }

    /// <summary>Creates the SDK client for this configuration (call <see cref="Check"/> first). Nothing is opened until the first operation.</summary>
    /// <exception cref="InvalidOperationException">The configuration is not usable (the first problem of <see cref="Check"/>).</exception>
    public ServiceBusClient CreateClient()
    {
        if (Check("ServiceBus") is [var first, ..])
        {
            throw new InvalidOperationException(first);
        }

        var options = ClientOptions();
        if (ConnectionString is { Length: > 0 } cs)
        {
            return new ServiceBusClient(cs, options);
        }

        var uri = new Uri(Endpoint!);
        if (!IsTls(uri))
        {
            // a local broker without TLS: the SDK does plain AMQP only in its development-emulator mode
            var port = uri.IsDefaultPort || uri.Port <= 0 ? "" : $":{uri.Port}";
            return new ServiceBusClient($"Endpoint=sb://{uri.Host}{port};SharedAccessKeyName={SasKeyName};SharedAccessKey={SasKey};UseDevelopmentEmulator=true", options);
        }

        return UseEntraId
            ? new ServiceBusClient(uri.Host, EntraCredential(), options)
            : new ServiceBusClient(uri.Host, new AzureNamedKeyCredential(SasKeyName!, SasKey!), options);
    }

    private TokenCredential EntraCredential() =>
        Credential
        ?? (!string.IsNullOrEmpty(ClientSecret) ? new ClientSecretCredential(TenantId, ClientId, ClientSecret)
        : !string.IsNullOrEmpty(ManagedIdentityClientId) ? new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(ManagedIdentityClientId))
        : new DefaultAzureCredential());

    private ServiceBusTransportType Transport()
    {
        if (TransportType is { Length: > 0 } t && Enum.TryParse<ServiceBusTransportType>(t, ignoreCase: true, out var parsed))
        {
            return parsed;
        }

        return Uri.TryCreate(Endpoint, UriKind.Absolute, out var uri) && uri.Scheme is "ws" or "wss"
            ? ServiceBusTransportType.AmqpWebSockets
            : ServiceBusTransportType.AmqpTcp;
    }

    private static bool IsTls(Uri uri) => uri.Scheme is "sb" or "amqps" or "wss";

    private static ServiceBusConnectionStringProperties? TryParse(string connectionString)
    {
        try
        {
            return ServiceBusConnectionStringProperties.Parse(connectionString);
        }
        catch (FormatException)
        {
            return null;
        }
        catch (ArgumentException)
        {
            return null;
        }
    }
}
