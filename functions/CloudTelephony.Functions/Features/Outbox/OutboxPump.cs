using System.Threading.Channels;
using CloudTelephony.Functions.Ingest;
using Cronos;

namespace CloudTelephony.Functions.Outbox;

/// <summary>
/// The sending side of one transactional outbox (SMS, live call events): the rows are the durable queue, written in the
/// transaction that made them; this dispatcher sends them. Implementations claim what they send themselves, so a row
/// handed off twice, or handed off and swept at once, is sent once.
/// </summary>
public interface IOutboxDispatcher
{
    /// <summary>The outbox's name (<see cref="CallChangeContext.Created"/>).</summary>
    string Outbox { get; }

    /// <summary>Sends rows committed just now (the in-process hand-off; a batch of ids, or one with a concurrency above 1).</summary>
    /// <exception cref="Npgsql.NpgsqlException">The database failed (the sweep sends the rows later).</exception>
    Task DispatchAsync(IReadOnlyList<long> ids, CancellationToken ct);

    /// <summary>Sends what is due and was not sent (a lost hand-off, a retry whose backoff passed, another instance's rows).</summary>
    /// <exception cref="Npgsql.NpgsqlException">The database failed (retried on the next sweep).</exception>
    Task SweepAsync(CancellationToken ct);
}

/// <summary>How an <see cref="OutboxPump"/> runs.</summary>
public sealed class OutboxPumpOptions
{
    /// <summary>Hand committed ids to the dispatcher in-process (else only the sweep or a Functions trigger sends).</summary>
    public bool HandOff { get; init; } = true;

    /// <summary>Dispatch loops reading the hand-off at once.</summary>
    public int Concurrency { get; init; } = 1;

    /// <summary>Ids per <see cref="IOutboxDispatcher.DispatchAsync"/>: 1 (one row per call) or more (what is waiting, up to this).</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>The log event of a failed dispatch or sweep.</summary>
    public EventId FailureEvent { get; init; } = Hosting.LogEvents.EventDispatchFailed;

    /// <summary>When the in-process sweep runs next after a time (null = no in-process sweep: a timer function does it).</summary>
    public Func<DateTimeOffset, DateTimeOffset?>? NextSweep { get; init; }

    /// <summary>A sweep schedule from a 6-field cron (seconds first), or null for an empty one.</summary>
    public static Func<DateTimeOffset, DateTimeOffset?>? Cron(string? cron)
    {
        if (string.IsNullOrWhiteSpace(cron))
        {
            return null;
        }

        var expression = CronExpression.Parse(cron, CronFormat.IncludeSeconds);
        return now => expression.GetNextOccurrence(now.UtcDateTime, inclusive: false) is { } next ? new DateTimeOffset(next, TimeSpan.Zero) : null;
    }

    /// <summary>A sweep every <paramref name="seconds"/>.</summary>
    public static Func<DateTimeOffset, DateTimeOffset?> Every(double seconds) => now => now.AddSeconds(seconds);
}

/// <summary>
/// The one reusable outbox mechanism: the in-process hand-off of committed row ids (a bounded channel; best effort by
/// design — an id lost here, the process stopped or the channel full, is sent by the sweep, because the row is the
/// outbox), the dispatch loops that feed them to the outbox's <see cref="IOutboxDispatcher"/>, and the in-process sweep
/// on its schedule (standalone; under the Functions host a timer function calls the sweep). Used by the SMS outbox and
/// the live call events.
/// </summary>
public class OutboxPump(IOutboxDispatcher dispatcher, OutboxPumpOptions options, TimeProvider clock, ILogger<OutboxPump> logger)
    : BackgroundService, IOutboxHandOff
{
    private readonly Channel<long> _ids = Channel.CreateBounded<long>(new BoundedChannelOptions(10_000)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = false,
    });

    /// <inheritdoc />
    public string Outbox => dispatcher.Outbox;

    /// <summary>Whether ids are handed off in-process.</summary>
    public bool Enabled => options.HandOff;

    /// <summary>Queues committed ids for immediate dispatch.</summary>
    public void Enqueue(IEnumerable<long> ids)
    {
        if (!options.HandOff)
        {
            return;
        }

        foreach (var id in ids)
        {
            _ids.Writer.TryWrite(id);
        }
    }

    /// <inheritdoc />
    public void Enqueue(IReadOnlyList<long> ids) => Enqueue((IEnumerable<long>)ids);

    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var tasks = Enumerable.Range(0, Math.Max(1, options.Concurrency)).Select(_ => DispatchLoopAsync(stoppingToken)).ToList();
        if (options.NextSweep is { } next)
        {
            tasks.Add(SweepLoopAsync(next, stoppingToken));
        }

        return Task.WhenAll(tasks);
    }

    private async Task DispatchLoopAsync(CancellationToken ct)
    {
        var batch = new List<long>();
        try
        {
            while (await _ids.Reader.WaitToReadAsync(ct))
            {
                batch.Clear();
                while (batch.Count < Math.Max(1, options.BatchSize) && _ids.Reader.TryRead(out var id))
                {
                    batch.Add(id);
                }

                if (batch.Count == 0)
                {
                    continue;
                }

                try
                {
                    await dispatcher.DispatchAsync(batch.ToArray(), ct);
                }
                catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or HttpRequestException)
                {
                    logger.LogWarning(options.FailureEvent, "{Outbox} outbox: dispatch of {Count} row(s) failed ({Error}); the sweep will send them",
                        dispatcher.Outbox, batch.Count, ex.Message);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task SweepLoopAsync(Func<DateTimeOffset, DateTimeOffset?> schedule, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var now = clock.GetUtcNow();
            if (schedule(now) is not { } next)
            {
                return;
            }

            try
            {
                await Task.Delay(next - now, clock, ct);
                await dispatcher.SweepAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or HttpRequestException)
            {
                logger.LogWarning(options.FailureEvent, "{Outbox} outbox: sweep failed: {Error}", dispatcher.Outbox, ex.Message);
            }
        }
    }
}
