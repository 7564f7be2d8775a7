using System.ComponentModel;
using System.Globalization;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using CloudTelephony.Telephony.Routing;
using Microsoft.AspNetCore.Mvc;

namespace CloudTelephony.Functions.Calls;

/// <summary>Query parameters shared by <c>GET /api/calls</c>, <c>/api/calls/summary</c> and <c>/api/calls.csv</c> (all read as
/// text and validated by the endpoint, so a bad value is a problem naming the field).</summary>
public sealed class CallQuery
{
    /// <summary>Only this PBX.</summary>
    [FromQuery(Name = "pbx"), Description("Only calls of this PBX (id as the relay names it).")]
    public string? Pbx { get; init; }

    /// <summary>inbound, outbound or internal.</summary>
    [FromQuery(Name = "direction"), Description("inbound | outbound | internal")]
    public string? Direction { get; init; }

    /// <summary>Call status.</summary>
    [FromQuery(Name = "status"), Description("answered | missed | busy | failed | voicemail | unknown")]
    public string? Status { get; init; }

    /// <summary>Extension that rang or answered.</summary>
    [FromQuery(Name = "ext"), Description("Calls on which this extension rang or answered.")]
    public string? Ext { get; init; }

    /// <summary>Started at or after.</summary>
    [FromQuery(Name = "from"), Description("Started at or after (ISO 8601, UTC or with offset), e.g. 2025-09-03T09:00:00Z.")]
    public string? From { get; init; }

    /// <summary>Started before.</summary>
    [FromQuery(Name = "to"), Description("Started before (ISO 8601, UTC or with offset).")]
    public string? To { get; init; }

    /// <summary>Number or name.</summary>
    [FromQuery(Name = "q"), Description("Part of the caller or called number, the number in any common format (+48 693 109 180, 0048…), or part of the caller's or the contact's name.")]
    public string? Q { get; init; }
}

/// <summary>Paging and sort of <c>GET /api/calls</c>.</summary>
public sealed class CallPaging
{
    /// <summary>1-based page.</summary>
    [FromQuery(Name = "page"), Description("Page number from 1 (default 1).")]
    public string? Page { get; init; }

    /// <summary>Rows per page.</summary>
    [FromQuery(Name = "pageSize"), Description("Calls per page, 1–1000 (default 50).")]
    public string? PageSize { get; init; }

    /// <summary>Sort by start time.</summary>
    [FromQuery(Name = "sort"), Description("By start time: desc (newest first, default) or asc.")]
    public string? Sort { get; init; }
}

/// <summary>
/// CRM read API over stored calls: <c>GET /api/calls</c>, <c>/api/calls/summary</c>, <c>/api/calls/{id}</c>. Token scope
/// <c>crm</c>; every query is limited to the token's enterprise (a call of another enterprise is 404).
/// </summary>
public static class CallEndpoints
{
    private static readonly string[] Directions = ["inbound", "outbound", "internal"];
    private static readonly string[] Statuses = ["answered", "missed", "busy", "failed", "voicemail", "unknown"];
    private static readonly string[] Sorts = ["desc", "asc"];

    /// <summary>Maps the endpoints.</summary>
    public static void MapCallEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/calls", ListAsync).WithName("Calls").RequireToken("crm").WithTags("Calls")
            .WithSummary("List calls")
            .WithDescription("Calls of the token's enterprise matching the filters, sorted by start time (newest first unless sort=asc), one page with the total.")
            .Produces<CallPageDto>().ProducesValidationProblem().ProducesCrmAuthProblems();
        app.MapGet("/api/calls/summary", SummaryAsync).WithName("CallsSummary").RequireToken("crm").WithTags("Calls")
            .WithSummary("Count calls by direction and status")
            .WithDescription("Counts of the calls matching the same filters as GET /api/calls.")
            .Produces<CallSummaryDto>().ProducesValidationProblem().ProducesCrmAuthProblems();
        app.MapGet("/api/calls/{id:long}", GetAsync).WithName("CallById").RequireToken("crm").WithTags("Calls")
            .WithSummary("One call")
            .WithDescription("The call with its participants (legs), its events each with the raw PBX frame, the contact name and the SMS sent about it. 404 for an unknown id or a call of another enterprise.")
            .Produces<CallDetailDto>().ProducesProblem(StatusCodes.Status404NotFound).ProducesCrmAuthProblems();
    }

    /// <summary>
    /// Lists calls. Query: <see cref="CallQuery"/> and <see cref="CallPaging"/>. Bad values → 400 problem details naming the field.
    /// </summary>
    private static async Task<IResult> ListAsync(HttpContext http, [AsParameters] CallQuery query, [AsParameters] CallPaging paging, CallQueries queries, CancellationToken ct)
    {
        var (filter, errors) = await ReadFilterAsync(http, query, ct);
        var page = Int(paging.Page, "page", 1, 1, int.MaxValue, errors);
        var size = Int(paging.PageSize, "pageSize", 50, 1, 1000, errors);
        var sort = Choice(paging.Sort, "sort", Sorts, errors) ?? "desc";
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }

        var result = await queries.ListAsync(filter, page, size, ct, oldestFirst: sort == "asc");
        return Results.Ok(new CallPageDto(result.Items.Select(CallDto.From).ToList(), result.Total, result.Page, result.PageSize));
    }

    private static async Task<IResult> SummaryAsync(HttpContext http, [AsParameters] CallQuery query, CallQueries queries, CancellationToken ct)
    {
        var (filter, errors) = await ReadFilterAsync(http, query, ct);
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }

        var counts = await queries.SummaryAsync(filter, ct);
        return Results.Ok(new CallSummaryDto(counts.Sum(c => c.Count), counts));
    }

    private static async Task<IResult> GetAsync(long id, HttpContext http, CallQueries queries, CancellationToken ct)
    {
        var detail = await queries.GetAsync(id, ct, http.ApiToken().EnterpriseId);
        if (detail is null)
        {
            return Results.Problem(statusCode: 404, title: "call not found", detail: $"no call with id {id}");
        }

        var events = detail.Events.Select(e => new CallEventDto(e.Event.At, e.Event.Kind, e.Event.Endpoint, e.Event.Detail, e.Event.Session, e.Event.Seq, e.Frame)).ToList();
        return Results.Ok(new CallDetailDto(
            CallDto.From(new StoredCall(detail.Id, detail.Call, detail.ContactName)), detail.Call.Participants, events, detail.Sms ?? []));
    }

    /// <summary>
    /// Reads the shared call filters, scoped to the token's enterprise; a <c>q</c> that is a phone number is also
    /// normalised with the enterprise's default region. Errors are keyed by parameter name.
    /// </summary>
    internal static async Task<(CallFilter Filter, Dictionary<string, string[]> Errors)> ReadFilterAsync(HttpContext http, CallQuery q, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        var direction = Choice(q.Direction, "direction", Directions, errors);
        var status = Choice(q.Status, "status", Statuses, errors);
        var from = Time(q.From, "from", errors);
        var to = Time(q.To, "to", errors);
        var text = Clean(q.Q);
        var enterprise = http.ApiToken().EnterpriseId;
        var e164 = text is null ? null : PhoneNormalizer.ToE164(text, await CrmContext.RegionAsync(http, ct));
        return (new CallFilter(Clean(q.Pbx), direction, status, Clean(q.Ext), from, to, text, enterprise, e164), errors);
    }

    private static string? Clean(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static string? Choice(string? raw, string name, string[] allowed, Dictionary<string, string[]> errors)
    {
        var value = Clean(raw)?.ToLowerInvariant();
        if (value is not null && !allowed.Contains(value))
        {
            errors[name] = [$"must be one of {string.Join(", ", allowed)}"];
        }

        return value;
    }

    private static DateTimeOffset? Time(string? raw, string name, Dictionary<string, string[]> errors)
    {
        var value = Clean(raw);
        if (value is null)
        {
            return null;
        }

        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
        {
            return t;
        }

        errors[name] = ["must be an ISO 8601 time, e.g. 2025-09-03T09:00:00Z or 2025-09-03T11:00:00+02:00"];
        return null;
    }

    /// <summary>A whole number in [min, max] from a query value, the fallback when absent; an error keyed by name otherwise.</summary>
    internal static int Int(string? raw, string name, int fallback, int min, int max, Dictionary<string, string[]> errors)
    {
        var text = Clean(raw);
        if (text is null)
        {
            return fallback;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        errors[name] = [$"must be a whole number from {min} to {max}"];
        return fallback;
    }
}
