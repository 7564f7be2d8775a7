using CloudTelephony.Telephony.Ami;
using CloudTelephony.Telephony.Ctip;
using CloudTelephony.Telephony.Smdr;

namespace CloudTelephony.Telephony;

/// <summary>Creates the correlator for a protocol.</summary>
public static class Correlators
{
    /// <summary>
    /// A correlator for <paramref name="protocol"/>, continuing from <paramref name="state"/> when given.
    /// </summary>
    /// <param name="protocol"><c>ctip</c>, <c>ami</c> or <c>smdr</c>.</param>
    /// <param name="pbx">PBX id stamped on every call.</param>
    /// <param name="options">Correlation settings; null for defaults.</param>
    /// <param name="state">JSON from <see cref="ICallCorrelator.SaveState"/>, or null/empty to start fresh.</param>
    /// <exception cref="ArgumentException">Unknown protocol.</exception>
    /// <exception cref="FormatException">State JSON that cannot be read.</exception>
    public static ICallCorrelator Create(string protocol, string pbx, CorrelatorOptions? options = null, string? state = null)
    {
        options ??= new CorrelatorOptions();
        return protocol switch
        {
            "ctip" => CtipCorrelator.Restore(pbx, options, state),
            "ami" => AmiCorrelator.Restore(pbx, options, state),
            "smdr" => SmdrCorrelator.Restore(pbx, options, state),
            _ => throw new ArgumentException($"unknown protocol '{protocol}' (expected ctip, ami or smdr)", nameof(protocol)),
        };
    }
}
