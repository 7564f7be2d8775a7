using System.Text.Json;
using System.Text.Json.Serialization;
using CloudTelephony.Telephony.Streams;

namespace CloudTelephony.Telephony.Ami;

/// <summary>Kind of endpoint behind a channel.</summary>
internal enum LegKind
{
    Extension,
    Trunk,
    Local,
}

/// <summary>The whole state the AMI correlator saved before the stream engine (format 1, "Version": 1); read once to continue
/// an existing database. Its aliases are rebuilt from each call's <see cref="AmiCallState.MergedKeys"/>.</summary>
internal sealed class AmiStateDto
{
    public int Version { get; set; }

    public Dictionary<string, long> Watermarks { get; set; } = [];

    public List<AmiCallState> Calls { get; set; } = [];

    /// <summary>Linkedid of a call merged into another (attended transfer) → key of the surviving call.</summary>
    public Dictionary<string, string> Aliases { get; set; } = [];

    /// <summary>The format-1 document in <paramref name="json"/>, or null when it is not one.</summary>
    /// <exception cref="FormatException">It cannot be read.</exception>
    public static LegacyStreamState? Read(string json)
    {
        AmiStateDto? dto;
        try
        {
            dto = JsonSerializer.Deserialize(json, AmiStateJson.Default.AmiStateDto);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"AMI state JSON cannot be read: {ex.Message}", ex);
        }

        if (dto is not { Version: 1 })
        {
            return null;
        }

        DateTimeOffset? clock = null;
        foreach (var call in dto.Calls)
        {
            if (call.Events is [.., var last])
            {
                call.LastSession = last.Session;
                call.LastSeq = last.Seq;
            }

            clock = clock is null || call.LastAt > clock ? call.LastAt : clock;
        }

        // format 1 kept no receive times for watermarks: they count as seen when the next new session starts
        return new LegacyStreamState(
            clock,
            [.. dto.Watermarks.OrderBy(w => w.Key, StringComparer.Ordinal).Select(w => (w.Key, w.Value, (DateTimeOffset?)null))],
            [.. dto.Calls.OrderBy(c => c.StartedAt).ThenBy(c => c.Key, StringComparer.Ordinal)]);
    }
}

/// <summary>One open call (one Linkedid, plus any consultation call merged into it); saved as one open-call unit.</summary>
internal sealed class AmiCallState : OpenCallState
{
    public DateTimeOffset StartedAt { get; set; }

    public DateTimeOffset LastAt { get; set; }

    public DateTimeOffset? AnsweredAt { get; set; }

    public string? AnsweredBy { get; set; }

    public string? Digits { get; set; }

    public string? Queue { get; set; }

    /// <summary>DialEnd statuses of top-level dials (dialler not a Local channel), plus <c>CANCEL</c> for a queue abandon.</summary>
    public List<string> DialStatuses { get; set; } = [];

    public bool Dialled { get; set; }

    /// <summary>Uniqueid of the caller's channel when it is not the call's first channel: a click-to-call
    /// (<c>Originate</c> of <c>Local/201@from-internal</c>) starts with the Local half; the phone its partner dials is the
    /// caller.</summary>
    public string? OriginUid { get; set; }

    /// <summary>The call began with an <c>Originate</c> (a <c>DialBegin</c> without a dialling channel to its first channel).</summary>
    public bool Originated { get; set; }

    /// <summary>The number a click-to-call was to dial, from <c>OriginateResponse</c> <c>Exten</c> when the callback leg was
    /// never answered (the number was then never dialled).</summary>
    public string? OriginateExten { get; set; }

    /// <summary>Some channel of the call reported <c>Newstate</c> 5 (Ringing): the stream shows ringing, so a phone that
    /// never did is not an extension that rang.</summary>
    public bool SawRinging { get; set; }

    public bool Voicemail { get; set; }

    public List<AmiLegState> Legs { get; set; } = [];

    public List<AmiTransferState> Transfers { get; set; } = [];

    public Dictionary<string, List<string>> Bridges { get; set; } = [];

    public List<CallEvent> Events { get; set; } = [];

    /// <summary>Consultation calls an extension made through Local channels (attended transfer attempts).</summary>
    public List<AmiConsultation>? Consultations { get; set; }

    /// <summary>The last <c>CoreShowChannels</c> resync that listed a channel of the call (session/ActionID).</summary>
    public string? ResyncId { get; set; }

    /// <summary>The call's last activity before the resync <see cref="ResyncId"/> listed it: where the gap began.</summary>
    public DateTimeOffset? ResyncFrom { get; set; }

    /// <summary>The answer was placed by a resync (an estimate in the gap); a <c>Cdr</c> may correct it.</summary>
    public bool AnswerEstimated { get; set; }

    /// <summary>Keys of consultation calls merged into this one.</summary>
    public List<string> MergedKeys { get; set; } = [];
}

/// <summary>One channel (call leg), keyed by Uniqueid.</summary>
internal sealed class AmiLegState
{
    public string Uid { get; set; } = "";

    public string Channel { get; set; } = "";

    public LegKind Kind { get; set; }

    /// <summary>Extension (<c>201</c>), trunk endpoint name (<c>trunk-provider</c>), or for Local the part before '@'.</summary>
    public string Endpoint { get; set; } = "";

    public string? CallerIdNum { get; set; }

    /// <summary>CallerIDName of the Newchannel event, when set.</summary>
    public string? CallerIdName { get; set; }

    public string? Context { get; set; }

    public string? Exten { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset? RangAt { get; set; }

    /// <summary>The phone really rang (<c>Newstate</c> 5 Ringing) or answered; a DND phone (480 at once), a 302 forward
    /// or an unreachable one never does (tests/data/ami/lab s1–s6).</summary>
    public bool Alerted { get; set; }

    /// <summary>The last <c>CoreShowChannels</c> resync that listed this channel (session/ActionID), and its <c>BridgeId</c> then.</summary>
    public string? ResyncId { get; set; }

    /// <summary><c>BridgeId</c> of the channel in the last resync that listed it; null when in no bridge.</summary>
    public string? ResyncBridge { get; set; }

    /// <summary>A picker: the channel of a phone that picked this call up (its own call merged into this one).</summary>
    public bool Picked { get; set; }

    public DateTimeOffset? AnsweredAt { get; set; }

    public DateTimeOffset? EndedAt { get; set; }

    public bool HungUp { get; set; }

    public int? Cause { get; set; }

    public string? DialStatus { get; set; }

    /// <summary><c>callee</c> or <c>transfer</c> (the origin is the caller).</summary>
    public string Role { get; set; } = "callee";

    /// <summary>Uniqueid of the channel that dialled this one.</summary>
    public string? DialedBy { get; set; }

    /// <summary>A transferer's second channel (consultation call): not a participant of its own.</summary>
    public bool Consult { get; set; }

    /// <summary>Dial string, for outbound trunk legs.</summary>
    public string? DialString { get; set; }

    /// <summary>BridgeUniqueids of every bridge this channel entered (kept after it left: the consultation bridge an
    /// <c>AttendedTransfer</c> names as <c>SecondBridgeUniqueid</c> is empty by then).</summary>
    public List<string>? BridgesEntered { get; set; }

    /// <summary>Uniqueid of the last other channel this one shared a bridge with (a Local half as it is; resolve it).</summary>
    public string? BridgedWith { get; set; }

    [JsonIgnore]
    public bool IsReal => Kind != LegKind.Local && !Consult;
}

/// <summary>An extension's consultation through a Local channel pair: the transferer and the Local <c>;1</c> half it was
/// bridged with.</summary>
internal sealed class AmiConsultation
{
    public string FromUid { get; set; } = "";

    public string LocalUid { get; set; } = "";
}

/// <summary>A transfer being tracked.</summary>
internal sealed class AmiTransferState
{
    public string From { get; set; } = "";

    public string To { get; set; } = "";

    public DateTimeOffset At { get; set; }

    public bool Answered { get; set; }

    /// <summary>True until a target rings (blind transfers: the next dials of the call are its targets).</summary>
    public bool Pending { get; set; }

    public bool TargetRang { get; set; }
}

/// <summary>Source-generated JSON for the correlator's state (no reflection).</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AmiStateDto))]
[JsonSerializable(typeof(AmiCallState))]
internal sealed partial class AmiStateJson : JsonSerializerContext;
