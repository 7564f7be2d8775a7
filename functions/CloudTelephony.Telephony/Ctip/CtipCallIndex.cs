namespace CloudTelephony.Telephony.Ctip;

/// <summary>
/// Finds the open CTIP calls a message can belong to without looking at every open call: by extension (calls where it
/// has an open leg, in the order they opened), by caller (newest first) and by recent activity (latest first). "Newest
/// first" over these gives the same answer as a scan of every open call from the newest, and their sizes do not grow
/// with the calls lingering in their closing grace. Nothing here allocates per frame: caller chains and the activity
/// order are links in the calls themselves.
/// </summary>
internal sealed class CtipCallIndex
{
    private const string NoCaller = "\0";

    private static readonly List<CtipOpenCall> Empty = [];

    // Lists are kept when they empty: a PBX has a bounded set of extensions.
    private readonly Dictionary<string, List<CtipOpenCall>> _openByExtension = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CtipOpenCall> _newestByCaller = new(StringComparer.Ordinal);
    private CtipOpenCall? _latestActive;

    /// <summary>Calls in which <paramref name="extension"/> has an open leg, oldest first (empty when none).</summary>
    public List<CtipOpenCall> WithOpenLeg(string extension) => _openByExtension.TryGetValue(extension, out var list) ? list : Empty;

    /// <summary>The newest open call whose caller is <paramref name="caller"/> (null = withheld); older ones follow through
    /// <see cref="CtipOpenCall.OlderSameCaller"/>.</summary>
    public CtipOpenCall? NewestWithCaller(string? caller) => _newestByCaller.GetValueOrDefault(caller ?? NoCaller);

    /// <summary>The open call with the latest activity; earlier ones follow through <see cref="CtipOpenCall.EarlierActive"/>.</summary>
    public CtipOpenCall? LatestActive => _latestActive;

    /// <summary>Files a call with its open legs (opened or loaded).</summary>
    public void Add(CtipOpenCall call)
    {
        foreach (var leg in call.Legs)
        {
            if (leg.IsOpen)
            {
                LegOpened(call, leg.Extension);
            }
        }

        Refresh(call);
    }

    /// <summary>A leg of <paramref name="extension"/> in <paramref name="call"/> is open (added, or ringing again).</summary>
    public void LegOpened(CtipOpenCall call, string extension)
    {
        if (!_openByExtension.TryGetValue(extension, out var list))
        {
            _openByExtension[extension] = list = [];
        }

        var i = list.Count;
        while (i > 0 && list[i - 1].Ordinal >= call.Ordinal)
        {
            if (ReferenceEquals(list[i - 1], call))
            {
                return;
            }

            i--;
        }

        list.Insert(i, call);
    }

    /// <summary>A leg of <paramref name="extension"/> in <paramref name="call"/> ended: the call leaves the extension's list
    /// unless another of its legs for it is still open.</summary>
    public void LegEnded(CtipOpenCall call, string extension)
    {
        if (call.FindOpenLeg(extension) is null && _openByExtension.TryGetValue(extension, out var list))
        {
            Drop(list, call);
        }
    }

    /// <summary>Moves <paramref name="call"/> to its current caller and activity time (after anything changed them).</summary>
    public void Refresh(CtipOpenCall call)
    {
        if (!call.Indexed || call.IndexedCaller != call.Caller)
        {
            if (call.Indexed)
            {
                Unchain(call);
            }

            Chain(call);
        }

        if (!call.Indexed || call.IndexedActivity != call.LastActivityAt)
        {
            MoveInActivity(call);
        }

        call.Indexed = true;
    }

    /// <summary>Forgets a call (completed).</summary>
    public void Remove(CtipOpenCall call)
    {
        foreach (var leg in call.Legs)
        {
            if (_openByExtension.TryGetValue(leg.Extension, out var list))
            {
                Drop(list, call);
            }
        }

        if (call.Indexed)
        {
            Unchain(call);
            UnlinkActivity(call);
            call.Indexed = false;
        }
    }

    private static void Drop(List<CtipOpenCall> list, CtipOpenCall call)
    {
        for (var i = list.Count - 1; i >= 0; i--)
        {
            if (ReferenceEquals(list[i], call))
            {
                list.RemoveAt(i);
                return;
            }
        }
    }

    /// <summary>Puts the call in its caller's chain, which runs newest (highest ordinal) to oldest.</summary>
    private void Chain(CtipOpenCall call)
    {
        var key = call.Caller ?? NoCaller;
        call.IndexedCaller = call.Caller;
        if (!_newestByCaller.TryGetValue(key, out var newest) || newest.Ordinal < call.Ordinal)
        {
            call.OlderSameCaller = newest;
            _newestByCaller[key] = call;
            return;
        }

        var before = newest;
        while (before.OlderSameCaller is { } older && older.Ordinal > call.Ordinal)
        {
            before = older;
        }

        call.OlderSameCaller = before.OlderSameCaller;
        before.OlderSameCaller = call;
    }

    private void Unchain(CtipOpenCall call)
    {
        var key = call.IndexedCaller ?? NoCaller;
        if (!_newestByCaller.TryGetValue(key, out var newest))
        {
            return;
        }

        if (ReferenceEquals(newest, call))
        {
            if (call.OlderSameCaller is { } older)
            {
                _newestByCaller[key] = older;
            }
            else
            {
                _newestByCaller.Remove(key);
            }
        }
        else
        {
            var before = newest;
            while (before.OlderSameCaller is { } next && !ReferenceEquals(next, call))
            {
                before = next;
            }

            if (ReferenceEquals(before.OlderSameCaller, call))
            {
                before.OlderSameCaller = call.OlderSameCaller;
            }
        }

        call.OlderSameCaller = null;
    }

    /// <summary>Keeps the activity list sorted by last activity: a call whose activity moved goes towards the latest end
    /// (in a stream whose times grow, straight to it).</summary>
    private void MoveInActivity(CtipOpenCall call)
    {
        if (call.Indexed)
        {
            UnlinkActivity(call);
        }

        call.IndexedActivity = call.LastActivityAt;
        CtipOpenCall? after = null;
        var before = _latestActive;
        while (before is not null && before.LastActivityAt > call.LastActivityAt)
        {
            after = before;
            before = before.EarlierActive;
        }

        call.EarlierActive = before;
        call.LaterActive = after;
        if (before is not null)
        {
            before.LaterActive = call;
        }

        if (after is not null)
        {
            after.EarlierActive = call;
        }
        else
        {
            _latestActive = call;
        }
    }

    private void UnlinkActivity(CtipOpenCall call)
    {
        if (call.EarlierActive is { } earlier)
        {
            earlier.LaterActive = call.LaterActive;
        }

        if (call.LaterActive is { } later)
        {
            later.EarlierActive = call.EarlierActive;
        }
        else if (ReferenceEquals(_latestActive, call))
        {
            _latestActive = call.EarlierActive;
        }

        call.EarlierActive = null;
        call.LaterActive = null;
    }
}
