namespace CloudTelephony.Telephony.Ami;

/// <summary>
/// Bridges and transfers: <c>BridgeEnter</c>/<c>BridgeLeave</c> track who is bridged with whom (two channels bridged
/// while up = both answered); <c>BlindTransfer</c> makes the call's next dials its transfer targets;
/// <c>AttendedTransfer</c> merges the consultation call into the transferred one and names the target.
/// </summary>
internal sealed class AmiBridges(AmiCalls calls)
{
    public bool OnBridge(AmiMessage m, DateTimeOffset at, in PbxFrame frame, bool enter)
    {
        if (!calls.TryLeg(m["Uniqueid"], out var call, out var leg))
        {
            return false;
        }

        if (enter && m.TryGet("Linkedid", out var linked) && !linked.IsEmpty && !linked.SequenceEqual(call.Key)
            && calls.FindCall(linked) is { } older && !ReferenceEquals(older, call) && older.StartedAt <= call.StartedAt)
        {
            // a channel that began with a Linkedid of its own joins an older call's bridge and takes its Linkedid: a blonde
            // transfer's recall of the transferer or a re-try of the target (tests/data/ami/lab b2, b3, b5)
            calls.Merge(older, call, at);
            call = older;
        }

        var bridgeSpan = m["BridgeUniqueid"];
        var bridges = call.Bridges.GetAlternateLookup<ReadOnlySpan<char>>();
        if (!bridges.TryGetValue(bridgeSpan, out var members))
        {
            members = [];
            call.Bridges[bridgeSpan.ToString()] = members;
        }

        if (enter)
        {
            if (!members.Contains(leg.Uid))
            {
                members.Add(leg.Uid);
            }

            var bridgeId = m.Get("BridgeUniqueid") ?? "";
            leg.BridgesEntered ??= [];
            if (!leg.BridgesEntered.Contains(bridgeId))
            {
                leg.BridgesEntered.Add(bridgeId);
            }

            if (members.Count >= 2)
            {
                foreach (var uid in members)
                {
                    if (uid != leg.Uid && calls.TryLegOf(call, uid, out var peer))
                    {
                        peer.BridgedWith = leg.Uid;
                        leg.BridgedWith = uid;
                        Consultation(call, leg, peer);
                        Consultation(call, peer, leg);
                    }
                }

                foreach (var uid in members)
                {
                    if (calls.TryLegOf(call, uid, out var other) && !other.HungUp)
                    {
                        // a Local half in a bridge says nothing about the phone behind it (a blonde transfer bridges the
                        // ;1 half with the caller while the target still rings)
                        if (other.Kind == LegKind.Local && AmiCalls.Resolve(call, other) is { AnsweredAt: null })
                        {
                            continue;
                        }

                        other.AnsweredAt ??= at;
                        calls.MarkAnswered(call, other, at);
                    }
                }
            }
        }
        else
        {
            members.Remove(leg.Uid);
            if (members.Count == 0)
            {
                bridges.Remove(bridgeSpan);
            }
        }

        calls.AddEvent(call, at, "bridge", AmiCalls.EndpointOf(call, leg), enter ? "enter" : "leave", frame);
        return true;
    }

    public bool OnBlindTransfer(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        if (!calls.TryLeg(m["TransfererUniqueid"], out var call, out var transferer) && !calls.TryLeg(m["TransfereeUniqueid"], out call, out transferer))
        {
            return false;
        }

        var ok = m["Result"].Equals("Success", StringComparison.OrdinalIgnoreCase);
        var to = m.Get("Extension") ?? "";
        if (ok)
        {
            var from = AmiCalls.EndpointOf(call, transferer) ?? "";
            call.Transfers.Add(new AmiTransferState { From = from, To = to, At = at, Pending = true });
            calls.Transferred(call, from, to, at);
        }

        calls.AddEvent(call, at, "transfer", AmiCalls.EndpointOf(call, transferer), (ok ? "blind to " : "blind failed to ") + to, frame);
        return true;
    }

    public bool OnAttendedTransfer(AmiMessage m, DateTimeOffset at, in PbxFrame frame)
    {
        var hasFirst = calls.TryLeg(m["OrigTransfererUniqueid"], out var c1, out var t1);
        var hasSecond = calls.TryLeg(m["SecondTransfererUniqueid"], out var c2, out var t2);
        if (!hasFirst && !hasSecond)
        {
            return false;
        }

        var ok = m["Result"].Equals("Success", StringComparison.OrdinalIgnoreCase) && !m["DestType"].Equals("Fail", StringComparison.OrdinalIgnoreCase);
        var call = hasFirst ? c1 : c2;
        var transferer = hasFirst ? t1 : t2;
        if (!ok)
        {
            calls.AddEvent(call, at, "transfer", AmiCalls.EndpointOf(call, transferer), "attended failed", frame);
            return true;
        }

        if (hasFirst && hasSecond && !ReferenceEquals(c1, c2))
        {
            // The consultation call (the younger Linkedid) becomes part of the older call.
            var older = c1.StartedAt <= c2.StartedAt ? c1 : c2;
            var younger = ReferenceEquals(older, c1) ? c2 : c1;
            calls.Merge(older, younger, at);
            call = older;
        }

        // The transferer's channel in the consultation is not a participant of its own.
        // (the younger of the transferer's two channels; none when both headers name the same channel)
        var consultTransferer = hasFirst && hasSecond && !ReferenceEquals(t1, t2) ? (t1.CreatedAt <= t2.CreatedAt ? t2 : t1) : null;
        if (consultTransferer is not null && !ReferenceEquals(consultTransferer, AmiCalls.Origin(call)))
        {
            consultTransferer.Consult = true;
        }

        AmiLegState? target = null;
        if (calls.TryLeg(m["TransferTargetUniqueid"], out var tc, out var tl) && ReferenceEquals(tc, call))
        {
            target = AmiCalls.Resolve(call, tl) ?? tl;
        }

        if (target is null && m.Get("SecondBridgeUniqueid") is { Length: > 0 } second)
        {
            // no TransferTarget* (Asterisk 13/15 DestType Bridge/App; Asterisk 20 *2 in some runs): the party that shared
            // the consultation bridge with the transferer; a Local ;1 there leads to the channel its ;2 half dialled
            target = ConsultationParty(call, second, hasFirst ? t1 : null, hasSecond ? t2 : null);
        }

        if (target is null && consultTransferer is not null)
        {
            // the party the transferer's consultation channel talked to
            target = call.Legs.FirstOrDefault(l => l.IsReal && !l.HungUp && !ReferenceEquals(l, AmiCalls.Origin(call))
                && (l.DialedBy == consultTransferer.Uid || consultTransferer.DialedBy == l.Uid));
        }

        var from = AmiCalls.EndpointOf(call, hasFirst ? t1 : t2) ?? "";
        AmiTransferState transfer;
        if (target is not null)
        {
            target.Role = "transfer";
            transfer = new AmiTransferState
            {
                From = from,
                To = AmiCalls.EndpointOf(call, target) ?? "",
                At = target.RangAt ?? at,
                Answered = target.AnsweredAt is not null,
                TargetRang = true,
            };
        }
        else
        {
            transfer = new AmiTransferState { From = from, To = m.Get("TransferTargetCallerIDNum") ?? "", At = at };
        }

        call.Transfers.Add(transfer);
        calls.Transferred(call, transfer.From, transfer.To, at);
        calls.AddEvent(call, at, "transfer", from, "attended to " + (target is null ? "?" : AmiCalls.EndpointOf(call, target)), frame);
        return true;
    }

    /// <summary>An extension that answered the call (not the caller) sharing a bridge with a Local <c>;1</c> half: its
    /// consultation call (attended transfer by feature code or AMI <c>Atxfer</c>), kept so that a consultation whose
    /// target rang is a transfer even when no <c>AttendedTransfer</c> follows (target busy, transferer back: lab b4).</summary>
    private static void Consultation(AmiCallState call, AmiLegState transferer, AmiLegState local)
    {
        if (local.Kind != LegKind.Local || !local.Channel.EndsWith(";1", StringComparison.Ordinal) || transferer.Kind != LegKind.Extension
            || transferer.AnsweredAt is not { } answered || local.CreatedAt < answered || ReferenceEquals(transferer, AmiCalls.Origin(call)))
        {
            return;
        }

        call.Consultations ??= [];
        if (!call.Consultations.Exists(c => c.LocalUid == local.Uid))
        {
            call.Consultations.Add(new AmiConsultation { FromUid = transferer.Uid, LocalUid = local.Uid });
        }
    }

    /// <summary>The real channel (not the transferers, not the caller) that entered the consultation bridge
    /// <paramref name="bridge"/>, through a Local half when that is what entered it; null when none did.</summary>
    private static AmiLegState? ConsultationParty(AmiCallState call, string bridge, AmiLegState? first, AmiLegState? second)
    {
        var origin = AmiCalls.Origin(call);
        AmiLegState? found = null;
        foreach (var l in call.Legs)
        {
            if (ReferenceEquals(l, first) || ReferenceEquals(l, second) || ReferenceEquals(l, origin) || l.BridgesEntered?.Contains(bridge) != true)
            {
                continue;
            }

            var party = AmiCalls.Resolve(call, l);
            if (party is null || party.Kind == LegKind.Local || ReferenceEquals(party, origin) || ReferenceEquals(party, first) || ReferenceEquals(party, second))
            {
                continue;
            }

            if (party.Kind == LegKind.Extension)
            {
                return party;
            }

            found ??= party;
        }

        return found;
    }
}
