namespace CloudTelephony.Telephony.Smdr;

/// <summary>A mutable twin of <see cref="SmdrRecord"/> that the correlator parses into and reuses, so a one-record
/// call costs no record object; <see cref="ToRecord"/> gives the public record.</summary>
internal sealed class SmdrFields
{
    /// <summary>See <see cref="SmdrRecord.FieldCount"/>.</summary>
    public int FieldCount { get; set; }

    /// <summary>See <see cref="SmdrRecord.CallStartLocal"/>.</summary>
    public DateTime CallStartLocal { get; set; }

    /// <summary>See <see cref="SmdrRecord.CallStart"/>.</summary>
    public DateTimeOffset CallStart { get; set; }

    /// <summary>See <see cref="SmdrRecord.ConnectedSeconds"/>.</summary>
    public int ConnectedSeconds { get; set; }

    /// <summary>See <see cref="SmdrRecord.RingSeconds"/>.</summary>
    public int RingSeconds { get; set; }

    /// <summary>See <see cref="SmdrRecord.Caller"/>.</summary>
    public string? Caller { get; set; }

    /// <summary>See <see cref="SmdrRecord.Direction"/>.</summary>
    public SmdrDirection Direction { get; set; }

    /// <summary>See <see cref="SmdrRecord.CalledNumber"/>.</summary>
    public string? CalledNumber { get; set; }

    /// <summary>See <see cref="SmdrRecord.DialledNumber"/>.</summary>
    public string? DialledNumber { get; set; }

    /// <summary>See <see cref="SmdrRecord.Account"/>.</summary>
    public string? Account { get; set; }

    /// <summary>See <see cref="SmdrRecord.IsInternal"/>.</summary>
    public bool IsInternal { get; set; }

    /// <summary>See <see cref="SmdrRecord.CallId"/>.</summary>
    public long CallId { get; set; }

    /// <summary>See <see cref="SmdrRecord.Continuation"/>.</summary>
    public bool Continuation { get; set; }

    /// <summary>See <see cref="SmdrRecord.Party1Device"/>.</summary>
    public string? Party1Device { get; set; }

    /// <summary>See <see cref="SmdrRecord.Party1Name"/>.</summary>
    public string? Party1Name { get; set; }

    /// <summary>See <see cref="SmdrRecord.Party2Device"/>.</summary>
    public string? Party2Device { get; set; }

    /// <summary>See <see cref="SmdrRecord.Party2Name"/>.</summary>
    public string? Party2Name { get; set; }

    /// <summary>See <see cref="SmdrRecord.HoldSeconds"/>.</summary>
    public int HoldSeconds { get; set; }

    /// <summary>See <see cref="SmdrRecord.ParkSeconds"/>.</summary>
    public int ParkSeconds { get; set; }

    /// <summary>See <see cref="SmdrRecord.AuthValid"/>.</summary>
    public bool? AuthValid { get; set; }

    /// <summary>See <see cref="SmdrRecord.AuthCode"/>.</summary>
    public string? AuthCode { get; set; }

    /// <summary>See <see cref="SmdrRecord.UserCharged"/>.</summary>
    public string? UserCharged { get; set; }

    /// <summary>See <see cref="SmdrRecord.CallCharge"/>.</summary>
    public decimal? CallCharge { get; set; }

    /// <summary>See <see cref="SmdrRecord.Currency"/>.</summary>
    public string? Currency { get; set; }

    /// <summary>See <see cref="SmdrRecord.AmountAtLastUserChange"/>.</summary>
    public decimal? AmountAtLastUserChange { get; set; }

    /// <summary>See <see cref="SmdrRecord.CallUnits"/>.</summary>
    public int? CallUnits { get; set; }

    /// <summary>See <see cref="SmdrRecord.UnitsAtLastUserChange"/>.</summary>
    public int? UnitsAtLastUserChange { get; set; }

    /// <summary>See <see cref="SmdrRecord.CostPerUnit"/>.</summary>
    public decimal? CostPerUnit { get; set; }

    /// <summary>See <see cref="SmdrRecord.MarkUp"/>.</summary>
    public decimal? MarkUp { get; set; }

    /// <summary>See <see cref="SmdrRecord.ExternalTargetingCause"/>.</summary>
    public string? ExternalTargetingCause { get; set; }

    /// <summary>See <see cref="SmdrRecord.ExternalTargeterId"/>.</summary>
    public string? ExternalTargeterId { get; set; }

    /// <summary>See <see cref="SmdrRecord.ExternalTargetedNumber"/>.</summary>
    public string? ExternalTargetedNumber { get; set; }

    /// <summary>See <see cref="SmdrRecord.CallingPartyServerIp"/>.</summary>
    public string? CallingPartyServerIp { get; set; }

    /// <summary>See <see cref="SmdrRecord.CallerExtensionCallId"/>.</summary>
    public string? CallerExtensionCallId { get; set; }

    /// <summary>See <see cref="SmdrRecord.CalledPartyServerIp"/>.</summary>
    public string? CalledPartyServerIp { get; set; }

    /// <summary>See <see cref="SmdrRecord.CalledExtensionCallId"/>.</summary>
    public string? CalledExtensionCallId { get; set; }

    /// <summary>See <see cref="SmdrRecord.RecordTime"/>.</summary>
    public DateTimeOffset? RecordTime { get; set; }

    /// <summary>See <see cref="SmdrRecord.CallerConsentDirective"/>.</summary>
    public string? CallerConsentDirective { get; set; }

    /// <summary>See <see cref="SmdrRecord.CallingNumberVerification"/>.</summary>
    public string? CallingNumberVerification { get; set; }

    /// <summary>See <see cref="SmdrRecord.TotalSeconds"/>.</summary>
    public int TotalSeconds => ConnectedSeconds + RingSeconds + HoldSeconds + ParkSeconds;

    /// <summary>A copy that later parses into this instance do not change.</summary>
    public SmdrFields Clone() => (SmdrFields)MemberwiseClone();

    /// <summary>The public record with the same values.</summary>
    public SmdrRecord ToRecord() => new()
    {
        FieldCount = FieldCount,
        CallStartLocal = CallStartLocal,
        CallStart = CallStart,
        ConnectedSeconds = ConnectedSeconds,
        RingSeconds = RingSeconds,
        Caller = Caller,
        Direction = Direction,
        CalledNumber = CalledNumber,
        DialledNumber = DialledNumber,
        Account = Account,
        IsInternal = IsInternal,
        CallId = CallId,
        Continuation = Continuation,
        Party1Device = Party1Device,
        Party1Name = Party1Name,
        Party2Device = Party2Device,
        Party2Name = Party2Name,
        HoldSeconds = HoldSeconds,
        ParkSeconds = ParkSeconds,
        AuthValid = AuthValid,
        AuthCode = AuthCode,
        UserCharged = UserCharged,
        CallCharge = CallCharge,
        Currency = Currency,
        AmountAtLastUserChange = AmountAtLastUserChange,
        CallUnits = CallUnits,
        UnitsAtLastUserChange = UnitsAtLastUserChange,
        CostPerUnit = CostPerUnit,
        MarkUp = MarkUp,
        ExternalTargetingCause = ExternalTargetingCause,
        ExternalTargeterId = ExternalTargeterId,
        ExternalTargetedNumber = ExternalTargetedNumber,
        CallingPartyServerIp = CallingPartyServerIp,
        CallerExtensionCallId = CallerExtensionCallId,
        CalledPartyServerIp = CalledPartyServerIp,
        CalledExtensionCallId = CalledExtensionCallId,
        RecordTime = RecordTime,
        CallerConsentDirective = CallerConsentDirective,
        CallingNumberVerification = CallingNumberVerification,
    };
}
