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
}

/// <summary>Batching and retry pacing of the forwarder, and the HTTP target of the HTTP transport (<c>Relay:Forwarder</c>).</summary>
public sealed class ForwarderOptions
{
    /// <summary>Base URL of the functions app; frames are POSTed to <c>{Url}/api/frames</c>. Default <c>http://127.0.0.1:7071</c>.</summary>
    public string? Url { get; set; } = "http://127.0.0.1:7071";

    /// <summary>Most envelopes in one batch: one POST, or one run of AMQP transfers (default 500).</summary>
    public int BatchSize { get; set; } = 500;

    /// <summary>
    /// How long a batch waits for more frames after the first one arrived, in milliseconds (default 50). HTTP: every
    /// batch waits so long (one POST at a time). Service Bus: only a batch read while others are in flight waits, and it
    /// goes early when it is full or when every batch in flight has settled, so frames arriving at an idle forwarder go
    /// out at once and the wait never adds more than the time the batches ahead of it need to be accepted.
    /// </summary>
    public int LingerMilliseconds { get; set; } = 50;

    /// <summary>
    /// Service Bus transport: most batches sent and not yet accepted by the broker at once (default 4, at least 1; 1 =
    /// stop-and-wait). Each PBX's part of a batch is sent after its part of the batch before was accepted, and batches
    /// are acknowledged in outbox order, so each PBX's order is kept. The HTTP transport ignores it and posts one batch at a time: parallel POSTs could be stored out of order.
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

    /// <summary>HTTP transport: a function key of the functions app, sent as header <c>x-functions-key</c> (the host answers 401 to <c>authLevel: function</c> without it). A secret: never logged.</summary>
    public string? ApiKey { get; set; }

    /// <summary>HTTP transport: a relay-scope token of the functions app, sent as <c>Authorization: Bearer &lt;token&gt;</c>. A secret: never logged.</summary>
    public string? Token { get; set; }
}

/// <summary>One PBX connection (<c>Relay:Pbxes:N</c>).</summary>
public sealed class PbxOptions
{
    /// <summary>PBX id, forwarded as <see cref="Envelope.Pbx"/> (e.g. <c>office-slican</c>).</summary>
    public string? Id { get; set; }

    /// <summary>Protocol: <c>ctip</c> (Slican), <c>ami</c> (Asterisk) or <c>smdr</c> (Avaya IP Office, the PBX connects to us).</summary>
    public string Protocol { get; set; } = Protocols.Ctip;

    /// <summary>PBX host name or address (ctip, ami). Not used by smdr, where the PBX connects to the relay.</summary>
    public string? Host { get; set; }

    /// <summary>
    /// PBX TCP port: ctip default 5524, ami default 5038. For smdr the local port to listen on; when unset the shared
    /// <c>Relay:Smdr:Port</c> (default 9000).
    /// </summary>
    public int? Port { get; set; }

    /// <summary><see cref="Port"/>, or the protocol's default port (ctip 5524, ami 5038, smdr 9000).</summary>
    public int EffectivePort => Port ?? DefaultPort(Protocol);

    /// <summary>The well-known port of <paramref name="protocol"/>: ctip 5524, ami 5038, smdr 9000.</summary>
    public static int DefaultPort(string? protocol) => protocol switch
    {
        Protocols.Ami => 5038,
        Protocols.Smdr => 9000,
        _ => 5524,
    };

    /// <summary>AMI login user name (<c>manager.conf</c> section).</summary>
    public string? Username { get; set; }

    /// <summary>AMI login secret. A secret: never logged, never echoed in errors.</summary>
    public string? Secret { get; set; }

    /// <summary>AMI event mask sent with <c>Action: Events</c> (default <c>call,cdr,dialplan,agent</c>).</summary>
    public string EventMask { get; set; } = "call,cdr,dialplan,agent";

    /// <summary>AMI: a <c>Ping</c> action is sent this often, in seconds (default 20).</summary>
    public double PingIntervalSeconds { get; set; } = 20;

    /// <summary>AMI: how long a Ping may go unanswered before the link is declared dead and reconnected, in seconds (default 10).</summary>
    public double PingTimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// SMDR: source IP addresses this PBX connects from (<c>Relay:Pbxes:N:AllowedSources:0</c> ...). Connections from any
    /// other address are refused and logged. When empty and <see cref="Host"/> is an IP address, that address is used.
    /// </summary>
    public List<string> AllowedSources { get; set; } = [];

    /// <summary>CTIP LOGA key (tariff/billing key, <c>____</c> when none). A secret: never logged.</summary>
    public string Pin { get; set; } = "____";

    /// <summary>TCP connect timeout, in seconds (default 10).</summary>
    public double ConnectTimeoutSeconds { get; set; } = 10;

    /// <summary>How long to wait for the answer to WHO and LOGA (CTIP) or for the banner and the Login response (AMI), in seconds (default 5).</summary>
    public double LoginTimeoutSeconds { get; set; } = 5;

    /// <summary>After this many seconds without any data the connector sends <c>aWHO</c> as a probe (default 60).</summary>
    public double IdleProbeSeconds { get; set; } = 60;

    /// <summary>How long the probe may go unanswered before the link is declared dead and reconnected, in seconds (default 5).</summary>
    public double ProbeTimeoutSeconds { get; set; } = 5;

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
