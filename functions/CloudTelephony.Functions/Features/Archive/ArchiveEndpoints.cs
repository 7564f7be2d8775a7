using CloudTelephony.Functions.Hosting;

namespace CloudTelephony.Functions.Archive;

/// <summary>
/// The <c>ArchiveFrames</c> timer function (daily at 02:30 UTC, <c>ArchiveFrames/function.json</c>): the Functions host
/// POSTs the timer payload to <c>/ArchiveFrames</c>; the answer is an <see cref="InvocationResponse"/> with one log line
/// per PBX day, or 500 when a day failed (the invocation fails and shows in the function-failure alert; the next run
/// redoes it). Standalone there is no in-process timer: run <c>./ct admin archive run</c> (e.g. from cron).
/// </summary>
public static class ArchiveEndpoints
{
    /// <summary>Registers <see cref="ArchiveOptions"/> (section <c>Archive</c>) and a <see cref="FrameArchiver"/>, which is
    /// created on first use so the app starts without archive storage configured.</summary>
    public static IServiceCollection AddFrameArchive(this IServiceCollection services, IConfiguration config)
        => services
            .AddSingleton(ArchiveOptions.From(config))
            .AddSingleton(sp => new FrameArchiver(
                sp.GetRequiredService<Npgsql.NpgsqlDataSource>(),
                sp.GetRequiredService<ArchiveOptions>().CreateContainerClient(),
                sp.GetRequiredService<Ingest.CorrelateAndStore>(),
                sp.GetRequiredService<ILogger<FrameArchiver>>()));

    /// <summary>Maps <c>POST /ArchiveFrames</c>.</summary>
    public static void MapArchiveEndpoints(this IEndpointRouteBuilder app)
        => app.MapPost("/ArchiveFrames", RunAsync).WithName("ArchiveFrames").ExcludeFromDescription();

    private static async Task<IResult> RunAsync(HttpRequest request, IServiceProvider services, TimeProvider time, CancellationToken ct)
    {
        var pastDue = await TimerInvocation.IsPastDueAsync(request, ct);
        FrameArchiver archiver;
        try
        {
            archiver = services.GetRequiredService<FrameArchiver>();
        }
        catch (ConfigException ex)
        {
            return Results.Problem(ex.Message, statusCode: StatusCodes.Status500InternalServerError, title: "archive not configured");
        }

        var results = await archiver.RunAsync(time.GetUtcNow(), ct);
        var logs = results.Select(r => r.ToString()).Prepend($"archive: {results.Count} PBX days due" + (pastDue ? " (timer past due)" : "")).ToList();
        var failed = results.Where(r => r.Outcome == "failed").ToList();
        return failed.Count == 0
            ? Invocation.Ok(logs)
            : Invocation.Failed(StatusCodes.Status500InternalServerError, [$"archive: {failed.Count} PBX days failed", .. logs]);
    }
}
