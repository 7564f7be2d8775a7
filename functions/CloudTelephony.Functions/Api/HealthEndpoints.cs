using CloudTelephony.Storage;
using Npgsql;

namespace CloudTelephony.Functions.Api;

/// <summary><c>Health</c>: <c>GET /api/health</c> — database reachable, last frame per PBX. 200 healthy, 503 unhealthy.</summary>
public static class HealthEndpoints
{
    /// <summary>Maps the endpoint and the custom handler's readiness probe (<c>GET /</c>).</summary>
    public static void MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", () => Results.Text("CloudTelephony functions handler")).ExcludeFromDescription();
        app.MapGet("/api/health", CheckAsync).WithName("Health");
    }

    private static async Task<IResult> CheckAsync(HealthQueries health, TimeProvider clock, CancellationToken ct)
    {
        try
        {
            var pbxes = await health.PbxStreamsAsync(ct);
            return Results.Ok(new HealthDto("healthy", "reachable", pbxes, clock.GetUtcNow()));
        }
        catch (NpgsqlException ex)
        {
            return Results.Json(new HealthDto("unhealthy", ex.Message, [], clock.GetUtcNow()), ApiJson.Default.HealthDto, statusCode: 503);
        }
    }
}
