using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
namespace CloudTelephony.Functions.Ingest;

/// <summary>Running totals of ingest since start, logged every few seconds while they change.</summary>
public sealed class IngestProgress(ILogger<IngestProgress> logger) : BackgroundService
{
    private long _frames;
    private long _stored;
    private long _errors;
    private long _calls;

    /// <summary>How often totals are logged, when they changed. Default 5 s.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Adds one batch's counts.</summary>
    public void Add(IngestResult r)
    {
        Interlocked.Add(ref _frames, r.Frames);
        Interlocked.Add(ref _stored, r.Stored);
        Interlocked.Add(ref _errors, r.ParseErrors);
        Interlocked.Add(ref _calls, r.Calls);
    }

    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        long lastFrames = 0;
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var frames = Interlocked.Read(ref _frames);
            if (frames == lastFrames)
            {
                continue;
            }

            logger.LogInformation(
                "ingest: {Frames} frames received, {Stored} stored, {Errors} parse errors, {Calls} calls stored (+{Delta} frames)",
                frames, Interlocked.Read(ref _stored), Interlocked.Read(ref _errors), Interlocked.Read(ref _calls), frames - lastFrames);
            lastFrames = frames;
        }
    }
}
