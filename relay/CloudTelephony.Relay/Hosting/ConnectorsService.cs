using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Ctip;
using CloudTelephony.Relay.Sink;
using CloudTelephony.Relay.Status;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CloudTelephony.Relay.Hosting;

/// <summary>Runs one connector per configured PBX until the host stops.</summary>
public sealed class ConnectorsService(
    IOptions<RelayOptions> options,
    IFrameSink sink,
    RelayStatus status,
    ILoggerFactory loggers) : BackgroundService
{
    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var log = loggers.CreateLogger<ConnectorsService>();
        var o = options.Value;
        var runs = new List<Task>();
        foreach (var pbx in o.Pbxes)
        {
            switch (pbx.Protocol)
            {
                case Protocols.Ctip:
                    log.LogInformation("relay {Relay}: PBX {Pbx} ({Protocol}) at {Host}:{Port}", o.RelayId, pbx.Id, pbx.Protocol, pbx.Host, pbx.Port);
                    var connector = new CtipConnector(pbx, sink, status, loggers.CreateLogger<CtipConnector>());
                    runs.Add(Task.Run(() => connector.RunAsync(stoppingToken), CancellationToken.None));
                    break;
                default:
                    // validation rejects these at start; kept as a guard
                    throw new InvalidOperationException($"no connector for protocol '{pbx.Protocol}'");
            }
        }

        return Task.WhenAll(runs);
    }
}
