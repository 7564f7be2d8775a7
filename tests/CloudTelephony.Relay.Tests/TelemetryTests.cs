using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Status;
using CloudTelephony.Relay.Telemetry;
using CloudTelephony.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CloudTelephony.Relay.Tests;

/// <summary>The relay's instruments on the CloudTelephony meter.</summary>
public sealed class TelemetryTests
{
    [Fact]
    public void The_heartbeat_gauge_reports_every_configured_pbx_with_its_state_and_the_counters_count_frames()
    {
        var connected = "gauge-" + Guid.NewGuid().ToString("N")[..8];
        var idle = connected + "-idle";
        var seen = new ConcurrentBag<(string Instrument, long Value, Dictionary<string, string?> Tags)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == CtTelemetry.Name)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        void Record(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var t = new Dictionary<string, string?>();
            foreach (var tag in tags)
            {
                t[tag.Key] = tag.Value?.ToString();
            }

            if (t.GetValueOrDefault(CtTelemetry.Tags.Pbx) is { } pbx && pbx.StartsWith(connected, StringComparison.Ordinal))
            {
                seen.Add((instrument.Name, value, t));
            }
        }

        listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        listener.Start();

        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var status = new RelayStatus();
        status.SetState(connected, PbxConnectionState.Connected, "s1");
        var options = Options.Create(new RelayOptions
        {
            Pbxes = [new PbxOptions { Id = connected, Protocol = Protocols.Ctip }, new PbxOptions { Id = idle, Protocol = Protocols.Ctip }],
        });
        _ = new RelayConnectionGauge(services.GetRequiredService<IMeterFactory>(), status, options);

        var envelope = new Envelope(connected, Protocols.Ctip, "s1", 1, DateTimeOffset.UtcNow, "aRING 10");
        RelayTelemetry.FramesReceived([envelope]);
        RelayTelemetry.FramesReceived([envelope with { Seq = 2 }, envelope with { Seq = 3 }]);
        RelayTelemetry.BatchForwarded([envelope, envelope with { Seq = 2 }]);
        listener.RecordObservableInstruments();

        var gauge = seen.Where(m => m.Instrument == CtTelemetry.Instruments.RelayPbxConnected).ToDictionary(m => m.Tags[CtTelemetry.Tags.Pbx]!);
        Assert.Equal(1, gauge[connected].Value);
        Assert.Equal("connected", gauge[connected].Tags[CtTelemetry.Tags.State]);
        Assert.Equal(0, gauge[idle].Value);
        Assert.Equal("idle", gauge[idle].Tags[CtTelemetry.Tags.State]);
        Assert.Equal(3, seen.Where(m => m.Instrument == CtTelemetry.Instruments.RelayFramesReceived).Sum(m => m.Value));
        Assert.Equal(2, seen.Where(m => m.Instrument == CtTelemetry.Instruments.RelayFramesForwarded).Sum(m => m.Value));
        Assert.All(seen, m => Assert.Equal(Protocols.Ctip, m.Tags[CtTelemetry.Tags.Protocol]));
    }

    [Fact]
    public void The_outbox_gauges_report_depth_and_the_oldest_frames_age()
    {
        var seen = new ConcurrentDictionary<string, double>();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                // only this test's meter (from its own factory), so parallel tests cannot interfere
                if (instrument.Meter.Scope == factory && instrument.Name is CtTelemetry.Instruments.RelayOutboxDepth or CtTelemetry.Instruments.RelayOutboxOldestAge)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((i, v, _, _) => seen[i.Name] = v);
        listener.SetMeasurementEventCallback<double>((i, v, _, _) => seen[i.Name] = v);
        listener.Start();
        var status = new RelayStatus();
        status.SetOutbox(new OutboxStatus(Depth: 42, Capacity: 1000, AtCap: false, OldestPendingAt: DateTimeOffset.UtcNow.AddSeconds(-30), Forwarded: 7));

        _ = new RelayConnectionGauge(factory, status, Options.Create(new RelayOptions()));
        listener.RecordObservableInstruments();

        Assert.Equal(42, seen[CtTelemetry.Instruments.RelayOutboxDepth]);
        Assert.InRange(seen[CtTelemetry.Instruments.RelayOutboxOldestAge], 29, 120);
    }
}
