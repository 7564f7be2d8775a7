using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Sink;
using CloudTelephony.Relay.Status;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CloudTelephony.Relay.Hosting;

/// <summary>
/// Runs what every registered protocol (<see cref="PbxConnectorFactories"/>) creates for its configured PBXes (a
/// connector per CTIP/AMI PBX, a listener per SMDR port) until the host stops; logs each PBX and every deprecated
/// configuration key once at start.
/// </summary>
public sealed class ConnectorsService(
    IOptions<RelayOptions> options,
    IFrameSink sink,
    RelayStatus status,
    ILoggerFactory loggers,
    IConfiguration? configuration = null,
    TimeProvider? time = null) : BackgroundService
{
    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var log = loggers.CreateLogger<ConnectorsService>();
        var o = options.Value;
        if (configuration is not null)
        {
            foreach (var warning in RelayConfiguration.Check(configuration).Warnings)
            {
                log.LogWarning(RelayEvents.DeprecatedSetting, "configuration: {Warning}", warning);
            }
        }

        if (o.Demo.HonourCaptureTimes)
        {
            log.LogWarning("Relay:Demo:HonourCaptureTimes is on: CTIP frames are stamped with the capture times a PBX simulator announces (demo only, never for a real PBX)");
        }

        var context = new ConnectorContext(sink, status, loggers, time ?? TimeProvider.System);
        var runs = new List<Task>();
        foreach (var factory in PbxConnectorFactories.All)
        {
            var mine = o.Pbxes.Where(p => p.Protocol == factory.Protocol).ToList();
            if (mine.Count == 0)
            {
                continue;
            }

            foreach (var pbx in mine)
            {
                log.LogInformation("relay {Relay}: PBX {Pbx} ({Protocol}) {Where}", o.RelayId, pbx.Id, pbx.Protocol, factory.Describe(o, pbx));
            }

            foreach (var run in factory.CreateRuns(o, mine, context))
            {
                // a connector that cannot connect (or a port that cannot be bound) retries on its own; the others go on
                runs.Add(Task.Run(() => run(stoppingToken), CancellationToken.None));
            }
        }

        return Task.WhenAll(runs);
    }
}
