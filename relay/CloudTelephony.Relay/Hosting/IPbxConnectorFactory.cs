using CloudTelephony.Contracts;
using CloudTelephony.Relay.Ami;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Ctip;
using CloudTelephony.Relay.Sink;
using CloudTelephony.Relay.Smdr;
using CloudTelephony.Relay.Status;
using Microsoft.Extensions.Logging;

namespace CloudTelephony.Relay.Hosting;

/// <summary>
/// One protocol of the relay as a unit: its name, default port, its options section (<c>Relay:Pbxes:N:&lt;Section&gt;</c>)
/// with validation and the flat keys it used to have, the connectors (or listeners) it runs for the PBXes configured
/// with it, and its PBX simulator. Registered once in <see cref="PbxConnectorFactories.All"/>; the connector service,
/// the options validator, the configuration checker and <c>relay simulate</c> iterate the registry, so nothing else
/// switches on a protocol name.
/// </summary>
public interface IPbxConnectorFactory
{
    /// <summary>The protocol name of <c>Relay:Pbxes:N:Protocol</c> and of every envelope (<see cref="Protocols"/>), e.g. <c>ctip</c>.</summary>
    string Protocol { get; }

    /// <summary>Short label for log lines, e.g. <c>CTIP</c>.</summary>
    string Label { get; }

    /// <summary>What the protocol is for <c>--help</c> and errors, e.g. <c>Slican CTIP</c>.</summary>
    string Description { get; }

    /// <summary>The port used when <c>Relay:Pbxes:N:Port</c> is not set (ctip 5524, ami 5038, smdr 9000).</summary>
    int DefaultPort { get; }

    /// <summary>True when the PBX is the TCP client and connects to the relay (SMDR): no <c>Host</c> is needed and port 0 means "any free port".</summary>
    bool PbxConnects { get; }

    /// <summary>Name of the protocol's own section under <c>Relay:Pbxes:N</c>, e.g. <c>Ctip</c>.</summary>
    string SectionName { get; }

    /// <summary>Flat keys of earlier releases and the key that replaces each, both relative to <c>Relay:Pbxes:N</c> (e.g. <c>Pin</c> → <c>Ctip:Pin</c>); accepted for one release with a warning.</summary>
    IReadOnlyList<LegacyKey> LegacyKeys { get; }

    /// <summary>The shape of the section for the strict configuration check (<see cref="ConfigSchema"/>).</summary>
    ConfigSchema SectionSchema { get; }

    /// <summary>
    /// Adds the problems of this protocol's settings to <paramref name="errors"/>, each naming its key (never a secret's
    /// value). Called once per configuration with every PBX of this protocol (possibly none, for shared sections such as
    /// <c>Relay:Smdr</c>).
    /// </summary>
    /// <param name="relay">The whole configuration (shared sections, the other PBXes).</param>
    /// <param name="pbxes">This protocol's PBXes with their configuration key, e.g. <c>Relay:Pbxes:0</c>.</param>
    /// <param name="errors">Where problems go.</param>
    void Validate(RelayOptions relay, IReadOnlyList<(string Key, PbxOptions Pbx)> pbxes, ICollection<string> errors);

    /// <summary>Where a PBX is, for the start-up log line: <c>at 192.0.2.10:5524</c>, <c>connects to port 9000 from 192.0.2.30</c>.</summary>
    string Describe(RelayOptions relay, PbxOptions pbx);

    /// <summary>
    /// The long-running tasks that receive the frames of <paramref name="pbxes"/> (a connector per PBX, or a listener per
    /// port), each run until its token is cancelled. Configuration was validated before.
    /// </summary>
    IReadOnlyList<Func<CancellationToken, Task>> CreateRuns(RelayOptions relay, IReadOnlyList<PbxOptions> pbxes, ConnectorContext context);

    /// <summary>Starts this protocol's PBX simulator (<c>relay simulate --protocol P</c>); it runs until disposed.</summary>
    Task<IAsyncDisposable> StartSimulatorAsync(SimulatorRequest request, ILoggerFactory loggers, CancellationToken cancellationToken);
}

/// <summary>A flat key of an earlier release (<paramref name="Old"/>) and the key replacing it (<paramref name="New"/>), relative to <c>Relay:Pbxes:N</c>.</summary>
public sealed record LegacyKey(string Old, string New);

/// <summary>What the connectors of every protocol get: the outbox, the status board, loggers and the clock.</summary>
public sealed record ConnectorContext(IFrameSink Sink, RelayStatus Status, ILoggerFactory Loggers, TimeProvider Time);

/// <summary>The <c>relay simulate</c> options a simulator may use (each protocol takes the ones it needs).</summary>
/// <param name="Frames">The capture(s) to replay, in order.</param>
/// <param name="Port">Port to listen on (ctip, ami); null = the protocol's default port.</param>
/// <param name="Pin">ctip: the LOGA key accepted.</param>
/// <param name="Username">ami: the Login user accepted.</param>
/// <param name="Secret">ami: the Login secret accepted.</param>
/// <param name="TargetHost">smdr: the relay's SMDR listener host.</param>
/// <param name="TargetPort">smdr: the relay's SMDR listener port.</param>
/// <param name="Speed">Original gaps are divided by this; 0 = as fast as possible.</param>
/// <param name="MaxGap">Longest pause after scaling.</param>
/// <param name="Loop">Replay again when the capture ends.</param>
/// <param name="AnnounceCaptureTimes">Demo only: announce each frame's capture time on the protocol's side channel (see <c>Relay:Demo:HonourCaptureTimes</c>).</param>
public sealed record SimulatorRequest(
    IReadOnlyList<CapturedFrame> Frames,
    int? Port,
    string Pin,
    string Username,
    string Secret,
    string TargetHost,
    int TargetPort,
    double Speed,
    TimeSpan MaxGap,
    bool Loop,
    bool AnnounceCaptureTimes = false);

/// <summary>The registry of the relay's protocols: one <see cref="IPbxConnectorFactory"/> each.</summary>
public static class PbxConnectorFactories
{
    /// <summary>Every protocol this relay has a connector for, in the order they are listed in help and errors.</summary>
    public static IReadOnlyList<IPbxConnectorFactory> All { get; } =
    [
        new CtipConnectorFactory(),
        new AmiConnectorFactory(),
        new SmdrConnectorFactory(),
    ];

    /// <summary>The factory of <paramref name="protocol"/> (exact, lower case as in envelopes), or null.</summary>
    public static IPbxConnectorFactory? Find(string? protocol) =>
        All.FirstOrDefault(f => string.Equals(f.Protocol, protocol, StringComparison.Ordinal));

    /// <summary>The protocol names, e.g. <c>ctip, ami, smdr</c>.</summary>
    public static string Names => string.Join(", ", All.Select(f => f.Protocol));
}
