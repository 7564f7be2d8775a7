using System.Globalization;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace CloudTelephony.Functions.Events;

/// <summary>An extension ringing now.</summary>
/// <param name="Extension">The extension.</param>
/// <param name="Since">When it started ringing (UTC).</param>
public sealed record RingingDto(string Extension, DateTimeOffset Since);

/// <summary>A call in progress (<c>GET /api/calls/active</c>).</summary>
/// <param name="Pbx">PBX id.</param>
/// <param name="CallKey">Call key (the events' subject).</param>
/// <param name="State"><c>ringing</c>, <c>talking</c>, <c>held</c>, or <c>ended</c> (the last party left; the record follows
/// within the PBX's grace).</param>
/// <param name="Caller">The calling number.</param>
/// <param name="CallerName">The caller's name from the enterprise's contacts, or null.</param>
/// <param name="Called">The called number (DID) or extension.</param>
/// <param name="StartedAt">When the call started (UTC).</param>
/// <param name="Ringing">Extensions ringing now.</param>
/// <param name="AnsweredBy">Who talks (null = nobody yet, or the far end of an outbound call once <paramref name="TalkingSince"/> is set).</param>
/// <param name="AnsweredAt">The call's first answer (UTC), or null.</param>
/// <param name="TalkingSince">Since when the current party talks (UTC), or null.</param>
/// <param name="EndedAt">When the last party left (UTC), or null.</param>
public sealed record ActiveCallDto(
    string Pbx, string CallKey, string State, string? Caller, string? CallerName, string? Called, DateTimeOffset StartedAt,
    IReadOnlyList<RingingDto> Ringing, string? AnsweredBy, DateTimeOffset? AnsweredAt, DateTimeOffset? TalkingSince, DateTimeOffset? EndedAt)
{
    /// <summary>Projects a live call.</summary>
    public static ActiveCallDto From(LiveCall c) => new(
        c.Pbx, c.CallKey, c.State, c.Caller, c.CallerName, c.Called, c.StartedAt,
        c.Ringing.OrderBy(r => r.Value).Select(r => new RingingDto(r.Key, r.Value)).ToList(), c.AnsweredBy, c.AnsweredAt, c.TalkingSince, c.EndedAt);
}

/// <summary><c>GET /api/calls/active</c> answer.</summary>
/// <param name="Items">The calls in progress, oldest first.</param>
/// <param name="Position">The newest event position when read: open <c>GET /api/events</c> with
/// <c>Last-Event-ID</c> (or <c>lastEventId</c>) set to it to follow from this state on without a gap.</param>
public sealed record ActiveCallsDto(IReadOnlyList<ActiveCallDto> Items, long Position);

/// <summary>The live call events endpoints: <c>GET /api/events</c> (server-sent events) and <c>GET /api/calls/active</c>.</summary>
public static class EventEndpoints
{
    /// <summary>Maps the endpoints.</summary>
    public static void MapEventEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/events", Stream).WithName("Events").RequireToken("crm").WithMetadata(new QueryTokenAllowed()).WithTags("Live events")
            .WithSummary("Follow the enterprise's call events (server-sent events)")
            .WithDescription("A text/event-stream of the token's enterprise's CloudEvents (call.ringing, call.answered, call.transferred, " +
                             "call.ended, call.completed), each as `id: <position>`, `event: <type>`, `data: <CloudEvent JSON>`, in commit order " +
                             "(so per call in order). Without Last-Event-ID it starts with what happens from now on; with the header " +
                             "Last-Event-ID (EventSource sends it when it reconnects) or `lastEventId` it resumes after that position, over the " +
                             "retention window (Events:RetentionHours). After 15 s without events a `keepalive` event (empty data) keeps proxies from closing it. " +
                             "EventSource cannot send headers: pass the crm token as `access_token` (this endpoint only).")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream").ProducesValidationProblem().ProducesCrmAuthProblems();
        app.MapGet("/api/calls/active", ActiveAsync).WithName("CallsActive").RequireToken("crm").WithTags("Live events")
            .WithSummary("Calls in progress")
            .WithDescription("The token's enterprise's calls in progress now: who rings (each extension and since when), who talks and since when, " +
                             "from the call changes of the engine. `position` is where GET /api/events continues from this state.")
            .Produces<ActiveCallsDto>().ProducesCrmAuthProblems();
    }

    private static async Task<IResult> ActiveAsync(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var enterprise = http.ApiToken().EnterpriseId;
        var position = await EventStore.TopAsync(db, ct);
        var rows = await EventStore.ActiveCallsAsync(db, enterprise, ct);
        var items = rows.Select(r => ActiveCallDto.From(JsonSerializer.Deserialize(r.State, EventJson.Default.LiveCall)!)).ToList();
        return Results.Json(new ActiveCallsDto(items, position), ApiJson.Default.ActiveCallsDto);
    }

    /// <summary>The event stream. Query: <c>lastEventId</c> (resume after this position, like the header), <c>types</c>
    /// (comma-separated event types; all by default), <c>access_token</c> (the crm token, for EventSource).</summary>
    private static async Task<IResult> Stream(
        HttpContext http, NpgsqlDataSource db, EventHub hub,
        [FromQuery] string? lastEventId, [FromQuery] string? types,
        [FromQuery(Name = "access_token")] string? accessToken, CancellationToken ct)
    {
        _ = accessToken; // read by the token filter
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var raw = http.Request.Headers["Last-Event-ID"].ToString() is { Length: > 0 } header ? header : lastEventId;
        long? after = null;
        if (!string.IsNullOrWhiteSpace(raw))
        {
            if (long.TryParse(raw.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var p))
            {
                after = p;
            }
            else
            {
                errors["lastEventId"] = ["must be the id of an event received from this stream (a whole number)"];
            }
        }

        string[]? typeList = null;
        if (!string.IsNullOrWhiteSpace(types))
        {
            typeList = types.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (typeList.FirstOrDefault(t => !CallEventTypes.All.Contains(t)) is { } bad)
            {
                errors["types"] = [$"unknown event type '{bad}' (expected {string.Join(", ", CallEventTypes.All)})"];
            }
        }

        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors, title: "invalid query parameter");
        }

        var start = after ?? await EventStore.TopAsync(db, ct);
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        return TypedResults.ServerSentEvents(Items(db, hub, http.ApiToken().EnterpriseId, start, typeList, ct));
    }

    private static async IAsyncEnumerable<SseItem<string>> Items(
        NpgsqlDataSource db, EventHub hub, long enterprise, long after, string[]? types, [EnumeratorCancellation] CancellationToken ct)
    {
        var position = after;
        var quietSince = DateTimeOffset.UtcNow;
        while (!ct.IsCancellationRequested)
        {
            List<SequencedEvent> rows;
            try
            {
                rows = await EventStore.ReadAsync(db, enterprise, position, types, 500, ct);
            }
            catch (OperationCanceledException)
            {
                yield break;
            }

            foreach (var row in rows)
            {
                position = row.Position;
                yield return new SseItem<string>(row.Body, row.Type) { EventId = row.Position.ToString(CultureInfo.InvariantCulture) };
            }

            if (rows.Count > 0)
            {
                quietSince = DateTimeOffset.UtcNow;
                continue;
            }

            if (DateTimeOffset.UtcNow - quietSince > TimeSpan.FromSeconds(15))
            {
                quietSince = DateTimeOffset.UtcNow;
                yield return new SseItem<string>("", "keepalive");
            }

            try
            {
                await hub.WaitAsync(TimeSpan.FromSeconds(1), ct);
            }
            catch (OperationCanceledException)
            {
                yield break;
            }
        }
    }
}
