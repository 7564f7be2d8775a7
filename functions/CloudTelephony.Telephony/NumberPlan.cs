using System.Text.RegularExpressions;

namespace CloudTelephony.Telephony;

/// <summary>
/// A PBX's number plan (AMI): which channels are trunks and which are extensions. Stored with the PBX
/// (<c>ct.pbxes.trunk_endpoints</c>, <c>extension_pattern</c>, <c>internal_contexts</c>; <c>admin pbx set</c>) and given on
/// the command line (<c>correlate --trunk</c>). Empty = the correlator infers it from the stream's evidence.
/// </summary>
/// <param name="Trunks">Trunk endpoints: <c>technology/resource</c> (<c>PJSIP/provider</c>, <c>SIP/trunk1</c>), an
/// endpoint name or a dialplan context; matched case-insensitively.</param>
/// <param name="ExtensionPattern">A .NET regular expression an extension number matches as a whole (<c>2\d\d</c>), or null.</param>
/// <param name="InternalContexts">Dialplan contexts whose channels are phones (<c>ctx-users</c>).</param>
public sealed record NumberPlan(IReadOnlyList<string> Trunks, string? ExtensionPattern, IReadOnlyList<string> InternalContexts)
{
    /// <summary>Nothing configured.</summary>
    public static readonly NumberPlan None = new([], null, []);

    /// <summary>True when nothing is configured.</summary>
    public bool IsEmpty => Trunks.Count == 0 && string.IsNullOrEmpty(ExtensionPattern) && InternalContexts.Count == 0;

    /// <summary><paramref name="options"/> with this plan.</summary>
    public CorrelatorOptions ApplyTo(CorrelatorOptions options) => options with
    {
        TrunkEndpoints = Trunks,
        ExtensionPattern = string.IsNullOrEmpty(ExtensionPattern) ? null : ExtensionPattern,
        InternalContexts = InternalContexts,
    };

    /// <summary>One line for people and cache keys: <c>trunks PJSIP/provider; extensions 2\d\d; internal contexts ctx-users</c>
    /// (<c>inferred from the stream</c> when empty).</summary>
    public override string ToString() => IsEmpty
        ? "inferred from the stream"
        : string.Join("; ", new[]
        {
            Trunks.Count > 0 ? "trunks " + string.Join(",", Trunks) : null,
            string.IsNullOrEmpty(ExtensionPattern) ? null : "extensions " + ExtensionPattern,
            InternalContexts.Count > 0 ? "internal contexts " + string.Join(",", InternalContexts) : null,
        }.OfType<string>());

    /// <summary>What is wrong with the plan, as one line naming <paramref name="patternOption"/> or
    /// <paramref name="trunkOption"/>; null when it is usable.</summary>
    public string? Problem(string trunkOption, string patternOption)
    {
        foreach (var t in Trunks)
        {
            if (string.IsNullOrWhiteSpace(t) || t.Any(char.IsWhiteSpace))
            {
                return $"{trunkOption} '{t}': give a channel prefix such as PJSIP/provider, an endpoint name or a context (no spaces)";
            }
        }

        if (!string.IsNullOrEmpty(ExtensionPattern))
        {
            try
            {
                _ = new Regex(ExtensionPattern, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(50));
            }
            catch (ArgumentException ex)
            {
                return $"{patternOption} '{ExtensionPattern}' is not a regular expression: {ex.Message}";
            }
        }

        return null;
    }
}
