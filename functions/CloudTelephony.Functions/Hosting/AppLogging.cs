using Microsoft.Extensions.Logging.Console;

namespace CloudTelephony.Functions.Hosting;

/// <summary>
/// Console logging of the functions app and its commands: one line per entry with date and UTC time
/// (<c>2025-09-02 16:07:12.345Z info: ...</c>); the standard .NET switch <c>Logging__Console__FormatterName=json</c>
/// gives JSON lines (with an ISO 8601 UTC <c>Timestamp</c>) and <c>systemd</c> the journal format; levels from
/// <c>Logging:LogLevel</c>.
/// </summary>
public static class AppLogging
{
    /// <summary>Time stamp of the simple format: date, time to the millisecond, UTC (<c>Z</c>).</summary>
    public const string TimestampFormat = "yyyy-MM-dd HH:mm:ss.fff'Z' ";

    /// <summary>Replaces the logging providers with the console logger configured as described above.</summary>
    /// <param name="logging">The logging builder.</param>
    /// <param name="configuration">Configuration with the <c>Logging</c> section (levels, <c>Console:FormatterName</c>).</param>
    public static ILoggingBuilder AddAppConsole(this ILoggingBuilder logging, IConfiguration configuration)
    {
        logging.ClearProviders();
        logging.AddConfiguration(configuration.GetSection("Logging"));
        logging.Services.Configure<SimpleConsoleFormatterOptions>(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = TimestampFormat;
            o.UseUtcTimestamp = true;
        });
        logging.Services.Configure<JsonConsoleFormatterOptions>(o =>
        {
            o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
            o.UseUtcTimestamp = true;
        });
        logging.Services.Configure<ConsoleFormatterOptions>(o =>
        {
            o.TimestampFormat = TimestampFormat;
            o.UseUtcTimestamp = true;
        });
        logging.AddConsole();
        // WebApplication.CreateSlimBuilder registers AddSimpleConsole, which pins FormatterName to "simple" after the
        // configuration is bound; the operator's Logging:Console:FormatterName wins again here.
        logging.Services.PostConfigure<ConsoleLoggerOptions>(o =>
        {
            if (configuration["Logging:Console:FormatterName"] is { Length: > 0 } name)
            {
                o.FormatterName = name;
            }
        });
        // The generic host logs a start-up failure ("Hosting failed to start", a 30-line stack trace) and then throws it;
        // Program.cs prints the known ones (port taken, bad settings) as one line and lets any other one surface with its
        // trace. Its critical lines (a background service that crashed and stopped the host) stay.
        logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
        return logging;
    }

    /// <summary>A logger factory for the commands that have no host (<c>migrate</c>, <c>admin archive</c>).</summary>
    /// <param name="configuration">Configuration with the <c>Logging</c> section.</param>
    /// <param name="minimum">Lowest level written.</param>
    public static ILoggerFactory CreateFactory(IConfiguration configuration, LogLevel minimum = LogLevel.Information)
        => LoggerFactory.Create(b => b.AddAppConsole(configuration).SetMinimumLevel(minimum));
}

/// <summary>
/// EventIds of the events an operator alerts on (filter by <c>EventId</c> in Application Insights or the JSON logs).
/// Ids 1000–1999: ingest; 2000–2999: SMS; 3000–3999: archive and routing; 9000+: the host.
/// </summary>
public static class LogEvents
{
    /// <summary>A batch of frames (IngestHttp, IngestFrames, standalone queue) was not stored; the sender retries.</summary>
    public static readonly EventId BatchFailed = new(1001, "BatchFailed");

    /// <summary>A message that is not an envelope (poison): answered so that Service Bus dead-letters it.</summary>
    public static readonly EventId PoisonMessage = new(1002, "PoisonMessage");

    /// <summary>A message was dead-lettered by the standalone queue consumer.</summary>
    public static readonly EventId DeadLettered = new(1003, "DeadLettered");

    /// <summary>The call sweep failed (it retries on its next tick).</summary>
    public static readonly EventId SweepFailed = new(1004, "SweepFailed");

    /// <summary>A relay heartbeat was not stored.</summary>
    public static readonly EventId HeartbeatFailed = new(1005, "HeartbeatFailed");

    /// <summary>The standalone queue consumer cannot reach its broker.</summary>
    public static readonly EventId QueueUnreachable = new(1006, "QueueUnreachable");

    /// <summary>A PBX's stored time zone is unknown; UTC is used.</summary>
    public static readonly EventId UnknownTimeZone = new(1007, "UnknownTimeZone");

    /// <summary>The stream engine failed on one frame (a bug met by hostile input): the frame is stored with the error, the batch goes on.</summary>
    public static readonly EventId FrameFailed = new(1008, "FrameFailed");

    /// <summary>A PBX's saved stream state cannot be read: its frames are stored uncorrelated until <c>./ct admin reset-pbx</c>.</summary>
    public static readonly EventId StreamStateUnreadable = new(1009, "StreamStateUnreadable");

    /// <summary>The call sweep failed for one PBX (the others are swept; it is tried again on the next tick).</summary>
    public static readonly EventId SweepPbxFailed = new(1010, "SweepPbxFailed");

    /// <summary>A PBX's stored number plan cannot be used (an extension pattern that is no regular expression); the stream's evidence is used.</summary>
    public static readonly EventId BadNumberPlan = new(1012, "BadNumberPlan");

    /// <summary>An SMS ended in ERROR (permanent failure or attempts used up).</summary>
    public static readonly EventId SmsFailed = new(2001, "SmsFailed");

    /// <summary>An SMS was SENDING too long (process died mid-send) and was set to ERROR.</summary>
    public static readonly EventId SmsStuck = new(2002, "SmsStuck");

    /// <summary>The SMS sweep or an SMS dispatch failed (database).</summary>
    public static readonly EventId SmsDispatchFailed = new(2003, "SmsDispatchFailed");

    /// <summary>A webhook was disabled after too many failed deliveries in a row.</summary>
    public static readonly EventId WebhookDisabled = new(4001, "WebhookDisabled");

    /// <summary>A live-event dispatch, webhook delivery or Service Bus send failed (the sweep retries).</summary>
    public static readonly EventId EventDispatchFailed = new(4002, "EventDispatchFailed");

    /// <summary>An archive day failed; its frames stay.</summary>
    public static readonly EventId ArchiveFailed = new(3001, "ArchiveFailed");

    /// <summary>Smart Redirect decision-log rows were not written.</summary>
    public static readonly EventId DecisionLogFailed = new(3002, "DecisionLogFailed");

    /// <summary>Smart Redirect answered DialPlan null at once: Routing:MaxConcurrentRequests were in progress (at most every 10 s).</summary>
    public static readonly EventId RoutingShed = new(3003, "RoutingShed");

    /// <summary>The database cannot be reached; requests answer 503 with Retry-After.</summary>
    public static readonly EventId DatabaseUnavailable = new(9001, "DatabaseUnavailable");

    /// <summary>An unexpected error answered 500.</summary>
    public static readonly EventId UnhandledError = new(9002, "UnhandledError");
}

/// <summary>Periodic loops of the background services.</summary>
public static class TimerExtensions
{
    /// <summary>Waits for the next tick; false once <paramref name="ct"/> is cancelled — also when the host is disposed
    /// without having started (e.g. its port was taken), which the host would otherwise log as a crashed service.</summary>
    public static async Task<bool> TickAsync(this PeriodicTimer timer, CancellationToken ct)
    {
        try
        {
            return await timer.WaitForNextTickAsync(ct);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
