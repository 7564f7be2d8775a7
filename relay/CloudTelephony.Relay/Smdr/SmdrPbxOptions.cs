namespace CloudTelephony.Relay.Smdr;

/// <summary>
/// Avaya IP Office SMDR settings of one PBX (<c>Relay:Pbxes:N:Smdr</c>). The flat key of earlier releases
/// (<c>Relay:Pbxes:N:AllowedSources:0</c> ...) is accepted as an alias for one release, with a warning naming the new key.
/// </summary>
public sealed class SmdrPbxOptions
{
    /// <summary>
    /// Source IP addresses this PBX connects from (<c>Relay:Pbxes:N:Smdr:AllowedSources:0</c> ...). Connections from any
    /// other address are refused and logged. When empty and the PBX's <c>Host</c> is an IP address, that address is used.
    /// </summary>
    public List<string> AllowedSources { get; set; } = [];
}
