namespace CloudTelephony.Telephony.Ctip;

/// <summary>
/// One CTIP message from the PBX, as parsed by <see cref="CtipParser"/> (protocol reference: shared/protocols/ctip.md,
/// "CTIP manual v15.01"). Extensions are normalised: the fixed 4-character field padded with <c>_</c>
/// (<c>105_</c>, <c>21__</c>) becomes <c>105</c>, <c>21</c>.
/// </summary>
public abstract record CtipMessage;

/// <summary><c>RING ext caller port dialed held comment</c>: extension <see cref="Extension"/> is ringing (CTIP manual v15.01 p.23).</summary>
/// <param name="Extension">The ringing extension.</param>
/// <param name="Caller">Calling number: <c>00…</c> international, <c>0…</c> long-distance/mobile, <c>/nnn</c> internal
/// extension, other digits local; null when unknown (<c>_</c>, no CLIP).</param>
/// <param name="Port">Physical port of the originator as sent (NCP sends <c>0</c>).</param>
/// <param name="Dialed">Number the caller dialled: the DID / trunk number, or <c>/ext</c> for an internal call; null when <c>_</c>.</param>
/// <param name="Held">Party on hold, set on transfers (<c>/101</c> = the transferring extension); null when <c>_</c> or <c>-</c>.</param>
/// <param name="Comment">Phonebook name with the PBX's <c>_</c> turned back into spaces (manual p.23); null when <c>_</c> or absent.</param>
public sealed record CtipRing(string Extension, string? Caller, string Port, string? Dialed, string? Held, string? Comment) : CtipMessage
{
    /// <summary>True when the caller is an extension (<c>/nnn</c>).</summary>
    public bool CallerIsInternal => Caller is ['/', ..];
}

/// <summary><c>CONN ext peer port</c>: a conversation started on the extension — an incoming call answered, or an
/// outgoing call answered by the far end; may repeat on transfer (CTIP manual v15.01 p.25).</summary>
/// <param name="Extension">The connected extension.</param>
/// <param name="Peer">The other party: the caller (incoming) or the dialled number including the trunk-access prefix, e.g.
/// <c>0505224415</c> (outgoing); <c>/nnn</c> for an extension; null when <c>_</c>.</param>
/// <param name="Port">Physical port as sent (NCP sends <c>0</c>); null when absent.</param>
public sealed record CtipConn(string Extension, string? Peer, string? Port) : CtipMessage;

/// <summary><c>REL ext cause</c>: ringing or conversation on the extension ended — not necessarily on-hook
/// (CTIP manual v15.01 p.26).</summary>
/// <param name="Extension">The released extension.</param>
/// <param name="Cause">Release cause code; see <see cref="CtipReleaseCause"/>.</param>
public sealed record CtipRel(string Extension, int Cause) : CtipMessage
{
    /// <summary>Meaning of <see cref="Cause"/> in words (e.g. <c>picked up elsewhere</c>).</summary>
    public string CauseText => CtipReleaseCause.Describe(Cause);
}

/// <summary>Hook state reported by <c>STAT</c>.</summary>
public enum CtipHook
{
    /// <summary><c>h</c>: handset on hook.</summary>
    OnHook,

    /// <summary><c>H</c>: handset off hook.</summary>
    OffHook,

    /// <summary><c>o</c>: the extension is out of order.</summary>
    OutOfOrder,
}

/// <summary><c>STAT ext hook F D L A P C Q</c>: extension state, sent on any flag change or on <c>RQST</c>; an upper-case
/// letter means on (CTIP manual v15.01 p.21).</summary>
/// <param name="Extension">The extension.</param>
/// <param name="Hook">On hook, off hook or out of order.</param>
/// <param name="Forward">Call forwarding active (<c>F</c>).</param>
/// <param name="DoNotDisturb">Do not disturb (<c>D</c>).</param>
/// <param name="Locked">Phone locked (<c>L</c>).</param>
/// <param name="Account">Account code active (<c>A</c>).</param>
/// <param name="Parked">A call is parked (<c>P</c>).</param>
/// <param name="CallWaiting">Call waiting enabled (<c>C</c>).</param>
/// <param name="Queue">Calls queued (<c>Q</c>).</param>
public sealed record CtipStat(
    string Extension,
    CtipHook Hook,
    bool Forward,
    bool DoNotDisturb,
    bool Locked,
    bool Account,
    bool Parked,
    bool CallWaiting,
    bool Queue) : CtipMessage;

/// <summary><c>ECHO ext digits</c>: digits keyed on the extension's phone, sent at once, possibly one digit per message;
/// <c>/</c> is FLASH (transfer / consultation). Starts an outgoing or internal call (CTIP manual v15.01 p.22).</summary>
/// <param name="Extension">The dialling extension.</param>
/// <param name="Digits">The digits as sent (<c>0-9 * # /</c>).</param>
public sealed record CtipEcho(string Extension, string Digits) : CtipMessage;

/// <summary><c>CW ext number comment</c>: a new call is waiting for the busy extension (CTIP manual v15.01 p.24).</summary>
/// <param name="Extension">The busy extension.</param>
/// <param name="Number">The waiting caller's number; null when <c>_</c>.</param>
/// <param name="Comment">Phonebook name, <c>_</c> turned back into spaces; null when <c>_</c> or absent.</param>
public sealed record CtipCallWaiting(string Extension, string? Number, string? Comment) : CtipMessage;

/// <summary><c>DRDY ext</c>: the extension went off hook and has dial tone (CTIP manual v15.01 p.27).</summary>
/// <param name="Extension">The extension.</param>
public sealed record CtipDialReady(string Extension) : CtipMessage;

/// <summary><c>AOC ext amount</c>: running gross charge of the extension's call, on each change (CTIP manual v15.01 p.28).</summary>
/// <param name="Extension">The extension.</param>
/// <param name="Amount">The charge as the PBX printed it (currency and format are the PBX's).</param>
public sealed record CtipCharge(string Extension, string Amount) : CtipMessage;

/// <summary><c>UTAG ext tag</c>: user tag set by XML.IVR / Infolinia API, sent after RING or CW (CTIP manual v15.01 p.29).</summary>
/// <param name="Extension">The extension.</param>
/// <param name="Tag">The tag text (rest of the line).</param>
public sealed record CtipUserTag(string Extension, string Tag) : CtipMessage;

/// <summary>Which recording message a <see cref="CtipRecording"/> is.</summary>
public enum CtipRecordingEvent
{
    /// <summary><c>RECB</c>: recording began.</summary>
    Begin,

    /// <summary><c>RECC</c>: recording cancelled.</summary>
    Cancel,

    /// <summary><c>RECE</c>: recording ended; the file can be fetched (up to 60 s after the call).</summary>
    End,
}

/// <summary><c>RECB|RECC|RECE ext recId [ip path]</c>: call recording begin / cancel / end (CTIP manual v15.01 pp.38-39).</summary>
/// <param name="Event">Begin, cancel or end.</param>
/// <param name="Extension">The recorded extension.</param>
/// <param name="RecordingId">Recording id: main id plus a 2-digit part number.</param>
/// <param name="Address">IP address of the recorder (FTP), when sent.</param>
/// <param name="Path">File path on the recorder, when sent.</param>
public sealed record CtipRecording(CtipRecordingEvent Event, string Extension, string RecordingId, string? Address, string? Path) : CtipMessage;

/// <summary>Which reply a <see cref="CtipReply"/> is.</summary>
public enum CtipReplyKind
{
    /// <summary><c>OK</c>: request accepted.</summary>
    Ok,

    /// <summary><c>ERROR</c>: bad syntax or value.</summary>
    Error,

    /// <summary><c>NA</c>: not allowed, with an optional code.</summary>
    NotAllowed,
}

/// <summary><c>OK …</c>, <c>ERROR</c>, <c>NA [code]</c>: replies to client requests (CTIP manual v15.01 p.40).</summary>
/// <param name="Kind">OK, ERROR or NA.</param>
/// <param name="Code">NA code (1 not logged in, 11 wrong key, 12 no key, 19 CTI not permitted, 20 too many bad keys), else null.</param>
/// <param name="Text">Everything after the reply word, e.g. <c>NCP-000 NO03914 v1.23.0140/15 …</c> for a WHO answer; empty when none.</param>
public sealed record CtipReply(CtipReplyKind Kind, int? Code, string Text) : CtipMessage
{
    /// <summary>Meaning of an NA <see cref="Code"/> in words, or null.</summary>
    public string? CodeText => Code switch
    {
        null => null,
        1 => "not logged in",
        11 => "wrong key",
        12 => "no key",
        19 => "CTI not permitted",
        20 => "too many bad-key attempts",
        _ => $"code {Code}",
    };
}

/// <summary>The link-test frame <c>t</c> (no <c>a</c> prefix) the LAN module may send; to be ignored (CTIP manual v15.01 p.5).</summary>
public sealed record CtipLinkTest : CtipMessage
{
    /// <summary>The single instance.</summary>
    public static readonly CtipLinkTest Instance = new();
}

/// <summary>A well-formed message whose name this parser does not know (e.g. GSM <c>SMSA</c>); unknown messages are to be
/// ignored (CTIP manual v15.01 p.4).</summary>
/// <param name="Name">The message name.</param>
/// <param name="Arguments">The rest of the line.</param>
public sealed record CtipUnknown(string Name, string Arguments) : CtipMessage;

/// <summary>A line that is not a valid CTIP message: truncated, missing or bad fields, binary data, too long.</summary>
/// <param name="Message">Readable reason, naming the field.</param>
public sealed record CtipParseError(string Message) : CtipMessage;

/// <summary>Meanings of <c>REL</c> cause codes (CTIP manual v15.01 p.26).</summary>
public static class CtipReleaseCause
{
    /// <summary>Normal release.</summary>
    public const int Normal = 1;

    /// <summary>Invalid number.</summary>
    public const int InvalidNumber = 15;

    /// <summary>Rejected by the called party.</summary>
    public const int Rejected = 16;

    /// <summary>Called party busy.</summary>
    public const int Busy = 17;

    /// <summary>No answer.</summary>
    public const int NoAnswer = 35;

    /// <summary>Call forwarded.</summary>
    public const int Forwarded = 38;

    /// <summary>Picked up elsewhere: another member of the ring group answered.</summary>
    public const int PickedUpElsewhere = 39;

    /// <summary>Do not disturb.</summary>
    public const int DoNotDisturb = 40;

    /// <summary>The cause in words, e.g. <c>picked up elsewhere</c>; <c>unknown cause</c> for codes the manual does not list.</summary>
    public static string Describe(int cause) => cause switch
    {
        1 => "normal release",
        2 => "phone locked",
        3 => "time limit",
        4 => "charge limit",
        5 => "no permission",
        6 => "service accepted",
        7 => "service rejected",
        10 => "dial timeout",
        15 => "invalid number",
        16 => "rejected by callee",
        17 => "callee busy",
        18 => "callee out of order",
        25 or 26 or 27 or 28 => "CLIR / urgent / private call denied",
        31 or 32 or 33 => "service state",
        35 => "no answer",
        38 => "forwarded",
        39 => "picked up elsewhere",
        40 => "do not disturb",
        46 => "trunk-call limit",
        47 => "wake-up done",
        _ => "unknown cause",
    };
}
