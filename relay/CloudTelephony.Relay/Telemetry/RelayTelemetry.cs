using System.Diagnostics;
using System.Diagnostics.Metrics;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Status;
using CloudTelephony.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace CloudTelephony.Relay.Telemetry;

/// <summary>
/// The relay's counters (frames received from a PBX, frames forwarded and acknowledged) on
/// <see cref="CtTelemetry.Meter"/>, and the activity of one forwarded batch (tags pbx, protocol, session, first/last
/// seq; the HTTP call below it carries the trace context to the functions app).
/// </summary>
public static class RelayTelemetry
{
    private static readonly Counter<long> Received = CtTelemetry.Meter.CreateCounter<long>(
        CtTelemetry.Instruments.RelayFramesReceived, "{frame}", "Frames read from a PBX and buffered");

    private static readonly Counter<long> Forwarded = CtTelemetry.Meter.CreateCounter<long>(
        CtTelemetry.Instruments.RelayFramesForwarded, "{frame}", "Frames delivered and acknowledged by the receiver");

    /// <summary>Counts frames read from one PBX session (every envelope of <paramref name="frames"/> has the same PBX and protocol).</summary>
    public static void FramesReceived(IReadOnlyList<Envelope> frames)
    {
        if (frames.Count > 0)
        {
            Received.Add(frames.Count, new(CtTelemetry.Tags.Pbx, frames[0].Pbx), new(CtTelemetry.Tags.Protocol, frames[0].Protocol));
        }
    }

    /// <summary>Counts a delivered batch, per PBX and protocol.</summary>
    public static void BatchForwarded(IReadOnlyList<Envelope> batch)
    {
        foreach (var g in batch.GroupBy(e => (e.Pbx, e.Protocol)))
        {
            Forwarded.Add(g.Count(), new(CtTelemetry.Tags.Pbx, g.Key.Pbx), new(CtTelemetry.Tags.Protocol, g.Key.Protocol));
        }
    }

    /// <summary>Starts the activity of forwarding <paramref name="batch"/> (null when nobody listens).</summary>
    public static Activity? StartForward(IReadOnlyList<Envelope> batch)
    {
        var activity = CtTelemetry.Source.StartActivity("forward", ActivityKind.Producer);
        if (activity is not null && batch.Count > 0)
        {
            activity.SetTag(CtTelemetry.Tags.Pbx, batch[0].Pbx);
            activity.SetTag(CtTelemetry.Tags.Protocol, batch[0].Protocol);
            activity.SetTag(CtTelemetry.Tags.Session, batch[0].Session);
            activity.SetTag(CtTelemetry.Tags.FirstSeq, batch[0].Seq);
            activity.SetTag(CtTelemetry.Tags.LastSeq, batch[^1].Seq);
            activity.SetTag("frames", batch.Count);
        }

        return activity;
    }
}

/// <summary>
/// The heartbeat gauge <c>ct.relay.pbx.connected</c>: per configured PBX, 1 while logged in, else 0, tagged with the
/// connection state; and the outbox gauges <c>ct.relay.outbox.depth</c> and <c>ct.relay.outbox.oldest_age</c>. Observed at every export, so silence in Application Insights means the relay itself is gone
/// (alert "relay-heartbeat-missing"). Lives on a meter from <see cref="IMeterFactory"/> so it ends with its host.
/// </summary>
public sealed class RelayConnectionGauge : IHostedService
{
    /// <summary>Creates the gauge over <paramref name="status"/>.</summary>
    public RelayConnectionGauge(IMeterFactory meters, RelayStatus status, IOptions<RelayOptions> options)
    {
        var pbxes = options.Value.Pbxes.Where(p => !string.IsNullOrEmpty(p.Id)).Select(p => (Id: p.Id!, Protocol: p.Protocol ?? "")).ToArray();
        meters.Create(CtTelemetry.Name).CreateObservableGauge(
            CtTelemetry.Instruments.RelayPbxConnected,
            () => pbxes.Select(p =>
            {
                var state = status.Get(p.Id)?.State ?? PbxConnectionState.Idle;
                return new Measurement<int>(
                    state == PbxConnectionState.Connected ? 1 : 0,
                    new(CtTelemetry.Tags.Pbx, p.Id),
                    new(CtTelemetry.Tags.Protocol, p.Protocol),
                    new(CtTelemetry.Tags.State, state.ToString().ToLowerInvariant()));
            }),
            "{connection}",
            "1 while the relay is logged in to the PBX, else 0");
        var meter = meters.Create(CtTelemetry.Name);
        meter.CreateObservableGauge(
            CtTelemetry.Instruments.RelayOutboxDepth, () => status.Outbox.Depth, "{frame}", "Frames waiting in the outbox");
        meter.CreateObservableGauge(
            CtTelemetry.Instruments.RelayOutboxOldestAge,
            () => status.Outbox.OldestPendingAt is { } oldest ? Math.Max(0, (DateTimeOffset.UtcNow - oldest).TotalSeconds) : 0,
            "s",
            "Age of the oldest frame waiting in the outbox");
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
