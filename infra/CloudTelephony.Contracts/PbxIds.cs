using System.Text.RegularExpressions;

namespace CloudTelephony.Contracts;

/// <summary>
/// The syntax of a PBX id (<see cref="Envelope.Pbx"/>, the Service Bus SessionId, the key of <c>ct.pbxes</c>): 1 to 64
/// characters, a letter or digit first, then letters, digits, <c>.</c>, <c>_</c>, <c>:</c> or <c>-</c>
/// (<c>office-slican</c>, <c>warsaw.ipo:2</c>). Ingest refuses any other id, so no 10,000-character or control-character
/// id reaches the database, a log line or a blob name.
/// </summary>
public static partial class PbxIds
{
    /// <summary>The longest id, in characters.</summary>
    public const int MaxLength = 64;

    /// <summary>The pattern, for messages and documentation.</summary>
    public const string Pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$";

    /// <summary>True when <paramref name="id"/> has the syntax of a PBX id.</summary>
    public static bool IsValid(string? id) => id is { Length: > 0 and <= MaxLength } && Syntax().IsMatch(id);

    // \z, not $: '$' would also match before a trailing line feed.
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\z", RegexOptions.CultureInvariant)]
    private static partial Regex Syntax();
}
