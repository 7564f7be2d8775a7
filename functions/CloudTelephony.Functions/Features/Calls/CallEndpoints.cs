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

    /// <summary>Stored or updated at or after.</summary>
    [FromQuery(Name = "updatedSince"), Description("Only calls stored or updated at or after this time (ISO 8601): calls appear when they complete, so poll by this (or by the next cursor of sort=updated), not by startedAt.")]
    public string? UpdatedSince { get; init; }
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

    /// <summary>Sort order.</summary>
    [FromQuery(Name = "sort"), Description("desc: by start time, newest first (default); asc: oldest first; updated: in the order calls were stored or updated, for incremental sync (cursor paging only).")]
    public string? Sort { get; init; }

    /// <summary>Keyset cursor.</summary>
    [FromQuery(Name = "cursor"), Description("Opaque: the next page after the one whose `next` gave it (stable while calls are added, unlike page). Not with page.")]
    public string? Cursor { get; init; }
}

/// <summary>
/// CRM read API over stored calls: <c>GET /api/calls</c>, <c>/api/calls/summary</c>, <c>/api/calls/{id}</c>. Token scope
/// <c>crm</c>; every query is limited to the token's enterprise (a call of another enterprise is 404).
/// </summary>
public static class CallEndpoints
{
    private static readonly string[] Directions = ["inbound", "outbound", "internal"];
    private static readonly string[] Statuses = ["answered", "missed", "busy", "failed", "voicemail", "unknown"];
    private static readonly string[] Sorts = ["desc", "asc", "updated"];

    /// <summary>Maps the endpoints.</summary>
    public static void MapCallEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/calls", ListAsync).WithName("Calls").RequireToken("crm").WithTags("Calls")
            .WithSummary("List calls")
            .WithDescription("Calls of the token's enterprise matching the filters, one page with the total and `next`, the link of the following page " +
                             "(keyset: calls added meanwhile never shift it). sort=updated lists calls in the order they were stored or updated " +
                             "and always gives `next`: poll it to sync incrementally (no call is skipped or repeated). " +
                             "With Accept: text/csv the answer is the CSV of GET /api/calls.csv for the same filters (not paged).")
            .Produces<CallPageDto>().WithMetadata(new CsvRepresentation()).ProducesValidationProblem().ProducesCrmAuthProblems();
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
    /// <c>Accept: text/csv</c> → the CSV export of the same filters.
    /// </summary>
    private static async Task<IResult> ListAsync(HttpContext http, [AsParameters] CallQuery query, [AsParameters] CallPaging paging, CallQueries queries, CancellationToken ct)
    {
        var (filter, errors) = await ReadFilterAsync(http, query, ct);
        var sort = Choice(paging.Sort, "sort", Sorts, errors);
        var cursor = CallCursor.Parse(Clean(paging.Cursor), "cursor", errors);
        if (WantsCsv(http.Request))
        {
            foreach (var (name, value) in new[] { ("page", paging.Page), ("pageSize", paging.PageSize), ("cursor", paging.Cursor) })
            {
                if (Clean(value) is not null)
                {
                    errors[name] = ["the CSV answer is not paged (it streams every matching call): leave it out"];
                }
            }

            if (errors.Count > 0)
            {
                return Results.ValidationProblem(errors);
            }

            return new CsvCalls(queries.StreamAsync(filter, OrderOf(sort ?? "desc"), ct), bom: false);
        }

        var size = Int(paging.PageSize, "pageSize", 50, 1, 1000, errors);
        var order = cursor is not null ? cursor.Order : OrderOf(sort ?? "desc");
        if (cursor is not null && sort is not null && OrderOf(sort) != cursor.Order)
        {
            errors["sort"] = [$"the cursor belongs to sort={NameOf(cursor.Order)}"];
        }

        if (Clean(paging.Page) is not null && (cursor is not null || order == CallOrder.Written))
        {
            errors["page"] = [cursor is not null ? "give either page or cursor" : "sort=updated pages with cursor only"];
        }

        var page = Int(paging.Page, "page", 1, 1, int.MaxValue, errors);
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }

        IReadOnlyList<StoredCall> items;
        long total;
        CallKey? next;
        int? pageNumber = null;
        if (cursor is null && order != CallOrder.Written)
        {
            var result = await queries.ListAsync(filter, page, size, ct, oldestFirst: order == CallOrder.StartedAsc);
            (items, total, pageNumber) = (result.Items, result.Total, result.Page);
            next = items.Count == size ? CallKey.Of(items[^1], order) : null;
        }
        else
        {
            var slice = await queries.ListAfterAsync(filter, order, cursor, size, ct);
            (items, total, next) = (slice.Items, slice.Total, slice.Next);
        }

        string? link = next is null ? null : NextLink(http.Request, next);
        if (link is not null)
        {
            http.Response.Headers.Append("Link", $"<{link}>; rel=\"next\"");
        }

        return Results.Ok(new CallPageDto(items.Select(CallDto.From).ToList(), total, pageNumber, size, link));
    }

    /// <summary>Whether the request prefers <c>text/csv</c> to JSON (its <c>Accept</c> header, by quality then order).</summary>
    internal static bool WantsCsv(HttpRequest request)
    {
        var accept = request.GetTypedHeaders().Accept;
        if (accept is not { Count: > 0 })
        {
            return false;
        }

        foreach (var media in accept.OrderByDescending(a => a.Quality ?? 1))
        {
            if (media.MediaType.Equals("text/csv", StringComparison.OrdinalIgnoreCase))
            {
                return media.Quality is not 0;
            }

            if (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase) || media.MatchesAllTypes
                || media.MediaType.Equals("application/*", StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
        }

        return false;
    }

    /// <summary>The order named by <c>sort</c>.</summary>
    internal static CallOrder OrderOf(string sort) => sort switch { "asc" => CallOrder.StartedAsc, "updated" => CallOrder.Written, _ => CallOrder.StartedDesc };

    private static string NameOf(CallOrder order) => order switch { CallOrder.StartedAsc => "asc", CallOrder.Written => "updated", _ => "desc" };

    /// <summary>The request's path and query with <c>page</c> removed and <c>cursor</c> set to <paramref name="next"/>.</summary>
    private static string NextLink(HttpRequest request, CallKey next)
    {
        var query = request.Query
            .Where(q => q.Key is not ("page" or "cursor") && !StrictQuery.Always.Contains(q.Key))
            .SelectMany(q => q.Value.Select(v => new KeyValuePair<string, string?>(q.Key, v)))
            .Append(new KeyValuePair<string, string?>("cursor", CallCursor.Format(next)));
        return Microsoft.AspNetCore.WebUtilities.QueryHelpers.AddQueryString(request.PathBase + request.Path, query);
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
            CallDto.From(detail.Stored ?? new StoredCall(detail.Id, detail.Call, detail.ContactName)), detail.Call.Participants, events, detail.Sms ?? []));
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
        var updatedSince = Time(q.UpdatedSince, "updatedSince", errors);
        var text = Clean(q.Q);
        var enterprise = http.ApiToken().EnterpriseId;
        var e164 = text is null ? null : PhoneNormalizer.ToE164(text, await CrmContext.RegionAsync(http, ct));
        return (new CallFilter(Clean(q.Pbx), direction, status, Clean(q.Ext), from, to, text, enterprise, e164, updatedSince), errors);
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
