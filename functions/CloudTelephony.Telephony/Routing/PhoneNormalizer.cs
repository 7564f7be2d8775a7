using PhoneNumbers;

namespace CloudTelephony.Telephony.Routing;

/// <summary>
/// Phone numbers to E.164 with libphonenumber, so that the raw forms PBXes and people write (<c>693109180</c>,
/// <c>0660155133</c>, <c>+48 693 109 180</c>, <c>0048693109180</c>, <c>48693109180</c>) meet on one key.
/// </summary>
public static class PhoneNormalizer
{
    private static readonly PhoneNumberUtil Util = PhoneNumberUtil.GetInstance();

    /// <summary>Whether <paramref name="region"/> is an ISO 3166 region libphonenumber has numbering data for
    /// (<c>PL</c>, <c>DE</c>; any case). <c>XX</c> or <c>Poland</c> are not.</summary>
    public static bool IsKnownRegion(string? region)
        => !string.IsNullOrWhiteSpace(region) && Util.GetSupportedRegions().Contains(region.ToUpperInvariant());

    /// <summary>
    /// The number in E.164 (<c>+48693109180</c>), or null when it is empty, an extension-length number, or not a
    /// possible number of any region.
    /// </summary>
    /// <param name="raw">The number as written.</param>
    /// <param name="defaultRegion">ISO 3166 region (<c>PL</c>) for national numbers without a country code.</param>
    public static string? ToE164(string? raw, string defaultRegion) => Normalize(raw, defaultRegion)?.E164;

    /// <summary>
    /// The number in E.164 with what libphonenumber knows of it, or null when it is empty, an extension-length number, or
    /// not a possible number of any region (see <see cref="ToE164"/>).
    /// </summary>
    /// <param name="raw">The number as written.</param>
    /// <param name="defaultRegion">ISO 3166 region (<c>PL</c>) for national numbers without a country code.</param>
    public static NormalizedNumber? Normalize(string? raw, string defaultRegion)
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
        var valid = false;
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
                valid = true;
                break;
            }

            best ??= n;
        }

        if (best is null)
        {
            return null;
        }

        var type = valid ? Util.GetNumberType(best) : PhoneNumberType.UNKNOWN;
        return new NormalizedNumber(Util.Format(best, PhoneNumberFormat.E164), valid, type is PhoneNumberType.MOBILE or PhoneNumberType.FIXED_LINE_OR_MOBILE);
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

/// <summary>A number normalised by <see cref="PhoneNormalizer.Normalize"/>.</summary>
/// <param name="E164">E.164 form.</param>
/// <param name="Valid">libphonenumber knows it as a valid number of its region (not only a possible one).</param>
/// <param name="Mobile">A valid number that can receive SMS (type MOBILE or FIXED_LINE_OR_MOBILE).</param>
public sealed record NormalizedNumber(string E164, bool Valid, bool Mobile);
