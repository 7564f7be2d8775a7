using System.Diagnostics.Metrics;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Telemetry;

namespace CloudTelephony.Functions.Hosting;

/// <summary>
/// Smart Redirect and SMS instruments on <see cref="CtTelemetry.Meter"/> (names in <see cref="CtTelemetry.Instruments"/>):
/// answer latency and outcomes, SMS sent and failed. Tags carry outcomes and provider names, never phone numbers.
/// </summary>
public static class AppTelemetry
{
    private static readonly Histogram<double> RoutingDuration = CtTelemetry.Meter.CreateHistogram<double>(
        CtTelemetry.Instruments.RoutingDuration, "ms", "Smart Redirect answer time in the app");

    private static readonly Counter<long> RoutingAnswers = CtTelemetry.Meter.CreateCounter<long>(
        CtTelemetry.Instruments.RoutingAnswers, "{answer}", "Smart Redirect answers by outcome");

    private static readonly Counter<long> SmsSent = CtTelemetry.Meter.CreateCounter<long>(
        CtTelemetry.Instruments.SmsSent, "{sms}", "SMS the provider accepted");

    private static readonly Counter<long> SmsFailed = CtTelemetry.Meter.CreateCounter<long>(
        CtTelemetry.Instruments.SmsFailed, "{sms}", "SMS that ended in ERROR");

    /// <summary>Records one Smart Redirect answer: <paramref name="milliseconds"/> of latency with its outcome.</summary>
    public static void RoutingAnswered(string outcome, double milliseconds)
    {
        var tag = new KeyValuePair<string, object?>(CtTelemetry.Tags.Outcome, outcome);
        RoutingDuration.Record(milliseconds, tag);
        RoutingAnswers.Add(1, tag);
    }

    /// <summary>Counts an SMS that ended SENT (<paramref name="sent"/>) or ERROR, by provider.</summary>
    public static void SmsFinished(bool sent, string provider)
        => (sent ? SmsSent : SmsFailed).Add(1, new KeyValuePair<string, object?>(CtTelemetry.Tags.Provider, provider));
}
