using System.Text.Json.Serialization;

namespace CloudTelephony.Telephony.Ami;

/// <summary>Kind of endpoint behind a channel.</summary>
internal enum LegKind
{
    Extension,
    Trunk,
    Local,
}

/// <summary>Everything <see cref="AmiCorrelator.SaveState"/> writes.</summary>
internal sealed class AmiStateDto
{
    public int Version { get; set; } = 1;

    public Dictionary<string, long> Watermarks { get; set; } = [];

    public List<AmiCallState> Calls { get; set; } = [];

    /// <summary>Linkedid of a call merged into another (attended transfer) → key of the surviving call.</summary>
    public Dictionary<string, string> Aliases { get; set; } = [];
}

/// <summary>One open call (one Linkedid, plus any consultation call merged into it).</summary>
internal sealed class AmiCallState
{
    public string Key { get; set; } = "";

    public DateTimeOffset StartedAt { get; set; }

    public DateTimeOffset LastAt { get; set; }

    public DateTimeOffset? AnsweredAt { get; set; }

    public string? AnsweredBy { get; set; }

    public string? Digits { get; set; }

    public string? Queue { get; set; }

    /// <summary>DialEnd statuses of top-level dials (dialler not a Local channel), plus <c>CANCEL</c> for a queue abandon.</summary>
    public List<string> DialStatuses { get; set; } = [];

    public bool Dialled { get; set; }

    public bool Voicemail { get; set; }

    public List<AmiLegState> Legs { get; set; } = [];

    public List<AmiTransferState> Transfers { get; set; } = [];

    public Dictionary<string, List<string>> Bridges { get; set; } = [];

    public List<CallEvent> Events { get; set; } = [];

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

    [JsonIgnore]
    public bool IsReal => Kind != LegKind.Local && !Consult;
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
internal sealed partial class AmiStateJson : JsonSerializerContext;
