namespace CloudTelephony.Telephony.Routing;

/// <summary>Per-enterprise Smart Redirect mode.</summary>
public enum SmartMode
{
    /// <summary>Answer Name and DialPlan null.</summary>
    Off,

    /// <summary>Answer the caller's name; DialPlan null.</summary>
    NameOnly,

    /// <summary>Answer the name and, on smart-enabled trunks, the DialPlan of the chosen extension.</summary>
    RoutingAndName,
}

/// <summary>How the extension for a caller is chosen.</summary>
public enum RoutingStrategy
{
    /// <summary>The extension that first answered a call from this number within the lookback window.</summary>
    FirstCall,

    /// <summary>The extension that last talked with this number (inbound answered, or outbound) within the window.</summary>
    LastCall,

    /// <summary>The customer's responsible manager in the CRM, mapped to an extension.</summary>
    Crm,
}

/// <summary>The pure rules of Smart Redirect: names of settings, the DialPlan context, the caller-ID name.</summary>
public static class SmartRedirect
{
    /// <summary>Longest caller-ID name handed to the PBX.</summary>
    public const int MaxNameLength = 40;

    /// <summary>The dialplan context the Asterisk side generates per extension and trunk: <c>mngr&lt;internalId&gt;_&lt;TrunkId&gt;_1</c>.</summary>
    public static string DialPlan(string internalId, string trunkId) => $"mngr{internalId}_{trunkId}_1";

    /// <summary>A name formatted for caller ID: whitespace collapsed, control characters dropped, at most 40 characters;
    /// cut at a word boundary when one is near; null when nothing is left.</summary>
    public static string? CallerIdName(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return null;
        }

        var words = name.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var text = string.Join(' ', words.Select(w => new string(w.Where(c => !char.IsControl(c)).ToArray())).Where(w => w.Length > 0));
        if (text.Length > MaxNameLength)
        {
            var cut = text[..MaxNameLength];
            var space = cut.LastIndexOf(' ');
            text = (text[MaxNameLength] != ' ' && space > MaxNameLength / 2 ? cut[..space] : cut).TrimEnd();
        }

        return text.Length == 0 ? null : text;
    }

    /// <summary>The settings word of a mode: <c>off</c>, <c>name-only</c>, <c>routing+name</c>.</summary>
    public static string Name(SmartMode mode) => mode switch
    {
        SmartMode.NameOnly => "name-only",
        SmartMode.RoutingAndName => "routing+name",
        _ => "off",
    };

    /// <summary>The settings word of a strategy: <c>first_call</c>, <c>last_call</c>, <c>crm</c>.</summary>
    public static string Name(RoutingStrategy strategy) => strategy switch
    {
        RoutingStrategy.FirstCall => "first_call",
        RoutingStrategy.LastCall => "last_call",
        _ => "crm",
    };

    /// <summary>Reads a mode word (case-insensitive); false when it is none.</summary>
    public static bool TryParseMode(string? text, out SmartMode mode)
    {
        foreach (var m in Enum.GetValues<SmartMode>())
        {
            if (string.Equals(Name(m), text?.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                mode = m;
                return true;
            }
        }

        mode = SmartMode.Off;
        return false;
    }

    /// <summary>Reads a strategy word (case-insensitive); false when it is none.</summary>
    public static bool TryParseStrategy(string? text, out RoutingStrategy strategy)
    {
        foreach (var s in Enum.GetValues<RoutingStrategy>())
        {
            if (string.Equals(Name(s), text?.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                strategy = s;
                return true;
            }
        }

        strategy = RoutingStrategy.LastCall;
        return false;
    }
}
