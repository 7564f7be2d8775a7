using CloudTelephony.Telephony.Streams;

namespace CloudTelephony.Telephony.Ctip;

/// <summary>How each CTIP message moves the open calls (rules in the class remarks).</summary>
internal sealed partial class CtipInterpreter
{
    private static readonly string?[] ReleaseDetails = new string?[64];

    private bool OnRing(CtipRing ring, in PbxFrame frame)
    {
        var at = frame.ReceivedAt;
        var caller = ring.CallerIsInternal ? ring.Caller![1..] : ring.Caller;
        var sameCaller = _index.NewestWithCaller(caller);   // the caller's open calls, newest first (one lookup per RING)
        if (ring.Held is ['/', .. var from] && FindTransferSource(from, caller, sameCaller) is { } transferred)
        {
            AddTransfer(transferred, ring.Extension, from, at);
            Record(transferred, at, "ring", ring.Extension, $"transfer from {from}, caller {caller ?? "unknown"}", frame);
            return true;
        }

        if (FindRecall(ring.Extension, caller, sameCaller) is { } recalled)
        {
            Ring(recalled, recalled.FindLeg(ring.Extension)!, at);
            Record(recalled, at, "ring", ring.Extension, $"recall after unanswered transfer, caller {caller ?? "unknown"}", frame);
            return true;
        }

        var detail = RingDetail(ring, caller);
        if (FindRingingLeg(ring.Extension, caller) is { } repeated)
        {
            Record(repeated, at, "ring", ring.Extension, detail, frame);
            return true;
        }

        var call = FindRingGroup(ring, caller, sameCaller);
        if (call is null)
        {
            call = ring.CallerIsInternal
                ? NewCall(frame, CallDirection.Internal, caller, ring.Extension)
                : NewCall(frame, CallDirection.Inbound, caller, ring.Dialed);
            if (ring.CallerIsInternal)
            {
                AddLeg(call, caller!, "caller", LegState.Dialing, null, at);
            }
        }

        call.CallerName ??= ring.Comment is { } name && name != ring.Caller ? name : null;
        AddLeg(call, ring.Extension, "callee", LegState.Ringing, at, at);
        Record(call, at, "ring", ring.Extension, detail, frame);
        return true;
    }

    private bool OnConn(CtipConn conn, in PbxFrame frame)
    {
        var at = frame.ReceivedAt;
        var detail = $"peer {conn.Peer ?? "unknown"}";
        if (FindOpenLeg(conn.Extension, out var call) is { } leg)
        {
            if (leg.State == LegState.Dialing && call.Direction == CallDirection.Outbound && conn.Peer is not null)
            {
                call.Called = conn.Peer;
            }

            Connect(call, leg, at);
            Record(call, at, "answer", conn.Extension, detail, frame);
            return true;
        }

        if (conn.Peer is ['/', .. var peerExtension])
        {
            call = FindInternalCallOf(peerExtension) ?? NewGapCall(frame, CallDirection.Internal, conn.Extension, peerExtension);
            call.Caller ??= conn.Extension;
        }
        else
        {
            call = NewGapCall(frame, CallDirection.Outbound, conn.Extension, conn.Peer);
        }

        Connect(call, AddLeg(call, conn.Extension, "caller", LegState.Dialing, null, at), at);
        Record(call, at, "answer", conn.Extension, detail, frame);
        return true;
    }

    private bool OnRel(CtipRel rel, in PbxFrame frame)
    {
        var at = frame.ReceivedAt;
        var detail = ReleaseDetail(rel.Cause);
        if (FindOpenLeg(rel.Extension, out var call) is { } leg)
        {
            EndLeg(call, leg, at, rel.Cause);
            Record(call, at, "release", rel.Extension, detail, frame);
            return true;
        }

        call = FindCallOfOrphanRelease(rel, at);
        if (call is null)
        {
            return false;
        }

        if (rel.Cause == CtipReleaseCause.PickedUpElsewhere)
        {
            call.BecomeInbound();
        }

        EndLeg(call, AddLeg(call, rel.Extension, "callee", LegState.Ringing, null, at), at, rel.Cause);
        Record(call, at, "release", rel.Extension, $"{detail} (its RING was not received)", frame);
        return true;
    }

    private bool OnEcho(CtipEcho echo, in PbxFrame frame)
    {
        var at = frame.ReceivedAt;
        var leg = FindOpenLeg(echo.Extension, out var call);
        if (leg is { State: LegState.Dialing })
        {
            leg.Digits += echo.Digits;
            call.Called = CalledFromDigits(leg.Digits);
            Record(call, at, "dial", echo.Extension, echo.Digits, frame);
            return true;
        }

        if (leg is { State: LegState.Connected })
        {
            if (echo.Digits.StartsWith('/') || leg.InCallDigits is not null)
            {
                leg.InCallDigits += echo.Digits;
                Record(call, at, "dial", echo.Extension, $"in-call {echo.Digits}", frame);
                return true;
            }

            EndLeg(call, leg, at, null);
            Record(call, at, "release", echo.Extension, "end not received; the extension dialled a new call", frame);
        }

        var direction = echo.Digits.StartsWith('/') ? CallDirection.Internal : CallDirection.Outbound;
        call = NewCall(frame, direction, echo.Extension, CalledFromDigits(echo.Digits));
        AddLeg(call, echo.Extension, "caller", LegState.Dialing, null, at).Digits = echo.Digits;
        Record(call, at, "dial", echo.Extension, echo.Digits, frame);
        return true;
    }

    private bool OnStat(CtipStat stat, in PbxFrame frame)
    {
        var at = frame.ReceivedAt;
        var leg = FindOpenLeg(stat.Extension, out var call);
        if (leg is not { State: LegState.Dialing or LegState.Connected })
        {
            return false;
        }

        switch (stat.Hook)
        {
            case CtipHook.OnHook when leg.OnHookAt is null:
                leg.OnHookAt = at;
                Stream.Reschedule(call);   // the leg ends at its on-hook unless a REL comes within the grace
                Record(call, at, "state", stat.Extension, "on-hook", frame);
                return true;
            case CtipHook.OffHook when leg.OnHookAt is not null:
                leg.OnHookAt = null;
                Record(call, at, "state", stat.Extension, "off-hook", frame);
                return true;
            default:
                return false;
        }
    }

    private CtipOpenCall NewCall(in PbxFrame frame, CallDirection direction, string? caller, string? called)
    {
        var call = new CtipOpenCall
        {
            Key = $"{frame.Session}:{frame.Seq}",
            Direction = direction,
            Caller = caller,
            Called = called,
            StartedAt = frame.ReceivedAt,
            LastActivityAt = frame.ReceivedAt,
        };
        Stream.Open(call);
        Stream.Emit(call, CallChangeKind.Opened, frame.ReceivedAt, caller: caller, called: called);
        return call;
    }

    private CtipOpenCall NewGapCall(in PbxFrame frame, CallDirection direction, string caller, string? called)
    {
        var call = NewCall(frame, direction, caller, called);
        call.FromGap = true;
        return call;
    }

    private void AddTransfer(CtipOpenCall call, string target, string from, DateTimeOffset at)
    {
        var leg = call.FindLeg(target);
        if (leg is { State: LegState.Ringing } && call.Transfers is [.., { Answered: false } last] && last.To == target)
        {
            return;
        }

        Stream.Emit(call, CallChangeKind.Transferred, at, from: from, to: target);
        if (leg is null)
        {
            AddLeg(call, target, "transfer", LegState.Ringing, at, at);
        }
        else
        {
            Ring(call, leg, at);
        }

        call.Transfers.Add(new CallTransfer(from, target, at, false));
    }

    // ---- changes: every mutation that is a call change goes through one of these -----------------------------------

    /// <summary>Adds a leg, files it, and emits <see cref="CallChangeKind.Ringing"/> for a ringing callee or transfer target.</summary>
    private CtipLeg AddLeg(CtipOpenCall call, string extension, string role, LegState legState, DateTimeOffset? rangAt, DateTimeOffset at)
    {
        var leg = call.AddLeg(extension, role, legState, rangAt);
        _index.LegOpened(call, extension);
        if (legState == LegState.Ringing)
        {
            Stream.Emit(call, CallChangeKind.Ringing, rangAt ?? at, extension: extension, caller: call.Caller, called: call.Called);
        }
        else
        {
            Stream.Touch(call);
        }

        return leg;
    }

    /// <summary>Rings an existing leg again (transfer to it, recall).</summary>
    private void Ring(CtipOpenCall call, CtipLeg leg, DateTimeOffset at)
    {
        call.Ring(leg, at);
        _index.LegOpened(call, leg.Extension);
        Stream.Emit(call, CallChangeKind.Ringing, at, extension: leg.Extension, caller: call.Caller, called: call.Called);
    }

    /// <summary>Connects a leg: <see cref="CallChangeKind.Answered"/> for the call's first answer (by the extension, or by
    /// the far end when the caller's leg connects) and for a ringing member or transfer target taking the call.</summary>
    private void Connect(CtipOpenCall call, CtipLeg leg, DateTimeOffset at)
    {
        var first = call.AnsweredAt is null;
        var wasRinging = leg.State == LegState.Ringing;
        call.Connect(leg, at);
        if (first || wasRinging)
        {
            Stream.Emit(call, CallChangeKind.Answered, at, extension: first ? call.AnsweredBy : leg.Extension);
        }
        else
        {
            Stream.Touch(call);
        }
    }

    /// <summary>Ends a leg; <see cref="CallChangeKind.Ended"/> when it was the last open one.</summary>
    private void EndLeg(CtipOpenCall call, CtipLeg leg, DateTimeOffset at, int? cause)
    {
        call.EndLeg(leg, at, cause);
        _index.LegEnded(call, leg.Extension);
        if (call.ClosingSince is { } closing)
        {
            Stream.Reschedule(call);   // the closing grace (or recall window) starts
            Stream.Emit(call, CallChangeKind.Ended, closing);
        }
        else
        {
            Stream.Touch(call);
        }
    }

    /// <summary>Adds the call's event for a frame and refiles the call under its (maybe new) caller and activity time.</summary>
    private void Record(CtipOpenCall call, DateTimeOffset at, string kind, string? endpoint, string? detail, in PbxFrame frame)
    {
        call.Record(at, kind, endpoint, detail, frame);
        Stream.Touch(call);
        _index.Refresh(call);
    }

    // ---- lookups (newest call first, through the index) --------------------------------------------------------------

    /// <summary>The extension's open leg, newest call first.</summary>
    private CtipLeg? FindOpenLeg(string extension, out CtipOpenCall call)
    {
        var calls = _index.WithOpenLeg(extension);
        if (calls.Count > 0)
        {
            call = calls[^1];
            return call.FindOpenLeg(extension);
        }

        call = null!;
        return null;
    }

    /// <summary>The call a transfer ring with held field <c>/from</c> belongs to: one where <paramref name="from"/> took part
    /// with the same caller, else one where it is still on the line.</summary>
    private CtipOpenCall? FindTransferSource(string from, string? caller, CtipOpenCall? sameCaller)
    {
        for (var call = sameCaller; call is not null; call = call.OlderSameCaller)
        {
            if (call.FindLeg(from) is not null && call.Caller == caller)
            {
                return call;
            }
        }

        return _index.WithOpenLeg(from) is [.., var talking] ? talking : null;
    }

    /// <summary>A call whose last transfer, from <paramref name="extension"/>, went unanswered: the PBX rings it back.</summary>
    private CtipOpenCall? FindRecall(string extension, string? caller, CtipOpenCall? sameCaller)
    {
        for (var call = sameCaller; call is not null; call = call.OlderSameCaller)
        {
            if (call.Transfers is [.., { Answered: false } last] && last.From == extension && call.Caller == caller
                && call.FindLeg(extension) is { IsOpen: false } or { State: LegState.Connected })
            {
                return call;
            }
        }

        return null;
    }

    /// <summary>A repeated RING (presentation change) of an extension already ringing for the same caller.</summary>
    private CtipOpenCall? FindRingingLeg(string extension, string? caller)
        => FindOpenLeg(extension, out var call) is { State: LegState.Ringing } && call.Caller == caller ? call : null;

    /// <summary>The unanswered call this RING adds a member to: same external caller and DID (ring group), or the internal
    /// call the calling extension is dialling.</summary>
    private CtipOpenCall? FindRingGroup(CtipRing ring, string? caller, CtipOpenCall? sameCaller)
    {
        for (var call = sameCaller; call is not null; call = call.OlderSameCaller)
        {
            if (call.IsClosing || call.AnsweredAt is not null || call.Caller != caller)
            {
                continue;
            }

            var sameCall = ring.CallerIsInternal
                ? call.Direction == CallDirection.Internal && call.FindOpenLeg(caller!) is { State: LegState.Dialing }
                : call.Direction == CallDirection.Inbound && call.Called == ring.Dialed;
            if (sameCall)
            {
                return call;
            }
        }

        return null;
    }

    private CtipOpenCall? FindInternalCallOf(string extension)
    {
        var calls = _index.WithOpenLeg(extension);
        for (var i = calls.Count - 1; i >= 0; i--)
        {
            var call = calls[i];
            if (call.Direction == CallDirection.Internal)
            {
                return call;
            }
        }

        return null;
    }

    /// <summary>The call a REL for an extension with no open leg belongs to, if evident: cause 39 right after a call was
    /// answered; other causes while an unanswered inbound call is being released. Both times are at most the call's last
    /// activity, so only calls active within <see cref="CtipCorrelator.ReleaseGrace"/> can match; the newest wins.</summary>
    private CtipOpenCall? FindCallOfOrphanRelease(CtipRel rel, DateTimeOffset at)
    {
        CtipOpenCall? newest = null;
        var since = at - CtipCorrelator.ReleaseGrace;
        for (var call = _index.LatestActive; call is not null && call.LastActivityAt >= since; call = call.EarlierActive)
        {
            if ((newest is not null && call.Ordinal < newest.Ordinal) || call.FindLeg(rel.Extension) is not null)
            {
                continue;
            }

            var belongs = rel.Cause == CtipReleaseCause.PickedUpElsewhere
                ? call.AnsweredAt is { } answered && at - answered <= CtipCorrelator.ReleaseGrace
                    && (call.Direction == CallDirection.Inbound || call.FromGap)
                : call.Direction == CallDirection.Inbound && call.AnsweredAt is null
                    && call.LastReleaseAt is { } released && at - released <= CtipCorrelator.ReleaseGrace;
            if (belongs)
            {
                newest = call;
            }
        }

        return newest;
    }

    /// <summary><c>cause 39 picked up elsewhere</c>; shared strings for the usual codes.</summary>
    private static string ReleaseDetail(int cause)
    {
        static string Format(int code) => $"cause {code} {CtipReleaseCause.Describe(code)}";
        return (uint)cause < (uint)ReleaseDetails.Length ? ReleaseDetails[cause] ??= Format(cause) : Format(cause);
    }

    private static string RingDetail(CtipRing ring, string? caller)
    {
        var name = ring.Comment is { } comment && comment != ring.Caller ? $" ({comment})" : "";
        return ring.CallerIsInternal
            ? $"caller {caller}{name}"
            : $"caller {caller ?? "unknown"}{name}, DID {ring.Dialed ?? "unknown"}";
    }

    private static string? CalledFromDigits(string? digits)
    {
        var number = digits?.TrimStart('/');
        return string.IsNullOrEmpty(number) ? null : number;
    }
}
