namespace CloudTelephony.Functions.Hosting;

/// <summary>
/// Checks of text that comes from a request before it reaches PostgreSQL, a CSV writer or a log: PostgreSQL cannot
/// store NUL (U+0000) in <c>text</c> (the whole statement fails, so one bad value would answer 500, cut a CSV short or
/// lose a batch of decision-log rows), and a control character has no place in a single-line value (a filter, an id,
/// a number, a name). Errors are keyed by the field's name, as the API's validation problems are.
/// </summary>
public static class TextInput
{
    /// <summary>
    /// The problem with a single-line value (a query filter, a route value, a name, a number), or null when it is
    /// fine: no C0 control character (U+0000–U+001F) and no DEL (U+007F).
    /// </summary>
    public static string? SingleLineProblem(string? value)
    {
        if (value is null)
        {
            return null;
        }

        foreach (var c in value)
        {
            if (c == '\0')
            {
                return "must not contain NUL (U+0000)";
            }

            if (c < ' ' || c == '\u007f')
            {
                return $"must not contain control characters (found U+{(int)c:X4})";
            }
        }

        return null;
    }

    /// <summary>The problem with a free text (an SMS text: line breaks and tabs allowed), or null: no NUL.</summary>
    public static string? TextProblem(string? value)
        => value is not null && value.Contains('\0', StringComparison.Ordinal) ? "must not contain NUL (U+0000)" : null;

    /// <summary>Adds the single-line problem of <paramref name="value"/> to <paramref name="errors"/> under <paramref name="field"/>.</summary>
    /// <returns>True when the value is fine.</returns>
    public static bool CheckSingleLine(string? value, string field, IDictionary<string, string[]> errors)
    {
        if (SingleLineProblem(value) is { } problem)
        {
            errors[field] = [problem];
            return false;
        }

        return true;
    }

    /// <summary>Adds the free-text problem of <paramref name="value"/> to <paramref name="errors"/> under <paramref name="field"/>.</summary>
    /// <returns>True when the value is fine.</returns>
    public static bool CheckText(string? value, string field, IDictionary<string, string[]> errors)
    {
        if (TextProblem(value) is { } problem)
        {
            errors[field] = [problem];
            return false;
        }

        return true;
    }
}
