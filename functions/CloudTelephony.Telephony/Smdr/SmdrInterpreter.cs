using System.Runtime.InteropServices;
using System.Text.Json;
using CloudTelephony.Telephony.Streams;

namespace CloudTelephony.Telephony.Smdr;

/// <summary>
/// The SMDR rules: correlates Avaya IP Office SMDR records (one frame = one CSV line, <see cref="SmdrParser"/>) into calls.
/// Rules from shared/protocols/smdr.md ("One call = N records", "Deriving answered / missed") and Avaya's "SMDR Fields"
/// page (https://documentation.avaya.com/bundle/AdministeringAvayaIPOfficePlatformManagerR11_1/page/SMDR_Fields.html).
/// </summary>
/// <remarks>
/// <para><b>Grouping.</b> Records with the same Call ID are the segments of one call. Continuation <c>1</c> means more
/// follow; the record with Continuation <c>0</c> closes the call and it is emitted then. Records arrive in call-<i>end</i>
/// order, so Call Start times go backwards in the stream; nothing here depends on start order.</para>
/// <para><b>Timing.</b> Every segment carries the call's original start; segment <i>k</i> is placed after the previous
/// ones: it begins at <c>max(its Call Start, end of segment k-1)</c> and lasts Ring + Connected + Hold + Park (Avaya's
/// record duration). <see cref="Call.StartedAt"/> = Call Start of the first record; <see cref="Call.EndedAt"/> = end of
/// the last segment (= start + Σ ring + connected + hold + park); <see cref="Call.AnsweredAt"/> = begin + Ring Time of
/// the first answered segment (voicemail included), so Hold and Park Time never count as ring; <see cref="Call.TalkSeconds"/>
/// = Σ Connected Time. A segment is answered when its Connected Time, Hold Time or Park Time is &gt; 0: only an answered
/// call can be held or parked, and Avaya's "SMDR Examples" (Park and Unpark) show the parking extension's record with
/// Connected Time 0 and the Park Time.</para>
/// <para><b>Direction.</b> <c>I</c> → inbound. <c>O</c> → internal only when every segment has Is Internal = 1 and two
/// parties of which none is a trunk (<c>T…</c>) — i.e. both ends on the system as smdr.md #9 says; otherwise outbound.
/// This keeps the <c>VIRTUAL SPP</c> rows (Is Internal 1, no Party2, an external called number) outbound, as the fixture
/// README describes them.</para>
/// <para><b>Status.</b> A segment with a voicemail party (<c>V…</c> device or a name starting <c>VM Channel</c>; a
/// <c>V…</c> conference channel named <c>CO Channel …</c> is people talking, not voicemail) is a voicemail segment. Answered = some non-voicemail segment was answered; else Voicemail = some voicemail
/// segment was answered; else Missed (SMDR does not say why, so <see cref="Call.MissedReason"/> stays null). Calls closed
/// by timeout or <see cref="Flush"/> are Unknown.</para>
/// <para><b>Parties.</b> The originating device is the trunk for inbound calls and Party1 for outbound/internal ones.
/// Each segment's target is its first party that is neither the originator nor a trunk (<c>E218</c> → <c>218</c>, other
/// devices such as <c>V9542</c> as sent); if only a trunk is left, the external number (External Targeted Number, else
/// Dialled/Called Number); with no other party, the Called Number. When a segment has the same two parties as the one
/// before but a different Called Number (real example Call ID 1949529: AA then 4666), the target is the new Called
/// Number. A change of target after an answered segment is a transfer from the party that had the call (forward or
/// transfer; SMDR does not tell them apart): a call parked by one extension and unparked at another is answered by the
/// parking extension and transferred to the unparking one. A change of target after a segment nobody answered (call
/// pickup, forward on no answer, the next hunt-group member) is no transfer: the call moved on, and an extension that
/// only rang before a person answered elsewhere is <c>answered-elsewhere</c>.</para>
/// <para><b>Call fields.</b> <see cref="Call.CallKey"/> = Call ID. <see cref="Call.Caller"/> = Caller of the first record;
/// empty or <c>anonymous</c> → null (withheld), SIP <c>number@ip</c> → <c>number</c> (the raw value stays in
/// <see cref="SmdrRecord.Caller"/>). <see cref="Call.Called"/> = Dialled Number (the DDI for inbound, the digits dialled
/// for outbound), else Called Number when it is empty (analog lines send no DDI). <see cref="Call.AnsweredBy"/> = the
/// first <c>E</c> party, other than the originator, of the first answered non-voicemail segment — Party1 or Party2,
/// whichever holds it (IP Office puts the extension in Party1 on real inbound lines); null for outbound calls answered
/// by the far end. <see cref="Call.Extensions"/> = the extensions that rang, as in every protocol: every <c>E</c> party
/// in segment order, each once, except the originator (the calling extension of an outbound or internal call). <see cref="Call.Trunk"/> = the first <c>T…</c> device. Participants: the caller
/// (or the originating device when withheld), then one leg per distinct segment target. Events: one <c>record</c> event
/// per record, at its SMDR Record Time or else its computed segment end, linked to the frame's session and seq.</para>
/// <para><b>Timeouts.</b> The stream clock is PBX time: the latest segment end (or SMDR Record Time) seen. An open call
/// whose last segment ended more than <see cref="CorrelatorOptions.TalkTimeout"/> before the clock (or before
/// an expiry's <c>now</c>) is closed as Unknown.</para>
/// <para><b>Changes.</b> SMDR reports a call only when its records arrive, so every change is emitted when the call
/// completes: <see cref="CallChangeKind.Opened"/> (Call Start), <see cref="CallChangeKind.Ringing"/> per extension
/// target, <see cref="CallChangeKind.Answered"/>, <see cref="CallChangeKind.Transferred"/> per transfer,
/// <see cref="CallChangeKind.Ended"/>, <see cref="CallChangeKind.Completed"/>, at the times the record gives. A one-record
/// call (the common case) never enters the open set.</para>
/// </remarks>
internal sealed class SmdrInterpreter : CallInterpreter
{
    private readonly CorrelatorOptions _options;
    private readonly Dictionary<long, SmdrOpenCall> _open = [];
    private readonly SmdrStringCache _strings = new();
    private readonly SmdrFields _scratch = new();
    private readonly SmdrCallBuilder _builder;
    private readonly List<Lifetime> _lifetime = new(8);

    /// <summary>Stands for each one-record call while its changes are emitted (it never enters the open set).</summary>
    private readonly SmdrOpenCall _oneRecord = new();

    public SmdrInterpreter(CorrelatorOptions options)
    {
        _options = options;
        _builder = new SmdrCallBuilder(_strings);
    }

    /// <inheritdoc/>
    public override string Protocol => SmdrProtocol.Instance.Name;

    /// <inheritdoc/>
    public override FrameOutcome Apply(in PbxFrame frame)
    {
        var text = frame.Text ?? "";
        var record = _scratch; // one-record calls are built from it directly; records of open calls get a copy
        var parsed = SmdrParser.ParseCore(text, _options.TimeZone, _strings, record);
        if (parsed.Error is { } error)
        {
            return FrameOutcome.Failed(error);
        }

        var session = frame.Session ?? "";
        if (!record.Continuation && !_open.ContainsKey(record.CallId))
        {
            // The common case: a one-record call. Built straight away, never enters the open set.
            var end = AddSeconds(record.CallStart, record.TotalSeconds);
            Stream.MoveClock(ClockOf(record, end));
            var single = new SmdrSegment(record, session, frame.Seq, text);
            var built = _builder.Build(Stream.Pbx, record.CallId, new ReadOnlySpan<SmdrSegment>(in single), complete: true);
            var once = _oneRecord;
            once.Key = built.CallKey;
            once.CallId = record.CallId;
            once.Changes = 0;
            once.Ended = false;
            Complete(once, built);
            return FrameOutcome.Applied;
        }

        var call = Add(record.Clone(), session, frame.Seq, text, out var segmentEnd);
        call.Final = !record.Continuation;   // completes with this record: no timeout for it any more

        // Calls left open for longer than the timeout (by PBX time) go first: they are older than this one.
        Stream.MoveClock(ClockOf(record, segmentEnd));
        if (call.Final)
        {
            Complete(call, _builder.Build(Stream.Pbx, call.CallId, CollectionsMarshal.AsSpan(call.Segments), complete: true));
        }

        return FrameOutcome.Applied;
    }

    /// <summary>The talk timeout after the end of the call's last segment (none once its last record arrived).</summary>
    public override DateTimeOffset Deadline(OpenCallState state)
        => state is not SmdrOpenCall call || call.Final ? DateTimeOffset.MaxValue : AddTime(call.LastActivity!.Value, _options.TalkTimeout);

    /// <inheritdoc/>
    public override Call? OnDeadline(OpenCallState call, DateTimeOffset now) => Incomplete((SmdrOpenCall)call);

    /// <inheritdoc/>
    public override Call Flush(OpenCallState call) => Incomplete((SmdrOpenCall)call);

    /// <inheritdoc/>
    public override void Attach(OpenCallState state)
    {
        var call = (SmdrOpenCall)state;
        _open[call.CallId] = call;
    }

    /// <inheritdoc/>
    public override void Detach(OpenCallState state)
    {
        var call = (SmdrOpenCall)state;
        if (_open.TryGetValue(call.CallId, out var current) && ReferenceEquals(current, call))
        {
            _open.Remove(call.CallId);
        }
    }

    /// <inheritdoc/>
    public override string Serialize(OpenCallState call) => JsonSerializer.Serialize((SmdrOpenCall)call, SmdrStateJson.Default.SmdrOpenCall);

    /// <inheritdoc/>
    public override OpenCallState Deserialize(string json)
    {
        SmdrOpenCall? call;
        try
        {
            call = JsonSerializer.Deserialize(json, SmdrStateJson.Default.SmdrOpenCall);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"SMDR call state is not valid JSON: {ex.Message}", ex);
        }

        if (call is null)
        {
            throw new FormatException("SMDR call state is JSON null");
        }

        Reparse(call);
        return call;
    }

    /// <inheritdoc/>
    public override LegacyStreamState? ReadLegacy(string json)
    {
        SmdrState? s;
        try
        {
            s = JsonSerializer.Deserialize(json, SmdrStateJson.Default.SmdrState);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"SMDR correlator state is not valid JSON: {ex.Message}", ex);
        }

        if (s is not { Version: 1 })
        {
            return null;
        }

        var calls = new List<SmdrOpenCall>();
        foreach (var old in s.Open ?? [])
        {
            var call = new SmdrOpenCall
            {
                Key = old.CallId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                CallId = old.CallId,
                Records = old.Records ?? [],
            };
            if (call.Records is [.., var last])
            {
                call.LastSession = last.Session;
                call.LastSeq = last.Seq;
            }

            Reparse(call);
            calls.Add(call);
        }

        return new LegacyStreamState(
            s.Clock,
            [.. (s.Watermarks ?? []).OrderBy(w => w.Key, StringComparer.Ordinal).Select(w => (w.Key, w.Value, (DateTimeOffset?)null))],
            calls);
    }

    /// <summary>Emits the call's changes (all of them: SMDR tells a call only when its records arrive) and completes it.</summary>
    private void Complete(SmdrOpenCall call, Call record)
    {
        EmitLifetime(call, record);
        Stream.Close(call, record);
    }

    /// <summary>The changes a record tells, before its end, in the order they happened: opened; per segment target that is
    /// an extension its ringing; the first answer; each transfer, then its target ringing and, when it took the call, its
    /// answer. At the same instant a transfer comes before its target's ringing, and ringing before an answer.</summary>
    private void EmitLifetime(SmdrOpenCall call, Call record)
    {
        if (!Stream.WantsEveryChange)
        {
            return;   // nobody listens, and the call completes now: its ordinals count from here on to nothing saved
        }

        Stream.Emit(call, CallChangeKind.Opened, record.StartedAt, caller: record.Caller, called: record.Called);
        var lifetime = _lifetime;
        lifetime.Clear();
        var participants = record.Participants;
        for (var i = 1; i < participants.Count; i++)
        {
            var leg = participants[i];
            if (!Contains(record.Extensions, leg.Endpoint))
            {
                continue;
            }

            if (leg.RangAt is { } rang)
            {
                lifetime.Add(new Lifetime(rang, 1, lifetime.Count, CallChangeKind.Ringing, leg.Endpoint, null));
            }

            if (leg is { Role: "transfer", AnsweredAt: { } taken } && leg.Endpoint != record.AnsweredBy)
            {
                lifetime.Add(new Lifetime(taken, 2, lifetime.Count, CallChangeKind.Answered, leg.Endpoint, null));
            }
        }

        if (record.AnsweredAt is { } answered)
        {
            lifetime.Add(new Lifetime(answered, 2, lifetime.Count, CallChangeKind.Answered, record.AnsweredBy, null));
        }

        foreach (var t in record.Transfers)
        {
            lifetime.Add(new Lifetime(t.At, 0, lifetime.Count, CallChangeKind.Transferred, t.From, t.To));
        }

        lifetime.Sort(static (a, b) => a.At != b.At ? a.At.CompareTo(b.At) : a.Rank != b.Rank ? a.Rank.CompareTo(b.Rank) : a.Order.CompareTo(b.Order));
        foreach (var c in lifetime)
        {
            switch (c.Kind)
            {
                case CallChangeKind.Ringing:
                    Stream.Emit(call, CallChangeKind.Ringing, c.At, extension: c.Party, caller: record.Caller, called: record.Called);
                    break;
                case CallChangeKind.Answered:
                    Stream.Emit(call, CallChangeKind.Answered, c.At, extension: c.Party);
                    break;
                default:
                    Stream.Emit(call, CallChangeKind.Transferred, c.At, from: c.Party, to: c.To);
                    break;
            }
        }
    }

    /// <summary>One change of <see cref="EmitLifetime"/> before sorting: time, rank at the same time, insertion order.</summary>
    private readonly record struct Lifetime(DateTimeOffset At, int Rank, int Order, CallChangeKind Kind, string? Party, string? To);

    /// <summary>The record of a call whose last record never came (timeout, end of capture); the engine completes it.</summary>
    private Call Incomplete(SmdrOpenCall call)
    {
        var record = _builder.Build(Stream.Pbx, call.CallId, CollectionsMarshal.AsSpan(call.Segments), complete: false);
        EmitLifetime(call, record);
        return record;
    }

    private static bool Contains(IReadOnlyList<string> list, string value)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] == value)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Adds a record to its open call (opening it), and gives the end of its segment.</summary>
    private SmdrOpenCall Add(SmdrFields record, string session, long seq, string text, out DateTimeOffset end)
    {
        if (!_open.TryGetValue(record.CallId, out var call))
        {
            call = new SmdrOpenCall { Key = record.CallId.ToString(System.Globalization.CultureInfo.InvariantCulture), CallId = record.CallId };
            Stream.Open(call);
        }

        end = call.Append(record, session, seq, text);
        Stream.Touch(call);
        return call;
    }

    /// <summary>Rebuilds a saved call's parsed segments from its records.</summary>
    private void Reparse(SmdrOpenCall call)
    {
        var records = call.Records;
        call.Records = [];
        call.Segments.Clear();
        call.LastActivity = null;
        foreach (var r in records)
        {
            var fields = new SmdrFields();
            var parsed = SmdrParser.ParseCore(r.Frame, _options.TimeZone, _strings, fields);
            if (parsed.Error is not null)
            {
                throw new FormatException($"SMDR correlator state holds a record that does not parse ({r.Session}:{r.Seq}): {parsed.Error}");
            }

            call.Append(fields, r.Session, r.Seq, r.Frame);
        }
    }

    /// <summary>The stream clock is the latest PBX time seen: segment end, or SMDR Record Time when later.</summary>
    private static DateTimeOffset ClockOf(SmdrFields record, DateTimeOffset end) => record.RecordTime is { } rt && rt > end ? rt : end;

    internal static DateTimeOffset AddSeconds(DateTimeOffset t, int seconds) => AddTime(t, TimeSpan.FromSeconds(seconds));

    internal static DateTimeOffset AddTime(DateTimeOffset t, TimeSpan span)
        => span.Ticks > 0 && DateTimeOffset.MaxValue.UtcTicks - t.UtcTicks < span.Ticks ? DateTimeOffset.MaxValue : t + span;
}

/// <summary>One received record of an SMDR call with its frame position.</summary>
/// <param name="Record">The parsed fields.</param>
/// <param name="Session">Relay session.</param>
/// <param name="Seq">Seq within the session.</param>
/// <param name="Text">The frame as received.</param>
internal readonly record struct SmdrSegment(SmdrFields Record, string Session, long Seq, string Text);

/// <summary>The SMDR protocol module: Avaya IP Office SMDR, which IP Office pushes to the relay's listener (TCP 9000), one
/// CSV record per frame.</summary>
internal sealed class SmdrProtocol : PbxProtocol
{
    public static readonly SmdrProtocol Instance = new();

    public override string Name => "smdr";

    public override string Title => "Avaya IP Office SMDR";

    public override int DefaultPort => 9000;

    public override CaptureFraming Framing => CaptureFraming.Lines;

    public override FrameParse Parse(string frame, DateTimeOffset receivedAt, TimeZoneInfo? timeZone = null)
    {
        var parsed = SmdrParser.Parse(frame, timeZone);
        return parsed.IsSuccess
            ? new FrameParse(null, "Call " + parsed.Record!.CallId.ToString(System.Globalization.CultureInfo.InvariantCulture))
            : new FrameParse(parsed.Error, null);
    }

    protected override CallInterpreter CreateInterpreter(CorrelatorOptions options) => new SmdrInterpreter(options);
}

/// <summary>A shortcut to the SMDR stream engine (<see cref="PbxProtocols"/> <c>smdr</c>).</summary>
public static class SmdrCorrelator
{
    /// <summary>An SMDR stream engine, continuing from <paramref name="state"/> when given.</summary>
    /// <param name="pbx">PBX id stamped on every call.</param>
    /// <param name="options">Settings; <see cref="CorrelatorOptions.TimeZone"/> converts Call Start to UTC,
    /// <see cref="CorrelatorOptions.TalkTimeout"/> closes calls whose last record never comes.</param>
    /// <param name="state">Saved state (any format <see cref="IPbxProtocol.Restore(string, CorrelatorOptions, string?)"/> reads), or null/empty to start fresh.</param>
    /// <exception cref="FormatException">The state is not valid SMDR correlator state.</exception>
    public static StreamCorrelator Restore(string pbx, CorrelatorOptions options, string? state) => SmdrProtocol.Instance.Restore(pbx, options, state);
}
