using PhoneNumbers;

namespace CloudTelephony.Telephony.Routing;

/// <summary>
/// Phone numbers to E.164 with libphonenumber, so that the raw forms PBXes and people write (<c>693109180</c>,
/// <c>0660155133</c>, <c>+48 693 109 180</c>, <c>0048693109180</c>, <c>48693109180</c>) meet on one key.
/// </summary>
public static class PhoneNormalizer
{
    private static readonly PhoneNumberUtil Util = PhoneNumberUtil.GetInstance();

    /// <summary>
    /// The number in E.164 (<c>+48693109180</c>), or null when it is empty, an extension-length number, or not a
    /// possible number of any region.
    /// </summary>
    /// <param name="raw">The number as written.</param>
    /// <param name="defaultRegion">ISO 3166 region (<c>PL</c>) for national numbers without a country code.</param>
    public static string? ToE164(string? raw, string defaultRegion)
    {
        if (string.IsNullOrWhiteSpace(raw))
        {
            return null;
        }

        var digits = new string(raw.Where(char.IsAsciiDigit).ToArray());
        if (digits.Length < 6)
        {
            return null; // extensions and service codes never route
        }

        var text = raw.Trim();
        if (text.StartsWith("00", StringComparison.Ordinal))
        {
            text = "+" + digits[2..]; // international prefix used by most of Europe
        }

        // The number as written first; then, for numbers without a plus, the country code without its plus
        // (48693109180) and the national number behind an outside-line or trunk zero (0660155133). A valid number wins
        // over one that is only possible.
        PhoneNumber? best = null;
        var candidates = text.StartsWith('+') ? [text] : new[] { text, "+" + digits, digits.TrimStart('0') };
        foreach (var candidate in candidates)
        {
            if (Parse(candidate, defaultRegion) is not { } n)
            {
                continue;
            }

            if (Util.IsValidNumber(n))
            {
                best = n;
                break;
            }

            best ??= n;
        }

        return best is null ? null : Util.Format(best, PhoneNumberFormat.E164);
    }

    private static PhoneNumber? Parse(string text, string region)
    {
        try
        {
            var n = Util.Parse(text, region);
            return Util.IsPossibleNumber(n) ? n : null;
        }
        catch (NumberParseException)
        {
            return null;
        }
    }
}
