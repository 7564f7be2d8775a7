using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Tenancy;
using Npgsql;

namespace CloudTelephony.Functions.Ingest;

/// <summary>
/// <c>IngestHttp</c>: <c>POST /api/frames</c> with a JSON array of envelopes (the relay's HTTP forwarder). Needs a token of
/// scope <c>relay</c> (checked by the app itself, standalone and under the Functions host, where the function key is
/// checked too); a relay token feeds only its own enterprise's PBXes.
/// </summary>
public static partial class IngestEndpoints
{
    /// <summary>Maps the endpoint.</summary>
    public static void MapIngestEndpoints(this IEndpointRouteBuilder app)
        => app.MapPost(Routes.IngestPath, IngestAsync).WithName("IngestHttp").RequireToken("relay").RequireJsonBody().WithTags("Ingest")
            .WithSummary("Store a batch of PBX frames")
            .WithDescription("A JSON array of relay envelopes {pbx, protocol, session, seq, receivedAt, frame}, stored in one transaction " +
                             "(idempotent on pbx, session, seq; a frame is data: one that does not parse, contains NUL, was flagged by the relay (problem) " +
                             "or is stamped more than Ingest:MaxFutureSkewSeconds ahead is stored with its error and not correlated). 400: a malformed body " +
                             "or an envelope that cannot be stored (no pbx, session, seq, receivedAt or frame; unknown protocol), nothing stored, do not retry it " +
                             "(problem members envelope = its index, field = the JSON field); 403: a PBX of another enterprise (or not registered while " +
                             "Ingest:AutoRegisterPbxes is off); 413: the body is over Http:MaxRequestBodyBytes (limitBytes), split it; " +
                             "503: the database failed, retry.")
            .Accepts<Envelope[]>("application/json")
            .Produces<IngestResult>().ProducesProblem(StatusCodes.Status400BadRequest).ProducesRelayAuthProblems()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

    /// <summary>Documents the relay token's answers: 401 (missing, unknown or revoked), 403 (wrong scope, address or PBX), 429 (too many failures).</summary>
    public static RouteHandlerBuilder ProducesRelayAuthProblems(this RouteHandlerBuilder builder)
        => builder.ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

    /// <summary>400 problem details naming the envelope that cannot be stored (<c>envelope</c>: its index, <c>field</c>:
    /// the JSON field or null): do not retry it (the relay halves the batch down to that envelope and dead-letters it).</summary>
    private static IResult EnvelopeRefused(string title, string detail, int index, string? field)
        => Results.Problem(statusCode: 400, title: title, detail: detail,
            extensions: new Dictionary<string, object?> { ["envelope"] = index, ["field"] = field });

    [GeneratedRegex(@"^\$\[(\d+)\](?:\.([A-Za-z]+))?")]
    private static partial Regex EnvelopePath();

    /// <summary>
    /// 200 + <see cref="IngestResult"/> when the whole batch is stored (also when some frames did not parse: they are
    /// stored with their error); 400 problem details for a body that is not a JSON array of valid envelopes (nothing
    /// stored); 503 when the database failed (nothing stored: the relay retries).
    /// </summary>
    private static async Task<IResult> IngestAsync(
        HttpRequest request, CorrelateAndStore pipeline, IngestProgress progress, RelayPbxAccess access, ILogger<CorrelateAndStore> logger, CancellationToken ct)
    {
        Envelope?[]? batch;
        try
        {
            batch = await JsonSerializer.DeserializeAsync(request.Body, ApiJson.Default.EnvelopeArray, ct);
        }
        catch (JsonException ex)
        {
            // the JSON path ($[3].receivedAt) names the envelope and field the relay should set aside
            var at = EnvelopePath().Match(ex.Path ?? "");
            return at.Success
                ? EnvelopeRefused("body is not a JSON array of envelopes", ex.Message, int.Parse(at.Groups[1].Value, CultureInfo.InvariantCulture),
                    at.Groups[2].Success ? at.Groups[2].Value : null)
                : Results.Problem(statusCode: 400, title: "body is not a JSON array of envelopes", detail: ex.Message);
        }

        if (batch is null)
        {
            return Results.Problem(statusCode: 400, title: "body is not a JSON array of envelopes", detail: "null");
        }

        if (CorrelateAndStore.Check(batch) is { } problem)
        {
            return EnvelopeRefused("invalid envelope", problem.Message, problem.Index, problem.Field);
        }

        try
        {
            if (await access.CheckAsync(request.HttpContext.ApiToken().EnterpriseId, batch!, ct) is { } refused)
            {
                logger.LogWarning("batch of {Count} frames refused: {Reason}", batch.Length, refused);
                return Results.Problem(statusCode: 403, title: "PBX not allowed for this relay token", detail: refused);
            }

            var result = await pipeline.IngestAsync(batch!, ct);
            progress.Add(result);
            return Results.Ok(result);
        }
        catch (NpgsqlException ex)
        {
            // 503 + Retry-After from the app's one exception mapping (ProblemExceptionHandler); the sender retries
            logger.LogError(LogEvents.BatchFailed, "batch of {Count} frames not stored ({Message}); the sender will retry", batch.Length, ex.Message);
            throw;
        }
    }
}
