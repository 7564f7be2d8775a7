using System.Threading.Channels;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Tenancy;
using Cronos;
using Npgsql;

namespace CloudTelephony.Functions.Sms;

/// <summary>
/// In-process hand-off of new SMS ids to <see cref="SmsWorker"/> (after the row is committed). Best effort by design:
/// an id lost here (process stopped, queue full) is sent by the sweep, because the row itself is the outbox.
/// </summary>
public sealed class SmsQueue : Ingest.IOutboxHandOff
{
    private readonly Channel<long> _ids = Channel.CreateBounded<long>(new BoundedChannelOptions(10_000)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = false,
    });

    /// <summary>Whether ids are dispatched in-process (<see cref="SmsOptions.DispatchInProcess"/>).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Queues committed SMS ids for immediate dispatch.</summary>
    public void Enqueue(IEnumerable<long> ids)
    {
        if (!Enabled)
        {
            return;
        }

        foreach (var id in ids)
        {
            _ids.Writer.TryWrite(id);
        }
    }

    /// <inheritdoc/>
    public string Outbox => SmsRules.Outbox;

    /// <inheritdoc/>
    public void Enqueue(IReadOnlyList<long> ids) => Enqueue((IEnumerable<long>)ids);

    /// <summary>The ids, for the worker.</summary>
    public ChannelReader<long> Reader => _ids.Reader;
}

/// <summary>
/// Background worker: dispatches ids from <see cref="SmsQueue"/> as they come (two at a time) and, in standalone mode,
/// runs the sweep on <see cref="SmsOptions.SweepCron"/> (the <c>SmsSweep</c> timer function does that under the Functions host).
/// </summary>
public sealed class SmsWorker(SmsQueue queue, SmsDispatcher dispatcher, SmsOptions options, SmsWorkerMode mode, TimeProvider clock, ILogger<SmsWorker> logger)
    : BackgroundService
{
    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var tasks = new List<Task> { DispatchLoopAsync(stoppingToken), DispatchLoopAsync(stoppingToken) };
        if (mode.SweepInProcess && !string.IsNullOrWhiteSpace(options.SweepCron))
        {
            tasks.Add(SweepLoopAsync(CronExpression.Parse(options.SweepCron, CronFormat.IncludeSeconds), stoppingToken));
        }

        return Task.WhenAll(tasks);
    }

    private async Task DispatchLoopAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var id in queue.Reader.ReadAllAsync(ct))
            {
                try
                {
                    await dispatcher.DispatchAsync(id, ct);
                }
                catch (NpgsqlException ex)
                {
                    logger.LogWarning(LogEvents.SmsDispatchFailed, "sms {Id}: dispatch failed ({Error}); the sweep will send it", id, ex.Message);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task SweepLoopAsync(CronExpression cron, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var now = clock.GetUtcNow();
            var next = cron.GetNextOccurrence(now.UtcDateTime, inclusive: false);
            if (next is null)
            {
                return;
            }

            try
            {
                await Task.Delay(next.Value - now.UtcDateTime, clock, ct);
                var r = await dispatcher.SweepAsync(ct);
                if (r.Due + r.Stuck > 0)
                {
                    logger.LogInformation("sms sweep: {Due} due, {Sent} sent, {Retry} to retry, {Failed} failed, {Stuck} stuck", r.Due, r.Sent, r.Retry, r.Failed, r.Stuck);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
            {
                logger.LogWarning(LogEvents.SmsDispatchFailed, "sms sweep failed: {Error}", ex.Message);
            }
        }
    }
}

/// <summary>Whether the sweep runs in-process (standalone) or as the <c>SmsSweep</c> timer function (Functions host).</summary>
/// <param name="SweepInProcess">True in standalone mode.</param>
public sealed record SmsWorkerMode(bool SweepInProcess);
