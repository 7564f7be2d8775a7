using System.Text.RegularExpressions;

namespace CloudTelephony.Telephony.Ami;

/// <summary>
/// Trunk or extension for one AMI channel, and the number an extension is reported by.
/// </summary>
/// <remarks>
/// <para><b>Configured</b> (<see cref="CorrelatorOptions.TrunkEndpoints"/>, <see cref="CorrelatorOptions.ExtensionPattern"/>,
/// <see cref="CorrelatorOptions.InternalContexts"/>; per PBX with <c>admin pbx set</c>, or <c>correlate --trunk</c>): a
/// channel is a trunk when a trunk entry equals its channel-name prefix (<c>PJSIP/provider</c> matches
/// <c>PJSIP/provider-0000002a</c>), its endpoint name or its <c>Newchannel</c> context; it is an extension when its
/// context is an internal context or its endpoint name or caller id matches the extension pattern. Anything else is an
/// extension when trunks are listed, a trunk when only the pattern or contexts are.</para>
/// <para><b>Evidence</b> (nothing configured; fixtures/ami/asterisk20 and tests/data/ami/lab variant <c>numberplan</c>):
/// (1) the context: a word of it (split at <c>-</c>, <c>_</c>, <c>.</c>) such as <c>pstn</c>, <c>trunk</c>, <c>did</c>,
/// <c>provider</c>, <c>carrier</c>, <c>external</c>, <c>incoming</c>, <c>inbound</c> → trunk; <c>internal</c>,
/// <c>users</c>, <c>phones</c>, <c>extensions</c>, <c>office</c> → extension; (2) caller id vs account: an endpoint whose
/// name is a 1–6 digit number is an extension unless it opens the call with an outside caller id (7+ digits) of its own;
/// a channel whose caller id is a 1–6 digit number is an extension reported by that number (an account such as
/// <c>PJSIP/150010002</c> with caller id 202); a channel that opens a call with an outside caller id is a trunk;
/// (3) which side dials long numbers: a channel dialled with an outside number (<c>DialString</c> of 7+ digits other than
/// its own name, <c>0048221112233@3001</c>) is a trunk. Anything else (a named endpoint such as <c>PJSIP/sipgate</c>) is a
/// trunk.</para>
/// </remarks>
internal sealed class AmiNumberPlan
{
    private static readonly string[] TrunkWords = ["pstn", "trunk", "trunks", "did", "dids", "provider", "carrier", "external", "incoming", "inbound", "gsm", "isdn"];
    private static readonly string[] InternalWords = ["internal", "users", "user", "phones", "phone", "extensions", "extension", "office", "devices"];

    private readonly IReadOnlyList<string> _trunks;
    private readonly HashSet<string> _internalContexts;
    private readonly Regex? _pattern;

    /// <summary>The number plan of <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentException"><see cref="CorrelatorOptions.ExtensionPattern"/> is not a regular expression.</exception>
    public AmiNumberPlan(CorrelatorOptions options)
    {
        _trunks = options.TrunkEndpoints;
        _internalContexts = new HashSet<string>(options.InternalContexts, StringComparer.OrdinalIgnoreCase);
        _pattern = string.IsNullOrWhiteSpace(options.ExtensionPattern)
            ? null
            : new Regex("^(?:" + options.ExtensionPattern + ")$", RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(50));
    }

    /// <summary>True when any part of the plan is configured (no evidence is then used).</summary>
    public bool Configured => _trunks.Count > 0 || _pattern is not null || _internalContexts.Count > 0;

    /// <summary>The endpoint part of a channel name: <c>PJSIP/201-0000002a</c> → <c>201</c>; <c>Local/201@ctx-0001;1</c> → <c>201</c>.</summary>
    public static string EndpointName(string channel)
    {
        var slash = channel.IndexOf('/');
        var resource = slash < 0 ? channel : channel[(slash + 1)..];
        if (channel.StartsWith("Local/", StringComparison.OrdinalIgnoreCase))
        {
            var atSign = resource.IndexOf('@');
            return atSign < 0 ? resource : resource[..atSign];
        }

        var dash = resource.LastIndexOf('-');
        return dash > 0 ? resource[..dash] : resource;
    }

    /// <summary>Trunk, extension or Local for a channel seen in <c>Newchannel</c>; <paramref name="endpoint"/> is the
    /// extension's number, the trunk's endpoint name, or the Local channel's part before <c>@</c>.</summary>
    /// <param name="channel">Channel name.</param>
    /// <param name="context">Its <c>Newchannel</c> context, or null.</param>
    /// <param name="callerId">Its <c>CallerIDNum</c>, or null.</param>
    /// <param name="origin">It opens the call (first channel of its Linkedid).</param>
    /// <param name="endpoint">Set to the endpoint or number the channel is reported by.</param>
    public LegKind Classify(string channel, string? context, string? callerId, bool origin, out string endpoint)
    {
        var name = EndpointName(channel);
        endpoint = name;
        if (channel.StartsWith("Local/", StringComparison.OrdinalIgnoreCase))
        {
            return LegKind.Local;
        }

        if (Configured)
        {
            foreach (var t in _trunks)
            {
                if (channel.Equals(t, StringComparison.OrdinalIgnoreCase)
                    || (channel.StartsWith(t, StringComparison.OrdinalIgnoreCase) && channel.Length > t.Length && channel[t.Length] == '-')
                    || name.Equals(t, StringComparison.OrdinalIgnoreCase)
                    || (context is not null && context.Equals(t, StringComparison.OrdinalIgnoreCase)))
                {
                    return LegKind.Trunk;
                }
            }

            if (_pattern is not null && (_pattern.IsMatch(name) || (callerId is not null && _pattern.IsMatch(callerId))))
            {
                // reported by its number: the caller id when the name is an account (PJSIP/150010002, caller id 202)
                endpoint = callerId is not null && _pattern.IsMatch(callerId) && !(IsShortNumber(name) && _pattern.IsMatch(name)) ? callerId : name;
                return LegKind.Extension;
            }

            if ((context is not null && _internalContexts.Contains(context)) || _trunks.Count > 0)
            {
                endpoint = ExtensionNumber(name, callerId);
                return LegKind.Extension;
            }

            return LegKind.Trunk;
        }

        if (context is not null)
        {
            if (HasWord(context, TrunkWords))
            {
                return LegKind.Trunk;
            }

            if (HasWord(context, InternalWords))
            {
                endpoint = ExtensionNumber(name, callerId);
                return LegKind.Extension;
            }
        }

        var shortName = IsShortNumber(name);
        var outsideCaller = callerId is not null && callerId != name && IsOutsideNumber(callerId);
        if (shortName && !(origin && outsideCaller))
        {
            return LegKind.Extension;
        }

        if (callerId is not null && IsShortNumber(callerId))
        {
            endpoint = callerId;
            return LegKind.Extension;
        }

        return LegKind.Trunk;
    }

    /// <summary>True when nothing is configured and <paramref name="dest"/> was dialled with an outside number (7+ digits
    /// before any <c>@</c>, not its own name): it is a trunk leg.</summary>
    public bool DialsOut(AmiLegState dest)
    {
        if (Configured || dest.DialString is not { Length: > 0 } dial)
        {
            return false;
        }

        var at = dial.IndexOf('@');
        var number = at < 0 ? dial : dial[..at];
        var slash = number.LastIndexOf('/');
        number = slash < 0 ? number : number[(slash + 1)..];
        return IsOutsideNumber(number) && number != EndpointName(dest.Channel) && number != dest.CallerIdNum;
    }

    private string ExtensionNumber(string name, string? callerId)
    {
        if (IsShortNumber(name))
        {
            return name;
        }

        return callerId is not null && (IsShortNumber(callerId) || (_pattern is not null && _pattern.IsMatch(callerId))) ? callerId : name;
    }

    /// <summary>1–6 digits: an extension number.</summary>
    private static bool IsShortNumber(string s) => s.Length is >= 1 and <= 6 && s.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0;

    /// <summary>An outside number: optional <c>+</c>, then 7 or more digits.</summary>
    public static bool IsOutsideNumber(string s)
    {
        var digits = s.StartsWith('+') ? s.AsSpan(1) : s.AsSpan();
        return digits.Length >= 7 && digits.IndexOfAnyExceptInRange('0', '9') < 0;
    }

    private static bool HasWord(string context, string[] words)
    {
        foreach (var part in context.Split(['-', '_', '.'], StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var w in words)
            {
                if (part.Equals(w, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        // the prefixes the default FreePBX / Asterisk samples use (from-trunk-sip-x, from-pstn-toheader, from-internal-xfer)
        return words == TrunkWords
            ? context.StartsWith("from-trunk", StringComparison.OrdinalIgnoreCase) || context.StartsWith("from-pstn", StringComparison.OrdinalIgnoreCase)
            : context.StartsWith("from-internal", StringComparison.OrdinalIgnoreCase);
    }
}
