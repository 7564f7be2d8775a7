namespace CloudTelephony.Telephony;

/// <summary>
/// Turns one PBX's frames, in order, into completed calls: the record-only face of a
/// <see cref="Streams.StreamCorrelator"/> (which also emits every call change). Not thread-safe: one instance per PBX stream.
/// Its whole state (open calls, per-session watermarks) can be saved with <see cref="SaveState"/> and restored by
/// <see cref="Correlators.Create"/>, so a stateless function instance can continue any PBX's stream.
/// </summary>
/// <remarks>
/// Idempotent: a frame whose (session, seq) is at or below the last seen seq of that session is a
/// <see cref="FrameDisposition.Duplicate"/> and changes nothing, so replaying a batch, or splitting a stream into any
/// batch sizes, yields the same calls.
/// </remarks>
public interface ICallCorrelator
{
    /// <summary>Protocol name (<c>ctip</c>, <c>ami</c>, <c>smdr</c>).</summary>
    string Protocol { get; }

    /// <summary>PBX id this correlator serves.</summary>
    string Pbx { get; }

    /// <summary>Number of calls still open.</summary>
    int OpenCalls { get; }

    /// <summary>
    /// Applies one frame. Calls completed by this frame — or closed by timeout because the frame's time moved past
    /// an open call's deadline — are added to <paramref name="completed"/>. Never throws on bad input.
    /// </summary>
    /// <param name="frame">The next frame of the PBX's stream.</param>
    /// <param name="completed">Receives completed calls.</param>
    /// <returns>What happened to the frame; parse errors carry a readable message.</returns>
    FrameOutcome Process(in PbxFrame frame, ICollection<Call> completed);

    /// <summary>Closes calls whose last activity is older than the configured timeouts relative to <paramref name="now"/> (UTC).</summary>
    void Expire(DateTimeOffset now, ICollection<Call> completed);

    /// <summary>Closes every open call as it stands (end of an offline capture). Open rings become <see cref="CallStatus.Unknown"/>
    /// unless the protocol can tell more.</summary>
    void Flush(ICollection<Call> completed);

    /// <summary>Serializes open calls and watermarks to a JSON string for <see cref="Correlators.Create"/>.</summary>
    string SaveState();
}

/// <summary>Settings that change how frames are correlated.</summary>
public sealed record CorrelatorOptions
{
    /// <summary>The PBX's time zone, for protocols whose times are local (SMDR). Default UTC.</summary>
    public TimeZoneInfo TimeZone { get; init; } = TimeZoneInfo.Utc;

    /// <summary>A ringing call with no activity for this long is closed as <see cref="CallStatus.Unknown"/>. Default 10 minutes.</summary>
    public TimeSpan RingTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>A connected call with no activity for this long is closed with what is known. Default 4 hours.</summary>
    public TimeSpan TalkTimeout { get; init; } = TimeSpan.FromHours(4);

    /// <summary>AMI number plan: trunks, each a channel prefix (<c>technology/resource</c> such as <c>PJSIP/provider</c>,
    /// which matches <c>PJSIP/provider-0000002a</c>), an endpoint name (<c>provider</c>) or a dialplan context
    /// (<c>from-pstn</c>). When set, every other non-Local channel is an extension. Empty = infer from the stream (see
    /// <see cref="ExtensionPattern"/>, <see cref="InternalContexts"/> and the AMI interpreter's remarks).</summary>
    public IReadOnlyList<string> TrunkEndpoints { get; init; } = [];

    /// <summary>AMI number plan: a .NET regular expression an extension number matches as a whole (<c>2\d\d</c>); a
    /// channel whose endpoint name or caller id number matches is an extension, reported by the matching number. Null =
    /// not configured.</summary>
    public string? ExtensionPattern { get; init; }

    /// <summary>AMI number plan: dialplan contexts whose channels are extensions (phones), e.g. <c>ctx-users</c>. Empty =
    /// not configured.</summary>
    public IReadOnlyList<string> InternalContexts { get; init; } = [];
}
