using System.ComponentModel.DataAnnotations;
using CloudTelephony.Telephony.Streams;

namespace CloudTelephony.Functions.Ingest;

/// <summary>Settings of the correlation path (section <c>Ingest</c>).</summary>
public sealed class IngestOptions
{
    /// <summary>Stream engines kept in memory between batches, one per PBX (least recently used go first). A batch whose
    /// PBX's engine is cached at the stored version reads no open calls from the database. 0 turns the cache off.
    /// Default 512.</summary>
    [Range(0, 1_000_000, ErrorMessage = "must be 0 (off) to 1000000 engines")]
    public int StreamCacheSize { get; set; } = 512;

    /// <summary>How far (seconds) a frame's <c>receivedAt</c> may lie ahead of this app's clock; a frame stamped later
    /// (a relay host's bad clock, a forged year 9999) is stored with a parse error and not correlated, so it cannot move
    /// its stream's clock into the future. Default 300 (5 minutes); 1–86400.</summary>
    [Range(1, 86400, ErrorMessage = "must be 1–86400 seconds")]
    public double MaxFutureSkewSeconds { get; set; } = 300;
}

/// <summary>
/// Live stream engines of recently seen PBXes, each tagged with the version of <c>ct.correlator_state</c> it was saved at
/// and the settings it was made with. A batch takes its PBX's engine out (<see cref="Take"/>) while it holds the PBX's
/// row lock and puts it back only after its transaction committed (<see cref="Put"/>); after a rollback it is simply not
/// put back, so a cached engine is always exactly what the database holds at its version. Thread-safe.
/// </summary>
public sealed class StreamCache(IngestOptions options)
{
    private readonly Dictionary<string, LinkedListNode<Entry>> _entries = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> _lru = new();
    private readonly Lock _lock = new();

    /// <summary>The settings the cache (and the correlate-and-store path using it) runs with.</summary>
    public IngestOptions Options => options;

    /// <summary>Engines taken out and found current (no database read).</summary>
    public long Hits { get; private set; }

    /// <summary>Batches that had to load their PBX's open calls.</summary>
    public long Misses { get; private set; }

    /// <summary>Engines cached now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>The PBX's cached engine if it was saved at <paramref name="version"/> with the same protocol and time zone;
    /// removed from the cache either way (the caller owns it until <see cref="Put"/>).</summary>
    public StreamCorrelator? Take(string pbx, long version, string protocol, string timeZone)
    {
        lock (_lock)
        {
            if (_entries.Remove(pbx, out var node))
            {
                _lru.Remove(node);
                var e = node.Value;
                if (e.Version == version && e.Engine.Protocol == protocol && e.TimeZone == timeZone)
                {
                    Hits++;
                    return e.Engine;
                }
            }

            Misses++;
            return null;
        }
    }

    /// <summary>Keeps <paramref name="engine"/> as the PBX's engine at <paramref name="version"/> (after a commit).</summary>
    public void Put(string pbx, StreamCorrelator engine, long version, string timeZone)
    {
        if (options.StreamCacheSize <= 0)
        {
            return;
        }

        lock (_lock)
        {
            if (_entries.Remove(pbx, out var old))
            {
                _lru.Remove(old);
            }

            _entries[pbx] = _lru.AddFirst(new Entry(pbx, engine, version, timeZone));
            while (_entries.Count > options.StreamCacheSize && _lru.Last is { } last)
            {
                _lru.RemoveLast();
                _entries.Remove(last.Value.Pbx);
            }
        }
    }

    private sealed record Entry(string Pbx, StreamCorrelator Engine, long Version, string TimeZone);
}
