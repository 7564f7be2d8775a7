using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Hosting;
using CloudTelephony.Relay.Simulator;
using Microsoft.Extensions.Logging;

namespace CloudTelephony.Relay.Ami;

/// <summary>Asterisk Manager Interface (TCP 5038, protocols/ami.md): an outbound <see cref="AmiConnector"/> per PBX and the <see cref="AmiSimulator"/>.</summary>
public sealed class AmiConnectorFactory : IPbxConnectorFactory
{
    /// <inheritdoc />
    public string Protocol => Protocols.Ami;

    /// <inheritdoc />
    public string Label => "AMI";

    /// <inheritdoc />
    public string Description => "Asterisk AMI";

    /// <inheritdoc />
    public int DefaultPort => 5038;

    /// <inheritdoc />
    public bool PbxConnects => false;

    /// <inheritdoc />
    public string SectionName => nameof(PbxOptions.Ami);

    /// <inheritdoc />
    public IReadOnlyList<LegacyKey> LegacyKeys { get; } =
    [
        new("Username", "Ami:Username"),
        new("Secret", "Ami:Secret"),
        new("EventMask", "Ami:EventMask"),
        new("PingIntervalSeconds", "Ami:PingIntervalSeconds"),
        new("PingTimeoutSeconds", "Ami:PingTimeoutSeconds"),
    ];

    /// <inheritdoc />
    public ConfigSchema SectionSchema { get; } = ConfigSchema.For<AmiOptions>();

    /// <inheritdoc />
    public void Validate(RelayOptions relay, IReadOnlyList<(string Key, PbxOptions Pbx)> pbxes, ICollection<string> errors)
    {
        foreach (var (key, pbx) in pbxes)
        {
            var k = $"{key}:{SectionName}";
            var a = pbx.Ami;
            if (string.IsNullOrWhiteSpace(a.Username) || a.Username.Any(char.IsControl))
            {
                errors.Add($"{k}:Username is empty or contains line breaks");
            }

            if (string.IsNullOrEmpty(a.Secret) || a.Secret.Any(char.IsControl))
            {
                // never echo the value: it is a secret
                errors.Add($"{k}:Secret is empty or contains line breaks");
            }

            if (string.IsNullOrWhiteSpace(a.EventMask) || a.EventMask.Any(char.IsControl))
            {
                errors.Add($"{k}:EventMask is empty or contains line breaks (e.g. {AmiOptions.DefaultEventMask})");
            }

            RelayOptionsValidator.Positive(errors, $"{k}:PingIntervalSeconds", a.PingIntervalSeconds);
            RelayOptionsValidator.Positive(errors, $"{k}:PingTimeoutSeconds", a.PingTimeoutSeconds);
        }
    }

    /// <inheritdoc />
    public string Describe(RelayOptions relay, PbxOptions pbx) => $"at {pbx.Host}:{pbx.EffectivePort}";

    /// <inheritdoc />
    public IReadOnlyList<Func<CancellationToken, Task>> CreateRuns(RelayOptions relay, IReadOnlyList<PbxOptions> pbxes, ConnectorContext context) =>
        [.. pbxes.Select(p => new AmiConnector(p, context.Sink, context.Status, context.Loggers.CreateLogger<AmiConnector>(), context.Time))
            .Select(c => (Func<CancellationToken, Task>)c.RunAsync)];

    /// <inheritdoc />
    public async Task<IAsyncDisposable> StartSimulatorAsync(SimulatorRequest request, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var simulator = new AmiSimulator(
            new AmiSimulatorOptions
            {
                Frames = request.Frames,
                Address = System.Net.IPAddress.Any,
                Port = request.Port ?? DefaultPort,
                Username = request.Username,
                Secret = request.Secret,
                Speed = request.Speed,
                MaxGap = request.MaxGap,
                Loop = request.Loop,
            },
            loggers.CreateLogger<AmiSimulator>());
        await simulator.StartAsync(cancellationToken).ConfigureAwait(false);
        return simulator;
    }
}
