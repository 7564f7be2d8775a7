using System.Net;
using System.Threading.RateLimiting;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace CloudTelephony.Functions.Routing;

/// <summary>Registers and wires Smart Redirect: stores, caches, CRM adapters, decision log, rate limiter, forwarded headers.</summary>
public static class RoutingServices
{
    /// <summary>
    /// Adds the routing services (needs an <see cref="Npgsql.NpgsqlDataSource"/> and a <see cref="TimeProvider"/> registered).
    /// </summary>
    /// <exception cref="ConfigException">The <c>Routing</c> section is out of range.</exception>
    public static RoutingOptions AddRouting(this IServiceCollection services, IConfiguration configuration)
    {
        var options = Settings.Read<RoutingOptions>(configuration, "Routing").Validate();
        services.AddSingleton(options);
        services.AddSingleton<TokenStore>();
        services.AddSingleton<RoutingStore>();
        services.AddHybridCache(o => o.MaximumPayloadBytes = 64 * 1024)
            .AddSerializer(new TenantCacheSerializer<RoutingContext>(TenantCacheJson.Default.RoutingContext))
            .AddSerializer(new TenantCacheSerializer<ApiToken>(TenantCacheJson.Default.ApiToken));
        services.AddSingleton(AuthOptions.From(configuration));
        services.AddSingleton<AuthFailureLimiter>();
        services.AddSingleton<TenantCache>();
        services.AddSingleton<CustomerDataLookup>();
        services.AddSingleton<RoutingBudget>();
        services.AddSingleton<DecisionLog>();
        services.AddHostedService(sp => sp.GetRequiredService<DecisionLog>());
        services.AddHttpClient<ICrmAdapter, RetailCrmAdapter>(c => c.Timeout = Timeout.InfiniteTimeSpan)
            .AddResilienceHandler("crm", b =>
            {
                // No retries: the budget (300 ms by default) has no room for them. The breaker stops asking a CRM that
                // keeps failing, so callers get their answer at once instead of after the budget.
                b.AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
                {
                    FailureRatio = 0.5,
                    MinimumThroughput = 10,
                    SamplingDuration = TimeSpan.FromSeconds(30),
                    BreakDuration = TimeSpan.FromSeconds(15),
                });
                b.AddTimeout(TimeSpan.FromSeconds(5));
            })
            .SelectPipelineByAuthority();

        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.AddPolicy(RoutingEndpoints.RatePolicy, http => RateLimitPartition.GetTokenBucketLimiter(
                TokenAuth.ReadToken(http.Request) ?? "(none)",
                _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = options.RateLimitBurst,
                    TokensPerPeriod = options.RateLimitPerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                }));
            o.OnRejected = async (ctx, ct) =>
            {
                ctx.HttpContext.Response.Headers.RetryAfter = "1";
                await ctx.HttpContext.Response.WriteAsJsonAsync(new ErrorDto("rate limit exceeded for this token"), RoutingJson.Default.ErrorDto, cancellationToken: ct);
            };
        });

        services.Configure<ForwardedHeadersOptions>(o =>
        {
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            foreach (var p in options.TrustedProxies)
            {
                if (System.Net.IPNetwork.TryParse(p, out var net))
                {
                    o.KnownIPNetworks.Add(net);
                }
                else
                {
                    o.KnownProxies.Add(IPAddress.Parse(p));
                }
            }
        });
        return options;
    }
}
