namespace CloudTelephony.Telephony.Ctip;

/// <summary>Placeholder until the CTIP correlator lands (being written now).</summary>
public sealed class CtipCorrelator : ICallCorrelator
{
    private CtipCorrelator(string pbx) => Pbx = pbx;

    /// <inheritdoc/>
    public string Protocol => "ctip";

    /// <inheritdoc/>
    public string Pbx { get; }

    /// <inheritdoc/>
    public int OpenCalls => 0;

    /// <summary>Creates a correlator from saved state.</summary>
    public static CtipCorrelator Restore(string pbx, CorrelatorOptions options, string? state) => new(pbx);

    /// <inheritdoc/>
    public FrameOutcome Process(in PbxFrame frame, ICollection<Call> completed) => FrameOutcome.Ignored;

    /// <inheritdoc/>
    public void Expire(DateTimeOffset now, ICollection<Call> completed)
    {
    }

    /// <inheritdoc/>
    public void Flush(ICollection<Call> completed)
    {
    }

    /// <inheritdoc/>
    public string SaveState() => "{}";
}
