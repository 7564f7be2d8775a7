using System.Buffers;

namespace CloudTelephony.Relay.Framing;

/// <summary>
/// Line framing shared by every connector, listener and simulator: a line ends in LF and a CR before it is removed,
/// so CR LF (CTIP manual p.5, AMI, SMDR) and bare LF (sanitised captures) both work.
/// </summary>
public static class LineFraming
{
    /// <summary>Cuts one line ending in LF off the front of <paramref name="buffer"/>; false when no whole line is there yet.</summary>
    public static bool TryReadLine(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line)
    {
        var lf = buffer.PositionOf((byte)'\n');
        if (lf is null)
        {
            line = default;
            return false;
        }

        line = TakeLine(ref buffer, lf.Value);
        return true;
    }

    /// <summary>Cuts the line that ends at <paramref name="lf"/> (the position of its LF) off <paramref name="buffer"/>,
    /// without the LF and a CR before it.</summary>
    public static ReadOnlySequence<byte> TakeLine(ref ReadOnlySequence<byte> buffer, SequencePosition lf)
    {
        var line = buffer.Slice(0, lf);
        if (line.Length > 0 && line.Slice(line.Length - 1).FirstSpan[0] == (byte)'\r')
        {
            line = line.Slice(0, line.Length - 1);
        }

        buffer = buffer.Slice(buffer.GetPosition(1, lf));
        return line;
    }
}
