using CloudTelephony.Telephony.Ami;
using CloudTelephony.Telephony.Ctip;
using CloudTelephony.Telephony.Smdr;

namespace CloudTelephony.Telephony.Streams;

/// <summary>How a capture file of a protocol holds its frames (capture files: samples/, ../shared/fixtures/).</summary>
public enum CaptureFraming
{
    /// <summary>One frame per line (CTIP lines, SMDR CSV records).</summary>
    Lines,

    /// <summary>Frames are blocks of lines ended by a blank line (AMI <c>Key: Value</c> blocks).</summary>
    Blocks,
}

/// <summary>What a protocol's parser says about one frame (<see cref="IPbxProtocol.Parse"/>).</summary>
/// <param name="Error">Why the frame does not parse, or null.</param>
/// <param name="Summary">What it is when it parsed: the message name (<c>RING</c>, <c>Newchannel</c>) or, for SMDR, the Call ID.</param>
public readonly record struct FrameParse(string? Error, string? Summary)
{
    /// <summary>True when the frame parsed.</summary>
    public bool Ok => Error is null;
}

/// <summary>
/// One PBX protocol: everything the system knows about it in one registered module (its parser and interpreter live in
/// its folder: <c>Ctip/</c>, <c>Ami/</c>, <c>Smdr/</c>). Adding a protocol means writing its module and adding it to
/// <see cref="PbxProtocols.All"/>; nothing else in functions, storage or the database switches on its name.
/// </summary>
public interface IPbxProtocol
{
    /// <summary>Wire name (<c>Envelope.Protocol</c>, <c>ct.pbxes.protocol</c>): lower-case letters, digits, dashes.</summary>
    string Name { get; }

    /// <summary>Human-readable name, e.g. <c>Slican CTIP</c>.</summary>
    string Title { get; }

    /// <summary>The TCP port the protocol uses by default (the PBX's, or for SMDR the relay's listener).</summary>
    int DefaultPort { get; }

    /// <summary>How capture files of this protocol hold frames.</summary>
    CaptureFraming Framing { get; }

    /// <summary>Parses one frame with the protocol's parser (no state; for checks and tools).</summary>
    /// <param name="frame">The frame text as the relay forwards it.</param>
    /// <param name="receivedAt">Its receive time (UTC), used by protocols whose frames carry no time.</param>
    /// <param name="timeZone">The PBX's zone for protocols with local times (SMDR); null = UTC.</param>
    FrameParse Parse(string frame, DateTimeOffset receivedAt, TimeZoneInfo? timeZone = null);

    /// <summary>A fresh stream engine for one PBX of this protocol.</summary>
    StreamCorrelator Create(string pbx, CorrelatorOptions? options = null);

    /// <summary>A stream engine continuing from a whole-state document (<see cref="StreamCorrelator.SaveState"/>), a
    /// stream-level document, or this protocol's format-1 document; null or empty starts fresh.</summary>
    /// <exception cref="FormatException">The state cannot be read or is another protocol's.</exception>
    StreamCorrelator Restore(string pbx, CorrelatorOptions options, string? state);

    /// <summary>A stream engine continuing from a stream-level document and the open calls saved apart (one JSON each,
    /// from <see cref="StreamDelta.Upserts"/>).</summary>
    /// <exception cref="FormatException">The state cannot be read or is another protocol's.</exception>
    StreamCorrelator Restore(string pbx, CorrelatorOptions options, string? state, IEnumerable<string> openCalls);
}

/// <summary>A protocol module: its facts and the interpreter it gives each stream.</summary>
internal abstract class PbxProtocol : IPbxProtocol
{
    public abstract string Name { get; }

    public abstract string Title { get; }

    public abstract int DefaultPort { get; }

    public abstract CaptureFraming Framing { get; }

    public abstract FrameParse Parse(string frame, DateTimeOffset receivedAt, TimeZoneInfo? timeZone = null);

    public StreamCorrelator Create(string pbx, CorrelatorOptions? options = null) => Restore(pbx, options ?? new CorrelatorOptions(), null);

    public StreamCorrelator Restore(string pbx, CorrelatorOptions options, string? state) => Restore(pbx, options, state, []);

    public StreamCorrelator Restore(string pbx, CorrelatorOptions options, string? state, IEnumerable<string> openCalls)
    {
        ArgumentNullException.ThrowIfNull(pbx);
        ArgumentNullException.ThrowIfNull(options);
        return StreamEngine.Restore(pbx, CreateInterpreter(options), state, openCalls);
    }

    /// <summary>The protocol's rules for one stream.</summary>
    protected abstract CallInterpreter CreateInterpreter(CorrelatorOptions options);
}

/// <summary>The registry of PBX protocols: the single source of which protocols exist and how each behaves.</summary>
public static class PbxProtocols
{
    /// <summary>Every registered protocol, in this order.</summary>
    public static IReadOnlyList<IPbxProtocol> All { get; } = [CtipProtocol.Instance, AmiProtocol.Instance, SmdrProtocol.Instance];

    /// <summary>The wire names of <see cref="All"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(p => p.Name)];

    /// <summary>The protocol named <paramref name="name"/> (exact, lower case), or null.</summary>
    public static IPbxProtocol? Find(string? name)
    {
        foreach (var protocol in All)
        {
            if (protocol.Name == name)
            {
                return protocol;
            }
        }

        return null;
    }

    /// <summary>The protocol named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No such protocol; the message lists the registered ones.</exception>
    public static IPbxProtocol Get(string name)
        => Find(name) ?? throw new ArgumentException($"unknown protocol '{name}' (expected {Expected})", nameof(name));

    /// <summary>The registered names for messages: <c>ctip, ami or smdr</c>.</summary>
    public static string Expected => Names.Count == 1 ? Names[0] : string.Join(", ", Names.Take(Names.Count - 1)) + " or " + Names[^1];
}
