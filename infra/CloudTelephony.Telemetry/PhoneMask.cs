using System.Text;

namespace CloudTelephony.Telemetry;

/// <summary>
/// Masks phone numbers before they reach logs or telemetry: every digit but the last three becomes <c>*</c>, other
/// characters (<c>+</c>, spaces, dashes) stay, so <c>+48 601 234 567</c> becomes <c>+** *** *** 567</c>.
/// </summary>
public static class PhoneMask
{
    /// <summary>Digits left visible at the end of a number.</summary>
    public const int VisibleDigits = 3;

    /// <summary>Shortest run of digits that <see cref="MaskText"/> treats as a phone number (shorter runs are ids, extensions, times).</summary>
    public const int MinNumberDigits = 7;

    /// <summary>Masks one phone number (null stays null).</summary>
    public static string? Mask(string? number)
    {
        if (string.IsNullOrEmpty(number))
        {
            return number;
        }

        var digits = 0;
        foreach (var c in number)
        {
            if (char.IsAsciiDigit(c))
            {
                digits++;
            }
        }

        var toMask = digits - VisibleDigits;
        if (toMask <= 0)
        {
            return number;
        }

        var sb = new StringBuilder(number.Length);
        foreach (var c in number)
        {
            if (char.IsAsciiDigit(c) && toMask > 0)
            {
                sb.Append('*');
                toMask--;
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }

    /// <summary>
    /// Masks every run of at least <see cref="MinNumberDigits"/> digits in free text (a URL path, a log message), e.g.
    /// <c>/api/contacts/48601234567</c> → <c>/api/contacts/********567</c>; shorter numbers (call ids, extensions) stay.
    /// </summary>
    public static string? MaskText(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text;
        }

        StringBuilder? sb = null;
        var i = 0;
        while (i < text.Length)
        {
            if (!char.IsAsciiDigit(text[i]))
            {
                sb?.Append(text[i]);
                i++;
                continue;
            }

            var start = i;
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }

            var run = text.AsSpan(start, i - start);
            if (run.Length >= MinNumberDigits)
            {
                sb ??= new StringBuilder(text.Length).Append(text, 0, start);
                sb.Append('*', run.Length - VisibleDigits).Append(run[^VisibleDigits..]);
            }
            else
            {
                sb?.Append(run);
            }
        }

        return sb?.ToString() ?? text;
    }
}
