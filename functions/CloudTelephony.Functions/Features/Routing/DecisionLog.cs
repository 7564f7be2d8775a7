using System.Threading.Channels;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;

namespace CloudTelephony.Functions.Routing;

/// <summary>
/// Writes Smart Redirect answers to <c>routing_decisions</c> off the request path: answers go into a bounded channel
/// (<see cref="RoutingOptions.DecisionQueue"/>) and a background loop inserts them in batches of up to 500. A full
/// channel drops the row (counted in <see cref="Dropped"/>), never the answer; a failed insert is logged and counted, and a
/// batch refused for one row's data is written row by row, so one bad row never loses the others.
/// </summary>
public sealed class DecisionLog(RoutingStore store, RoutingOptions options, ILogger<DecisionLog> logger) : BackgroundService
{
    private const int BatchSize = 500;
    private readonly Channel<RoutingDecision> _queue = Channel.CreateBounded<RoutingDecision>(
        new BoundedChannelOptions(options.DecisionQueue) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private long _dropped;
    private long _written;
    private long _failed;

    /// <summary>Rows dropped because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Rows written.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Rows lost to failed inserts.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Queues a row; never waits. False (and counted) when the queue is full.</summary>
    public bool TryAdd(RoutingDecision row)
    {
        if (_queue.Writer.TryWrite(row))
        {
            return true;
        }

        Interlocked.Increment(ref _dropped);
        return false;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<RoutingDecision>(BatchSize);
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                await DrainAsync(batch, CancellationToken.None);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            await DrainAsync(batch, CancellationToken.None); // what is queued at shutdown is still written
        }
    }

    private async Task WriteOneByOneAsync(List<RoutingDecision> batch, CancellationToken ct)
    {
        foreach (var row in batch)
        {
            try
            {
                await store.InsertDecisionsAsync([row], ct);
                Interlocked.Increment(ref _written);
            }
            catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException)
            {
                Interlocked.Increment(ref _failed);
                logger.LogWarning("routing decision log: the row of enterprise {Enterprise} at {At:O} was not written: {Error}", row.EnterpriseId, row.At, ex.Message);
            }
        }
    }

    private async Task DrainAsync(List<RoutingDecision> batch, CancellationToken ct)
    {
        while (true)
        {
            batch.Clear();
            while (batch.Count < BatchSize && _queue.Reader.TryRead(out var row))
            {
                batch.Add(row);
            }

            if (batch.Count == 0)
            {
                return;
            }

            try
            {
                await store.InsertDecisionsAsync(batch, ct);
                Interlocked.Add(ref _written, batch.Count);
            }
            catch (Npgsql.PostgresException ex) when (ex.SqlState.StartsWith("22", StringComparison.Ordinal) && batch.Count > 1)
            {
                // A data exception (class 22: a value PostgreSQL cannot store) belongs to a row, not to the batch:
                // write the rows one by one so only the bad ones are lost.
                logger.LogWarning("routing decision log: a batch of {Rows} rows was refused ({Error}); writing them one by one", batch.Count, ex.MessageText);
                await WriteOneByOneAsync(batch, ct);
            }
            catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException)
            {
                Interlocked.Add(ref _failed, batch.Count);
                logger.LogWarning("routing decision log: {Rows} rows not written: {Error}", batch.Count, ex.Message);
            }
        }
    }
}
