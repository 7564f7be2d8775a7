using CloudTelephony.Functions.Hosting;
namespace CloudTelephony.Functions.Routing;

/// <summary>Settings of the routing endpoints (configuration section <c>Routing</c>, env <c>Routing__Name</c>).</summary>
public sealed class RoutingOptions
{
    /// <summary>How long a caller's name (contacts or CRM) is kept in memory: 0 (off) or 30–300 s. Default 60.</summary>
    public int NameCacheSeconds { get; set; } = 60;

    /// <summary>How long the extension a strategy chose for a caller is kept in memory: 0 (off) or 30–300 s. Default 60.</summary>
    public int ExtensionCacheSeconds { get; set; } = 60;

    /// <summary>How long tokens and enterprise settings are kept in memory (a revoked token or a changed setting takes
    /// effect within this time): 0–60 s. Default 5.</summary>
    public int ConfigCacheSeconds { get; set; } = 5;

    /// <summary>Requests per second each token may make (token bucket, refilled every second). Default 50.</summary>
    public int RateLimitPerSecond { get; set; } = 50;

    /// <summary>Burst each token may make above the rate. Default 100.</summary>
    public int RateLimitBurst { get; set; } = 100;

    /// <summary>Decision-log rows waiting to be written; beyond this, rows are dropped (and counted), answers never. Default 10000.</summary>
    public int DecisionQueue { get; set; } = 10_000;

    /// <summary>Smart Redirect requests in progress at once; one more is answered <c>{"Name": null, "DialPlan": null}</c>
    /// at once (no lookup), so an overload never makes answers late. 1–10000. Default 100.</summary>
    public int MaxConcurrentRequests { get; set; } = 100;

    /// <summary>Proxies (IP addresses or CIDR networks) whose <c>X-Forwarded-For</c> is believed, besides loopback
    /// (the Functions host forwards from 127.0.0.1).</summary>
    public string[] TrustedProxies { get; set; } = [];

    /// <summary>Checks the ranges.</summary>
    /// <exception cref="ConfigException">A value is out of range.</exception>
    public RoutingOptions Validate()
    {
        static void Ttl(string name, int v)
        {
            if (v != 0 && v is < 30 or > 300)
            {
                throw new ConfigException($"Routing:{name} must be 0 (off) or 30–300 seconds, not {v}");
            }
        }

        Ttl(nameof(NameCacheSeconds), NameCacheSeconds);
        Ttl(nameof(ExtensionCacheSeconds), ExtensionCacheSeconds);
        if (ConfigCacheSeconds is < 0 or > 60)
        {
            throw new ConfigException($"Routing:ConfigCacheSeconds must be 0–60, not {ConfigCacheSeconds}");
        }

        if (MaxConcurrentRequests is < 1 or > 10_000)
        {
            throw new ConfigException($"Routing:MaxConcurrentRequests must be 1–10000, not {MaxConcurrentRequests}");
        }

        if (RateLimitPerSecond < 1 || RateLimitBurst < 1 || DecisionQueue < 1)
        {
            throw new ConfigException("Routing:RateLimitPerSecond, RateLimitBurst and DecisionQueue must be at least 1");
        }

        foreach (var p in TrustedProxies)
        {
            if (!System.Net.IPNetwork.TryParse(p, out _) && !System.Net.IPAddress.TryParse(p, out _))
            {
                throw new ConfigException($"Routing:TrustedProxies: '{p}' is not an IP address or CIDR network");
            }
        }

        return this;
    }
}
