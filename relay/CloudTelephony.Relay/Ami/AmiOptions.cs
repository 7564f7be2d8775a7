namespace CloudTelephony.Relay.Ami;

/// <summary>
/// Asterisk Manager Interface settings of one PBX (<c>Relay:Pbxes:N:Ami</c>). The flat keys of earlier releases
/// (<c>Relay:Pbxes:N:Username</c>, <c>:Secret</c>, <c>:EventMask</c>, <c>:PingIntervalSeconds</c>,
/// <c>:PingTimeoutSeconds</c>) are accepted as aliases for one release, with a warning naming the new key.
/// </summary>
public sealed class AmiOptions
{
    /// <summary>
    /// The default <see cref="EventMask"/>: the read classes the correlator needs (protocols/ami.md): <c>call</c>,
    /// <c>cdr</c>, <c>dialplan</c>, <c>agent</c> and <c>dtmf</c> (the IVR digits, <c>DTMFBegin</c>/<c>DTMFEnd</c>).
    /// </summary>
    public const string DefaultEventMask = "call,cdr,dialplan,agent,dtmf";

    /// <summary>Login user name (<c>manager.conf</c> section).</summary>
    public string? Username { get; set; }

    /// <summary>Login secret. A secret: never logged, never echoed in errors.</summary>
    public string? Secret { get; set; }

    /// <summary>Event mask sent with <c>Action: Events</c> (default <see cref="DefaultEventMask"/>).</summary>
    public string EventMask { get; set; } = DefaultEventMask;

    /// <summary>A <c>Ping</c> action is sent this often, in seconds (default 20).</summary>
    public double PingIntervalSeconds { get; set; } = 20;

    /// <summary>How long a Ping may go unanswered before the link is declared dead and reconnected, in seconds (default 10).</summary>
    public double PingTimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// After each login send <c>Action: CoreShowChannels</c> (default true): Asterisk answers with one
    /// <c>Event: CoreShowChannel</c> per channel in progress and <c>Event: CoreShowChannelsComplete</c>, forwarded as
    /// ordinary frames, so the correlator can reconcile calls whose events fell into a reconnect gap. Needs
    /// <c>write = reporting</c> (or <c>system</c>) for the manager user; without it the relay logs one warning per session.
    /// </summary>
    public bool ResyncChannels { get; set; } = true;
}
