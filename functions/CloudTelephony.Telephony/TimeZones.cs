namespace CloudTelephony.Telephony;

/// <summary>IANA time zone ids as the PBX and enterprise settings store them (<c>Europe/Warsaw</c>).</summary>
public static class TimeZones
{
    /// <summary>The zone <paramref name="id"/> names, or null when this machine's tz database does not know it
    /// (<c>Mars/Olympus</c>) or it is empty.</summary>
    public static TimeZoneInfo? Find(string? id)
        => !string.IsNullOrWhiteSpace(id) && TimeZoneInfo.TryFindSystemTimeZoneById(id, out var zone) ? zone : null;

    /// <summary>A one-line reason when <paramref name="id"/> is not a known zone, else null.</summary>
    /// <param name="id">The zone id as given.</param>
    /// <param name="what">What it is for, e.g. <c>--time-zone</c>.</param>
    public static string? Problem(string? id, string what)
        => Find(id) is null ? $"{what}: unknown time zone '{id}' (use an IANA id such as Europe/Warsaw or UTC)" : null;
}
