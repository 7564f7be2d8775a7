using PhoneNumbers;

namespace CloudTelephony.Functions.Sms;

/// <summary>Phone number normalisation with libphonenumber.</summary>
public static class SmsNumbers
{
    private static readonly PhoneNumberUtil Util = PhoneNumberUtil.GetInstance();

    /// <summary>
    /// Parses <paramref name="raw"/> as written by a person or a PBX (<c>600 100 200</c>, <c>0048600100200</c>,
    /// <c>+48 600-100-200</c>, <c>48600100200</c>) with <paramref name="region"/> for national numbers.
    /// </summary>
    /// <returns>The E.164 form and whether it can receive SMS (type MOBILE or FIXED_LINE_OR_MOBILE), or null when not a valid number.</returns>
    public static (string E164, bool Mobile)? Normalize(string? raw, string region)
    {
        if (string.IsNullOrWhiteSpace(raw))
        {
            return null;
        }

        var number = TryParse(raw, region);
        if (number is null)
        {
            // PBXes often deliver international numbers without '+' or '00' (e.g. 48600100200).
            var digits = new string(raw.Where(char.IsAsciiDigit).ToArray());
            if (digits.Length > 9 && digits.Length == raw.Trim().Length)
            {
                number = TryParse("+" + digits, region);
            }
        }

        if (number is null)
        {
            return null;
        }

        var type = Util.GetNumberType(number);
        return (Util.Format(number, PhoneNumberFormat.E164), type is PhoneNumberType.MOBILE or PhoneNumberType.FIXED_LINE_OR_MOBILE);
    }

    private static PhoneNumber? TryParse(string raw, string region)
    {
        try
        {
            var n = Util.Parse(raw, region);
            return Util.IsValidNumber(n) ? n : null;
        }
        catch (NumberParseException)
        {
            return null;
        }
    }
}
