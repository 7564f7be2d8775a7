using CloudTelephony.Telephony.Streams;

namespace CloudTelephony.Telephony;

/// <summary>Creates the stream engine of a registered protocol (<see cref="PbxProtocols"/>), as an <see cref="ICallCorrelator"/>.</summary>
public static class Correlators
{
    /// <summary>
    /// A correlator for <paramref name="protocol"/>, continuing from <paramref name="state"/> when given.
    /// </summary>
    /// <param name="protocol">A registered protocol name (<see cref="PbxProtocols.Names"/>).</param>
    /// <param name="pbx">PBX id stamped on every call.</param>
    /// <param name="options">Correlation settings; null for defaults.</param>
    /// <param name="state">JSON from <see cref="ICallCorrelator.SaveState"/> (or a protocol's format-1 document), or null/empty to start fresh.</param>
    /// <exception cref="ArgumentException">Unknown protocol.</exception>
    /// <exception cref="FormatException">State JSON that cannot be read.</exception>
    public static StreamCorrelator Create(string protocol, string pbx, CorrelatorOptions? options = null, string? state = null)
        => PbxProtocols.Get(protocol).Restore(pbx, options ?? new CorrelatorOptions(), state);
}
