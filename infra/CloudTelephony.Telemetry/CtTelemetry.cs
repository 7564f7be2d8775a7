using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace CloudTelephony.Telemetry;

/// <summary>
/// The one <see cref="Meter"/> and <see cref="ActivitySource"/> of CloudTelephony (name <c>CloudTelephony</c>), the
/// instrument names (they are what the alerts and the workbook in <c>bicep/</c> query) and the tag names.
/// Tags never carry secrets or full phone numbers (see <see cref="PhoneMask"/>).
/// </summary>
public static class CtTelemetry
{
    /// <summary>Meter and activity source name.</summary>
    public const string Name = "CloudTelephony";

    /// <summary>Metrics of every CloudTelephony program.</summary>
    public static readonly Meter Meter = new(Name);

    /// <summary>Traces of every CloudTelephony program (ingest batches, forwarding).</summary>
    public static readonly ActivitySource Source = new(Name);

    /// <summary>Instrument names.</summary>
    public static class Instruments
    {
        /// <summary>Counter: frames the relay read from a PBX (tags pbx, protocol).</summary>
        public const string RelayFramesReceived = "ct.relay.frames.received";

        /// <summary>Counter: frames the relay delivered and had acknowledged (tags pbx, protocol).</summary>
        public const string RelayFramesForwarded = "ct.relay.frames.forwarded";

        /// <summary>Observable gauge: 1 while the relay is logged in to the PBX, else 0 (tags pbx, protocol, state). The heartbeat alert watches it.</summary>
        public const string RelayPbxConnected = "ct.relay.pbx.connected";

        /// <summary>Counter: frames ingested and stored for the first time (tags pbx, protocol).</summary>
        public const string IngestFrames = "ct.ingest.frames";

        /// <summary>Counter: frames stored with a parse error (tags pbx, protocol).</summary>
        public const string IngestParseErrors = "ct.ingest.parse_errors";

        /// <summary>Counter: completed calls stored (tags pbx, protocol, status).</summary>
        public const string IngestCalls = "ct.ingest.calls";

        /// <summary>Histogram: time to ingest one batch, ms.</summary>
        public const string IngestBatchDuration = "ct.ingest.batch.duration";

        /// <summary>Observable gauge: frames waiting in the relay's outbox.</summary>
        public const string RelayOutboxDepth = "ct.relay.outbox.depth";

        /// <summary>Observable gauge: age of the oldest frame waiting in the relay's outbox, seconds (0 when empty).</summary>
        public const string RelayOutboxOldestAge = "ct.relay.outbox.oldest_age";

        /// <summary>Histogram: Smart Redirect answer time in the app, ms (tag outcome).</summary>
        public const string RoutingDuration = "ct.routing.duration";

        /// <summary>Counter: Smart Redirect answers by outcome (routed, name, unknown, off, timeout, error).</summary>
        public const string RoutingAnswers = "ct.routing.answers";

        /// <summary>Counter: SMS the provider accepted (tag provider).</summary>
        public const string SmsSent = "ct.sms.sent";

        /// <summary>Counter: SMS that ended in ERROR (tag provider).</summary>
        public const string SmsFailed = "ct.sms.failed";
    }

    /// <summary>Tag names.</summary>
    public static class Tags
    {
        /// <summary>Smart Redirect outcome.</summary>
        public const string Outcome = "outcome";

        /// <summary>SMS provider name.</summary>
        public const string Provider = "provider";

        /// <summary>PBX id.</summary>
        public const string Pbx = "pbx";

        /// <summary>Protocol (ctip, ami, smdr).</summary>
        public const string Protocol = "protocol";

        /// <summary>Call status (answered, missed, busy, failed).</summary>
        public const string Status = "status";

        /// <summary>Relay session id (one per TCP connection).</summary>
        public const string Session = "session";

        /// <summary>First seq of a batch (per session).</summary>
        public const string FirstSeq = "seq.first";

        /// <summary>Last seq of a batch (per session).</summary>
        public const string LastSeq = "seq.last";

        /// <summary>Connection state name.</summary>
        public const string State = "state";
    }
}
