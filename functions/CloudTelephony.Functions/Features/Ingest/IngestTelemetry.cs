using System.Diagnostics;
using System.Diagnostics.Metrics;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Telemetry;
using CloudTelephony.Telephony;

namespace CloudTelephony.Functions.Ingest;

/// <summary>
/// Ingest's instruments on <see cref="CtTelemetry.Meter"/> (names in <see cref="CtTelemetry.Instruments"/>) and its
/// trace: one activity per PBX stream of a batch, tagged with pbx, protocol, session and the first/last seq, so a
/// frame can be followed from the relay (same envelope fields) to the database. Counts are recorded only after the
/// transaction committed, so they say what was stored, not what was attempted.
/// </summary>
internal static class IngestTelemetry
{
    private static readonly Counter<long> Frames = CtTelemetry.Meter.CreateCounter<long>(
        CtTelemetry.Instruments.IngestFrames, "{frame}", "Frames stored for the first time");

    private static readonly Counter<long> ParseErrors = CtTelemetry.Meter.CreateCounter<long>(
        CtTelemetry.Instruments.IngestParseErrors, "{frame}", "Frames stored with a parse error");

    private static readonly Counter<long> Calls = CtTelemetry.Meter.CreateCounter<long>(
        CtTelemetry.Instruments.IngestCalls, "{call}", "Completed calls stored, by status");

    private static readonly Histogram<double> BatchDuration = CtTelemetry.Meter.CreateHistogram<double>(
        CtTelemetry.Instruments.IngestBatchDuration, "ms", "Time to ingest one batch in one transaction");

    /// <summary>Starts the activity of one PBX's part of a batch (null when nobody listens).</summary>
    public static Activity? StartPbx(string pbx, string protocol, List<Envelope> frames)
    {
        var activity = CtTelemetry.Source.StartActivity("ingest " + protocol);
        if (activity is not null)
        {
            activity.SetTag(CtTelemetry.Tags.Pbx, pbx);
            activity.SetTag(CtTelemetry.Tags.Protocol, protocol);
            activity.SetTag(CtTelemetry.Tags.Session, frames[0].Session);
            activity.SetTag(CtTelemetry.Tags.FirstSeq, frames[0].Seq);
            activity.SetTag(CtTelemetry.Tags.LastSeq, frames[^1].Seq);
            activity.SetTag("frames", frames.Count);
            var sessions = frames.Select(f => f.Session).Distinct(StringComparer.Ordinal).Count();
            if (sessions > 1)
            {
                activity.SetTag("sessions", sessions); // seq.first/seq.last then span sessions: first and last envelope
            }
        }

        return activity;
    }

    /// <summary>What one PBX's part of a committed batch stored.</summary>
    public readonly record struct PbxCounts(string Pbx, string Protocol, int Stored, int ParseErrors, IReadOnlyList<Call> Calls);

    /// <summary>Records the counts of a committed batch.</summary>
    public static void Committed(IEnumerable<PbxCounts> parts, double milliseconds)
    {
        foreach (var p in parts)
        {
            var pbx = new KeyValuePair<string, object?>(CtTelemetry.Tags.Pbx, p.Pbx);
            var protocol = new KeyValuePair<string, object?>(CtTelemetry.Tags.Protocol, p.Protocol);
            if (p.Stored > 0)
            {
                Frames.Add(p.Stored, pbx, protocol);
            }

            if (p.ParseErrors > 0)
            {
                ParseErrors.Add(p.ParseErrors, pbx, protocol);
            }

            foreach (var byStatus in p.Calls.GroupBy(c => c.Status))
            {
                Calls.Add(byStatus.Count(), pbx, protocol, new(CtTelemetry.Tags.Status, StatusName(byStatus.Key)));
            }
        }

        BatchDuration.Record(milliseconds);
    }

    private static string StatusName(CallStatus status) => status.ToString().ToLowerInvariant();
}
