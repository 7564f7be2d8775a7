using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Hosting;
using CloudTelephony.Relay.Simulator;
using Microsoft.Extensions.Logging;

namespace CloudTelephony.Relay.Ctip;

/// <summary>Slican CTIP (TCP 5524, protocols/ctip.md): an outbound <see cref="CtipConnector"/> per PBX and the <see cref="CtipSimulator"/>.</summary>
public sealed class CtipConnectorFactory : IPbxConnectorFactory
{
    /// <inheritdoc />
    public string Protocol => Protocols.Ctip;

    /// <inheritdoc />
    public string Label => "CTIP";

    /// <inheritdoc />
    public string Description => "Slican CTIP";

    /// <inheritdoc />
    public int DefaultPort => 5524;

    /// <inheritdoc />
    public bool PbxConnects => false;

    /// <inheritdoc />
    public string SectionName => nameof(PbxOptions.Ctip);

    /// <inheritdoc />
    public IReadOnlyList<LegacyKey> LegacyKeys { get; } =
    [
        new("Pin", "Ctip:Pin"),
        new("IdleProbeSeconds", "Ctip:IdleProbeSeconds"),
        new("ProbeTimeoutSeconds", "Ctip:ProbeTimeoutSeconds"),
    ];

    /// <inheritdoc />
    public ConfigSchema SectionSchema { get; } = ConfigSchema.For<CtipOptions>();

    /// <inheritdoc />
    public void Validate(RelayOptions relay, IReadOnlyList<(string Key, PbxOptions Pbx)> pbxes, ICollection<string> errors)
    {
        foreach (var (key, pbx) in pbxes)
        {
            var k = $"{key}:{SectionName}";
            var c = pbx.Ctip;
            if (string.IsNullOrEmpty(c.Pin) || c.Pin.Any(ch => ch is '\r' or '\n' or ' '))
            {
                // never echo the value: it is a secret
                errors.Add($"{k}:Pin is empty or contains spaces or line breaks (use ____ for no key)");
            }

            RelayOptionsValidator.Positive(errors, $"{k}:IdleProbeSeconds", c.IdleProbeSeconds);
            RelayOptionsValidator.Positive(errors, $"{k}:ProbeTimeoutSeconds", c.ProbeTimeoutSeconds);
        }
    }

    /// <inheritdoc />
    public string Describe(RelayOptions relay, PbxOptions pbx) => $"at {pbx.Host}:{pbx.EffectivePort}";

    /// <inheritdoc />
    public IReadOnlyList<Func<CancellationToken, Task>> CreateRuns(RelayOptions relay, IReadOnlyList<PbxOptions> pbxes, ConnectorContext context) =>
        [.. pbxes.Select(p => new CtipConnector(p, context.Sink, context.Status, context.Loggers.CreateLogger<CtipConnector>(), context.Time, relay.Demo.HonourCaptureTimes))
            .Select(c => (Func<CancellationToken, Task>)c.RunAsync)];

    /// <inheritdoc />
    public async Task<IAsyncDisposable> StartSimulatorAsync(SimulatorRequest request, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var simulator = new CtipSimulator(
            new CtipSimulatorOptions
            {
                Frames = request.Frames,
                Address = System.Net.IPAddress.Any,
                Port = request.Port ?? DefaultPort,
                Pin = request.Pin,
                Speed = request.Speed,
                MaxGap = request.MaxGap,
                Loop = request.Loop,
                AnnounceCaptureTimes = request.AnnounceCaptureTimes,
            },
            loggers.CreateLogger<CtipSimulator>());
        await simulator.StartAsync(cancellationToken).ConfigureAwait(false);
        return simulator;
    }
}
