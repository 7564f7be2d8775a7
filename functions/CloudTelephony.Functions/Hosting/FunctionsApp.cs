using CloudTelephony.Functions.Archive;
using CloudTelephony.Functions.Calls;
using CloudTelephony.Functions.Contacts;
using CloudTelephony.Functions.Dashboard;
using CloudTelephony.Functions.Enterprises;
using CloudTelephony.Functions.Events;
using CloudTelephony.Functions.Health;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.WebApp;
using CloudTelephony.Storage;
using CloudTelephony.Telemetry;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace CloudTelephony.Functions.Hosting;

/// <summary>
/// The HTTP app: one ASP.NET Core host that serves every function. The hosting mode is decided once
/// (<see cref="FunctionsHost.From"/>): under the Azure Functions host it listens on
/// <c>127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT</c> (custom handler, HTTP requests forwarded at their original path);
/// standalone it listens on <c>--urls</c> / <c>ASPNETCORE_URLS</c>, default <c>http://127.0.0.1:7071</c>.
/// </summary>
public static class FunctionsApp
{
    /// <summary>Default standalone address (the Functions host's usual local port).</summary>
    public const string DefaultUrl = "http://127.0.0.1:7071";

    /// <summary>OpenTelemetry service name (cloud_RoleName in Application Insights).</summary>
    public const string ServiceName = "cloudtelephony-functions";

    /// <summary>
    /// The configuration settings given on the command line after <c>serve</c> (<c>--Section:Key=value</c> or
    /// <c>--Section:Key value</c>), checked; they go to the app's configuration like environment variables.
    /// </summary>
    /// <exception cref="ConfigException">A token is not such a setting (names it).</exception>
    public static IReadOnlyList<string> SettingArguments(IReadOnlyList<string> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        for (var i = 0; i < tokens.Count; i++)
        {
            var t = tokens[i];
            var key = t.StartsWith("--", StringComparison.Ordinal) ? t[2..].Split('=', 2)[0] : "";
            if (key.Length == 0 || !key.Contains(':', StringComparison.Ordinal) || key.StartsWith(':') || key.EndsWith(':'))
            {
                throw new ConfigException($"serve: '{t}' is not a setting (give settings as --Section:Key=value, e.g. --ServiceBus:Endpoint=amqp://127.0.0.1:5672)");
            }

            if (!t.Contains('=', StringComparison.Ordinal))
            {
                if (i + 1 >= tokens.Count || tokens[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    throw new ConfigException($"serve: setting '{t}' has no value");
                }

                i++;
            }
        }

        return tokens;
    }

    /// <summary>Builds the app.</summary>
    /// <param name="args">ASP.NET Core arguments (e.g. <c>--urls http://127.0.0.1:0</c>).</param>
    /// <param name="connectionString">PostgreSQL connection string; null = from configuration.</param>
    /// <param name="configure">Last-moment service changes (tests replace the clock or the SMS provider).</param>
    /// <exception cref="ConfigException">No database configured, a setting that cannot be bound, or incomplete SMS provider settings.</exception>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">A setting is out of range.</exception>
    public static WebApplication Build(string[] args, string? connectionString = null, Action<IServiceCollection>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddEnvironmentVariables();
        var cs = connectionString ?? AppConfig.ConnectionString(builder.Configuration);
        builder.ConfigureBodyLimit();

        // the hosting mode is decided here, once; everything else asks FunctionsHost
        var host = FunctionsHost.From(builder.Configuration);
        builder.Services.AddSingleton(host);
        if (host.Url is { } hostUrl)
        {
            builder.WebHost.UseUrls(hostUrl);
        }
        else if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        builder.Logging.AddAppConsole(builder.Configuration);
        // OpenTelemetry: Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING is set (the Bicep sets it),
        // console only with Telemetry:Console=true, otherwise nothing is exported (./ct run stays readable).
        builder.Services.AddCloudTelephonyTelemetry(
            builder.Configuration,
            ServiceName,
            tracing: t => t
                .AddAspNetCoreInstrumentation(o =>
                    // A path can carry a phone number (e.g. /api/contacts/{number}): mask it like every other number.
                    o.EnrichWithHttpRequest = (activity, request) => activity.SetTag("url.path", PhoneMask.MaskText(request.Path.Value)))
                .AddNpgsql(),
            metrics: m => m.AddAspNetCoreInstrumentation().AddNpgsqlInstrumentation());
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            // Strict numbers: the Web defaults also read numbers from strings, which made the OpenAPI document type every
            // integer and double as "number or string".
            o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJson.Default);
            o.SerializerOptions.TypeInfoResolverChain.Insert(1, RoutingJson.Default);
        });
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<ProblemExceptionHandler>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(_ => new NpgsqlDataSourceBuilder(cs) { Name = "cloudtelephony" }.Build());
        builder.Services.AddSingleton(Settings.Read<IngestOptions>(builder.Configuration, "Ingest"));
        builder.Services.AddSingleton<StreamCache>();
        builder.Services.AddSingleton<CorrelateAndStore>();
        builder.Services.AddSingleton<IngestProgress>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<IngestProgress>());
        var sweep = Settings.Read<SweepOptions>(builder.Configuration, "Ingest");
        if (host.IsFunctionsHost)
        {
            sweep.SweepSeconds = 0; // the SweepCalls timer trigger does it under the Functions host
        }

        builder.Services.AddSingleton(sweep);
        builder.Services.AddHostedService<CallSweeper>();
        builder.Services.AddSingleton<CallQueries>();
        builder.Services.AddSingleton<ContactStore>();
        builder.Services.AddCrmOpenApi();
        builder.Services.AddSingleton<HealthQueries>();
        builder.Services.AddAppHealthChecks();
        builder.Services.AddRouting(builder.Configuration);
        builder.Services.AddSms(builder.Configuration, sweepInProcess: !host.IsFunctionsHost);
        builder.Services.AddEvents(builder.Configuration, sweepInProcess: !host.IsFunctionsHost);
        builder.Services.AddFrameArchive(builder.Configuration);
        builder.Services.AddSingleton<HeartbeatStore>();
        builder.Services.AddSingleton(Settings.Read<IngestAccessOptions>(builder.Configuration, "Ingest"));
        builder.Services.AddSingleton<RelayPbxAccess>();
        builder.Services.AddWebApp(builder.Configuration);
        var bus = Settings.Read<CloudTelephony.ServiceBus.ServiceBusOptions>(builder.Configuration, QueueIngestService.SectionName);
        if (bus is { Endpoint.Length: > 0 } or { ConnectionString.Length: > 0 } && !host.IsFunctionsHost)
        {
            // standalone: consume the frames queue ourselves (under the Functions host the IngestFrames trigger does it)
            var problems = bus.Check(QueueIngestService.SectionName);
            if (problems.Count > 0)
            {
                throw new ConfigException(string.Join("; ", problems));
            }

            builder.Services.AddSingleton(bus);
            builder.Services.AddSingleton<QueueIngestService>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<QueueIngestService>());
        }
        configure?.Invoke(builder.Services);

        var app = builder.Build();
        // Settings registered with ValidateOnStart are checked here, before the host starts, so a bad one stops the
        // process with one line (Program.cs) instead of the host's "Hosting failed to start" stack trace.
        app.Services.GetService<Microsoft.Extensions.Options.IStartupValidator>()?.Validate();
        app.UseForwardedHeaders();
        app.UseWebApp();
        app.UseProblemExceptionHandler();
        app.UseStatusCodePages();
        app.UseStrictQuery();
        app.UseRateLimiter();
        app.MapHealthEndpoints();
        app.MapIngestEndpoints();
        app.MapIngestFramesEndpoint();
        app.MapHeartbeatEndpoint();
        app.MapCallEndpoints();
        app.MapCallsCsvEndpoint();
        app.MapTimerEndpoints();
        app.MapRoutingEndpoints();
        app.MapSmsEndpoints();
        app.MapArchiveEndpoints();
        app.MapContactEndpoints();
        app.MapSmsOutboxEndpoints();
        app.MapEnterpriseEndpoints();
        app.MapDashboardEndpoints();
        app.MapEventEndpoints();
        app.MapDispatchEvents();
        app.MapWebApp();
        app.MapOpenApi(OpenApiSetup.Path).WithName("OpenApi").ExcludeFromDescription();
        app.MapApiDocs();
        return app;
    }
}
