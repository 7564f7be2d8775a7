namespace CloudTelephony.Telephony;

/// <summary>
/// A frame as the core sees it: the text the PBX sent plus where it sits in the relay's stream.
/// Mirrors the relay's envelope without depending on it (the core depends on nothing of ours).
/// </summary>
/// <param name="Pbx">PBX id.</param>
/// <param name="Session">Relay session id (one per TCP connection).</param>
/// <param name="Seq">Position in the session, from 1.</param>
/// <param name="ReceivedAt">When the relay received the frame (UTC); the event time for protocols that carry none (CTIP).</param>
/// <param name="Text">Frame text without line terminator.</param>
public readonly record struct PbxFrame(string Pbx, string Session, long Seq, DateTimeOffset ReceivedAt, string Text);

/// <summary>What a correlator did with one frame.</summary>
public enum FrameDisposition
{
    /// <summary>Parsed and applied to the call state (including frames that carry nothing for calls, e.g. <c>STAT</c> noise).</summary>
    Applied,

    /// <summary>Already seen: (session, seq) at or below the watermark of its session; nothing changed.</summary>
    Duplicate,

    /// <summary>The frame did not parse; <see cref="FrameOutcome.Error"/> says why. The stream goes on.</summary>
    ParseError,

    /// <summary>A valid frame that call records do not use (handshake replies, link tests, unknown but well-formed messages).</summary>
    Ignored,
}

/// <summary>Result of <see cref="ICallCorrelator.Process"/> for one frame.</summary>
/// <param name="Disposition">What happened.</param>
/// <param name="Error">Readable parse error (for <see cref="FrameDisposition.ParseError"/>), else null.</param>
public readonly record struct FrameOutcome(FrameDisposition Disposition, string? Error = null)
{
    /// <summary>Shared outcome for applied frames.</summary>
    public static readonly FrameOutcome Applied = new(FrameDisposition.Applied);

    /// <summary>Shared outcome for duplicates.</summary>
    public static readonly FrameOutcome Duplicate = new(FrameDisposition.Duplicate);

    /// <summary>Shared outcome for ignored frames.</summary>
    public static readonly FrameOutcome Ignored = new(FrameDisposition.Ignored);

    /// <summary>A parse error with its message.</summary>
    public static FrameOutcome Failed(string error) => new(FrameDisposition.ParseError, error);
}
