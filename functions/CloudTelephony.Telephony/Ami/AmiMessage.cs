namespace CloudTelephony.Telephony.Ami;

/// <summary>What kind of AMI message a block is, from its first header.</summary>
public enum AmiMessageKind
{
    /// <summary>An asynchronous event (<c>Event: &lt;name&gt;</c>).</summary>
    Event,

    /// <summary>A reply to an action (<c>Response: Success|Error|Follows|Goodbye</c>).</summary>
    Response,

    /// <summary>A client action echoed in a capture (<c>Action: &lt;name&gt;</c>).</summary>
    Action,

    /// <summary>The greeting line <c>Asterisk Call Manager/&lt;version&gt;</c> sent once per connection.</summary>
    Banner,

    /// <summary>Well-formed <c>Key: Value</c> lines whose first key is none of the above.</summary>
    Other,
}

/// <summary>
/// One parsed AMI message: the <c>Key: Value</c> lines of one block, kept in order as a multimap
/// (keys may repeat, e.g. <c>ChanVariable</c>; values may be empty, e.g. <c>AccountCode: </c>).
/// </summary>
/// <remarks>
/// Format: shared/protocols/ami.md ("Session"); Asterisk 18 AMI event reference
/// (docs.asterisk.org/Asterisk_18_Documentation/API_Documentation/AMI_Events/). Field values are slices of the original
/// frame text, so lookups allocate nothing until a value is turned into a string. Keys compare case-insensitively, as
/// Asterisk's own <c>astman_get_header</c> does. An instance is immutable once returned by <see cref="AmiParser.Parse"/>.
/// </remarks>
public sealed class AmiMessage
{
    // Four ints per field: key start, key length, value start, value length (offsets into _text).
    private int[] _spans;
    private string _text = string.Empty;
    private string? _name;

    internal AmiMessage(int capacity = 32) => _spans = new int[capacity * 4];

    /// <summary>The frame text this message was parsed from.</summary>
    public string Text => _text;

    /// <summary>Event, Response, Action, Banner or Other.</summary>
    public AmiMessageKind Kind { get; private set; }

    /// <summary>The event name (<c>Newchannel</c>), response status (<c>Success</c>) or action name; empty for a banner.</summary>
    public string Name => _name ??= NameSpan.ToString();

    /// <summary>The name without allocating; see <see cref="Name"/>.</summary>
    public ReadOnlySpan<char> NameSpan => Count == 0 ? default : ValueAt(0);

    /// <summary>Event time (UTC): the <c>Timestamp: &lt;epoch.usec&gt;</c> header (manager.conf <c>timestampevents=yes</c>)
    /// when present and valid, else the relay's receive time.</summary>
    public DateTimeOffset At { get; private set; }

    /// <summary>True when <see cref="At"/> came from a <c>Timestamp</c> header.</summary>
    public bool HasTimestamp { get; private set; }

    /// <summary>Number of fields (lines), repeated keys counted each time.</summary>
    public int Count { get; private set; }

    /// <summary>The key of field <paramref name="index"/>.</summary>
    public ReadOnlySpan<char> KeyAt(int index) => _text.AsSpan(_spans[index * 4], _spans[(index * 4) + 1]);

    /// <summary>The value of field <paramref name="index"/> (leading and trailing blanks removed).</summary>
    public ReadOnlySpan<char> ValueAt(int index) => _text.AsSpan(_spans[(index * 4) + 2], _spans[(index * 4) + 3]);

    /// <summary>Finds the first field named <paramref name="key"/> (case-insensitive).</summary>
    /// <param name="key">Header name, e.g. <c>Uniqueid</c>.</param>
    /// <param name="value">Its value (possibly empty) when found.</param>
    /// <returns>Whether the key is present.</returns>
    public bool TryGet(ReadOnlySpan<char> key, out ReadOnlySpan<char> value)
    {
        var spans = _spans;
        var text = _text.AsSpan();
        for (var i = 0; i < Count; i++)
        {
            var o = i * 4;
            if (spans[o + 1] != key.Length)
            {
                continue;
            }

            var k = text.Slice(spans[o], key.Length);
            if (k.SequenceEqual(key) || k.Equals(key, StringComparison.OrdinalIgnoreCase))
            {
                value = text.Slice(spans[o + 2], spans[o + 3]);
                return true;
            }
        }

        value = default;
        return false;
    }

    /// <summary>The first value of <paramref name="key"/>, or an empty span when absent.</summary>
    public ReadOnlySpan<char> this[ReadOnlySpan<char> key] => TryGet(key, out var v) ? v : default;

    /// <summary>The first value of <paramref name="key"/> as a string; null when the key is absent.</summary>
    public string? Get(string key) => TryGet(key, out var v) ? v.ToString() : null;

    /// <summary>Every value of a repeated key, in order (empty when absent).</summary>
    public IReadOnlyList<string> GetAll(string key)
    {
        var list = new List<string>();
        for (var i = 0; i < Count; i++)
        {
            if (KeyAt(i).Equals(key, StringComparison.OrdinalIgnoreCase))
            {
                list.Add(ValueAt(i).ToString());
            }
        }

        return list;
    }

    /// <summary>Whether this is the event <paramref name="name"/>.</summary>
    public bool IsEvent(ReadOnlySpan<char> name) => Kind == AmiMessageKind.Event && NameSpan.SequenceEqual(name);

    /// <inheritdoc/>
    public override string ToString() => $"{Kind} {Name} ({Count} fields)";

    internal void Reset(string text)
    {
        _text = text;
        _name = null;
        Count = 0;
        Kind = AmiMessageKind.Other;
        HasTimestamp = false;
    }

    internal void SetKind(AmiMessageKind kind) => Kind = kind;

    internal void SetAt(DateTimeOffset at, bool fromHeader)
    {
        At = at;
        HasTimestamp = fromHeader;
    }

    internal void Add(int keyStart, int keyLength, int valueStart, int valueLength)
    {
        var o = Count * 4;
        if (o + 4 > _spans.Length)
        {
            Array.Resize(ref _spans, _spans.Length * 2);
        }

        _spans[o] = keyStart;
        _spans[o + 1] = keyLength;
        _spans[o + 2] = valueStart;
        _spans[o + 3] = valueLength;
        Count++;
    }
}
