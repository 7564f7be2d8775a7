using CloudTelephony.Functions.Api;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.Storage;
using Npgsql;

namespace CloudTelephony.Functions;

/// <summary>
/// The HTTP app: one ASP.NET Core host that serves every function. Under the Azure Functions host it listens on
/// <c>127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT</c> (custom handler, HTTP requests forwarded at their original path);
/// standalone it listens on <c>--urls</c> / <c>ASPNETCORE_URLS</c>, default <c>http://127.0.0.1:7071</c>.
/// </summary>
public static class FunctionsApp
{
    /// <summary>Default standalone address (the Functions host's usual local port).</summary>
    public const string DefaultUrl = "http://127.0.0.1:7071";

    /// <summary>Builds the app.</summary>
    /// <param name="args">ASP.NET Core arguments (e.g. <c>--urls http://127.0.0.1:0</c>).</param>
    /// <param name="connectionString">PostgreSQL connection string; null = from configuration.</param>
    /// <exception cref="ConfigException">No database configured.</exception>
    public static WebApplication Build(string[] args, string? connectionString = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddEnvironmentVariables();
        var cs = connectionString ?? AppConfig.ConnectionString(builder.Configuration);

        if (builder.Configuration["FUNCTIONS_CUSTOMHANDLER_PORT"] is { Length: > 0 } port)
        {
            builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        }
        else if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJson.Default));
        builder.Services.AddProblemDetails();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(_ => new NpgsqlDataSourceBuilder(cs) { Name = "cloudtelephony" }.Build());
        builder.Services.AddSingleton<IngestPipeline>();
        builder.Services.AddSingleton<IngestProgress>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<IngestProgress>());
        var sweep = builder.Configuration.GetSection("Ingest").Get<SweepOptions>() ?? new SweepOptions();
        if (builder.Configuration["FUNCTIONS_CUSTOMHANDLER_PORT"] is { Length: > 0 })
        {
            sweep.SweepSeconds = 0; // the SweepCalls timer trigger does it under the Functions host
        }

        builder.Services.AddSingleton(sweep);
        builder.Services.AddHostedService<CallSweeper>();
        builder.Services.AddSingleton<CallQueries>();
        builder.Services.AddSingleton<HealthQueries>();
        builder.Services.AddSingleton<HeartbeatStore>();
        var bus = builder.Configuration.GetSection("ServiceBus").Get<CloudTelephony.ServiceBus.ServiceBusOptions>();
        if (bus is { Endpoint.Length: > 0 } && builder.Configuration["FUNCTIONS_CUSTOMHANDLER_PORT"] is not { Length: > 0 })
        {
            // standalone: consume the frames queue ourselves (under the Functions host the IngestFrames trigger does it)
            var problems = bus.Check("ServiceBus");
            if (problems.Count > 0)
            {
                throw new ConfigException(string.Join("; ", problems));
            }

            builder.Services.AddSingleton(bus);
            builder.Services.AddSingleton<QueueIngestService>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<QueueIngestService>());
        }

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapHealthEndpoints();
        app.MapIngestEndpoints();
        app.MapIngestFramesEndpoint();
        app.MapHeartbeatEndpoint();
        app.MapCallEndpoints();
        app.MapCallsCsvEndpoint();
        app.MapTimerEndpoints();
        return app;
    }
}
