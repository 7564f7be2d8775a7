using System.Globalization;
using CloudTelephony.Telephony.Streams;

namespace CloudTelephony.Telephony.Ami;

/// <summary>
/// What the AMI role interpreters share: the open calls of the stream (by Linkedid, merged Linkedids), their channels (by
/// Uniqueid and by channel name) and the moves every role makes — events, answers, merges, closes — with the call changes
/// they emit.
/// </summary>
internal sealed class AmiCalls
{
    private readonly Dictionary<string, string> _aliases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _aliasesBySpan;
    private readonly Dictionary<string, (AmiCallState Call, AmiLegState Leg)> _legs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (AmiCallState Call, AmiLegState Leg)>.AlternateLookup<ReadOnlySpan<char>> _legsBySpan;
    private readonly Dictionary<string, (AmiCallState Call, AmiLegState Leg)> _byChannel = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (AmiCallState Call, AmiLegState Leg)>.AlternateLookup<ReadOnlySpan<char>> _byChannelSpan;

    public AmiCalls(StreamEngine stream, CorrelatorOptions options)
    {
        Stream = stream;
        Options = options;
        NumberPlan = new AmiNumberPlan(options);
        _aliasesBySpan = _aliases.GetAlternateLookup<ReadOnlySpan<char>>();
        _legsBySpan = _legs.GetAlternateLookup<ReadOnlySpan<char>>();
        _byChannelSpan = _byChannel.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public StreamEngine Stream { get; }

    public CorrelatorOptions Options { get; }

    /// <summary>Trunk or extension, by the PBX's configured number plan or the stream's evidence.</summary>
    public AmiNumberPlan NumberPlan { get; }

    public string Pbx => Stream.Pbx;

    // ---- index ---------------------------------------------------------------------------------------------------

    /// <summary>Files a call's channels and merged Linkedids (opened or loaded).</summary>
    public void Attach(AmiCallState call)
    {
        foreach (var leg in call.Legs)
        {
            IndexLeg(call, leg);
        }

        foreach (var key in call.MergedKeys)
        {
            _aliases[key] = call.Key;
        }
    }

    /// <summary>Forgets a closed call's channels and merged Linkedids.</summary>
    public void Detach(AmiCallState call)
    {
        foreach (var leg in call.Legs)
        {
            _legs.Remove(leg.Uid);
            if (_byChannel.TryGetValue(leg.Channel, out var named) && ReferenceEquals(named.Leg, leg))
            {
                _byChannel.Remove(leg.Channel);
            }
        }

        foreach (var k in call.MergedKeys)
        {
            _aliases.Remove(k);
        }
    }

    /// <summary>Adds a channel to a call.</summary>
    public void AddLeg(AmiCallState call, AmiLegState leg)
    {
        call.Legs.Add(leg);
        IndexLeg(call, leg);
    }

    public bool HasLeg(ReadOnlySpan<char> uid) => _legsBySpan.ContainsKey(uid);

    /// <summary>The open call with this Linkedid, or the call a merged Linkedid now belongs to.</summary>
    public AmiCallState? FindCall(ReadOnlySpan<char> linkedid)
    {
        if (Stream.TryFind(linkedid, out var call))
        {
            return (AmiCallState)call;
        }

        if (_aliases.Count > 0 && _aliasesBySpan.TryGetValue(linkedid, out var key) && Stream.TryFind(key, out call))
        {
            return (AmiCallState)call;
        }

        return null;
    }

    /// <summary>The channel with this Uniqueid and its call.</summary>
    public bool TryLeg(ReadOnlySpan<char> uid, out AmiCallState call, out AmiLegState leg)
    {
        if (!uid.IsEmpty && _legsBySpan.TryGetValue(uid, out var found))
        {
            call = found.Call;
            leg = found.Leg;
            return true;
        }

        call = null!;
        leg = null!;
        return false;
    }

    /// <summary>The open channel with this name (<c>PJSIP/201-0000002a</c>) and its call; the newest when a name repeats.</summary>
    public bool TryLegByName(ReadOnlySpan<char> channel, out AmiCallState call, out AmiLegState leg)
    {
        if (!channel.IsEmpty && _byChannelSpan.TryGetValue(channel, out var found))
        {
            call = found.Call;
            leg = found.Leg;
            return true;
        }

        call = null!;
        leg = null!;
        return false;
    }

    /// <summary>The channel with this Uniqueid when it belongs to <paramref name="call"/>.</summary>
    public bool TryLegOf(AmiCallState call, string uid, out AmiLegState leg)
    {
        if (_legs.TryGetValue(uid, out var found) && ReferenceEquals(found.Call, call))
        {
            leg = found.Leg;
            return true;
        }

        leg = null!;
        return false;
    }

    /// <summary>The younger call <paramref name="from"/> (a consultation call) becomes part of <paramref name="into"/>.</summary>
    public void Merge(AmiCallState into, AmiCallState from, DateTimeOffset at)
    {
        foreach (var leg in from.Legs)
        {
            into.Legs.Add(leg);
            IndexLeg(into, leg);
        }

        foreach (var (id, members) in from.Bridges)
        {
            if (!into.Bridges.TryGetValue(id, out var list))
            {
                into.Bridges[id] = [.. members];
            }
            else
            {
                list.AddRange(members.Where(u => !list.Contains(u)));
            }
        }

        into.Events = [.. into.Events.Concat(from.Events).OrderBy(e => e.At).ThenBy(e => e.Seq)];
        into.Dialled |= from.Dialled;
        if (from.Consultations is { Count: > 0 })
        {
            (into.Consultations ??= []).AddRange(from.Consultations);
        }

        into.SawRinging |= from.SawRinging;
        into.LastAt = into.LastAt > from.LastAt ? into.LastAt : from.LastAt;
        into.MergedKeys.Add(from.Key);
        into.MergedKeys.AddRange(from.MergedKeys);
        Stream.Absorb(from, into, at);
        _aliases[from.Key] = into.Key;
        foreach (var k in from.MergedKeys)
        {
            _aliases[k] = into.Key;
        }
    }

    // ---- moves -------------------------------------------------------------------------------------------------------

    /// <summary>Opens a call for a new Linkedid.</summary>
    public AmiCallState Open(string key, DateTimeOffset at)
    {
        var call = new AmiCallState { Key = key, StartedAt = at, LastAt = at };
        Stream.Open(call);
        return call;
    }

    /// <summary>Adds one of the call's events (linked to the frame) and counts it as activity.</summary>
    public void AddEvent(AmiCallState call, DateTimeOffset at, string kind, string? endpoint, string? detail, in PbxFrame frame)
    {
        call.Events.Add(new CallEvent(at, kind, endpoint, detail, frame.Session, frame.Seq));
        Touch(call, at);
    }

    /// <summary>Activity on the call at <paramref name="at"/> (moves its timeout).</summary>
    public void Touch(AmiCallState call, DateTimeOffset at)
    {
        if (at > call.LastAt)
        {
            call.LastAt = at;
        }

        Stream.Touch(call);
    }

    /// <summary>The leg starts ringing at <paramref name="at"/> unless it rang before; a real extension other than the
    /// caller ringing is a <see cref="CallChangeKind.Ringing"/>.</summary>
    public void Ring(AmiCallState call, AmiLegState leg, DateTimeOffset at)
    {
        if (leg.RangAt is not null)
        {
            return;
        }

        leg.RangAt = at;
    }

    /// <summary>The phone behind the leg really rings (<c>Newstate</c> 5 Ringing, or a resync listing it Ringing): a real
    /// extension other than the caller ringing is a <see cref="CallChangeKind.Ringing"/>, once per leg. A dial that a DND
    /// phone refuses at once (480), a 302 forward or an unreachable phone never rings, so it is none
    /// (tests/data/ami/lab s1–s6).</summary>
    public void Alert(AmiCallState call, AmiLegState leg, DateTimeOffset at)
    {
        Ring(call, leg, at);
        call.SawRinging = true;
        if (leg.Alerted)
        {
            return;
        }

        leg.Alerted = true;
        if (leg.Kind == LegKind.Extension && leg.IsReal && !ReferenceEquals(leg, Origin(call)))
        {
            Stream.Emit(call, CallChangeKind.Ringing, at, extension: leg.Endpoint, caller: Origin(call).CallerIdNum, called: Called(call));
        }
    }

    /// <summary>A transfer of the call from <paramref name="from"/> to <paramref name="to"/>.</summary>
    public void Transferred(AmiCallState call, string from, string to, DateTimeOffset at)
        => Stream.Emit(call, CallChangeKind.Transferred, at, from: from, to: to);

    /// <summary>
    /// A leg answered (for a Local half: the real channel it leads to). The call's first answer by someone other than the
    /// caller sets <see cref="AmiCallState.AnsweredAt"/>/<see cref="AmiCallState.AnsweredBy"/>; a transfer target answering
    /// completes the transfer. Each is a <see cref="CallChangeKind.Answered"/>.
    /// </summary>
    public void MarkAnswered(AmiCallState call, AmiLegState leg, DateTimeOffset at)
    {
        if (leg.Kind == LegKind.Local)
        {
            var real = Resolve(call, leg);
            if (real is null || real.Kind == LegKind.Local)
            {
                return;
            }

            leg = real;
        }

        leg.AnsweredAt ??= at;
        if (ReferenceEquals(leg, Origin(call)) || leg.Consult)
        {
            return;
        }

        var emitted = false;
        if (call.AnsweredAt is null)
        {
            // the leg's own answer (Newstate Up) when seen, else the event that showed the answer
            call.AnsweredAt = leg.AnsweredAt < at ? leg.AnsweredAt : at;
            call.AnsweredBy = leg.Kind == LegKind.Extension ? leg.Endpoint : null;
            Stream.Emit(call, CallChangeKind.Answered, call.AnsweredAt.Value, extension: call.AnsweredBy);
            emitted = true;
        }

        if (leg.Role == "transfer" && call.Transfers.Count > 0)
        {
            var t = call.Transfers[^1];
            if (t.Pending || !t.Answered)
            {
                t.Answered = true;
                t.Pending = false;
                if (!emitted)
                {
                    Stream.Emit(call, CallChangeKind.Answered, at, extension: EndpointOf(call, leg));
                }
            }
        }
    }

    /// <summary>Completes the call as of <paramref name="endedAt"/> (its last hangup); a call made only of Local channels
    /// (no party: an <c>Originate</c> of Local to an application) is no call record (tests/data/ami/lab c1).</summary>
    public void Close(AmiCallState call, DateTimeOffset endedAt)
    {
        if (!call.Legs.Exists(l => l.Kind != LegKind.Local))
        {
            Stream.Discard(call, endedAt);
            return;
        }

        Stream.Close(call, AmiCallBuilder.Build(Pbx, call, endedAt, timedOut: false));
    }

    // ---- call facts --------------------------------------------------------------------------------------------------

    /// <summary>The caller's channel: the call's first channel, or for a click-to-call through a Local channel the phone
    /// the Local half dialled (<see cref="AmiCallState.OriginUid"/>).</summary>
    public static AmiLegState Origin(AmiCallState call)
    {
        if (call.OriginUid is { } uid)
        {
            foreach (var l in call.Legs)
            {
                if (l.Uid == uid)
                {
                    return l;
                }
            }
        }

        return call.Legs[0];
    }

    /// <summary>For a Local ;1/;2 half: the real channel its partner dialled (the answered one first); else the leg.</summary>
    public static AmiLegState? Resolve(AmiCallState call, AmiLegState leg)
    {
        if (leg.Kind != LegKind.Local)
        {
            return leg;
        }

        var pair = PairKey(leg.Channel);
        AmiLegState? best = null;
        foreach (var l in call.Legs)
        {
            if (l.Kind == LegKind.Local || l.DialedBy is null)
            {
                continue;
            }

            var dialer = call.Legs.Find(x => x.Uid == l.DialedBy);
            if (dialer is { Kind: LegKind.Local } && PairKey(dialer.Channel) == pair)
            {
                if (l.AnsweredAt is not null)
                {
                    return l;
                }

                best ??= l;
            }
        }

        return best;
    }

    /// <summary><c>Local/201@ctx-00000012;1</c> → <c>Local/201@ctx-00000012</c>: what both halves share.</summary>
    public static string PairKey(string channel)
    {
        var semi = channel.LastIndexOf(';');
        return semi < 0 ? channel : channel[..semi];
    }

    /// <summary>The party a leg stands for: its extension; for a trunk the external number (the caller's on an inbound
    /// trunk leg, the dialled number on an outbound one).</summary>
    public static string? EndpointOf(AmiCallState call, AmiLegState leg)
    {
        if (leg.Kind == LegKind.Trunk)
        {
            return ReferenceEquals(leg, Origin(call)) ? leg.CallerIdNum : Called(call) ?? leg.Endpoint;
        }

        return leg.Endpoint;
    }

    /// <summary>The number the caller dialled (the origin's <c>Exten</c>, unless <c>s</c>).</summary>
    public static string? Called(AmiCallState call)
    {
        var exten = Origin(call).Exten;
        return exten is null || exten == "s" ? call.OriginateExten : exten;
    }

    /// <summary>A local time of the Asterisk host (<c>yyyy-MM-dd HH:mm:ss</c>, Cdr events) in UTC, by the PBX's zone.</summary>
    public DateTimeOffset? ParseLocal(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty || !DateTime.TryParseExact(text, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
        {
            return null;
        }

        var offset = Options.TimeZone.GetUtcOffset(local);
        return new DateTimeOffset(local, offset).ToUniversalTime();
    }

    private void IndexLeg(AmiCallState call, AmiLegState leg)
    {
        _legs[leg.Uid] = (call, leg);
        if (leg.Channel.Length > 0)
        {
            _byChannel[leg.Channel] = (call, leg);
        }
    }
}

/// <summary>Small readers of AMI header values.</summary>
internal static class AmiValues
{
    /// <summary>A DialStatus as a shared string (<c>ANSWER</c>, <c>CANCEL</c>, …); null when empty.</summary>
    public static string? Status(ReadOnlySpan<char> s) => s switch
    {
        "ANSWER" => "ANSWER",
        "NOANSWER" => "NOANSWER",
        "CANCEL" => "CANCEL",
        "BUSY" => "BUSY",
        "CONGESTION" => "CONGESTION",
        "CHANUNAVAIL" => "CHANUNAVAIL",
        "" => null,
        _ => s.ToString(),
    };

    public static int ParseInt(ReadOnlySpan<char> s) => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : -1;

    public static string? NullIfEmpty(ReadOnlySpan<char> s) => s.IsEmpty ? null : s.ToString();

    /// <summary>A caller id number; empty and <c>&lt;unknown&gt;</c> → null.</summary>
    public static string? Number(ReadOnlySpan<char> s) => s.IsEmpty || s.SequenceEqual("<unknown>") ? null : s.ToString();
}
