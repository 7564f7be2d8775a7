using CloudTelephony.Contracts;
using CloudTelephony.Relay.Ami;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Ctip;
using CloudTelephony.Relay.Sink;
using CloudTelephony.Relay.Smdr;
using CloudTelephony.Relay.Status;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CloudTelephony.Relay.Hosting;

/// <summary>Runs one connector per configured ctip/ami PBX and one SMDR listener per SMDR port until the host stops.</summary>
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
                    log.LogInformation("relay {Relay}: PBX {Pbx} ({Protocol}) at {Host}:{Port}", o.RelayId, pbx.Id, pbx.Protocol, pbx.Host, pbx.EffectivePort);
                    var connector = new CtipConnector(pbx, sink, status, loggers.CreateLogger<CtipConnector>());
                    runs.Add(Task.Run(() => connector.RunAsync(stoppingToken), CancellationToken.None));
                    break;
                case Protocols.Ami:
                    log.LogInformation("relay {Relay}: PBX {Pbx} ({Protocol}) at {Host}:{Port}", o.RelayId, pbx.Id, pbx.Protocol, pbx.Host, pbx.EffectivePort);
                    var ami = new AmiConnector(pbx, sink, status, loggers.CreateLogger<AmiConnector>());
                    runs.Add(Task.Run(() => ami.RunAsync(stoppingToken), CancellationToken.None));
                    break;
                case Protocols.Smdr:
                    log.LogInformation(
                        "relay {Relay}: PBX {Pbx} ({Protocol}) connects to port {Port} from {Sources}",
                        o.RelayId,
                        pbx.Id,
                        pbx.Protocol,
                        RelayOptionsValidator.SmdrPort(o, pbx),
                        string.Join(", ", RelayOptionsValidator.SmdrSources(pbx)));
                    break;
                default:
                    // validation rejects these at start; kept as a guard
                    throw new InvalidOperationException($"no connector for protocol '{pbx.Protocol}'");
            }
        }

        foreach (var listener in SmdrListener.CreateAll(o, sink, status, loggers))
        {
            // a port that cannot be bound is logged as an error and retried; the other PBXes go on
            runs.Add(Task.Run(() => listener.RunAsync(stoppingToken), CancellationToken.None));
        }

        return Task.WhenAll(runs);
    }
}
