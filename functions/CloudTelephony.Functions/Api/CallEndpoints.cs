using System.Globalization;
using CloudTelephony.Storage;

namespace CloudTelephony.Functions.Api;

/// <summary>CRM read API over stored calls: <c>GET /api/calls</c>, <c>/api/calls/summary</c>, <c>/api/calls/{id}</c>.</summary>
public static class CallEndpoints
{
    private static readonly string[] Directions = ["inbound", "outbound", "internal"];
    private static readonly string[] Statuses = ["answered", "missed", "busy", "failed", "voicemail", "unknown"];

    /// <summary>Maps the endpoints.</summary>
    public static void MapCallEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/calls", ListAsync).WithName("Calls");
        app.MapGet("/api/calls/summary", SummaryAsync).WithName("CallsSummary");
        app.MapGet("/api/calls/{id:long}", GetAsync).WithName("CallById");
    }

    /// <summary>
    /// Lists calls newest first. Query: <c>pbx</c>, <c>direction</c>, <c>status</c>, <c>ext</c> (rang or answered),
    /// <c>from</c>/<c>to</c> (ISO 8601, UTC or with offset; start time), <c>q</c> (part of caller or called number),
    /// <c>page</c> (from 1), <c>pageSize</c> (1–1000, default 50). Bad values → 400 problem details naming the field.
    /// </summary>
    private static async Task<IResult> ListAsync(HttpRequest request, CallQueries queries, CancellationToken ct)
    {
        if (!TryReadFilter(request.Query, out var filter, out var errors)
            | !TryInt(request.Query, "page", 1, 1, int.MaxValue, errors, out var page)
            | !TryInt(request.Query, "pageSize", 50, 1, 1000, errors, out var size))
        {
            return Results.ValidationProblem(errors);
        }

        var result = await queries.ListAsync(filter, page, size, ct);
        return Results.Ok(new CallPageDto(result.Items.Select(c => CallDto.From(c.Id, c.Call)).ToList(), result.Total, result.Page, result.PageSize));
    }

    private static async Task<IResult> SummaryAsync(HttpRequest request, CallQueries queries, CancellationToken ct)
    {
        if (!TryReadFilter(request.Query, out var filter, out var errors))
        {
            return Results.ValidationProblem(errors);
        }

        var counts = await queries.SummaryAsync(filter, ct);
        return Results.Ok(new CallSummaryDto(counts.Sum(c => c.Count), counts));
    }

    private static async Task<IResult> GetAsync(long id, CallQueries queries, CancellationToken ct)
    {
        var detail = await queries.GetAsync(id, ct);
        if (detail is null)
        {
            return Results.Problem(statusCode: 404, title: "call not found", detail: $"no call with id {id}");
        }

        var events = detail.Events.Select(e => new CallEventDto(e.Event.At, e.Event.Kind, e.Event.Endpoint, e.Event.Detail, e.Event.Session, e.Event.Seq, e.Frame)).ToList();
        return Results.Ok(new CallDetailDto(CallDto.From(detail.Id, detail.Call), detail.Call.Participants, events));
    }

    /// <summary>Reads the shared call filters from a query string; errors are keyed by parameter name.</summary>
    internal static bool TryReadFilter(IQueryCollection q, out CallFilter filter, out Dictionary<string, string[]> errors)
    {
        errors = [];
        var direction = Choice(q, "direction", Directions, errors);
        var status = Choice(q, "status", Statuses, errors);
        var from = Time(q, "from", errors);
        var to = Time(q, "to", errors);
        filter = new CallFilter(Text(q, "pbx"), direction, status, Text(q, "ext"), from, to, Text(q, "q"));
        return errors.Count == 0;
    }

    private static string? Text(IQueryCollection q, string name) => q[name].ToString() is { Length: > 0 } s ? s.Trim() : null;

    private static string? Choice(IQueryCollection q, string name, string[] allowed, Dictionary<string, string[]> errors)
    {
        var value = Text(q, name)?.ToLowerInvariant();
        if (value is not null && !allowed.Contains(value))
        {
            errors[name] = [$"must be one of {string.Join(", ", allowed)}"];
        }

        return value;
    }

    private static DateTimeOffset? Time(IQueryCollection q, string name, Dictionary<string, string[]> errors)
    {
        var value = Text(q, name);
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

    private static bool TryInt(IQueryCollection q, string name, int fallback, int min, int max, Dictionary<string, string[]> errors, out int value)
    {
        value = fallback;
        var text = Text(q, name);
        if (text is null)
        {
            return true;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max)
        {
            return true;
        }

        errors[name] = [$"must be a whole number from {min} to {max}"];
        return false;
    }
}
