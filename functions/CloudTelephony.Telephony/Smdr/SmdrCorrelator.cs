using System.Runtime.InteropServices;
using System.Text.Json;

namespace CloudTelephony.Telephony.Smdr;

/// <summary>
/// Correlates Avaya IP Office SMDR records (one frame = one CSV line, <see cref="SmdrParser"/>) into calls.
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
/// the first segment with Connected Time &gt; 0 (voicemail included); <see cref="Call.TalkSeconds"/> = Σ Connected Time.</para>
/// <para><b>Direction.</b> <c>I</c> → inbound. <c>O</c> → internal only when every segment has Is Internal = 1 and two
/// parties of which none is a trunk (<c>T…</c>) — i.e. both ends on the system as smdr.md #9 says; otherwise outbound.
/// This keeps the <c>VIRTUAL SPP</c> rows (Is Internal 1, no Party2, an external called number) outbound, as the fixture
/// README describes them.</para>
/// <para><b>Status.</b> A segment with a voicemail party (<c>V…</c> device or a name starting <c>VM Channel</c>) is a
/// voicemail segment. Answered = some non-voicemail segment has Connected Time &gt; 0; else Voicemail = some voicemail
/// segment was connected; else Missed (SMDR does not say why, so <see cref="Call.MissedReason"/> stays null). Calls closed
/// by timeout or <see cref="Flush"/> are Unknown.</para>
/// <para><b>Parties.</b> The originating device is the trunk for inbound calls and Party1 for outbound/internal ones.
/// Each segment's target is its first party that is neither the originator nor a trunk (<c>E218</c> → <c>218</c>, other
/// devices such as <c>V9542</c> as sent); if only a trunk is left, the external number (External Targeted Number, else
/// Dialled/Called Number); with no other party, the Called Number. When a segment has the same two parties as the one
/// before but a different Called Number (real example Call ID 1949529: AA then 4666), the target is the new Called
/// Number. A change of target between segments is a transfer (forward or transfer; SMDR does not tell them apart).</para>
/// <para><b>Call fields.</b> <see cref="Call.CallKey"/> = Call ID. <see cref="Call.Caller"/> = Caller of the first record;
/// empty or <c>anonymous</c> → null (withheld), SIP <c>number@ip</c> → <c>number</c> (the raw value stays in
/// <see cref="SmdrRecord.Caller"/>). <see cref="Call.Called"/> = Dialled Number (the DDI for inbound, the digits dialled
/// for outbound), else Called Number when it is empty (analog lines send no DDI). <see cref="Call.AnsweredBy"/> = the
/// first <c>E</c> party, other than the originator, of the first connected non-voicemail segment — Party1 or Party2,
/// whichever holds it (IP Office puts the extension in Party1 on real inbound lines); null for outbound calls answered
/// by the far end. <see cref="Call.Extensions"/> = every <c>E</c> party in segment order, each once (the originator of
/// an outbound call included). <see cref="Call.Trunk"/> = the first <c>T…</c> device. Participants: the caller
/// (or the originating device when withheld), then one leg per distinct segment target. Events: one <c>record</c> event
/// per record, at its SMDR Record Time or else its computed segment end, linked to the frame's session and seq.</para>
/// <para><b>Timeouts.</b> The stream clock is PBX time: the latest segment end (or SMDR Record Time) seen. An open call
/// whose last segment ended more than <see cref="CorrelatorOptions.TalkTimeout"/> before the clock (or before
/// <see cref="Expire"/>'s <c>now</c>) is closed as Unknown.</para>
/// </remarks>
public sealed class SmdrCorrelator : ICallCorrelator
{
    private readonly CorrelatorOptions _options;
    private readonly Dictionary<string, long> _watermarks = new(StringComparer.Ordinal);
    private readonly Dictionary<long, OpenCall> _open = [];
    private readonly SmdrStringCache _strings = new();
    private readonly SmdrFields _scratch = new();
    private readonly List<string> _extensions = new(4);
    private readonly List<CallParticipant> _legs = new(4);
    private string? _lastDevice;
    private string? _lastEndpoint;
    private long _order;
    private DateTimeOffset? _clock;
    private DateTimeOffset _nextDeadline = DateTimeOffset.MaxValue;

    private SmdrCorrelator(string pbx, CorrelatorOptions options)
    {
        Pbx = pbx;
        _options = options;
    }

    /// <inheritdoc/>
    public string Protocol => "smdr";

    /// <inheritdoc/>
    public string Pbx { get; }

    /// <inheritdoc/>
    public int OpenCalls => _open.Count;

    /// <summary>Creates a correlator, continuing from <paramref name="state"/> (JSON from <see cref="SaveState"/>) when given.</summary>
    /// <param name="pbx">PBX id stamped on every call.</param>
    /// <param name="options">Settings; <see cref="CorrelatorOptions.TimeZone"/> converts Call Start to UTC,
    /// <see cref="CorrelatorOptions.TalkTimeout"/> closes calls whose last record never comes.</param>
    /// <param name="state">Saved state, or null/empty to start fresh.</param>
    /// <exception cref="FormatException">The state is not valid SMDR correlator state.</exception>
    public static SmdrCorrelator Restore(string pbx, CorrelatorOptions options, string? state)
    {
        ArgumentNullException.ThrowIfNull(pbx);
        ArgumentNullException.ThrowIfNull(options);
        var c = new SmdrCorrelator(pbx, options);
        if (string.IsNullOrWhiteSpace(state))
        {
            return c;
        }

        SmdrState? s;
        try
        {
            s = JsonSerializer.Deserialize(state, SmdrStateJson.Default.SmdrState);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"SMDR correlator state is not valid JSON: {ex.Message}", ex);
        }

        if (s is null || s.Version != 1)
        {
            throw new FormatException($"SMDR correlator state has an unknown version ({s?.Version.ToString() ?? "null"})");
        }

        c._clock = s.Clock;
        foreach (var (session, seq) in s.Watermarks ?? [])
        {
            c._watermarks[session] = seq;
        }

        foreach (var call in s.Open ?? [])
        {
            foreach (var r in call.Records ?? [])
            {
                var fields = new SmdrFields();
                var parsed = SmdrParser.ParseCore(r.Frame, options.TimeZone, c._strings, fields);
                if (parsed.Error is not null)
                {
                    throw new FormatException($"SMDR correlator state holds a record that does not parse ({r.Session}:{r.Seq}): {parsed.Error}");
                }

                c.Add(fields, r.Session, r.Seq, r.Frame);
            }
        }

        return c;
    }

    /// <inheritdoc/>
    public FrameOutcome Process(in PbxFrame frame, ICollection<Call> completed)
    {
        ref var watermark = ref CollectionsMarshal.GetValueRefOrAddDefault(_watermarks, frame.Session ?? "", out var known);
        if (known && frame.Seq <= watermark)
        {
            return FrameOutcome.Duplicate;
        }

        watermark = frame.Seq;
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
            MoveClock(record, end);
            if (_clock > _nextDeadline)
            {
                ExpireCore(_clock.Value, completed);
            }

            var single = new Segment(record, session, frame.Seq, text);
            completed.Add(Build(record.CallId, new ReadOnlySpan<Segment>(in single), complete: true));
            return FrameOutcome.Applied;
        }

        var call = Add(record.Clone(), session, frame.Seq, text);
        if (!record.Continuation)
        {
            _open.Remove(record.CallId);
        }

        // Calls left open for longer than the timeout (by PBX time) go first: they are older than this one.
        if (_clock > _nextDeadline)
        {
            ExpireCore(_clock.Value, completed);
        }

        if (!record.Continuation)
        {
            completed.Add(Build(call, complete: true));
        }

        return FrameOutcome.Applied;
    }

    /// <inheritdoc/>
    public void Expire(DateTimeOffset now, ICollection<Call> completed)
    {
        if (now > _nextDeadline)
        {
            ExpireCore(now, completed);
        }
    }

    /// <inheritdoc/>
    public void Flush(ICollection<Call> completed)
    {
        foreach (var call in _open.Values.OrderBy(c => c.Order))
        {
            completed.Add(Build(call, complete: false));
        }

        _open.Clear();
        _nextDeadline = DateTimeOffset.MaxValue;
    }

    /// <inheritdoc/>
    public string SaveState()
    {
        var s = new SmdrState { Clock = _clock, Watermarks = new Dictionary<string, long>(_watermarks, StringComparer.Ordinal) };
        foreach (var call in _open.Values.OrderBy(c => c.Order))
        {
            var sc = new SmdrStateCall { CallId = call.CallId };
            foreach (var seg in call.Segments)
            {
                sc.Records.Add(new SmdrStateRecord { Session = seg.Session, Seq = seg.Seq, Frame = seg.Text });
            }

            s.Open.Add(sc);
        }

        return JsonSerializer.Serialize(s, SmdrStateJson.Default.SmdrState);
    }

    /// <summary>Adds a record to its open call (creating it), moves the clock and the earliest deadline.</summary>
    private OpenCall Add(SmdrFields record, string session, long seq, string text)
    {
        ref var call = ref CollectionsMarshal.GetValueRefOrAddDefault(_open, record.CallId, out var exists);
        if (!exists)
        {
            call = new OpenCall(record.CallId, _order++);
        }

        var open = call!;
        var begin = open.LastActivity is { } last && last > record.CallStart ? last : record.CallStart;
        var end = AddSeconds(begin, record.TotalSeconds);
        open.Segments.Add(new Segment(record, session, seq, text));
        open.LastActivity = end;
        MoveClock(record, end);

        var deadline = AddTime(end, _options.TalkTimeout);
        if (deadline < _nextDeadline)
        {
            _nextDeadline = deadline;
        }

        return open;
    }

    /// <summary>The stream clock is the latest PBX time seen: segment end, or SMDR Record Time when later.</summary>
    private void MoveClock(SmdrFields record, DateTimeOffset end)
    {
        var seen = record.RecordTime is { } rt && rt > end ? rt : end;
        if (_clock is null || seen > _clock)
        {
            _clock = seen;
        }
    }

    private void ExpireCore(DateTimeOffset now, ICollection<Call> completed)
    {
        List<OpenCall>? expired = null;
        var next = DateTimeOffset.MaxValue;
        foreach (var call in _open.Values)
        {
            var deadline = AddTime(call.LastActivity!.Value, _options.TalkTimeout);
            if (now > deadline)
            {
                (expired ??= []).Add(call);
            }
            else if (deadline < next)
            {
                next = deadline;
            }
        }

        _nextDeadline = next;
        if (expired is null)
        {
            return;
        }

        expired.Sort((a, b) => a.Order.CompareTo(b.Order));
        foreach (var call in expired)
        {
            _open.Remove(call.CallId);
            completed.Add(Build(call, complete: false));
        }
    }

    private Call Build(OpenCall open, bool complete) => Build(open.CallId, CollectionsMarshal.AsSpan(open.Segments), complete);

    private Call Build(long callId, ReadOnlySpan<Segment> segments, bool complete)
    {
        var first = segments[0].Record;
        var direction = DirectionOf(segments);
        var start = first.CallStart;
        var origin = OriginDevice(first, direction);
        var caller = CallerNumber(first.Caller);

        var extensions = _extensions;
        extensions.Clear();
        List<CallTransfer>? transfers = null;
        var legs = _legs;
        legs.Clear();
        legs.Add(null!); // [0] = caller, set at the end
        var events = new CallEvent[segments.Length];
        var index = 0;
        string? trunk = null;
        string? answeredBy = null;
        DateTimeOffset? answeredAt = null;
        var person = false;
        var voicemail = false;
        var talk = 0;
        var cursor = start;
        var end = start;
        SmdrFields? prev = null;
        string? prevTarget = null;

        foreach (var seg in segments)
        {
            var r = seg.Record;
            var begin = r.CallStart > cursor ? r.CallStart : cursor;
            var segEnd = AddSeconds(begin, r.TotalSeconds);
            cursor = segEnd;
            if (segEnd > end)
            {
                end = segEnd;
            }

            AddExtension(r.Party1Device);
            AddExtension(r.Party2Device);
            trunk ??= IsTrunk(r.Party1Device) ? r.Party1Device : IsTrunk(r.Party2Device) ? r.Party2Device : null;

            var connected = r.ConnectedSeconds > 0;
            DateTimeOffset? segAnswer = connected ? AddSeconds(begin, r.RingSeconds) : null;
            talk += r.ConnectedSeconds;
            if (connected)
            {
                answeredAt ??= segAnswer;
                if (IsVoicemail(r.Party1Device, r.Party1Name) || IsVoicemail(r.Party2Device, r.Party2Name))
                {
                    voicemail = true;
                }
                else
                {
                    person = true;
                    answeredBy ??= AnsweringExtension(r, origin);
                }
            }

            string target;
            if (prev is not null && prev.Party1Device == r.Party1Device && prev.Party2Device == r.Party2Device)
            {
                target = r.CalledNumber is { } called && called != prev.CalledNumber ? called : prevTarget!;
            }
            else
            {
                target = TargetOf(r, origin);
            }

            if (prev is not null && target != prevTarget)
            {
                (transfers ??= []).Add(new CallTransfer(FromOf(prev, r, prevTarget!), target, begin, connected));
            }

            var outcome = connected ? "answered" : "no-answer";
            var at = FindLeg(legs, target);
            if (at > 0)
            {
                var p = legs[at];
                legs[at] = p with
                {
                    AnsweredAt = p.AnsweredAt ?? segAnswer,
                    EndedAt = segEnd,
                    Outcome = p.Outcome == "answered" ? "answered" : outcome,
                };
            }
            else
            {
                legs.Add(new CallParticipant(target, prev is null ? "callee" : "transfer", begin, segAnswer, segEnd, outcome));
            }

            events[index++] = new CallEvent(r.RecordTime ?? segEnd, "record", target, Detail(r), seg.Session, seg.Seq);
            prev = r;
            prevTarget = target;
        }

        var status = !complete ? CallStatus.Unknown
            : person ? CallStatus.Answered
            : voicemail ? CallStatus.Voicemail
            : CallStatus.Missed;

        legs[0] = new CallParticipant(caller ?? Endpoint(origin) ?? "unknown", "caller", null, answeredAt, end, null);

        return new Call
        {
            Pbx = Pbx,
            CallKey = callId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Direction = direction,
            Status = status,
            Caller = caller,
            Called = first.DialledNumber ?? first.CalledNumber,
            AnsweredBy = answeredBy,
            Extensions = extensions.Count == 0 ? [] : extensions.ToArray(),
            StartedAt = start,
            AnsweredAt = answeredAt,
            EndedAt = end,
            RingSeconds = Call.Seconds(start, answeredAt ?? end),
            TalkSeconds = talk,
            Transfers = transfers ?? (IReadOnlyList<CallTransfer>)[],
            Trunk = trunk,
            Participants = legs.ToArray(),
            Events = events,
        };
    }

    /// <summary>Index of the non-caller leg for <paramref name="endpoint"/> (index 0 is the caller), or -1.</summary>
    private static int FindLeg(List<CallParticipant> legs, string endpoint)
    {
        for (var i = 1; i < legs.Count; i++)
        {
            if (legs[i].Endpoint == endpoint)
            {
                return i;
            }
        }

        return -1;
    }

    private static CallDirection DirectionOf(ReadOnlySpan<Segment> segments)
    {
        if (segments[0].Record.Direction == SmdrDirection.Inbound)
        {
            return CallDirection.Inbound;
        }

        foreach (var seg in segments)
        {
            var r = seg.Record;
            if (!r.IsInternal || r.Party1Device is null || r.Party2Device is null || IsTrunk(r.Party1Device) || IsTrunk(r.Party2Device))
            {
                return CallDirection.Outbound;
            }
        }

        return CallDirection.Internal;
    }

    /// <summary>The device the call came from: the trunk for inbound, Party1 otherwise.</summary>
    private static string? OriginDevice(SmdrFields first, CallDirection direction)
    {
        if (direction != CallDirection.Inbound)
        {
            return first.Party1Device;
        }

        return IsTrunk(first.Party2Device) ? first.Party2Device : IsTrunk(first.Party1Device) ? first.Party1Device : null;
    }

    private string TargetOf(SmdrFields r, string? origin)
    {
        string? trunkParty = null;
        foreach (var device in (ReadOnlySpan<string?>)[r.Party1Device, r.Party2Device])
        {
            if (device is null || device == origin)
            {
                continue;
            }

            if (!IsTrunk(device))
            {
                return Endpoint(device)!;
            }

            trunkParty ??= device;
        }

        if (trunkParty is not null)
        {
            return r.ExternalTargetedNumber
                ?? (r.Direction == SmdrDirection.Outbound ? r.DialledNumber : null)
                ?? r.CalledNumber
                ?? trunkParty;
        }

        return r.CalledNumber ?? r.DialledNumber ?? "unknown";
    }

    /// <summary>Who handed the call on: the non-trunk party of the previous segment that is gone now, else the previous target.</summary>
    private string FromOf(SmdrFields prev, SmdrFields next, string prevTarget)
    {
        foreach (var device in (ReadOnlySpan<string?>)[prev.Party1Device, prev.Party2Device])
        {
            if (device is not null && !IsTrunk(device) && device != next.Party1Device && device != next.Party2Device)
            {
                return Endpoint(device)!;
            }
        }

        return prevTarget;
    }

    private string? AnsweringExtension(SmdrFields r, string? origin)
    {
        if (IsExtension(r.Party1Device) && r.Party1Device != origin)
        {
            return Endpoint(r.Party1Device);
        }

        if (IsExtension(r.Party2Device) && r.Party2Device != origin)
        {
            return Endpoint(r.Party2Device);
        }

        return null;
    }

    /// <summary>Caller field to a number: empty or anonymous → null (withheld); SIP <c>number@ip</c> → <c>number</c>.</summary>
    private string? CallerNumber(string? caller)
    {
        if (caller is null)
        {
            return null;
        }

        var s = caller.AsSpan().Trim();
        var at = s.IndexOf('@');
        if (at >= 0)
        {
            s = s[..at];
        }

        if (s.IsEmpty || s.Equals("anonymous", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        return s.Length == caller.Length ? caller : _strings.Get(s);
    }

    private void AddExtension(string? device)
    {
        var extensions = _extensions;
        if (!IsExtension(device))
        {
            return;
        }

        var ext = device.AsSpan(1);
        foreach (var e in extensions)
        {
            if (ext.SequenceEqual(e))
            {
                return;
            }
        }

        extensions.Add(Endpoint(device)!);
    }

    /// <summary>The <c>record</c> event's detail:
    /// <c>{Party1Device} {Party1Name} / {Party2Device} {Party2Name}; ring {n}s connected {n}s hold {n}s park {n}s; called {Called Number}; continuation {0|1}</c>,
    /// written straight into a string of the exact length.</summary>
    private static string Detail(SmdrFields r)
    {
        if ((r.RingSeconds | r.ConnectedSeconds | r.HoldSeconds | r.ParkSeconds) < 0)
        {
            // never from the parser (durations are digits only); kept for completeness
            return $"{r.Party1Device} {r.Party1Name} / {r.Party2Device} {r.Party2Name}; ring {r.RingSeconds}s connected {r.ConnectedSeconds}s hold {r.HoldSeconds}s park {r.ParkSeconds}s; called {r.CalledNumber}; continuation {(r.Continuation ? 1 : 0)}";
        }

        var length = DetailFixedLength
            + (r.Party1Device?.Length ?? 0) + (r.Party1Name?.Length ?? 0) + (r.Party2Device?.Length ?? 0) + (r.Party2Name?.Length ?? 0)
            + (r.CalledNumber?.Length ?? 0)
            + Digits(r.RingSeconds) + Digits(r.ConnectedSeconds) + Digits(r.HoldSeconds) + Digits(r.ParkSeconds);
        return string.Create(length, r, static (span, r) =>
        {
            var d = span;
            Put(ref d, r.Party1Device);
            Put(ref d, " ");
            Put(ref d, r.Party1Name);
            Put(ref d, " / ");
            Put(ref d, r.Party2Device);
            Put(ref d, " ");
            Put(ref d, r.Party2Name);
            Put(ref d, "; ring ");
            Put(ref d, r.RingSeconds);
            Put(ref d, "s connected ");
            Put(ref d, r.ConnectedSeconds);
            Put(ref d, "s hold ");
            Put(ref d, r.HoldSeconds);
            Put(ref d, "s park ");
            Put(ref d, r.ParkSeconds);
            Put(ref d, "s; called ");
            Put(ref d, r.CalledNumber);
            Put(ref d, "; continuation ");
            d[0] = r.Continuation ? '1' : '0';
        });
    }

    /// <summary>Characters of <see cref="Detail"/> besides the fields and the four durations.</summary>
    private const int DetailFixedLength = 1 + 3 + 1 + 7 + 12 + 7 + 7 + 10 + 15 + 1;

    private static void Put(ref Span<char> destination, string? value)
    {
        if (value is not null)
        {
            value.CopyTo(destination);
            destination = destination[value.Length..];
        }
    }

    private static void Put(ref Span<char> destination, int value)
    {
        value.TryFormat(destination, out var written, default, System.Globalization.CultureInfo.InvariantCulture);
        destination = destination[written..];
    }

    /// <summary>Decimal digits of a non-negative <paramref name="value"/>.</summary>
    private static int Digits(int value)
    {
        var n = 1;
        while (value >= 10)
        {
            value /= 10;
            n++;
        }

        return n;
    }

    /// <summary><c>E218</c> → <c>218</c>; any other device as sent.</summary>
    private string? Endpoint(string? device)
    {
        if (!IsExtension(device))
        {
            return device;
        }

        // devices come from the string cache, so the same extension is usually the very same string as last time
        if (!ReferenceEquals(device, _lastDevice))
        {
            _lastEndpoint = _strings.Get(device.AsSpan(1));
            _lastDevice = device;
        }

        return _lastEndpoint;
    }

    private static bool IsExtension(string? device) => device is { Length: > 1 } && device[0] == 'E';

    private static bool IsTrunk(string? device) => device is { Length: > 1 } && device[0] == 'T';

    private static bool IsVoicemail(string? device, string? name)
        => (device is { Length: > 1 } && device[0] == 'V') || (name is not null && name.StartsWith("VM Channel", StringComparison.OrdinalIgnoreCase));

    private static DateTimeOffset AddSeconds(DateTimeOffset t, int seconds) => AddTime(t, TimeSpan.FromSeconds(seconds));

    private static DateTimeOffset AddTime(DateTimeOffset t, TimeSpan span)
        => span.Ticks > 0 && DateTimeOffset.MaxValue.UtcTicks - t.UtcTicks < span.Ticks ? DateTimeOffset.MaxValue : t + span;

    private readonly record struct Segment(SmdrFields Record, string Session, long Seq, string Text);

    private sealed class OpenCall(long callId, long order)
    {
        public long CallId { get; } = callId;

        public long Order { get; } = order;

        public List<Segment> Segments { get; } = new(2);

        public DateTimeOffset? LastActivity { get; set; }
    }
}
