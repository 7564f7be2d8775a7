using System.Text.RegularExpressions;

namespace CloudTelephony.Relay.Ami;

/// <summary>
/// Masks credentials that an Asterisk puts into its own events before they reach the outbox (DESIGN "Reliability
/// rules"): a dialplan that calls an HTTP API shows its header settings in <c>Newexten</c> <c>AppData</c>
/// (<c>CURLOPT(httpheader)=Token: …</c>, <c>Authorization: Bearer …</c>) and its variables in <c>VarSet</c>
/// (<c>Variable: CT_ROUTING_TOKEN</c> / <c>Value: …</c>, on every <c>dialplan reload</c>) — both in the <c>dialplan</c>
/// read class the correlator needs. Values are replaced by <c>***</c>; keys, order and every other byte of the message
/// stay as received. Seen in the real capture <c>samples/ami/lab-asterisk20_n1-smart-redirect_relay-view.txt</c>.
/// </summary>
public static partial class AmiRedaction
{
    /// <summary>The replacement of a masked value.</summary>
    public const string Mask = "***";

    /// <summary>
    /// True for a variable, header or option name that names a secret: a part (split at <c>_</c>, <c>-</c>, <c>.</c>,
    /// brackets) equal to KEY, AUTH, PIN, PASS, PWD or SIGNATURE, or containing TOKEN, SECRET, PASSWORD, PASSWD,
    /// APIKEY, CREDENTIAL, AUTHORIZATION, COOKIE or USERPWD (any case; <c>_</c>/<c>__</c> inheritance prefixes ignored).
    /// </summary>
    public static bool IsSecretName(string name)
    {
        var upper = name.ToUpperInvariant();
        foreach (var needle in (ReadOnlySpan<string>)["TOKEN", "SECRET", "PASSWORD", "PASSWD", "APIKEY", "CREDENTIAL", "AUTHORIZATION", "COOKIE", "USERPWD"])
        {
            if (upper.Contains(needle, StringComparison.Ordinal))
            {
                return true;
            }
        }

        foreach (var part in upper.Split(['_', '-', '.', '(', ')', ' '], StringSplitOptions.RemoveEmptyEntries))
        {
            if (part is "KEY" or "AUTH" or "PIN" or "PASS" or "PWD" or "SIGNATURE")
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Masks the secrets in the lines of one AMI message (<c>Key: Value</c> each); returns the same list when there is
    /// nothing to mask. <c>VarSet</c>/<c>Setvar</c>-like messages: the <c>Value</c> of a <c>Variable</c> named like a
    /// secret. Every header value: HTTP header settings with a credential (<see cref="IsSecretName"/> header names such
    /// as <c>Token:</c>, <c>Authorization:</c>, <c>X-Api-Key:</c>) and <c>NAME=value</c> assignments of secret-named
    /// variables (<c>Set(CT_ROUTING_TOKEN=…)</c>, <c>CURLOPT(userpwd)=…</c>).
    /// </summary>
    public static IReadOnlyList<string> Redact(IReadOnlyList<string> lines)
    {
        List<string>? changed = null;
        var secretVariable = false;
        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[i];
            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            var key = line.AsSpan(0, colon).Trim();
            var value = line[(colon + 1)..];
            string? masked = null;
            if (key.Equals("Variable", StringComparison.OrdinalIgnoreCase))
            {
                secretVariable = IsSecretName(value.Trim());
            }
            else if (key.Equals("Value", StringComparison.OrdinalIgnoreCase) && secretVariable && value.Trim().Length > 0)
            {
                masked = $"{line[..(colon + 1)]} {Mask}";
            }
            else if (IsSecretName(key.ToString()) && value.Trim().Length > 0 && !key.Equals("Privilege", StringComparison.OrdinalIgnoreCase))
            {
                masked = $"{line[..(colon + 1)]} {Mask}";
            }

            if (masked is null)
            {
                var inner = RedactValue(value);
                if (!ReferenceEquals(inner, value))
                {
                    masked = line[..(colon + 1)] + inner;
                }
            }

            if (masked is not null)
            {
                changed ??= [.. lines];
                changed[i] = masked;
            }
        }

        return changed ?? lines;
    }

    /// <summary>Masks header credentials and secret assignments inside one value; the same instance when nothing matched.</summary>
    public static string RedactValue(string value)
    {
        if (value.IndexOf(':') < 0 && value.IndexOf('=') < 0)
        {
            return value;
        }

        var result = HeaderSetting().Replace(value, m =>
            IsSecretName(m.Groups["name"].Value)
                ? $"{m.Groups["name"].Value}{m.Groups["sep"].Value}{(m.Groups["scheme"].Success ? m.Groups["scheme"].Value : "")}{Mask}"
                : m.Value);
        result = Assignment().Replace(result, m =>
            IsSecretName(m.Groups["name"].Value) && m.Groups["value"].Value.Length > 0 && m.Groups["value"].Value != Mask
                ? $"{m.Groups["name"].Value}={Mask}"
                : m.Value);
        return result == value ? value : result;
    }

    // "Token: abc", "Authorization: Bearer abc", "X-Api-Key:abc" — a header name, a colon, the credential to the end of
    // the value (or to a quote, comma or closing bracket that ends a dialplan argument)
    [GeneratedRegex(@"(?<name>[A-Za-z][A-Za-z0-9\-_]*)(?<sep>:\s*)(?<scheme>(?:Bearer|Basic|Digest|Token)\s+)?(?<cred>[^\s,""')\]|]+)", RegexOptions.CultureInvariant)]
    private static partial Regex HeaderSetting();

    // "CT_ROUTING_TOKEN=abc", "__API_KEY=abc", "CURLOPT(userpwd)=user:pass" — a variable or function name and its value
    [GeneratedRegex(@"(?<name>_{0,2}[A-Za-z][A-Za-z0-9_]*(?:\([A-Za-z0-9_]+\))?)=(?<value>[^,)""'|]*)", RegexOptions.CultureInvariant)]
    private static partial Regex Assignment();
}
