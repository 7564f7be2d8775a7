namespace CloudTelephony.Telephony.Smdr;

/// <summary>Field 5 of an SMDR record: the direction of the call as IP Office reports it.</summary>
/// <remarks>IP Office reports internal calls as <see cref="Outbound"/>; combine with <see cref="SmdrRecord.IsInternal"/>
/// (shared/protocols/smdr.md, "Fields" #5 and #9; Avaya "SMDR Fields").</remarks>
public enum SmdrDirection
{
    /// <summary><c>I</c>: inbound to the system.</summary>
    Inbound,

    /// <summary><c>O</c>: outbound, or an internal call (originated on the system).</summary>
    Outbound,
}

/// <summary>
/// One Avaya IP Office SMDR record (one CSV line), every field typed and in wire order.
/// Field meanings follow shared/protocols/smdr.md ("Fields") and Avaya's "SMDR Fields" page
/// (Administering Avaya IP Office Platform Manager R11.1,
/// https://documentation.avaya.com/bundle/AdministeringAvayaIPOfficePlatformManagerR11_1/page/SMDR_Fields.html).
/// </summary>
/// <remarks>
/// Empty fields and fields missing from shorter records (17, 30, 34 or 35 fields instead of 37) are <c>null</c>, except the
/// durations <see cref="RingSeconds"/>, <see cref="HoldSeconds"/> and <see cref="ParkSeconds"/>, where empty means 0.
/// Text fields are kept exactly as sent (no trimming), names may contain spaces and any Unicode (UTF-8 on the wire).
/// </remarks>
public sealed record SmdrRecord
{
    /// <summary>How many comma-separated fields the line had (17, 30, 34, 35, 37 …; more than 37 are ignored).</summary>
    public required int FieldCount { get; init; }

    /// <summary>#1 Call Start as sent (<c>YYYY/MM/DD HH:MM:SS</c>), PBX local wall-clock time including DST. Every record of
    /// one Call ID carries the original start (unless "Call Splitting for Diverts" is on).</summary>
    public required DateTime CallStartLocal { get; init; }

    /// <summary>#1 Call Start converted to UTC with the PBX's time zone (<see cref="CorrelatorOptions.TimeZone"/>).</summary>
    public required DateTimeOffset CallStart { get; init; }

    /// <summary>#2 Connected Time (<c>HH:MM:SS</c>) in seconds: talk time of this segment, excluding ring, hold and park.
    /// 0 = never connected.</summary>
    public required int ConnectedSeconds { get; init; }

    /// <summary>#3 Ring Time in seconds. Inbound: from arrival at the system until answer (not per extension).</summary>
    public required int RingSeconds { get; init; }

    /// <summary>#4 Caller: extension, or CLI for inbound (SIP: <c>number@ip</c>); null when empty (withheld).</summary>
    public string? Caller { get; init; }

    /// <summary>#5 Direction: <c>I</c> or <c>O</c> (internal calls are <c>O</c>).</summary>
    public required SmdrDirection Direction { get; init; }

    /// <summary>#6 Called Number: inbound the target (extension, hunt group, VM); outbound the number dialled out.</summary>
    public string? CalledNumber { get; init; }

    /// <summary>#7 Dialled Number: inbound the DDI/DID received (often empty on analog lines); outbound the digits as dialled.</summary>
    public string? DialledNumber { get; init; }

    /// <summary>#8 Account code, if one was entered.</summary>
    public string? Account { get; init; }

    /// <summary>#9 Is Internal: <c>1</c> both ends on the system (or SCN), <c>0</c> a trunk is involved. Any other value
    /// (Avaya's documented voicemail example prints <c>I</c>) is taken from the parties: true when neither is a <c>T…</c> trunk.</summary>
    public required bool IsInternal { get; init; }

    /// <summary>#10 Call ID, shared by all records (segments) of one call.</summary>
    public required long CallId { get; init; }

    /// <summary>#11 Continuation: true (<c>1</c>) when more records for this Call ID follow, false (<c>0</c>) on the last.</summary>
    public required bool Continuation { get; init; }

    /// <summary>#12 Party1Device: <c>E&lt;ext&gt;</c> extension, <c>T&lt;9nnn&gt;</c> trunk line, <c>V&lt;9nnn&gt;</c> voicemail/AA channel, …</summary>
    public string? Party1Device { get; init; }

    /// <summary>#13 Party1Name: user name, <c>Line n.m</c>, <c>VM Channel n</c>.</summary>
    public string? Party1Name { get; init; }

    /// <summary>#14 Party2Device, coded like <see cref="Party1Device"/>.</summary>
    public string? Party2Device { get; init; }

    /// <summary>#15 Party2Name.</summary>
    public string? Party2Name { get; init; }

    /// <summary>#16 Hold Time in seconds (empty = 0).</summary>
    public required int HoldSeconds { get; init; }

    /// <summary>#17 Park Time in seconds (empty = 0).</summary>
    public required int ParkSeconds { get; init; }

    /// <summary>#18 AuthValid: authorisation code validity (<c>1</c>/<c>0</c>), null when empty.</summary>
    public bool? AuthValid { get; init; }

    /// <summary>#19 AuthCode (or <c>n/a</c>).</summary>
    public string? AuthCode { get; init; }

    /// <summary>#20 User Charged (ISDN Advice of Charge).</summary>
    public string? UserCharged { get; init; }

    /// <summary>#21 Call Charge (AoC); sent fixed-width with leading spaces, e.g. <c>   0.0618</c>.</summary>
    public decimal? CallCharge { get; init; }

    /// <summary>#22 Currency.</summary>
    public string? Currency { get; init; }

    /// <summary>#23 Amount at Last User Change (AoC), e.g. <c>0001.45</c>.</summary>
    public decimal? AmountAtLastUserChange { get; init; }

    /// <summary>#24 Call Units (AoC).</summary>
    public int? CallUnits { get; init; }

    /// <summary>#25 Units at Last User Change (AoC).</summary>
    public int? UnitsAtLastUserChange { get; init; }

    /// <summary>#26 Cost per Unit (AoC, as configured on the system).</summary>
    public decimal? CostPerUnit { get; init; }

    /// <summary>#27 Mark Up (AoC).</summary>
    public decimal? MarkUp { get; init; }

    /// <summary>#28 External Targeting Cause: who sent the call off-switch and why (<c>U</c>, <c>HG fb</c>, <c>U fu</c>, …).</summary>
    public string? ExternalTargetingCause { get; init; }

    /// <summary>#29 External Targeter Id: name of the hunt group/user/… that targeted.</summary>
    public string? ExternalTargeterId { get; init; }

    /// <summary>#30 External Targeted Number.</summary>
    public string? ExternalTargetedNumber { get; init; }

    /// <summary>#31 Calling Party Server IP (SCN).</summary>
    public string? CallingPartyServerIp { get; init; }

    /// <summary>#32 Unique Call Id for the Caller Extension.</summary>
    public string? CallerExtensionCallId { get; init; }

    /// <summary>#33 Called Party Server IP (SCN).</summary>
    public string? CalledPartyServerIp { get; init; }

    /// <summary>#34 Unique Call Id for the Called Extension.</summary>
    public string? CalledExtensionCallId { get; init; }

    /// <summary>#35 SMDR Record Time (when the record was written), converted to UTC like <see cref="CallStart"/>.</summary>
    public DateTimeOffset? RecordTime { get; init; }

    /// <summary>#36 Caller Consent Directive (R11.1+; naming unverified, kept as text).</summary>
    public string? CallerConsentDirective { get; init; }

    /// <summary>#37 Calling Number Verification (R11.1+, STIR/SHAKEN attestation; unverified, kept as text).</summary>
    public string? CallingNumberVerification { get; init; }

    /// <summary>Total duration of this record as Avaya defines it: Connected + Ring + Hold + Park seconds.</summary>
    public int TotalSeconds => ConnectedSeconds + RingSeconds + HoldSeconds + ParkSeconds;
}

/// <summary>Result of <see cref="SmdrParser.Parse"/>: a record, or a readable error naming the field. Never both.</summary>
/// <param name="Record">The parsed record, or null on error.</param>
/// <param name="Error">Why the line did not parse (names the field by number and name), or null on success.</param>
public readonly record struct SmdrParseResult(SmdrRecord? Record, string? Error)
{
    /// <summary>True when <see cref="Record"/> is set.</summary>
    public bool IsSuccess => Record is not null;
}
