using CloudTelephony.Functions.Hosting;

namespace CloudTelephony.Functions.Ingest;

/// <summary>
/// Timer-triggered functions. The Functions host POSTs <c>{"Data":{"timer":{...}},"Metadata":{...}}</c> to
/// <c>/&lt;FunctionName&gt;</c>; a non-2xx answer fails the invocation.
/// </summary>
public static class TimerEndpoints
{
    /// <summary>Maps <c>POST /SweepCalls</c>.</summary>
    public static void MapTimerEndpoints(this IEndpointRouteBuilder app)
        => app.MapPost("/SweepCalls", SweepAsync).WithName("SweepCalls").ExcludeFromDescription();

    private static async Task<IResult> SweepAsync(CorrelateAndStore pipeline, SweepOptions options, CancellationToken ct)
    {
        var closed = await pipeline.SweepAsync(TimeSpan.FromSeconds(options.IdleSeconds), ct);
        return Results.Json(new InvocationResponse([], [$"sweep closed {closed} calls"], null), ApiJson.Default.InvocationResponse);
    }
}
