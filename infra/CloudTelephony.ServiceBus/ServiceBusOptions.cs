using Azure.Core;

namespace CloudTelephony.ServiceBus;

/// <summary>Where and how to reach a Service Bus namespace (or any AMQP 1.0 broker) and which queue to use.</summary>
public sealed class ServiceBusOptions
{
    /// <summary>Scope of Entra ID tokens for Service Bus.</summary>
    public const string EntraScope = "https://servicebus.azure.net/.default";

    /// <summary>
    /// Namespace endpoint: <c>amqps://&lt;ns&gt;.servicebus.windows.net</c> (TLS, 5671), <c>wss://&lt;ns&gt;.servicebus.windows.net/$servicebus/websocket</c>
    /// (AMQP over WebSockets, 443) or <c>amqp://127.0.0.1:port</c> for a local broker.
    /// </summary>
    public string? Endpoint { get; set; }

    /// <summary>Queue name (default <c>pbx-frames</c>).</summary>
    public string Queue { get; set; } = "pbx-frames";

    /// <summary>SAS policy name (e.g. a Send-only policy scoped to the queue).</summary>
    public string? SasKeyName { get; set; }

    /// <summary>SAS key. A secret: never logged.</summary>
    public string? SasKey { get; set; }

    /// <summary>Authenticate with Entra ID (Azure.Identity) instead of SAS: a <c>jwt</c> put to <c>$cbs</c>.</summary>
    public bool UseEntraId { get; set; }

    /// <summary>
    /// Use SASL PLAIN with the SAS key name and key as user name and password, and no CBS (for brokers without <c>$cbs</c>);
    /// default false: SASL ANONYMOUS then a CBS put-token.
    /// </summary>
    public bool SaslPlain { get; set; }

    /// <summary>Lifetime of a SAS token, in seconds (default 3600).</summary>
    public double TokenLifetimeSeconds { get; set; } = 3600;

    /// <summary>How long before expiry a token is renewed, in seconds (default 300); at most half the lifetime is used.</summary>
    public double TokenRefreshBeforeSeconds { get; set; } = 300;

    /// <summary>Timeout of connecting, attaching and of one batch of sends, in seconds (default 30).</summary>
    public double OperationTimeoutSeconds { get; set; } = 30;

    /// <summary>Entra ID credential (not bound from configuration); default <c>DefaultAzureCredential</c> when <see cref="UseEntraId"/>.</summary>
    public TokenCredential? Credential { get; set; }

    /// <summary>Problems of this configuration, each naming the key under <paramref name="prefix"/>; empty when usable.</summary>
    public IReadOnlyList<string> Check(string prefix)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Endpoint))
        {
            errors.Add($"{prefix}:Endpoint is missing (amqps://<namespace>.servicebus.windows.net)");
        }
        else if (!Uri.TryCreate(Endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("amqp" or "amqps" or "ws" or "wss"))
        {
            errors.Add($"{prefix}:Endpoint '{Endpoint}' is not an amqp://, amqps://, ws:// or wss:// URL");
        }

        if (string.IsNullOrWhiteSpace(Queue))
        {
            errors.Add($"{prefix}:Queue is empty");
        }

        if (UseEntraId && SaslPlain)
        {
            errors.Add($"{prefix}:UseEntraId and {prefix}:SaslPlain exclude each other (Entra ID needs CBS)");
        }

        if (!UseEntraId && (string.IsNullOrWhiteSpace(SasKeyName) || string.IsNullOrEmpty(SasKey)))
        {
            errors.Add($"{prefix}:SasKeyName and {prefix}:SasKey are required unless {prefix}:UseEntraId is true");
        }

        if (!(TokenLifetimeSeconds > 0))
        {
            errors.Add($"{prefix}:TokenLifetimeSeconds must be positive");
        }

        if (!(TokenRefreshBeforeSeconds >= 0))
        {
            errors.Add($"{prefix}:TokenRefreshBeforeSeconds must not be negative");
        }

        if (!(OperationTimeoutSeconds > 0))
        {
            errors.Add($"{prefix}:OperationTimeoutSeconds must be positive");
        }

        return errors;
    }
}
