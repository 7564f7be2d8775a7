using System.Buffers;

namespace CloudTelephony.Relay.Framing;

/// <summary>What <see cref="CappedLines.TryRead"/> cut off the buffer.</summary>
public enum LineKind
{
    /// <summary>A whole line (its LF seen; without the LF and a CR before it).</summary>
    Line,

    /// <summary>The first <see cref="CappedLines.MaxLineBytes"/> bytes of a line that had no line end within them; the rest of that line, up to its LF, is dropped (counted in <see cref="CappedLines.Dropped"/>).</summary>
    Cut,
}

/// <summary>
/// LF line framing (<see cref="LineFraming"/>) with a hard cap per line, for one connection: a line longer than
/// <see cref="MaxLineBytes"/> is handed out cut at the cap as soon as that many bytes came without a line end, and the
/// rest of it is skipped up to its LF, so a peer that never sends a line end holds at most the cap in memory.
/// </summary>
/// <param name="maxLineBytes">The cap, in bytes (at least 1).</param>
public sealed class CappedLines(int maxLineBytes)
{
    private bool _skipping;

    /// <summary>The cap, in bytes.</summary>
    public int MaxLineBytes { get; } = maxLineBytes > 0 ? maxLineBytes : throw new ArgumentOutOfRangeException(nameof(maxLineBytes));

    /// <summary>Bytes skipped after the last cut line so far (reset by <see cref="TakeDropped"/>).</summary>
    public long Dropped { get; private set; }

    /// <summary>True while the rest of a cut line is being skipped.</summary>
    public bool Skipping => _skipping;

    /// <summary>Returns <see cref="Dropped"/> and resets it.</summary>
    public long TakeDropped()
    {
        var d = Dropped;
        Dropped = 0;
        return d;
    }

    /// <summary>
    /// Cuts the next line off <paramref name="buffer"/>, or the first <see cref="MaxLineBytes"/> of a line without a
    /// line end (<see cref="LineKind.Cut"/>); skips the rest of a cut line. False when more bytes are needed.
    /// </summary>
    public bool TryRead(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line, out LineKind kind)
    {
        kind = LineKind.Line;
        while (true)
        {
            var lf = buffer.PositionOf((byte)'\n');
            if (_skipping)
            {
                if (lf is null)
                {
                    Dropped += buffer.Length;
                    buffer = buffer.Slice(buffer.End);
                    line = default;
                    return false;
                }

                var skipped = buffer.Slice(0, lf.Value);
                Dropped += skipped.Length;
                buffer = buffer.Slice(buffer.GetPosition(1, lf.Value));
                _skipping = false;
                continue;
            }

            if (lf is not null && buffer.Slice(0, lf.Value).Length <= MaxLineBytes)
            {
                line = LineFraming.TakeLine(ref buffer, lf.Value);
                return true;
            }

            if (lf is not null || buffer.Length > MaxLineBytes)
            {
                line = buffer.Slice(0, MaxLineBytes);
                buffer = buffer.Slice(MaxLineBytes);
                _skipping = true;
                kind = LineKind.Cut;
                return true;
            }

            line = default;
            return false;
        }
    }
}
