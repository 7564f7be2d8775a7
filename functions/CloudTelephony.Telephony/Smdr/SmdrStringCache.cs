namespace CloudTelephony.Telephony.Smdr;

/// <summary>
/// A small direct-mapped cache of short strings (devices, names, extension and DDI numbers …) so that the values a PBX
/// repeats on every record are allocated once instead of once per record and per call. Fixed size: a miss replaces the
/// slot, so memory stays bounded whatever the traffic. Not thread-safe: one per correlator.
/// </summary>
internal sealed class SmdrStringCache
{
    /// <summary>Longest string kept; longer ones are always allocated.</summary>
    private const int MaxLength = 48;

    private const int Size = 1024; // power of two

    private readonly string?[] _slots = new string?[Size];

    /// <summary><paramref name="value"/> as a string, shared with earlier calls for the same text when still cached.</summary>
    public string Get(ReadOnlySpan<char> value)
    {
        if (value.Length > MaxLength)
        {
            return value.ToString();
        }

        // FNV-1a: cheaper than the randomized string hash for these short values; a collision only costs a miss.
        var hash = 2166136261u;
        foreach (var c in value)
        {
            hash = (hash ^ c) * 16777619u;
        }

        ref var slot = ref _slots[(int)((hash ^ (hash >> 16)) & (Size - 1))];
        if (slot is { } s && value.SequenceEqual(s))
        {
            return s;
        }

        return slot = value.ToString();
    }
}
