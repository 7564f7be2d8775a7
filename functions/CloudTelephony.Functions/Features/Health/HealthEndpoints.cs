using CloudTelephony.Functions.Hosting;
using CloudTelephony.Storage;
using Npgsql;

namespace CloudTelephony.Functions.Health;

/// <summary><c>Health</c>: <c>GET /api/health</c> — database reachable, last frame per PBX. 200 healthy, 503 unhealthy.</summary>
public static class HealthEndpoints
{
    /// <summary>Maps the endpoint and the custom handler's readiness probe (<c>GET /</c>).</summary>
    public static void MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", () => Results.Text("CloudTelephony functions handler")).ExcludeFromDescription();
        app.MapGet("/api/health", CheckAsync).WithName("Health").WithTags("Health")
            .WithSummary("Health of the app, its database, relays and PBX streams")
            .WithDescription("No token. 200 with status healthy or unhealthy (a silent relay, an outbox at its cap); 503 when the database is unreachable.")
            .Produces<HealthDto>().Produces<HealthDto>(StatusCodes.Status503ServiceUnavailable);
    }

    /// <summary>A relay whose last heartbeat is older than this is reported unhealthy.</summary>
    public static readonly TimeSpan RelaySilenceLimit = TimeSpan.FromMinutes(5);

    /// <remarks>
    /// HTTP 503 only when the database is unreachable: the handler's own readiness (and <c>./ct run</c>) depends on this
    /// endpoint. A silent relay or a full outbox makes <c>status</c> <c>unhealthy</c> with the reasons in
    /// <c>problems</c>, answered with 200 — monitoring should read the body's status.
    /// </remarks>
    private static async Task<IResult> CheckAsync(HealthQueries health, HeartbeatStore heartbeats, TimeProvider clock, CancellationToken ct)
    {
        try
        {
            var pbxes = await health.PbxStreamsAsync(ct);
            var now = clock.GetUtcNow();
            var relays = (await heartbeats.RelaysAsync(ct))
                .Select(r => new RelayHealthDto(r, Math.Round((now - r.LastSeenAt).TotalSeconds, 1), now - r.LastSeenAt <= RelaySilenceLimit && !r.OutboxAtCap))
                .ToList();
            var problems = new List<string>();
            foreach (var r in relays.Where(r => !r.Healthy))
            {
                problems.Add(r.Relay.OutboxAtCap && r.SilentSeconds <= RelaySilenceLimit.TotalSeconds
                    ? $"relay {r.Relay.RelayId}: outbox full ({r.Relay.OutboxDepth} frames)"
                    : $"relay {r.Relay.RelayId}: no heartbeat for {r.SilentSeconds:0} s");
            }

            return Results.Ok(new HealthDto(problems.Count == 0 ? "healthy" : "unhealthy", "reachable", pbxes, now, relays, problems));
        }
        catch (NpgsqlException ex)
        {
            return Results.Json(new HealthDto("unhealthy", ex.Message, [], clock.GetUtcNow()), ApiJson.Default.HealthDto, statusCode: 503);
        }
    }
}
