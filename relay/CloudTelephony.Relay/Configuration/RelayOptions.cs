using CloudTelephony.Contracts;
using CloudTelephony.Relay.Outbox;
using CloudTelephony.ServiceBus;

namespace CloudTelephony.Relay.Configuration;

/// <summary>
/// The relay's configuration, bound from the <c>Relay</c> section (appsettings.json, then environment variables such as
/// <c>Relay__Pbxes__0__Pin</c>, then <c>--Relay:Key=value</c> command-line overrides).
/// </summary>
public sealed class RelayOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Relay";

    /// <summary>Name of this relay in heartbeats and logs (<c>Relay:RelayId</c>); defaults to the machine name.</summary>
    public string RelayId { get; set; } = Environment.MachineName;

    /// <summary>Transport value: frames go to Azure Service Bus (or another AMQP 1.0 broker) over AMQP.</summary>
    public const string ServiceBusTransport = "ServiceBus";

    /// <summary>Transport value: frames are POSTed to the functions app's <c>/api/frames</c>.</summary>
    public const string HttpTransport = "Http";

    /// <summary>
    /// How frames leave the relay (<c>Relay:Transport</c>): <c>Http</c> (default, single box: POST to the functions app)
    /// or <c>ServiceBus</c> (AMQP 1.0 to the <c>Relay:ServiceBus</c> queue). Both drain the same outbox.
    /// </summary>
    public string Transport { get; set; } = HttpTransport;

    /// <summary>Service Bus namespace, queue and credentials (<c>Relay:ServiceBus</c>), used when <see cref="Transport"/> is <c>ServiceBus</c>.</summary>
    public ServiceBusOptions ServiceBus { get; set; } = new();

    /// <summary>Batching and retry pacing of the forwarder, and the HTTP target (<c>Relay:Forwarder</c>).</summary>
    public ForwarderOptions Forwarder { get; set; } = new();

    /// <summary>Seconds between two heartbeats sent through the transport (<c>Relay:HeartbeatSeconds</c>, default 60; 0 = off).</summary>
    public double HeartbeatSeconds { get; set; } = 60;

    /// <summary>The durable outbox between connectors and forwarder (<c>Relay:Outbox</c>).</summary>
    public OutboxOptions Outbox { get; set; } = new();

    /// <summary>The PBXes this relay connects to (<c>Relay:Pbxes:0</c>, <c>Relay:Pbxes:1</c> ...); at least one.</summary>
    public List<PbxOptions> Pbxes { get; set; } = [];

    /// <summary>The SMDR listener shared by every <c>smdr</c> PBX (<c>Relay:Smdr</c>).</summary>
    public SmdrListenerOptions Smdr { get; set; } = new();

    /// <summary>Settings for <c>./ct run</c>'s demo only (<c>Relay:Demo</c>); never set them for a real PBX.</summary>
    public DemoOptions Demo { get; set; } = new();
}

/// <summary>Demo-only settings (<c>Relay:Demo</c>): <c>./ct run</c> sets them for its PBX simulator; a real PBX never needs them.</summary>
public sealed class DemoOptions
{
    /// <summary>
    /// CTIP carries no time stamps, so the relay stamps frames with their receive time; a replay at 60× speed would then
    /// show ring and talk times 60× too short. With this on (default false) the relay stamps each CTIP frame with the
    /// capture time the PBX simulator announces before it (<c>relay simulate --announce-capture-times</c>), so the demo
    /// shows the capture's real times. AMI (<c>Timestamp</c> header) and SMDR (record times) carry their own times
    /// already. A warning is logged at start while it is on.
    /// </summary>
    public bool HonourCaptureTimes { get; set; }
}

/// <summary>
/// The SMDR listener (<c>Relay:Smdr</c>): Avaya IP Office is the TCP client and pushes its records to this port. Every
/// <c>smdr</c> PBX without its own <c>Port</c> shares it; connections are mapped to PBXes by source address.
/// </summary>
public sealed class SmdrListenerOptions
{
    /// <summary>Local address to listen on (default <c>0.0.0.0</c>, every IPv4 interface).</summary>
    public string Address { get; set; } = "0.0.0.0";

    /// <summary>TCP port to listen on (default 9000, as in the existing collectors); 0 picks a free port (tests).</summary>
    public int Port { get; set; } = 9000;

    /// <summary>A record line longer than this many bytes is logged and forwarded with a marker (default 4096).</summary>
    public int MaxLineBytes { get; set; } = 4096;

    /// <summary>
    /// Hard cap of bytes without a line end (default 65536): that much is forwarded as one marked frame and the rest of
    /// the line continues in the next one, so a peer that never sends a line end cannot exhaust memory.
    /// </summary>
    public int MaxBufferedBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// A connection that sent nothing for this many seconds is closed (default 3600). IP Office connects again when it
    /// has the next record, so an idle office loses nothing; a peer that opens connections and sends nothing holds a
    /// socket at most this long.
    /// </summary>
    public double IdleTimeoutSeconds { get; set; } = 3600;

    /// <summary>Most connections open at once from one allowed source address (default 4); more are refused (RST) and logged.</summary>
    public int MaxConnectionsPerSource { get; set; } = 4;

    /// <summary>Refused connections are logged at most once per source and reason per this many seconds, with the number refused in between (default 60).</summary>
    public double RefusedLogIntervalSeconds { get; set; } = 60;
}

/// <summary>Batching and retry pacing of the forwarder, and the HTTP target of the HTTP transport (<c>Relay:Forwarder</c>).</summary>
public sealed class ForwarderOptions
{
    /// <summary>Base URL of the functions app; frames are POSTed to <c>{Url}/api/frames</c>. Default <c>http://127.0.0.1:7071</c>.</summary>
    public string? Url { get; set; } = "http://127.0.0.1:7071";

    /// <summary>Most envelopes in one batch: one POST, or one run of AMQP transfers (default 500).</summary>
    public int BatchSize { get; set; } = 500;

    /// <summary>
    /// Most bytes of envelope JSON in one HTTP batch (default 4 MiB, well below Kestrel's 30 MB request limit and the
    /// functions app's own): a batch ends at <see cref="BatchSize"/> envelopes or at this size, whichever comes first.
    /// </summary>
    public long MaxBatchBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// How long a batch waits for more frames after the first one arrived, in milliseconds (default 50). HTTP: every
    /// batch waits so long (one POST at a time). Service Bus: only a batch read while others are in flight waits, and it
    /// goes early when it is full or when every batch in flight has settled, so frames arriving at an idle forwarder go
    /// out at once and the wait never adds more than the time the batches ahead of it need to be accepted.
    /// </summary>
    public int LingerMilliseconds { get; set; } = 50;

    /// <summary>
    /// Service Bus transport: most batches sent and not yet accepted by the broker at once (default 4, at least 1; 1 =
    /// stop-and-wait). Batches are sent on one link in outbox order and acknowledged in that order, so each PBX's order
    /// is kept. The HTTP transport ignores it and posts one batch at a time: parallel POSTs could be stored out of order.
    /// </summary>
    public int MaxBatchesInFlight { get; set; } = 4;

    /// <summary>Timeout of one POST attempt, in seconds (default 30).</summary>
    public double TimeoutSeconds { get; set; } = 30;

    /// <summary>First delay of the per-request retry (5xx, 408, 429, connection errors), in seconds (default 1).</summary>
    public double RetryDelaySeconds { get; set; } = 1;

    /// <summary>Retries of one POST before the batch is put back and tried again later (default 4).</summary>
    public int RetryAttempts { get; set; } = 4;

    /// <summary>Longest wait between two tries of a batch that keeps failing, in seconds (default 60).</summary>
    public double MaxRetryDelaySeconds { get; set; } = 60;

    /// <summary>Wait before re-sending a batch the server rejected with a 4xx (our bug; never dropped), in seconds (default 60).</summary>
    public double RejectedRetryDelaySeconds { get; set; } = 60;

    /// <summary>How often progress (<c>forwarded N frames ...</c>) is logged, in seconds (default 5).</summary>
    public double ProgressIntervalSeconds { get; set; } = 5;
}

/// <summary>
/// One PBX connection (<c>Relay:Pbxes:N</c>): the settings every protocol shares (id, protocol, address, timings) and
/// one section per protocol (<c>Relay:Pbxes:N:Ctip</c>, <c>:Ami</c>, <c>:Smdr</c>) owned by that protocol's
/// <see cref="Hosting.IPbxConnectorFactory"/>, which also validates it. Only the section of <see cref="Protocol"/> is used.
/// </summary>
public sealed class PbxOptions
{
    /// <summary>PBX id, forwarded as <see cref="Envelope.Pbx"/> (e.g. <c>office-slican</c>).</summary>
    public string? Id { get; set; }

    /// <summary>Protocol: the name of a registered connector factory (<see cref="Hosting.PbxConnectorFactories"/>): <c>ctip</c> (Slican), <c>ami</c> (Asterisk) or <c>smdr</c> (Avaya IP Office, the PBX connects to us).</summary>
    public string Protocol { get; set; } = Protocols.Ctip;

    /// <summary>PBX host name or address (ctip, ami). Not used by smdr, where the PBX connects to the relay.</summary>
    public string? Host { get; set; }

    /// <summary>
    /// PBX TCP port; when unset the protocol's default (ctip 5524, ami 5038). For smdr the local port to listen on;
    /// when unset the shared <c>Relay:Smdr:Port</c> (default 9000).
    /// </summary>
    public int? Port { get; set; }

    /// <summary><see cref="Port"/>, or the default port of the protocol's factory (ctip 5524, ami 5038, smdr 9000).</summary>
    public int EffectivePort => Port ?? Hosting.PbxConnectorFactories.Find(Protocol)?.DefaultPort ?? 0;

    /// <summary>Slican CTIP settings (<c>Relay:Pbxes:N:Ctip</c>): LOGA key and the idle probe.</summary>
    public Ctip.CtipOptions Ctip { get; set; } = new();

    /// <summary>Asterisk AMI settings (<c>Relay:Pbxes:N:Ami</c>): manager user, secret, event mask, ping.</summary>
    public Ami.AmiOptions Ami { get; set; } = new();

    /// <summary>Avaya IP Office SMDR settings (<c>Relay:Pbxes:N:Smdr</c>): the source addresses the PBX connects from.</summary>
    public Smdr.SmdrPbxOptions Smdr { get; set; } = new();

    /// <summary>
    /// Cap of one frame, in bytes (default 65536; ctip: a line, ami: a message up to its empty line). A longer one is
    /// forwarded cut at the cap and flagged (envelope <c>Problem</c>, marker <c>[relay: ...]</c>), the rest of it up to its
    /// end is dropped and counted in the log: one PBX's garbage costs at most this much memory and never breaks its
    /// connection. SMDR has its own limits (<c>Relay:Smdr:MaxLineBytes</c>, <c>MaxBufferedBytes</c>).
    /// </summary>
    public int MaxFrameBytes { get; set; } = 64 * 1024;

    /// <summary>TCP connect timeout, in seconds (default 10; ctip, ami).</summary>
    public double ConnectTimeoutSeconds { get; set; } = 10;

    /// <summary>How long to wait for the answer to WHO and LOGA (CTIP) or for the banner and the Login response (AMI), in seconds (default 5).</summary>
    public double LoginTimeoutSeconds { get; set; } = 5;

    /// <summary>First reconnect delay after a failed connection, in seconds (default 1; exponential with jitter).</summary>
    public double ReconnectDelaySeconds { get; set; } = 1;

    /// <summary>Cap of the reconnect delay, in seconds (default 60).</summary>
    public double ReconnectMaxDelaySeconds { get; set; } = 60;

    /// <summary>First delay after the PBX refused the login (NA, NAK, no answer), in seconds (default 30; doubles per refusal, plus up to 10 % jitter, never shorter).</summary>
    public double RefusedDelaySeconds { get; set; } = 30;

    /// <summary>Cap of the delay after refused logins, in seconds (default 600).</summary>
    public double RefusedMaxDelaySeconds { get; set; } = 600;

    /// <summary>
    /// A logged-in session that lasted at least this long, in seconds, resets the reconnect backoff (default 30); a
    /// shorter one counts as a failure so a PBX that drops right after login is not hammered.
    /// </summary>
    public double StableSessionSeconds { get; set; } = 30;
}
