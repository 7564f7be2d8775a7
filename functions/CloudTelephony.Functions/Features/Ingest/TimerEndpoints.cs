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

    private static async Task<IResult> SweepAsync(HttpRequest request, CorrelateAndStore pipeline, SweepOptions options, CancellationToken ct)
    {
        var pastDue = await TimerInvocation.IsPastDueAsync(request, ct);
        var closed = await pipeline.SweepAsync(TimeSpan.FromSeconds(options.IdleSeconds), ct);
        return Invocation.Ok([$"sweep closed {closed} calls" + (pastDue ? " (timer past due)" : "")]);
    }
}
