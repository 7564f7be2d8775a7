using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Telephony.Routing;

namespace CloudTelephony.Functions.Sms;

/// <summary>
/// Phone numbers a person types (SMS recipients, contact numbers): the core's <see cref="PhoneNormalizer"/>, restricted
/// to valid numbers whose whole text is a number. libphonenumber alone reads the digits out of any text
/// (<c>not-a-number-601234567x</c> became +48601234567), which is right for a PBX's caller id and wrong for a recipient.
/// </summary>
public static class SmsNumbers
{
    /// <summary>
    /// Why <paramref name="raw"/> is not written like a phone number, or null when it is: digits, with optional spaces,
    /// <c>-</c>, <c>.</c>, <c>/</c> and parentheses between them, and an optional leading <c>+</c>.
    /// </summary>
    public static string? SyntaxProblem(string? raw)
    {
        var text = raw?.Trim() ?? "";
        if (text.Length == 0)
        {
            return "is empty";
        }

        var digits = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsAsciiDigit(c))
            {
                digits++;
            }
            else if (c == '+' && i == 0)
            {
            }
            else if (c is not (' ' or '\u00a0' or '-' or '.' or '/' or '(' or ')'))
            {
                return c == '+'
                    ? "is not a phone number: '+' may only start it"
                    : "is not a phone number: only digits, spaces, a leading '+', '-', '.', '/' and parentheses are allowed";
            }
        }

        return digits == 0 ? "is not a phone number: it has no digits" : null;
    }

    /// <summary>
    /// Parses <paramref name="raw"/> as written by a person (<c>600 100 200</c>, <c>0048600100200</c>,
    /// <c>+48 600-100-200</c>, <c>48600100200</c>) with <paramref name="region"/> for national numbers.
    /// </summary>
    /// <returns>The E.164 form and whether it can receive SMS (type MOBILE or FIXED_LINE_OR_MOBILE), or null when the text
    /// is not only a number (<see cref="SyntaxProblem"/>) or not a valid number.</returns>
    public static (string E164, bool Mobile)? Normalize(string? raw, string region)
        => SyntaxProblem(raw) is null && PhoneNormalizer.Normalize(raw, region) is { Valid: true } n ? (n.E164, n.Mobile) : null;
}
