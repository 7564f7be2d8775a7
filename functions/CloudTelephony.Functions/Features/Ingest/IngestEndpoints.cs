using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using Npgsql;

namespace CloudTelephony.Functions.Ingest;

/// <summary><c>IngestHttp</c>: <c>POST /api/frames</c> with a JSON array of envelopes (the relay's HTTP forwarder).</summary>
public static class IngestEndpoints
{
    /// <summary>Maps the endpoint.</summary>
    public static void MapIngestEndpoints(this IEndpointRouteBuilder app)
        => app.MapPost(Routes.IngestPath, IngestAsync).WithName("IngestHttp");

    /// <summary>
    /// 200 + <see cref="IngestResult"/> when the whole batch is stored (also when some frames did not parse: they are
    /// stored with their error); 400 problem details for a body that is not a JSON array of valid envelopes (nothing
    /// stored); 503 when the database failed (nothing stored: the relay retries).
    /// </summary>
    private static async Task<IResult> IngestAsync(
        HttpRequest request, CorrelateAndStore pipeline, IngestProgress progress, ILogger<CorrelateAndStore> logger, CancellationToken ct)
    {
        Envelope?[]? batch;
        try
        {
            batch = await JsonSerializer.DeserializeAsync(request.Body, ApiJson.Default.EnvelopeArray, ct);
        }
        catch (JsonException ex)
        {
            return Results.Problem(statusCode: 400, title: "body is not a JSON array of envelopes", detail: ex.Message);
        }

        if (batch is null)
        {
            return Results.Problem(statusCode: 400, title: "body is not a JSON array of envelopes", detail: "null");
        }

        if (CorrelateAndStore.Validate(batch) is { } problem)
        {
            return Results.Problem(statusCode: 400, title: "invalid envelope", detail: problem);
        }

        try
        {
            var result = await pipeline.IngestAsync(batch!, ct);
            progress.Add(result);
            return Results.Ok(result);
        }
        catch (NpgsqlException ex)
        {
            logger.LogError(ex, "batch of {Count} frames not stored; the sender will retry", batch.Length);
            return Results.Problem(statusCode: 503, title: "batch not stored", detail: ex.Message);
        }
    }
}
