using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net.Http.Json;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Telemetry;
using Microsoft.Extensions.Configuration;

namespace CloudTelephony.Functions.Tests;

/// <summary>Phone-number masking and the exporter choice (pure).</summary>
public sealed class PhoneMaskTests
{
    [Theory]
    [InlineData("48601234567", "********567")]
    [InlineData("+48 601 234 567", "+** *** *** 567")]
    [InlineData("0601-234-567", "****-***-567")]
    [InlineData("1234", "*234")]
    [InlineData("101", "101")]
    [InlineData("", "")]
    [InlineData(null, null)]
    public void Mask_keeps_only_the_last_three_digits(string? number, string? masked)
        => Assert.Equal(masked, PhoneMask.Mask(number));

    [Theory]
    [InlineData("/api/contacts/48601234567", "/api/contacts/********567")]
    [InlineData("/api/calls/42", "/api/calls/42")]
    [InlineData("caller 601234567 rang 101 at 10:15", "caller ******567 rang 101 at 10:15")]
    [InlineData("no digits", "no digits")]
    public void MaskText_masks_runs_of_seven_or_more_digits(string text, string masked)
        => Assert.Equal(masked, PhoneMask.MaskText(text));

    [Theory]
    [InlineData(null, null, TelemetryExport.None)]
    [InlineData(null, "true", TelemetryExport.Console)]
    [InlineData("InstrumentationKey=00000000-0000-0000-0000-000000000000", "true", TelemetryExport.AzureMonitor)]
    [InlineData("InstrumentationKey=00000000-0000-0000-0000-000000000000", null, TelemetryExport.AzureMonitor)]
    public void Export_is_azure_monitor_with_a_connection_string_console_only_when_asked(string? cs, string? console, TelemetryExport expected)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [TelemetryServices.ConnectionStringKey] = cs,
            [TelemetryServices.ConsoleKey] = console,
        }).Build();
        Assert.Equal(expected, TelemetryServices.ExportFrom(config));
    }
}

/// <summary>The CloudTelephony meter and activity source on a real ingest (HTTP → PostgreSQL).</summary>
public sealed class IngestTelemetryTests : IAsyncLifetime
{
    private readonly FunctionsServer _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [Fact]
    public async Task A_real_ingest_emits_frames_parse_errors_calls_by_status_and_an_activity_per_pbx()
    {
        var pbx = "telemetry-" + Guid.NewGuid().ToString("N")[..8];
        var measurements = new ConcurrentBag<(string Instrument, long Value, Dictionary<string, string?> Tags)>();
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == CtTelemetry.Name)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var t = new Dictionary<string, string?>();
            foreach (var tag in tags)
            {
                t[tag.Key] = tag.Value?.ToString();
            }

            // other tests run in parallel in this process: keep only this test's PBX
            if (t.GetValueOrDefault(CtTelemetry.Tags.Pbx) == pbx)
            {
                measurements.Add((instrument.Name, value, t));
            }
        });
        meters.Start();

        var activities = new ConcurrentBag<Activity>();
        using var traces = new ActivityListener
        {
            ShouldListenTo = s => s.Name == CtTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                if (a.GetTagItem(CtTelemetry.Tags.Pbx) as string == pbx)
                {
                    activities.Add(a);
                }
            },
        };
        ActivitySource.AddActivityListener(traces);

        var batch = Capture.Ctip(pbx: pbx).Take(300).ToList();
        batch[7] = batch[7] with { Frame = "aRING 10" };
        var result = await (await _server.PostFramesAsync(batch)).Content.ReadFromJsonAsync(ApiJson.Default.IngestResult);

        Assert.NotNull(result);
        Assert.True(result.Calls > 0, "300 frames of the capture complete some calls");
        long Sum(string instrument) => measurements.Where(m => m.Instrument == instrument).Sum(m => m.Value);
        Assert.Equal(result.Stored, Sum(CtTelemetry.Instruments.IngestFrames));
        Assert.Equal(1, Sum(CtTelemetry.Instruments.IngestParseErrors));
        Assert.Equal(result.Calls, Sum(CtTelemetry.Instruments.IngestCalls));
        Assert.All(measurements, m => Assert.Equal("ctip", m.Tags[CtTelemetry.Tags.Protocol]));
        var statuses = measurements.Where(m => m.Instrument == CtTelemetry.Instruments.IngestCalls).Select(m => m.Tags[CtTelemetry.Tags.Status]).ToHashSet();
        Assert.NotEmpty(statuses);
        var known = Enum.GetNames<CloudTelephony.Telephony.CallStatus>().Select(n => n.ToLowerInvariant()).ToArray();
        Assert.All(statuses, s => Assert.Contains(s, known));

        var activity = Assert.Single(activities);
        Assert.Equal(batch[0].Session, activity.GetTagItem(CtTelemetry.Tags.Session));
        Assert.Equal(batch[0].Seq, activity.GetTagItem(CtTelemetry.Tags.FirstSeq));
        Assert.Equal(batch[^1].Seq, activity.GetTagItem(CtTelemetry.Tags.LastSeq));

        // the same batch again stores nothing and counts nothing more
        var before = measurements.Count(m => m.Instrument != CtTelemetry.Instruments.IngestBatchDuration);
        await _server.PostFramesAsync(batch);
        Assert.Equal(before, measurements.Count(m => m.Instrument != CtTelemetry.Instruments.IngestBatchDuration));
    }
}

/// <summary>Smart Redirect and SMS instruments: names and tags the alerts and the workbook query.</summary>
public sealed class AppTelemetryTests
{
    [Fact]
    public void Routing_answers_and_sms_outcomes_are_measured_with_their_tags()
    {
        var seen = new ConcurrentBag<(string Instrument, double Value, string? Tag)>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == CtTelemetry.Name && instrument.Name is CtTelemetry.Instruments.RoutingDuration
                        or CtTelemetry.Instruments.RoutingAnswers or CtTelemetry.Instruments.SmsSent or CtTelemetry.Instruments.SmsFailed)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        meters.SetMeasurementEventCallback<double>((i, v, tags, _) => seen.Add((i.Name, v, Tag(tags))));
        meters.SetMeasurementEventCallback<long>((i, v, tags, _) => seen.Add((i.Name, v, Tag(tags))));
        meters.Start();

        AppTelemetry.RoutingAnswered("routed", 4.5);
        AppTelemetry.SmsFinished(sent: true, "smsapi");
        AppTelemetry.SmsFinished(sent: false, "webhook");

        Assert.Contains((CtTelemetry.Instruments.RoutingDuration, 4.5, "routed"), seen);
        Assert.Contains((CtTelemetry.Instruments.RoutingAnswers, 1.0, "routed"), seen);
        Assert.Contains((CtTelemetry.Instruments.SmsSent, 1.0, "smsapi"), seen);
        Assert.Contains((CtTelemetry.Instruments.SmsFailed, 1.0, "webhook"), seen);
    }

    private static string? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags) => tags.Length > 0 ? tags[0].Value as string : null;
}
