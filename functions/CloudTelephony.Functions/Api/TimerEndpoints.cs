using CloudTelephony.Functions.Ingest;

namespace CloudTelephony.Functions.Api;

/// <summary>
/// The custom handler's answer to a non-HTTP invocation (protocols/functions-custom-handler.md §5):
/// <c>{"Outputs": {...}, "Logs": [...], "ReturnValue": ...}</c>.
/// </summary>
/// <remarks>The names are PascalCase as the host's documentation writes them, whatever the app's JSON naming policy.</remarks>
public sealed record InvocationResponse(
    [property: System.Text.Json.Serialization.JsonPropertyName("Outputs")] Dictionary<string, object?> Outputs,
    [property: System.Text.Json.Serialization.JsonPropertyName("Logs")] IReadOnlyList<string> Logs,
    [property: System.Text.Json.Serialization.JsonPropertyName("ReturnValue")] object? ReturnValue);

/// <summary>
/// Timer-triggered functions. The Functions host POSTs <c>{"Data":{"timer":{...}},"Metadata":{...}}</c> to
/// <c>/&lt;FunctionName&gt;</c>; a non-2xx answer fails the invocation.
/// </summary>
public static class TimerEndpoints
{
    /// <summary>Maps <c>POST /SweepCalls</c>.</summary>
    public static void MapTimerEndpoints(this IEndpointRouteBuilder app)
        => app.MapPost("/SweepCalls", SweepAsync).WithName("SweepCalls").ExcludeFromDescription();

    private static async Task<IResult> SweepAsync(IngestPipeline pipeline, SweepOptions options, CancellationToken ct)
    {
        var closed = await pipeline.SweepAsync(TimeSpan.FromSeconds(options.IdleSeconds), ct);
        return Results.Json(new InvocationResponse([], [$"sweep closed {closed} calls"], null), ApiJson.Default.InvocationResponse);
    }
}
