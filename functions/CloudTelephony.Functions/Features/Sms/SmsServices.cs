using CloudTelephony.Functions.Hosting;
using Polly;

namespace CloudTelephony.Functions.Sms;

/// <summary>Registers the SMS outbox: options, provider, dispatcher, rules, in-process queue and worker.</summary>
public static class SmsServices
{
    /// <summary>Adds the SMS services from configuration section <c>Sms</c>.</summary>
    /// <param name="services">The app's services (an <see cref="Npgsql.NpgsqlDataSource"/> and a <see cref="TimeProvider"/> must be registered).</param>
    /// <param name="configuration">Configuration holding the <c>Sms</c> section.</param>
    /// <param name="sweepInProcess">True standalone (the worker runs the sweep); false under the Functions host (timer function).</param>
    /// <exception cref="ConfigException">The provider settings are incomplete, or <c>Sms:IdempotencyHours</c> is out of range.</exception>
    public static IServiceCollection AddSms(this IServiceCollection services, IConfiguration configuration, bool sweepInProcess)
    {
        var options = configuration.GetSection(SmsOptions.Section).Get<SmsOptions>() ?? new SmsOptions();
        SmsProviders.Validate(options);
        if (options.IdempotencyHours is < 1 or > 720)
        {
            throw new ConfigException($"Sms:IdempotencyHours must be 1–720 hours, not {options.IdempotencyHours}");
        }

        services.AddSingleton(options);
        // No default HttpClient request logging: a webhook URL may carry a key in its query string.
        services.AddHttpClient(HttpSmsProvider.ClientName, c => c.Timeout = Timeout.InfiniteTimeSpan)
            .RemoveAllLoggers()
            .AddResilienceHandler("sms-timeout", b => b.AddTimeout(TimeSpan.FromSeconds(options.TimeoutSeconds)));
        services.AddSingleton(sp => SmsProviders.Create(sp, options));
        services.AddSingleton<SmsDispatcher>();
        services.AddSingleton<SmsRules>();
        services.AddSingleton<Ingest.ICallChangeHandler>(sp => sp.GetRequiredService<SmsRules>());
        services.AddSingleton(new SmsQueue { Enabled = options.DispatchInProcess });
        services.AddSingleton<Ingest.IOutboxHandOff>(sp => sp.GetRequiredService<SmsQueue>());
        services.AddSingleton(new SmsWorkerMode(sweepInProcess));
        services.AddHostedService<SmsWorker>();
        return services;
    }
}
