using System.Text.Json;
using System.Text.Json.Serialization;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using CloudTelephony.Telephony.Routing;

namespace CloudTelephony.Functions.Routing;

/// <summary>The Smart Redirect answer, exactly as the Asterisk macro reads it.</summary>
public sealed record CustomerDataResponse(
    [property: JsonPropertyName("Name")] string? Name,
    [property: JsonPropertyName("DialPlan")] string? DialPlan);

/// <summary>
/// The Smart Redirect request as the Asterisk macro sends it (documentation of the contract: the endpoint reads the
/// body itself, names in any case, every field a string).
/// </summary>
/// <param name="UniqueId">Asterisk's channel Uniqueid, logged with the decision.</param>
/// <param name="Phone">The caller's number in any format (<c>693109180</c>, <c>+48…</c>, <c>0048…</c>); required.</param>
/// <param name="TrunkId">The trunk the call came in on; DialPlan is answered only for smart-enabled trunks.</param>
/// <param name="LoadDialPlan"><c>"true"</c> or <c>"false"</c> (default): whether a DialPlan is wanted.</param>
public sealed record CustomerDataRequest(
    [property: JsonPropertyName("UniqueId")] string? UniqueId,
    [property: JsonPropertyName("Phone")] string Phone,
    [property: JsonPropertyName("TrunkId")] string? TrunkId,
    [property: JsonPropertyName("LoadDialPlan")] string? LoadDialPlan);

/// <summary>A JSON error answer.</summary>
public sealed record ErrorDto([property: JsonPropertyName("error")] string Error);

/// <summary><c>GET /api/routing/stats</c> answer: the enterprise's decision log over the last hour.</summary>
/// <param name="Since">Window start (UTC).</param>
/// <param name="Total">Answers.</param>
/// <param name="ByOutcome">Answers per outcome (routed, name, unknown, off, timeout, error).</param>
/// <param name="P50Ms">Median server-side latency.</param>
/// <param name="P95Ms">95th percentile.</param>
/// <param name="P99Ms">99th percentile.</param>
/// <param name="ErrorRate">(timeout + error) / total; 0 when there were none.</param>
/// <param name="LogRowsDropped">Decision-log rows this instance dropped because its queue was full (since start).</param>
public sealed record RoutingStatsDto(
    DateTimeOffset Since, long Total, IReadOnlyDictionary<string, long> ByOutcome, double P50Ms, double P95Ms, double P99Ms, double ErrorRate, long LogRowsDropped);

/// <summary>JSON metadata of the routing endpoints (the contract's PascalCase names are fixed by attributes).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.Never, NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(CustomerDataResponse))]
[JsonSerializable(typeof(CustomerDataRequest))]
[JsonSerializable(typeof(ErrorDto))]
[JsonSerializable(typeof(RoutingStatsDto))]
public sealed partial class RoutingJson : JsonSerializerContext;

/// <summary>
/// <c>POST /api/callevent/getcustomerdata</c> (function <c>GetCustomerData</c>, token scope <c>routing</c>, rate-limited
/// per token) and <c>GET /api/routing/stats</c> (function <c>RoutingStats</c>, scope <c>crm</c>).
/// </summary>
public static class RoutingEndpoints
{
    /// <summary>The Smart Redirect path (fixed by the Asterisk macros in the field).</summary>
    public const string CustomerDataPath = "/api/callevent/getcustomerdata";

    /// <summary>Rate-limiter policy name (per token).</summary>
    public const string RatePolicy = "per-token";

    /// <summary>Maps the endpoints.</summary>
    public static void MapRoutingEndpoints(this IEndpointRouteBuilder app)
    {
        // The contract of the dialplans in the field: any query string is tolerated and the body is read whatever its
        // content type (Asterisk's CURL() sends form encoding unless the dialplan sets the header).
        app.MapPost(CustomerDataPath, GetCustomerDataAsync).WithName("GetCustomerData")
            .AddEndpointFilter(RoutingBudget.FilterAsync) // outermost: the budget covers the token check too
            .RequireToken("routing").RequireRateLimiting(RatePolicy)
            .AllowAnyQuery().WithTags("Smart Redirect")
            .WithSummary("Caller name and DialPlan for an incoming call")
            .WithDescription("The Asterisk macro getcustomerdata: header Token, body {\"UniqueId\",\"Phone\",\"TrunkId\",\"LoadDialPlan\"} (strings) → " +
                             "{\"Name\", \"DialPlan\"}, either may be null; answered within the enterprise's budget (DialPlan null when it runs out). " +
                             "Errors are {\"error\": \"…\"}.")
            .Accepts<CustomerDataRequest>("application/json")
            .Produces<CustomerDataResponse>()
            .Produces<ErrorDto>(StatusCodes.Status400BadRequest).Produces<ErrorDto>(StatusCodes.Status401Unauthorized)
            .Produces<ErrorDto>(StatusCodes.Status403Forbidden).Produces<ErrorDto>(StatusCodes.Status429TooManyRequests);
        app.MapGet("/api/routing/stats", StatsAsync).WithName("RoutingStats").RequireToken("crm").RequireRateLimiting(RatePolicy)
            .WithTags("Smart Redirect")
            .WithSummary("Smart Redirect figures of the last hour")
            .WithDescription("Answers by outcome, p50/p95/p99 server-side latency, error rate (timeout + error) and the decision-log rows this instance dropped.")
            .Produces<RoutingStatsDto>().ProducesCrmAuthProblems().Produces<ErrorDto>(StatusCodes.Status429TooManyRequests);
    }

    private static async Task<IResult> GetCustomerDataAsync(HttpContext http, CustomerDataLookup lookup, DecisionLog log, TimeProvider clock)
    {
        var token = http.ApiToken();
        var (query, error) = await ReadAsync(http.Request);
        if (query is null)
        {
            return TokenAuth.Error(400, error!);
        }

        var budget = RoutingBudget.Of(http);
        CustomerDataDecision d;
        try
        {
            d = await lookup.DecideAsync(token.EnterpriseId, query, http.RequestAborted, budget);
        }
        catch (Exception ex) when (budget is { } b && !b.TryAnswer())
        {
            // the budget answered null meanwhile and cancelled this: the decision log still gets the row
            log.TryAdd(new RoutingDecision(token.EnterpriseId, clock.GetUtcNow(), query.UniqueId, query.Phone, null, query.TrunkId,
                query.LoadDialPlan, "unknown", null, "timeout", $"the budget answered what was known; the lookup was cancelled ({ex.GetType().Name})", b.Known.Name, b.Known.DialPlan, Math.Round(b.ElapsedMs, 3)));
            throw;
        }

        if (budget is not null && !budget.TryAnswer())
        {
            // finished after the budget answered for it: logged as what the caller got
            var known = budget.Known;
            d = d with { Name = known.Name, DialPlan = known.DialPlan, Outcome = known.DialPlan is null ? "timeout" : "routed", Reason = d.Reason + "; the budget answered what was known, this finished later", LatencyMs = Math.Round(budget.ElapsedMs, 3) };
            log.TryAdd(new RoutingDecision(token.EnterpriseId, clock.GetUtcNow(), query.UniqueId, query.Phone, d.PhoneE164, query.TrunkId,
                query.LoadDialPlan, d.Mode, d.Strategy, d.Outcome, d.Reason, d.Name, d.DialPlan, d.LatencyMs));
            return Results.Json(known, RoutingJson.Default.CustomerDataResponse);
        }

        log.TryAdd(new RoutingDecision(token.EnterpriseId, clock.GetUtcNow(), query.UniqueId, query.Phone, d.PhoneE164, query.TrunkId,
            query.LoadDialPlan, d.Mode, d.Strategy, d.Outcome, d.Reason, d.Name, d.DialPlan, d.LatencyMs));
        AppTelemetry.RoutingAnswered(d.Outcome, d.LatencyMs);
        return Results.Json(new CustomerDataResponse(d.Name, d.DialPlan), RoutingJson.Default.CustomerDataResponse);
    }

    private static async Task<IResult> StatsAsync(HttpContext http, RoutingStore store, DecisionLog log, TimeProvider clock)
    {
        var since = clock.GetUtcNow().AddHours(-1);
        var s = await store.StatsAsync(http.ApiToken().EnterpriseId, since, http.RequestAborted);
        var rate = s.Total == 0 ? 0 : Math.Round((double)s.Errors / s.Total, 4);
        return Results.Json(new RoutingStatsDto(since, s.Total, s.ByOutcome, s.P50, s.P95, s.P99, rate, log.Dropped), RoutingJson.Default.RoutingStatsDto);
    }

    /// <summary>
    /// Reads the contract body <c>{"UniqueId","Phone","TrunkId","LoadDialPlan"}</c>: a JSON object whose fields, when
    /// present, are strings; <c>Phone</c> is required; <c>LoadDialPlan</c> is <c>"true"</c> or <c>"false"</c> (default
    /// false); no field may hold a control character (NUL included). Names match in any case. Returns the query or a message saying what is wrong.
    /// </summary>
    public static async Task<(CustomerDataQuery? Query, string? Error)> ReadAsync(HttpRequest request)
    {
        JsonDocument doc;
        try
        {
            doc = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
        }
        catch (JsonException ex)
        {
            return (null, $"body is not JSON ({ex.Message}); expected {{\"UniqueId\":\"…\",\"Phone\":\"…\",\"TrunkId\":\"…\",\"LoadDialPlan\":\"true\"}}");
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return (null, "body must be a JSON object {\"UniqueId\",\"Phone\",\"TrunkId\",\"LoadDialPlan\"}");
            }

            var fields = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Name.ToLowerInvariant() is "uniqueid" or "phone" or "trunkid" or "loaddialplan")
                {
                    if (p.Value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                    {
                        return (null, $"field '{p.Name}' must be a string, not {p.Value.ValueKind.ToString().ToLowerInvariant()}");
                    }

                    var value = p.Value.GetString();
                    if (TextInput.SingleLineProblem(value) is { } problem)
                    {
                        // PostgreSQL cannot store NUL: it would fail the decision log's batch; a control character is never a number or an id.
                        return (null, $"field '{p.Name}' {problem}");
                    }

                    fields[p.Name] = value;
                }
            }

            if (!fields.TryGetValue("Phone", out var phone) || phone is null)
            {
                return (null, "field 'Phone' (string) is required");
            }

            var load = fields.GetValueOrDefault("LoadDialPlan");
            if (load is not null && !bool.TryParse(load.Trim(), out _))
            {
                return (null, $"field 'LoadDialPlan' must be \"true\" or \"false\", not \"{load}\"");
            }

            return (new CustomerDataQuery(fields.GetValueOrDefault("UniqueId"), phone.Trim(), fields.GetValueOrDefault("TrunkId")?.Trim(),
                load is not null && bool.Parse(load.Trim())), null);
        }
    }
}
