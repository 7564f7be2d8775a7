using System.Net;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Hosting;
using CloudTelephony.Relay.Simulator;
using Microsoft.Extensions.Logging;

namespace CloudTelephony.Relay.Smdr;

/// <summary>
/// Avaya IP Office SMDR (protocols/smdr.md): the PBX is the TCP client, so this protocol runs one <see cref="SmdrListener"/>
/// per SMDR port (PBXes sharing a port are told apart by source address) and its simulator connects to the relay.
/// </summary>
public sealed class SmdrConnectorFactory : IPbxConnectorFactory
{
    /// <inheritdoc />
    public string Protocol => Protocols.Smdr;

    /// <inheritdoc />
    public string Label => "SMDR";

    /// <inheritdoc />
    public string Description => "Avaya IP Office SMDR (the PBX connects to the relay)";

    /// <inheritdoc />
    public int DefaultPort => 9000;

    /// <inheritdoc />
    public bool PbxConnects => true;

    /// <inheritdoc />
    public string SectionName => nameof(PbxOptions.Smdr);

    /// <inheritdoc />
    public IReadOnlyList<LegacyKey> LegacyKeys { get; } = [new("AllowedSources", "Smdr:AllowedSources")];

    /// <inheritdoc />
    public ConfigSchema SectionSchema { get; } = ConfigSchema.For<SmdrPbxOptions>();

    /// <summary>The port an SMDR PBX is received on: its own <c>Port</c>, else <c>Relay:Smdr:Port</c>.</summary>
    public static int Port(RelayOptions relay, PbxOptions pbx) => pbx.Port ?? relay.Smdr.Port;

    /// <summary>
    /// The source addresses of an SMDR PBX: <c>Smdr:AllowedSources</c> that parse (IPv4-mapped IPv6 addresses folded to
    /// IPv4), or <see cref="PbxOptions.Host"/> when that list is empty and Host is an IP address.
    /// </summary>
    public static IReadOnlyList<IPAddress> Sources(PbxOptions pbx)
    {
        var list = pbx.Smdr.AllowedSources.Count > 0 ? pbx.Smdr.AllowedSources : (pbx.Host is { Length: > 0 } h ? [h] : []);
        return list
            .Select(a => IPAddress.TryParse(a, out var ip) ? (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip) : null)
            .OfType<IPAddress>()
            .Distinct()
            .ToList();
    }

    /// <inheritdoc />
    public void Validate(RelayOptions relay, IReadOnlyList<(string Key, PbxOptions Pbx)> pbxes, ICollection<string> errors)
    {
        var owners = new Dictionary<(int, IPAddress), string>();
        foreach (var (key, pbx) in pbxes)
        {
            var k = $"{key}:{SectionName}";
            var sources = Sources(pbx);
            if (sources.Count == 0)
            {
                errors.Add($"{k}:AllowedSources is empty (list the IP addresses the PBX connects from, e.g. {k}:AllowedSources:0=192.0.2.10)");
            }

            foreach (var bad in pbx.Smdr.AllowedSources.Where(a => !IPAddress.TryParse(a, out _)))
            {
                errors.Add($"{k}:AllowedSources '{bad}' is not an IP address");
            }

            foreach (var a in sources)
            {
                var owner = (Port(relay, pbx), a);
                if (owners.TryGetValue(owner, out var other))
                {
                    errors.Add($"{k}:AllowedSources {a} is already the source of PBX '{other}' on port {owner.Item1}");
                }
                else
                {
                    owners[owner] = pbx.Id ?? "";
                }
            }
        }

        const string s = $"{RelayOptions.SectionName}:Smdr";
        var l = relay.Smdr;
        if (!IPAddress.TryParse(l.Address, out _))
        {
            errors.Add($"{s}:Address '{l.Address}' is not an IP address");
        }

        if (l.Port is < 0 or > 65535)
        {
            errors.Add($"{s}:Port {l.Port} is out of range 0-65535");
        }

        RelayOptionsValidator.Positive(errors, $"{s}:MaxLineBytes", l.MaxLineBytes);
        RelayOptionsValidator.Positive(errors, $"{s}:IdleTimeoutSeconds", l.IdleTimeoutSeconds);
        RelayOptionsValidator.Positive(errors, $"{s}:MaxConnectionsPerSource", l.MaxConnectionsPerSource);
        RelayOptionsValidator.Positive(errors, $"{s}:RefusedLogIntervalSeconds", l.RefusedLogIntervalSeconds);
        if (l.MaxBufferedBytes < l.MaxLineBytes)
        {
            errors.Add($"{s}:MaxBufferedBytes must be at least {s}:MaxLineBytes");
        }
    }

    /// <inheritdoc />
    public string Describe(RelayOptions relay, PbxOptions pbx) =>
        $"connects to port {Port(relay, pbx)} from {string.Join(", ", Sources(pbx))}";

    /// <inheritdoc />
    public IReadOnlyList<Func<CancellationToken, Task>> CreateRuns(RelayOptions relay, IReadOnlyList<PbxOptions> pbxes, ConnectorContext context)
    {
        var address = IPAddress.Parse(relay.Smdr.Address);
        return
        [
            .. pbxes
                .GroupBy(p => Port(relay, p))
                .Select(g => new SmdrListener(
                    address,
                    g.Key,
                    g.SelectMany(p => Sources(p).Select(ip => (ip, id: p.Id!))).ToDictionary(x => x.ip, x => x.id),
                    relay.Smdr,
                    context.Sink,
                    context.Status,
                    context.Loggers.CreateLogger<SmdrListener>(),
                    context.Time))
                .Select(l => (Func<CancellationToken, Task>)l.RunAsync),
        ];
    }

    /// <inheritdoc />
    public async Task<IAsyncDisposable> StartSimulatorAsync(SimulatorRequest request, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var simulator = new SmdrSimulator(
            new SmdrSimulatorOptions { Frames = request.Frames, Host = request.TargetHost, Port = request.TargetPort, Speed = request.Speed, Loop = request.Loop },
            loggers.CreateLogger<SmdrSimulator>());
        await simulator.StartAsync(cancellationToken).ConfigureAwait(false);
        return simulator;
    }
}
