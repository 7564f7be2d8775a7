using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Forwarding;
using CloudTelephony.Relay.Outbox;
using CloudTelephony.Relay.Sink;
using CloudTelephony.Relay.Status;
using CloudTelephony.Relay.Telemetry;
using CloudTelephony.ServiceBus;
using CloudTelephony.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;

namespace CloudTelephony.Relay.Hosting;

/// <summary>Dependency-injection wiring of the relay service (<c>relay run</c>).</summary>
public static class RelayServices
{
    /// <summary>OpenTelemetry service name (cloud_RoleName in Application Insights).</summary>
    public const string ServiceName = "cloudtelephony-relay";

    /// <summary>
    /// Registers options (section <c>Relay</c>, validated on start), the status board, the durable outbox, the
    /// connectors and the forwarder chosen by <c>Relay:Transport</c> (HTTP with its resilience handler, or Service Bus).
    /// </summary>
    public static IServiceCollection AddRelay(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RelayOptions>().Bind(configuration.GetSection(RelayOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RelayOptions>, RelayOptionsValidator>();
        services.AddSingleton<RelayStatus>();
        services.AddSingleton(sp => new SqliteOutbox(
            sp.GetRequiredService<IOptions<RelayOptions>>().Value.Outbox,
            sp.GetRequiredService<ILogger<SqliteOutbox>>(),
            sp.GetRequiredService<RelayStatus>()));
        services.AddSingleton<IFrameSink>(sp => sp.GetRequiredService<SqliteOutbox>());
        services.AddSingleton<IFrameSource>(sp => sp.GetRequiredService<SqliteOutbox>());
        var transport = configuration.GetSection(RelayOptions.SectionName)[nameof(RelayOptions.Transport)];
        if (string.Equals(transport, RelayOptions.ServiceBusTransport, StringComparison.OrdinalIgnoreCase))
        {
            // one connection per namespace: the forwarder and the heartbeat share this sender
            services.AddSingleton(sp => new QueueSender(
                sp.GetRequiredService<IOptions<RelayOptions>>().Value.ServiceBus,
                sp.GetRequiredService<ILogger<QueueSender>>()));
            services.AddHostedService<ServiceBusForwarder>();
        }
        else
        {
            services.AddHttpForwarderClient();
            services.AddHostedService<HttpForwarder>();
        }

        services.AddHostedService<HeartbeatService>();
        services.AddHostedService<ConnectorsService>();
        services.AddHostedService<RelayConnectionGauge>();
        // OpenTelemetry: Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING is set, console only with
        // Telemetry:Console=true; otherwise nothing is exported.
        services.AddCloudTelephonyTelemetry(configuration, ServiceName);
        return services;
    }

    /// <summary>
    /// Registers the named HTTP client of <see cref="HttpForwarder"/>: per-attempt timeout and retries with
    /// exponential backoff and jitter on 5xx, 408, 429 and connection errors (Microsoft.Extensions.Http.Resilience).
    /// </summary>
    public static IServiceCollection AddHttpForwarderClient(this IServiceCollection services)
    {
        services.AddHttpClient(HttpForwarder.HttpClientName, c => c.Timeout = Timeout.InfiniteTimeSpan)
            .AddResilienceHandler("forward", static (builder, context) =>
            {
                var o = context.ServiceProvider.GetRequiredService<IOptions<RelayOptions>>().Value.Forwarder;
                if (o.RetryAttempts > 0)
                {
                    builder.AddRetry(new HttpRetryStrategyOptions
                    {
                        MaxRetryAttempts = o.RetryAttempts,
                        BackoffType = DelayBackoffType.Exponential,
                        UseJitter = true,
                        Delay = TimeSpan.FromSeconds(o.RetryDelaySeconds),
                        MaxDelay = TimeSpan.FromSeconds(o.MaxRetryDelaySeconds),
                    });
                }

                builder.AddTimeout(TimeSpan.FromSeconds(o.TimeoutSeconds));
            });
        return services;
    }
}
