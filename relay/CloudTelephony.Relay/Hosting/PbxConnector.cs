using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Sink;
using CloudTelephony.Relay.Status;
using Microsoft.Extensions.Logging;

namespace CloudTelephony.Relay.Hosting;

/// <summary>
/// What the outbound connectors (CTIP, AMI) share: the PBX's options and id, the sink their frames go to, the status
/// board, the logger and the clock, and <see cref="RunAsync"/>, which runs one session after another through
/// <see cref="ReconnectLoop"/> until cancelled. A subclass implements one session: connect, log in, stream.
/// </summary>
public abstract class PbxConnector
{
    private readonly string _protocolName;

    /// <summary>Creates the connector; <paramref name="protocolName"/> (e.g. <c>CTIP</c>) prefixes the reconnect log lines.</summary>
    /// <exception cref="ArgumentException">The PBX has no Id.</exception>
    protected PbxConnector(string protocolName, PbxOptions options, IFrameSink sink, RelayStatus status, ILogger logger, TimeProvider? time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _protocolName = protocolName;
        Options = options;
        Pbx = options.Id ?? throw new ArgumentException("PBX id is required", nameof(options));
        Sink = sink;
        Status = status;
        Logger = logger;
        Time = time ?? TimeProvider.System;
    }

    /// <summary>The PBX's configuration (host, port, credentials, timings).</summary>
    protected PbxOptions Options { get; }

    /// <summary>The PBX id, the envelopes' <c>pbx</c>.</summary>
    protected string Pbx { get; }

    /// <summary>Where the frames go (the outbox).</summary>
    protected IFrameSink Sink { get; }

    /// <summary>The status board (connection state, frames received).</summary>
    protected RelayStatus Status { get; }

    /// <summary>The connector's logger.</summary>
    protected ILogger Logger { get; }

    /// <summary>The clock (timeouts, time stamps, session ids).</summary>
    protected TimeProvider Time { get; }

    /// <summary>Connects and keeps reconnecting until <paramref name="cancellationToken"/> is cancelled (see <see cref="ReconnectLoop"/>).</summary>
    public Task RunAsync(CancellationToken cancellationToken)
        => ReconnectLoop.RunAsync(_protocolName, Options, Status, Logger, Time, RunSessionAsync, cancellationToken);

    /// <summary>One session: connect, log in and stream until the connection ends (throws to make the loop reconnect).</summary>
    protected abstract ValueTask RunSessionAsync(CancellationToken ct);
}
