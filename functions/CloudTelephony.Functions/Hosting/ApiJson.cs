using System.Text.Json;
using System.Text.Json.Serialization;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;

namespace CloudTelephony.Functions.Hosting;

/// <summary>A call as the API shows it: the call record plus its database id.</summary>
/// <param name="Id">Database id (<c>GET /api/calls/{id}</c>).</param>
/// <param name="Pbx">The PBX (id as the relay names it).</param>
/// <param name="CallKey">The correlator's key of the call, unique per PBX.</param>
/// <param name="Direction">inbound, outbound or internal.</param>
/// <param name="Status">answered, missed, busy, failed, voicemail or unknown.</param>
/// <param name="MissedReason">Why an unanswered call ended (protocol terms), or null.</param>
/// <param name="Caller">The calling number or extension as the PBX gave it.</param>
/// <param name="CallerName">The caller's name from the PBX, or null.</param>
/// <param name="Called">The dialled number (DID of an inbound call) or extension.</param>
/// <param name="AnsweredBy">The extension that answered, or null.</param>
/// <param name="Extensions">Every extension that rang (including the one that answered).</param>
/// <param name="Trunk">The trunk, or null.</param>
/// <param name="StartedAt">When the call started (UTC).</param>
/// <param name="AnsweredAt">When it was answered (UTC), or null.</param>
/// <param name="EndedAt">When it ended (UTC).</param>
/// <param name="RingSeconds">Seconds from start to answer (or to the end of an unanswered call).</param>
/// <param name="TalkSeconds">Seconds from answer to end.</param>
/// <param name="Transfers">Transfers in order.</param>
/// <param name="IvrDigits">Digits the caller pressed in an IVR (AMI), or null.</param>
/// <param name="ContactName">Name of the enterprise's contact with the call's remote number, or null.</param>
/// <param name="RemoteE164">The external party in E.164 (the caller of an inbound call, the called number of an outbound
/// one), null for internal calls; the number contacts, Smart Redirect and SMS match on.</param>
/// <param name="StoredAt">When the call was last stored or updated (UTC): what <c>updatedSince</c> filters on.</param>
public sealed record CallDto(
    long Id,
    string Pbx,
    string CallKey,
    CallDirection Direction,
    CallStatus Status,
    string? MissedReason,
    string? Caller,
    string? CallerName,
    string? Called,
    string? AnsweredBy,
    IReadOnlyList<string> Extensions,
    string? Trunk,
    DateTimeOffset StartedAt,
    DateTimeOffset? AnsweredAt,
    DateTimeOffset EndedAt,
    double RingSeconds,
    double TalkSeconds,
    IReadOnlyList<CallTransfer> Transfers,
    string? IvrDigits,
    string? ContactName,
    string? RemoteE164,
    DateTimeOffset? StoredAt)
{
    /// <summary>Projects a stored call.</summary>
    public static CallDto From(StoredCall s)
    {
        var c = s.Call;
        return new(
            s.Id, c.Pbx, c.CallKey, c.Direction, c.Status, c.MissedReason, c.Caller, c.CallerName, c.Called, c.AnsweredBy, c.Extensions, c.Trunk,
            c.StartedAt, c.AnsweredAt, c.EndedAt, c.RingSeconds, c.TalkSeconds, c.Transfers, c.IvrDigits, s.ContactName, s.RemoteE164, s.StoredAt);
    }
}

/// <summary><c>GET /api/calls</c> answer.</summary>
/// <param name="Items">The calls of this page.</param>
/// <param name="Total">Calls matching the filters (all pages).</param>
/// <param name="Page">The page number of <c>page</c> paging; null for a <c>cursor</c> page.</param>
/// <param name="PageSize">Calls per page.</param>
/// <param name="Next">Path and query of the next page (keyset cursor), or null after the last page; with <c>sort=updated</c>
/// always set: where the next poll continues. Also sent as <c>Link: &lt;…&gt;; rel="next"</c>. Always null with an
/// <c>orderBy</c> column other than <c>startedAt</c> (offset paging: ask for <c>page</c> + 1).</param>
public sealed record CallPageDto(IReadOnlyList<CallDto> Items, long Total, int? Page, int PageSize, string? Next);

/// <summary>An event of a call with its raw frame.</summary>
public sealed record CallEventDto(DateTimeOffset At, string Kind, string? Endpoint, string? Detail, string Session, long Seq, string? Frame);

/// <summary><c>GET /api/calls/{id}</c> answer: the call, its legs, its events (each with its raw frame) and its SMS history.</summary>
public sealed record CallDetailDto(CallDto Call, IReadOnlyList<CallParticipant> Participants, IReadOnlyList<CallEventDto> Events, IReadOnlyList<CallSms> Sms);

/// <summary>A number of a contact in a request: any common format, normalised to E.164 with the enterprise's region.</summary>
/// <param name="Number">E.g. <c>+48 693 109 180</c>, <c>0048693109180</c>, <c>693109180</c>.</param>
/// <param name="Label">Optional label (mobile, office, …).</param>
public sealed record ContactDeviceRequest(string? Number, string? Label);

/// <summary><c>POST /api/contacts</c> and <c>PUT /api/contacts/{id}</c> body.</summary>
/// <param name="Name">Required, at most 200 characters.</param>
/// <param name="Company">Optional, at most 200 characters.</param>
/// <param name="Devices">Numbers; on PUT, null keeps the stored numbers and a list replaces them.</param>
public sealed record ContactRequest(string? Name, string? Company, IReadOnlyList<ContactDeviceRequest>? Devices);

/// <summary>A contact as the API shows it.</summary>
public sealed record ContactDto(long Id, string Name, string? Company, IReadOnlyList<ContactDevice> Devices, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    /// <summary>Projects a stored contact.</summary>
    public static ContactDto From(Contact c) => new(c.Id, c.Name, c.Company, c.Devices, c.CreatedAt, c.UpdatedAt);
}

/// <summary><c>GET /api/contacts</c> answer.</summary>
public sealed record ContactPageDto(IReadOnlyList<ContactDto> Items, long Total, int Page, int PageSize);

/// <summary><c>GET /api/calls/summary</c> answer: counts by direction and status.</summary>
public sealed record CallSummaryDto(long Total, IReadOnlyList<CallCount> Counts);

/// <summary>
/// One line of <c>correlate</c> output: exactly the fields the offline tool promises
/// (pbx, callKey, direction, status, caller, called, answeredBy, extensions, startedAt, answeredAt, endedAt,
/// ringSeconds, talkSeconds, transfers); times are UTC with a <c>Z</c> suffix.
/// </summary>
public sealed record CallLine(
    string Pbx,
    string CallKey,
    CallDirection Direction,
    CallStatus Status,
    string? Caller,
    string? Called,
    string? AnsweredBy,
    IReadOnlyList<string> Extensions,
    DateTime StartedAt,
    DateTime? AnsweredAt,
    DateTime EndedAt,
    double RingSeconds,
    double TalkSeconds,
    IReadOnlyList<CallTransfer> Transfers)
{
    /// <summary>Projects a call record.</summary>
    public static CallLine From(Call c) => new(
        c.Pbx, c.CallKey, c.Direction, c.Status, c.Caller, c.Called, c.AnsweredBy, c.Extensions,
        c.StartedAt.UtcDateTime, c.AnsweredAt?.UtcDateTime, c.EndedAt.UtcDateTime, c.RingSeconds, c.TalkSeconds, c.Transfers);
}

/// <summary>Source-generated JSON metadata for every API and command payload (camelCase, enums as lower-case strings).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.Never, NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(Envelope[]))]
[JsonSerializable(typeof(IngestResult))]
[JsonSerializable(typeof(CallPageDto))]
[JsonSerializable(typeof(CallDetailDto))]
[JsonSerializable(typeof(CallSummaryDto))]
[JsonSerializable(typeof(CloudTelephony.Functions.Health.HealthDto))]
[JsonSerializable(typeof(RelayHeartbeat))]
[JsonSerializable(typeof(CallLine))]
[JsonSerializable(typeof(CloudTelephony.Functions.Events.ActiveCallsDto))]
[JsonSerializable(typeof(CloudTelephony.Functions.Events.WebhookStatusDto))]
[JsonSerializable(typeof(InvocationResponse))]
[JsonSerializable(typeof(string[]))]
[JsonSerializable(typeof(SmsSendRequest))]
[JsonSerializable(typeof(SmsAcceptedDto))]
[JsonSerializable(typeof(SmsDto))]
[JsonSerializable(typeof(ContactRequest))]
[JsonSerializable(typeof(ContactDeviceRequest))]
[JsonSerializable(typeof(ContactDto))]
[JsonSerializable(typeof(ContactDevice))]
[JsonSerializable(typeof(ContactPageDto))]
[JsonSerializable(typeof(CloudTelephony.Functions.Sms.SmsSweepResult))]
[JsonSerializable(typeof(Microsoft.AspNetCore.Mvc.ProblemDetails))]
[JsonSerializable(typeof(Microsoft.AspNetCore.Http.HttpValidationProblemDetails))]
public sealed partial class ApiJson : JsonSerializerContext;
