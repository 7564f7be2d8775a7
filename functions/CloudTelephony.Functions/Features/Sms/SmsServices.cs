using CloudTelephony.Functions.Hosting;
using Polly;

namespace CloudTelephony.Functions.Sms;

/// <summary>Registers the SMS outbox: options, provider, dispatcher, rules and its <see cref="Outbox.OutboxPump"/> (hand-off and sweep).</summary>
public static class SmsServices
{
    /// <summary>Adds the SMS services from configuration section <c>Sms</c>.</summary>
    /// <param name="services">The app's services (an <see cref="Npgsql.NpgsqlDataSource"/> and a <see cref="TimeProvider"/> must be registered).</param>
    /// <param name="configuration">Configuration holding the <c>Sms</c> section.</param>
    /// <param name="sweepInProcess">True standalone (the worker runs the sweep); false under the Functions host (timer function).</param>
    /// <remarks>The settings are checked when the host starts: a value out of range or incomplete provider settings stop it
    /// (<see cref="Settings.AddSettings{T}"/>).</remarks>
    public static IServiceCollection AddSms(this IServiceCollection services, IConfiguration configuration, bool sweepInProcess)
    {
        // Bound and validated when the host starts (ValidateOnStart): ranges on SmsOptions, provider settings here.
        services.AddSettings<SmsOptions>(configuration, SmsOptions.Section, o =>
        {
            SmsProviders.Validate(o);
            return null;
        });
        // No default HttpClient request logging: a webhook URL may carry a key in its query string.
        services.AddHttpClient(HttpSmsProvider.ClientName, c => c.Timeout = Timeout.InfiniteTimeSpan)
            .RemoveAllLoggers()
            .AddResilienceHandler("sms-timeout", (b, context) => b.AddTimeout(TimeSpan.FromSeconds(context.ServiceProvider.GetRequiredService<SmsOptions>().TimeoutSeconds)));
        // the Twilio SDK sends through this client (SystemNetHttpClient): same timeout, optional other base address
        var twilio = services.AddHttpClient(TwilioSmsProvider.ClientName, c => c.Timeout = Timeout.InfiniteTimeSpan).RemoveAllLoggers();
        twilio.AddHttpMessageHandler(sp => new BaseUrlHandler(
            sp.GetRequiredService<SmsOptions>().Twilio.BaseUrl is { Length: > 0 } twilioBase ? new Uri(twilioBase) : null));
        twilio.AddResilienceHandler("sms-timeout", (b, context) => b.AddTimeout(TimeSpan.FromSeconds(context.ServiceProvider.GetRequiredService<SmsOptions>().TimeoutSeconds)));

        services.AddSingleton(sp => SmsProviders.Create(sp, sp.GetRequiredService<SmsOptions>()));
        services.AddSingleton<SmsDispatcher>();
        services.AddSingleton<SmsRules>();
        services.AddSingleton<SmsOutbox>();
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<SmsOptions>();
            return new SmsQueue(sp.GetRequiredService<SmsOutbox>(), new Outbox.OutboxPumpOptions
            {
                HandOff = o.DispatchInProcess,
                Concurrency = 2,
                NextSweep = sweepInProcess ? Outbox.OutboxPumpOptions.Cron(o.SweepCron) : null,
                FailureEvent = LogEvents.SmsDispatchFailed,
            }, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<Outbox.OutboxPump>>());
        });
        services.AddSingleton<Ingest.ICallChangeHandler>(sp => sp.GetRequiredService<SmsRules>());
        services.AddSingleton<Ingest.IOutboxHandOff>(sp => sp.GetRequiredService<SmsQueue>());
        services.AddHostedService(sp => sp.GetRequiredService<SmsQueue>());
        return services;
    }
}
