namespace CloudTelephony.Telephony.Smdr;

/// <summary>
/// Builds the call record from an SMDR call's segments (rules in <see cref="SmdrInterpreter"/>'s remarks: timing, direction,
/// status, parties, targets and transfers). Reuses its scratch lists and the stream's string cache, so one instance per
/// stream; not thread-safe.
/// </summary>
internal sealed class SmdrCallBuilder(SmdrStringCache strings)
{
    private readonly SmdrStringCache _strings = strings;
    private readonly List<string> _extensions = new(4);
    private readonly List<CallParticipant> _legs = new(4);
    private string? _lastDevice;
    private string? _lastEndpoint;

    /// <summary>The record of the call <paramref name="callId"/> made of <paramref name="segments"/> (in arrival order);
    /// <paramref name="complete"/> when its last record (Continuation 0) arrived, else it closes as Unknown.</summary>
    public Call Build(string pbx, long callId, ReadOnlySpan<SmdrSegment> segments, bool complete)
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
        var prevAnswered = false;
        DateTimeOffset? answeredAtOfPerson = null;

        foreach (var seg in segments)
        {
            var r = seg.Record;
            var begin = r.CallStart > cursor ? r.CallStart : cursor;
            var segEnd = SmdrInterpreter.AddSeconds(begin, r.TotalSeconds);
            cursor = segEnd;
            if (segEnd > end)
            {
                end = segEnd;
            }

            AddExtension(r.Party1Device, origin);
            AddExtension(r.Party2Device, origin);
            trunk ??= IsTrunk(r.Party1Device) ? r.Party1Device : IsTrunk(r.Party2Device) ? r.Party2Device : null;

            // Answered: connected, or held or parked, which only an answered call can be (Avaya "SMDR Examples", Park and
            // Unpark: the parking extension's record has Connected Time 0 and the Park Time). The answer comes after the
            // segment's Ring Time, so park and hold time never count as ring.
            var connected = r.ConnectedSeconds > 0 || r.HoldSeconds > 0 || r.ParkSeconds > 0;
            DateTimeOffset? segAnswer = connected ? SmdrInterpreter.AddSeconds(begin, r.RingSeconds) : null;
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
                    answeredAtOfPerson ??= segAnswer;
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

            // A new target after a segment someone answered is a transfer (or forward) by the party that had the call; after
            // a segment nobody answered the call moved on (picked up elsewhere, forwarded on no answer, the next hunt-group
            // member): the leg that only rang is no transfer source.
            if (prev is not null && target != prevTarget && prevAnswered)
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
            prevAnswered = connected;
        }

        if (person)
        {
            // a leg that only rang while another extension took the call (pickup, a hunt-group member): answered elsewhere
            for (var i = 1; i < legs.Count; i++)
            {
                if (legs[i] is { Outcome: "no-answer", AnsweredAt: null } leg && leg.Endpoint != answeredBy && Contains(extensions, leg.Endpoint)
                    && leg.EndedAt <= answeredAtOfPerson)
                {
                    legs[i] = leg with { Outcome = "answered-elsewhere" };
                }
            }
        }

        var status = !complete ? CallStatus.Unknown
            : person ? CallStatus.Answered
            : voicemail ? CallStatus.Voicemail
            : CallStatus.Missed;

        legs[0] = new CallParticipant(caller ?? Endpoint(origin) ?? "unknown", "caller", null, answeredAt, end, null);

        return new Call
        {
            Pbx = pbx,
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

    private static bool Contains(List<string> list, string value)
    {
        foreach (var item in list)
        {
            if (item == value)
            {
                return true;
            }
        }

        return false;
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

    private static CallDirection DirectionOf(ReadOnlySpan<SmdrSegment> segments)
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

    /// <summary>Adds an extension that rang: an <c>E</c> party other than <paramref name="origin"/> (the calling extension
    /// of an outbound or internal call is not one that rang).</summary>
    private void AddExtension(string? device, string? origin)
    {
        var extensions = _extensions;
        if (!IsExtension(device) || device == origin)
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

    internal static bool IsExtension(string? device) => device is { Length: > 1 } && device[0] == 'E';

    internal static bool IsTrunk(string? device) => device is { Length: > 1 } && device[0] == 'T';

    /// <summary>A voicemail / auto-attendant channel: a <c>V…</c> device or a <c>VM Channel</c> name — but not a conference
    /// channel, which IP Office also numbers <c>V…</c> and names <c>CO Channel n.m</c> (Avaya "SMDR Examples", conference
    /// examples: <c>V11001,CO Channel 100.1</c>): people talk in a conference.</summary>
    private static bool IsVoicemail(string? device, string? name)
        => !(name is not null && name.StartsWith("CO Channel", StringComparison.OrdinalIgnoreCase))
           && ((device is { Length: > 1 } && device[0] == 'V') || (name is not null && name.StartsWith("VM Channel", StringComparison.OrdinalIgnoreCase)));
}
