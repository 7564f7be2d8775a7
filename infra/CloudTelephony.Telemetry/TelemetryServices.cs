using Azure.Monitor.OpenTelemetry.Exporter;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace CloudTelephony.Telemetry;

/// <summary>Where telemetry goes, decided from configuration.</summary>
public enum TelemetryExport
{
    /// <summary>Nowhere: instruments still count, nothing listens (the default for local runs).</summary>
    None,

    /// <summary>Application Insights (<c>APPLICATIONINSIGHTS_CONNECTION_STRING</c> is set).</summary>
    AzureMonitor,

    /// <summary>Console exporter (<c>Telemetry:Console=true</c>, env <c>Telemetry__Console=true</c>).</summary>
    Console,
}

/// <summary>OpenTelemetry registration shared by the functions app and the relay.</summary>
public static class TelemetryServices
{
    /// <summary>App setting / environment variable with the Application Insights connection string.</summary>
    public const string ConnectionStringKey = "APPLICATIONINSIGHTS_CONNECTION_STRING";

    /// <summary>Configuration key that turns the console exporter on.</summary>
    public const string ConsoleKey = "Telemetry:Console";

    /// <summary>Azure Monitor when a connection string is configured, else console when explicitly enabled, else none.</summary>
    public static TelemetryExport ExportFrom(IConfiguration configuration)
        => !string.IsNullOrWhiteSpace(configuration[ConnectionStringKey]) ? TelemetryExport.AzureMonitor
            : configuration.GetValue<bool>(ConsoleKey) ? TelemetryExport.Console
            : TelemetryExport.None;

    /// <summary>
    /// Registers OpenTelemetry tracing, metrics and (for Azure Monitor) logs for <paramref name="serviceName"/>:
    /// the CloudTelephony meter and activity source, outgoing HttpClient calls, plus what the caller adds
    /// (ASP.NET Core, Npgsql). Registers nothing when <see cref="ExportFrom"/> says <see cref="TelemetryExport.None"/>.
    /// </summary>
    /// <returns>The export that was chosen.</returns>
    public static TelemetryExport AddCloudTelephonyTelemetry(
        this IServiceCollection services,
        IConfiguration configuration,
        string serviceName,
        Action<TracerProviderBuilder>? tracing = null,
        Action<MeterProviderBuilder>? metrics = null)
    {
        var export = ExportFrom(configuration);
        if (export == TelemetryExport.None)
        {
            return export;
        }

        var otel = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName, serviceNamespace: CtTelemetry.Name))
            .WithTracing(t =>
            {
                t.AddSource(CtTelemetry.Name).AddHttpClientInstrumentation();
                tracing?.Invoke(t);
                if (export == TelemetryExport.Console)
                {
                    t.AddConsoleExporter();
                }
            })
            .WithMetrics(m =>
            {
                m.AddMeter(CtTelemetry.Name).AddHttpClientInstrumentation();
                metrics?.Invoke(m);
                if (export == TelemetryExport.Console)
                {
                    m.AddConsoleExporter();
                }
            });

        if (export == TelemetryExport.AzureMonitor)
        {
            // Traces (requests, dependencies), metrics (customMetrics) and ILogger logs (traces) to Application Insights.
            otel.UseAzureMonitorExporter(o => o.ConnectionString = configuration[ConnectionStringKey]);
        }

        return export;
    }
}
