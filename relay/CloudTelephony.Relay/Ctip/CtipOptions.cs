namespace CloudTelephony.Relay.Ctip;

/// <summary>
/// Slican CTIP settings of one PBX (<c>Relay:Pbxes:N:Ctip</c>). The flat keys of earlier releases
/// (<c>Relay:Pbxes:N:Pin</c>, <c>:IdleProbeSeconds</c>, <c>:ProbeTimeoutSeconds</c>) are accepted as aliases for one
/// release, with a warning naming the new key.
/// </summary>
public sealed class CtipOptions
{
    /// <summary>LOGA key (tariff/billing key, <c>____</c> when none; <c>Relay:Pbxes:N:Ctip:Pin</c>). A secret: never logged.</summary>
    public string Pin { get; set; } = "____";

    /// <summary>After this many seconds without any data the connector sends <c>aWHO</c> as a probe (default 60).</summary>
    public double IdleProbeSeconds { get; set; } = 60;

    /// <summary>How long the probe may go unanswered before the link is declared dead and reconnected, in seconds (default 5).</summary>
    public double ProbeTimeoutSeconds { get; set; } = 5;
}
