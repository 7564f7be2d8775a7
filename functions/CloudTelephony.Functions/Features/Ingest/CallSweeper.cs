using System.ComponentModel.DataAnnotations;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
namespace CloudTelephony.Functions.Ingest;

/// <summary>Settings of the call sweep (section <c>Ingest</c>).</summary>
public sealed class SweepOptions
{
    /// <summary>Standalone mode: seconds between sweeps; 0 turns the in-process timer off (under the Functions host the
    /// <c>SweepCalls</c> timer trigger runs it). Default 5.</summary>
    [Range(0, 3600, ErrorMessage = "must be 0 (off) to 3600 seconds")]
    public double SweepSeconds { get; set; } = 5;

    /// <summary>A stream is swept once it has been idle (no frames) this many seconds. Default 1.</summary>
    [Range(0, 3600, ErrorMessage = "must be 0–3600 seconds")]
    public double IdleSeconds { get; set; } = 1;
}

/// <summary>Runs <see cref="CorrelateAndStore.SweepAsync"/> on a timer in standalone mode (no Functions host).</summary>
public sealed class CallSweeper(CorrelateAndStore pipeline, SweepOptions options, ILogger<CallSweeper> logger) : BackgroundService
{
    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.SweepSeconds <= 0)
        {
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.SweepSeconds));
        while (await timer.TickAsync(stoppingToken))
        {
            try
            {
                await pipeline.SweepAsync(TimeSpan.FromSeconds(options.IdleSeconds), stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogError(LogEvents.SweepFailed, ex, "call sweep failed; retrying in {Seconds} s", options.SweepSeconds);
            }
        }
    }
}
