using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using Npgsql;

namespace CloudTelephony.Functions.Ingest;

/// <summary><c>RelayHeartbeatHttp</c>: <c>POST /api/heartbeat</c> with a <see cref="RelayHeartbeat"/> (relays on the HTTP transport);
/// token scope <c>relay</c>.</summary>
public static class HeartbeatEndpoint
{
    /// <summary>Maps the endpoint.</summary>
    public static void MapHeartbeatEndpoint(this IEndpointRouteBuilder app)
        => app.MapPost(Routes.HeartbeatPath, SaveAsync).WithName("RelayHeartbeatHttp").RequireToken("relay").RequireJsonBody().WithTags("Ingest")
            .WithSummary("Store a relay's heartbeat")
            .WithDescription("A relay on the HTTP transport reports itself and each PBX connection (kind \"heartbeat\"). 204 stored; 400 not a heartbeat; 503 the database failed.")
            .Accepts<RelayHeartbeat>("application/json")
            .Produces(StatusCodes.Status204NoContent).ProducesProblem(StatusCodes.Status400BadRequest).ProducesRelayAuthProblems()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

    /// <summary>204 when stored; 400 for a body that is not a heartbeat; 503 when the database failed.</summary>
    private static async Task<IResult> SaveAsync(HttpRequest request, HeartbeatStore store, TimeProvider clock, ILogger<HeartbeatStore> logger, CancellationToken ct)
    {
        RelayHeartbeat? heartbeat;
        try
        {
            heartbeat = await JsonSerializer.DeserializeAsync(request.Body, ContractsJson.Default.RelayHeartbeat, ct);
        }
        catch (JsonException ex)
        {
            return Results.Problem(statusCode: 400, title: "body is not a relay heartbeat", detail: ex.Message);
        }

        if (heartbeat is not { Kind: RelayHeartbeat.KindValue, RelayId.Length: > 0 })
        {
            return Results.Problem(statusCode: 400, title: "body is not a relay heartbeat", detail: "kind must be 'heartbeat' and relayId set");
        }

        try
        {
            await store.SaveAsync([heartbeat], clock.GetUtcNow(), ct);
            return Results.NoContent();
        }
        catch (NpgsqlException ex)
        {
            logger.LogError("heartbeat of relay {Relay} not stored: {Message}", heartbeat.RelayId, ex.Message);
            return Results.Problem(statusCode: 503, title: "heartbeat not stored", detail: ex.Message);
        }
    }
}
