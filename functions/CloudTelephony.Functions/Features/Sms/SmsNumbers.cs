using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Telephony.Routing;

namespace CloudTelephony.Functions.Sms;

/// <summary>Phone numbers for SMS: the core's <see cref="PhoneNormalizer"/>, restricted to valid numbers.</summary>
public static class SmsNumbers
{
    /// <summary>
    /// Parses <paramref name="raw"/> as written by a person or a PBX (<c>600 100 200</c>, <c>0048600100200</c>,
    /// <c>+48 600-100-200</c>, <c>48600100200</c>) with <paramref name="region"/> for national numbers.
    /// </summary>
    /// <returns>The E.164 form and whether it can receive SMS (type MOBILE or FIXED_LINE_OR_MOBILE), or null when not a valid number.</returns>
    public static (string E164, bool Mobile)? Normalize(string? raw, string region)
        => PhoneNormalizer.Normalize(raw, region) is { Valid: true } n ? (n.E164, n.Mobile) : null;
}
