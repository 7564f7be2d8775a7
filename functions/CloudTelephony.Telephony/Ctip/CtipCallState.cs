using System.Text.Json;
using System.Text.Json.Serialization;
using CloudTelephony.Telephony.Streams;

namespace CloudTelephony.Telephony.Ctip;

/// <summary>Where one extension's call leg stands.</summary>
internal enum LegState
{
    /// <summary>The extension is dialling (caller leg before the far end answered).</summary>
    Dialing,

    /// <summary>The extension is ringing.</summary>
    Ringing,

    /// <summary>The extension is in conversation.</summary>
    Connected,

    /// <summary>The leg is over.</summary>
    Ended,
}

/// <summary>One extension's part in an open call. Mutable; serialized into the correlator state.</summary>
internal sealed class CtipLeg
{
    public string Extension { get; set; } = "";

    /// <summary><c>caller</c>, <c>callee</c> or <c>transfer</c> (see <see cref="CallParticipant.Role"/>).</summary>
    public string Role { get; set; } = "";

    public LegState State { get; set; }

    public DateTimeOffset? RangAt { get; set; }

    public DateTimeOffset? AnsweredAt { get; set; }

    public DateTimeOffset? EndedAt { get; set; }

    /// <summary>When <c>STAT ext h</c> (on-hook) came while dialling or talking; the leg ends there unless a REL follows soon.</summary>
    public DateTimeOffset? OnHookAt { get; set; }

    /// <summary>REL cause that ended the leg; null when it ended by on-hook, timeout or flush.</summary>
    public int? EndCause { get; set; }

    /// <summary><see cref="CallParticipant.Outcome"/> once ended.</summary>
    public string? Outcome { get; set; }

    /// <summary>Digits the extension keyed (ECHO) before it was connected: the number a caller leg dialled.</summary>
    public string? Digits { get; set; }

    /// <summary>Digits keyed while connected, starting with FLASH (<c>/</c>): consultation or transfer dialling.</summary>
    public string? InCallDigits { get; set; }

    [JsonIgnore]
    public bool IsOpen => State != LegState.Ended;
}

/// <summary>A call being correlated. Mutable; saved as one open-call unit (<see cref="OpenCallState"/>).</summary>
internal sealed class CtipOpenCall : OpenCallState
{
    public CallDirection Direction { get; set; }

    public string? Caller { get; set; }

    /// <summary>Phonebook name from the first RING's comment (manual p.23), when it is not just the number.</summary>
    public string? CallerName { get; set; }

    public string? Called { get; set; }

    /// <summary>Made from a CONN with nothing before it (collector gap): direction is a guess that REL 39 legs may correct.</summary>
    public bool FromGap { get; set; }

    public DateTimeOffset StartedAt { get; set; }

    public DateTimeOffset LastActivityAt { get; set; }

    public DateTimeOffset? AnsweredAt { get; set; }

    public string? AnsweredBy { get; set; }

    /// <summary>When the conversation last stopped (fewer parties connected than a conversation needs); null while talking.</summary>
    public DateTimeOffset? TalkEndedAt { get; set; }

    /// <summary>When a transfer target or a recall of the transferring extension last stopped ringing unanswered in an
    /// answered call (UTC): the caller was still waiting on the line until then, so the call lasts at least that long.</summary>
    public DateTimeOffset? WaitedUntil { get; set; }

    /// <summary>When the last open leg ended; the call lingers briefly for late releases and transfer recalls.</summary>
    public DateTimeOffset? ClosingSince { get; set; }

    /// <summary>When the last leg release arrived (for orphan releases of legs whose RING was lost).</summary>
    public DateTimeOffset? LastReleaseAt { get; set; }

    /// <summary>Closed by timeout or flush while legs were still open.</summary>
    public bool Cut { get; set; }

    public List<CtipLeg> Legs { get; set; } = [];

    /// <summary>Extensions that rang, in ring order, each once.</summary>
    public List<string> Extensions { get; set; } = [];

    public List<CallTransfer> Transfers { get; set; } = [];

    public List<CallEvent> Events { get; set; } = [];

    /// <summary>The caller this call is filed under in <see cref="CtipCallIndex"/>.</summary>
    [JsonIgnore]
    internal string? IndexedCaller { get; set; }

    /// <summary>Filed in <see cref="CtipCallIndex"/>.</summary>
    [JsonIgnore]
    internal bool Indexed { get; set; }

    /// <summary>The activity time this call is filed under in <see cref="CtipCallIndex"/>.</summary>
    [JsonIgnore]
    internal DateTimeOffset IndexedActivity { get; set; }

    /// <summary>The next older open call with the same caller (<see cref="CtipCallIndex.NewestWithCaller"/>).</summary>
    [JsonIgnore]
    internal CtipOpenCall? OlderSameCaller { get; set; }

    /// <summary>The open call active just before this one (<see cref="CtipCallIndex.LatestActive"/>).</summary>
    [JsonIgnore]
    internal CtipOpenCall? EarlierActive { get; set; }

    /// <summary>The open call active just after this one.</summary>
    [JsonIgnore]
    internal CtipOpenCall? LaterActive { get; set; }

    /// <summary>Connected extensions a conversation needs: two for internal calls (both parties are extensions), one otherwise.</summary>
    private int TalkingParties => Direction == CallDirection.Internal ? 2 : 1;

    [JsonIgnore]
    public bool IsClosing => ClosingSince is not null;

    [JsonIgnore]
    public bool HasUnansweredTransfer => Transfers is [.., { Answered: false }];

    public CtipLeg? FindLeg(string extension)
    {
        foreach (var leg in Legs)
        {
            if (leg.Extension == extension)
            {
                return leg;
            }
        }

        return null;
    }

    public CtipLeg? FindOpenLeg(string extension) => FindLeg(extension) is { IsOpen: true } leg ? leg : null;

    public CtipLeg AddLeg(string extension, string role, LegState state, DateTimeOffset? rangAt)
    {
        var leg = new CtipLeg { Extension = extension, Role = role, State = state, RangAt = rangAt };
        Legs.Add(leg);
        if (role != "caller" && !Extensions.Contains(extension))
        {
            Extensions.Add(extension);
        }

        ClosingSince = null;
        return leg;
    }

    /// <summary>Starts (or restarts, on a transfer recall) ringing on <paramref name="leg"/>.</summary>
    public void Ring(CtipLeg leg, DateTimeOffset at)
    {
        leg.State = LegState.Ringing;
        leg.RangAt ??= at;
        leg.EndedAt = null;
        leg.EndCause = null;
        leg.Outcome = null;
        leg.OnHookAt = null;
        if (!Extensions.Contains(leg.Extension))
        {
            Extensions.Add(leg.Extension);
        }

        ClosingSince = null;
    }

    public void Connect(CtipLeg leg, DateTimeOffset at)
    {
        var wasRinging = leg.State == LegState.Ringing;
        leg.State = LegState.Connected;
        leg.AnsweredAt ??= at;
        leg.OnHookAt = null;
        AnsweredAt ??= at;
        if (wasRinging)
        {
            AnsweredBy ??= leg.Extension;
            MarkTransferAnswered(leg.Extension);
        }

        if (ConnectedCount() >= TalkingParties)
        {
            TalkEndedAt = null;
        }
    }

    /// <summary>Ends <paramref name="leg"/> at <paramref name="at"/>; <paramref name="cause"/> is the REL cause, null when
    /// it ended by on-hook, timeout or flush.</summary>
    public void EndLeg(CtipLeg leg, DateTimeOffset at, int? cause)
    {
        var talkingBefore = ConnectedCount() >= TalkingParties;
        var wasConnected = leg.State == LegState.Connected;
        if (leg.State == LegState.Ringing && AnsweredAt is not null && Transfers.Count > 0 && (WaitedUntil is null || at > WaitedUntil))
        {
            WaitedUntil = at;   // a transfer target or the recall stopped ringing while the caller waited
        }

        leg.Outcome = LegOutcome(leg, cause);
        leg.State = LegState.Ended;
        leg.EndedAt = at;
        leg.EndCause = cause;
        leg.OnHookAt = null;
        if (wasConnected && talkingBefore && ConnectedCount() < TalkingParties)
        {
            TalkEndedAt = at;
        }

        if (cause is not null)
        {
            LastReleaseAt = at;
        }

        if (!Legs.Exists(l => l.IsOpen))
        {
            ClosingSince = at;
        }
    }

    /// <summary>Turns a gap call guessed outbound into the inbound ring-group call that REL 39 legs prove it was.</summary>
    public void BecomeInbound()
    {
        if (!FromGap || Direction != CallDirection.Outbound)
        {
            return;
        }

        var answerer = Legs[0];
        Direction = CallDirection.Inbound;
        Caller = Called;
        Called = null;
        answerer.Role = "callee";
        AnsweredBy = answerer.Extension;
        Extensions.Insert(0, answerer.Extension);
    }

    public void Record(DateTimeOffset at, string kind, string? endpoint, string? detail, in PbxFrame frame)
    {
        Events.Add(new CallEvent(at, kind, endpoint, detail, frame.Session, frame.Seq));
        if (at > LastActivityAt)
        {
            LastActivityAt = at;
        }
    }

    private int ConnectedCount()
    {
        var count = 0;
        foreach (var leg in Legs)
        {
            if (leg.State == LegState.Connected)
            {
                count++;
            }
        }

        return count;
    }

    private void MarkTransferAnswered(string extension)
    {
        for (var i = Transfers.Count - 1; i >= 0; i--)
        {
            if (Transfers[i].To == extension)
            {
                Transfers[i] = Transfers[i] with { Answered = true };
                return;
            }
        }
    }

    /// <summary>A leg's <see cref="CallParticipant.Outcome"/> from its state and REL cause (CTIP manual v15.01 p.26).</summary>
    private static string LegOutcome(CtipLeg leg, int? cause)
    {
        if (leg.AnsweredAt is not null)
        {
            return "answered";
        }

        return cause switch
        {
            CtipReleaseCause.PickedUpElsewhere => "answered-elsewhere",
            CtipReleaseCause.Normal => leg.Role == "caller" ? "cancel" : "no-answer",
            CtipReleaseCause.NoAnswer or CtipReleaseCause.Forwarded => "no-answer",
            CtipReleaseCause.Busy or CtipReleaseCause.DoNotDisturb => "busy",
            CtipReleaseCause.Rejected => "rejected",
            2 or 3 or 4 or 5 or 10 or CtipReleaseCause.InvalidNumber or 18 or (>= 25 and <= 28) or 46 => "failed",
            null when leg.State == LegState.Dialing && leg.OnHookAt is not null => "cancel",
            _ => "unknown",
        };
    }
}

/// <summary>Last sequence number seen in one relay session (format-1 documents).</summary>
internal sealed class SessionWatermark
{
    public long Seq { get; set; }

    public DateTimeOffset LastSeenAt { get; set; }
}

/// <summary>The whole state the CTIP correlator saved before the stream engine (format 1, "Version": 1); read once to continue
/// an existing database.</summary>
internal sealed class CtipCorrelatorState
{
    public int Version { get; set; }

    /// <summary>Latest frame time seen (UTC): the stream's clock for timeouts.</summary>
    public DateTimeOffset? StreamTime { get; set; }

    public Dictionary<string, SessionWatermark> Watermarks { get; set; } = [];

    public List<CtipOpenCall> Calls { get; set; } = [];

    /// <summary>The format-1 document in <paramref name="json"/>, or null when it is not one.</summary>
    /// <exception cref="FormatException">It says version 1 but cannot be read.</exception>
    public static LegacyStreamState? Read(string json)
    {
        CtipCorrelatorState? state;
        try
        {
            state = JsonSerializer.Deserialize(json, CtipStateJson.Default.CtipCorrelatorState);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"CTIP correlator state is not valid: {ex.Message}", ex);
        }

        if (state is not { Version: 1 })
        {
            return null;
        }

        foreach (var call in state.Calls)
        {
            if (call.Events is [.., var last])
            {
                call.LastSession = last.Session;
                call.LastSeq = last.Seq;
            }
        }

        return new LegacyStreamState(
            state.StreamTime,
            [.. state.Watermarks.OrderBy(w => w.Key, StringComparer.Ordinal).Select(w => (w.Key, w.Value.Seq, (DateTimeOffset?)w.Value.LastSeenAt))],
            state.Calls);
    }
}

/// <summary>Source-generated JSON for CTIP call state (and the format-1 document).</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, UseStringEnumConverter = true)]
[JsonSerializable(typeof(CtipOpenCall))]
[JsonSerializable(typeof(CtipCorrelatorState))]
internal sealed partial class CtipStateJson : JsonSerializerContext;
