namespace CloudTelephony.Telephony.Ctip;

/// <summary>How each CTIP message moves the open calls (rules in the class remarks).</summary>
public sealed partial class CtipCorrelator
{
    private static readonly string?[] ReleaseDetails = new string?[64];

    private bool OnRing(CtipRing ring, in PbxFrame frame)
    {
        var at = frame.ReceivedAt;
        var caller = ring.CallerIsInternal ? ring.Caller![1..] : ring.Caller;
        if (ring.Held is ['/', .. var from] && FindTransferSource(from, caller) is { } transferred)
        {
            AddTransfer(transferred, ring.Extension, from, at);
            transferred.Record(at, "ring", ring.Extension, $"transfer from {from}, caller {caller ?? "unknown"}", frame);
            return true;
        }

        if (FindRecall(ring.Extension, caller) is { } recalled)
        {
            recalled.Ring(recalled.FindLeg(ring.Extension)!, at);
            recalled.Record(at, "ring", ring.Extension, $"recall after unanswered transfer, caller {caller ?? "unknown"}", frame);
            return true;
        }

        var detail = RingDetail(ring, caller);
        if (FindRingingLeg(ring.Extension, caller) is { } repeated)
        {
            repeated.Record(at, "ring", ring.Extension, detail, frame);
            return true;
        }

        var call = FindRingGroup(ring, caller);
        if (call is null)
        {
            call = ring.CallerIsInternal
                ? NewCall(frame, CallDirection.Internal, caller, ring.Extension)
                : NewCall(frame, CallDirection.Inbound, caller, ring.Dialed);
            if (ring.CallerIsInternal)
            {
                call.AddLeg(caller!, "caller", LegState.Dialing, null);
            }
        }

        call.AddLeg(ring.Extension, "callee", LegState.Ringing, at);
        call.CallerName ??= ring.Comment is { } name && name != ring.Caller ? name : null;
        call.Record(at, "ring", ring.Extension, detail, frame);
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

            call.Connect(leg, at);
            call.Record(at, "answer", conn.Extension, detail, frame);
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

        call.Connect(call.AddLeg(conn.Extension, "caller", LegState.Dialing, null), at);
        call.Record(at, "answer", conn.Extension, detail, frame);
        return true;
    }

    private bool OnRel(CtipRel rel, in PbxFrame frame)
    {
        var at = frame.ReceivedAt;
        var detail = ReleaseDetail(rel.Cause);
        if (FindOpenLeg(rel.Extension, out var call) is { } leg)
        {
            call.EndLeg(leg, at, rel.Cause);
            call.Record(at, "release", rel.Extension, detail, frame);
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

        call.EndLeg(call.AddLeg(rel.Extension, "callee", LegState.Ringing, null), at, rel.Cause);
        call.Record(at, "release", rel.Extension, $"{detail} (its RING was not received)", frame);
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
            call.Record(at, "dial", echo.Extension, echo.Digits, frame);
            return true;
        }

        if (leg is { State: LegState.Connected })
        {
            if (echo.Digits.StartsWith('/') || leg.InCallDigits is not null)
            {
                leg.InCallDigits += echo.Digits;
                call.Record(at, "dial", echo.Extension, $"in-call {echo.Digits}", frame);
                return true;
            }

            call.EndLeg(leg, at, null);
            call.Record(at, "release", echo.Extension, "end not received; the extension dialled a new call", frame);
        }

        var direction = echo.Digits.StartsWith('/') ? CallDirection.Internal : CallDirection.Outbound;
        call = NewCall(frame, direction, echo.Extension, CalledFromDigits(echo.Digits));
        call.AddLeg(echo.Extension, "caller", LegState.Dialing, null).Digits = echo.Digits;
        call.Record(at, "dial", echo.Extension, echo.Digits, frame);
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
                call.Record(at, "state", stat.Extension, "on-hook", frame);
                return true;
            case CtipHook.OffHook when leg.OnHookAt is not null:
                leg.OnHookAt = null;
                call.Record(at, "state", stat.Extension, "off-hook", frame);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Ends on-hook legs whose REL did not come, completes lingering calls and closes idle ones, as of <paramref name="now"/>.</summary>
    private void Sweep(DateTimeOffset now, ICollection<Call> completed)
    {
        var calls = state.Calls;
        for (var i = 0; i < calls.Count; i++)
        {
            var call = calls[i];
            EndOnHookLegs(call, now);
            if (IsDue(call, now))
            {
                CloseOpenLegs(call);
                completed.Add(CtipCallBuilder.Build(Pbx, call));
                calls.RemoveAt(i--);
            }
        }
    }

    private bool IsDue(CtipOpenCall call, DateTimeOffset now)
    {
        if (call.ClosingSince is { } closing)
        {
            return now - closing > (call.HasUnansweredTransfer ? RecallWindow : ReleaseGrace);
        }

        var idle = call.AnsweredAt is null ? options.RingTimeout : options.TalkTimeout;
        return now - call.LastActivityAt > idle;
    }

    private static void EndOnHookLegs(CtipOpenCall call, DateTimeOffset now)
    {
        foreach (var leg in call.Legs)
        {
            if (leg.OnHookAt is { } onHook && now - onHook > ReleaseGrace)
            {
                call.EndLeg(leg, onHook, null);
            }
        }
    }

    /// <summary>Ends what is still open: on-hook legs at their on-hook, the rest at the last activity (the call was cut).</summary>
    private static void CloseOpenLegs(CtipOpenCall call)
    {
        foreach (var leg in call.Legs)
        {
            if (leg.OnHookAt is { } onHook)
            {
                call.EndLeg(leg, onHook, null);
            }
            else if (leg.IsOpen)
            {
                call.Cut = true;
                call.EndLeg(leg, call.LastActivityAt, null);
            }
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
        state.Calls.Add(call);
        return call;
    }

    private CtipOpenCall NewGapCall(in PbxFrame frame, CallDirection direction, string caller, string? called)
    {
        var call = NewCall(frame, direction, caller, called);
        call.FromGap = true;
        return call;
    }

    private static void AddTransfer(CtipOpenCall call, string target, string from, DateTimeOffset at)
    {
        var leg = call.FindLeg(target);
        if (leg is { State: LegState.Ringing } && call.Transfers is [.., { Answered: false } last] && last.To == target)
        {
            return;
        }

        if (leg is null)
        {
            call.AddLeg(target, "transfer", LegState.Ringing, at);
        }
        else
        {
            call.Ring(leg, at);
        }

        call.Transfers.Add(new CallTransfer(from, target, at, false));
    }

    /// <summary>The extension's open leg, newest call first.</summary>
    private CtipLeg? FindOpenLeg(string extension, out CtipOpenCall call)
    {
        for (var i = state.Calls.Count - 1; i >= 0; i--)
        {
            if (state.Calls[i].FindOpenLeg(extension) is { } leg)
            {
                call = state.Calls[i];
                return leg;
            }
        }

        call = null!;
        return null;
    }

    /// <summary>The call a transfer ring with held field <c>/from</c> belongs to: one where <paramref name="from"/> took part
    /// with the same caller, else one where it is still on the line.</summary>
    private CtipOpenCall? FindTransferSource(string from, string? caller)
    {
        for (var i = state.Calls.Count - 1; i >= 0; i--)
        {
            var call = state.Calls[i];
            if (call.FindLeg(from) is not null && call.Caller == caller)
            {
                return call;
            }
        }

        for (var i = state.Calls.Count - 1; i >= 0; i--)
        {
            if (state.Calls[i].FindOpenLeg(from) is not null)
            {
                return state.Calls[i];
            }
        }

        return null;
    }

    /// <summary>A call whose last transfer, from <paramref name="extension"/>, went unanswered: the PBX rings it back.</summary>
    private CtipOpenCall? FindRecall(string extension, string? caller)
    {
        for (var i = state.Calls.Count - 1; i >= 0; i--)
        {
            var call = state.Calls[i];
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
    private CtipOpenCall? FindRingGroup(CtipRing ring, string? caller)
    {
        for (var i = state.Calls.Count - 1; i >= 0; i--)
        {
            var call = state.Calls[i];
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
        for (var i = state.Calls.Count - 1; i >= 0; i--)
        {
            var call = state.Calls[i];
            if (call.Direction == CallDirection.Internal && call.FindOpenLeg(extension) is not null)
            {
                return call;
            }
        }

        return null;
    }

    /// <summary>The call a REL for an extension with no open leg belongs to, if evident: cause 39 right after a call was
    /// answered; other causes while an unanswered inbound call is being released.</summary>
    private CtipOpenCall? FindCallOfOrphanRelease(CtipRel rel, DateTimeOffset at)
    {
        for (var i = state.Calls.Count - 1; i >= 0; i--)
        {
            var call = state.Calls[i];
            if (call.FindLeg(rel.Extension) is not null)
            {
                continue;
            }

            var belongs = rel.Cause == CtipReleaseCause.PickedUpElsewhere
                ? call.AnsweredAt is { } answered && at - answered <= ReleaseGrace
                    && (call.Direction == CallDirection.Inbound || call.FromGap)
                : call.Direction == CallDirection.Inbound && call.AnsweredAt is null
                    && call.LastReleaseAt is { } released && at - released <= ReleaseGrace;
            if (belongs)
            {
                return call;
            }
        }

        return null;
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
