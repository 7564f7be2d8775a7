using System.Diagnostics;
using System.Runtime.ExceptionServices;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Sink;
using CloudTelephony.ServiceBus;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace CloudTelephony.Relay.Forwarding;

/// <summary>
/// Drains the outbox (<see cref="IFrameSource"/>) to a Service Bus queue through the official SDK
/// (<see cref="FrameSender"/>: <c>ServiceBusSender</c>, one <c>ServiceBusMessageBatch</c> per PBX and batch, SessionId =
/// PBX id, MessageId = <c>pbx:session:seq</c>): up to <see cref="ForwarderOptions.MaxBatchesInFlight"/> batches in
/// flight at once, acknowledged (deleted from the outbox) in read order, each when the broker accepted every message of
/// it and of the batches before it. A transient failure is retried by the SDK first (<c>Relay:ServiceBus:MaxRetries</c>,
/// its connection and CBS token renewal are the SDK's); what still fails → the batch stays in the outbox and is sent
/// again after an exponential backoff with jitter; a rejection (credentials refused by <c>$cbs</c>, queue missing or
/// disabled, message too large, queue full) → one error line with the reason, retried at a slow pace. Resends are
/// safe: the broker drops duplicate MessageIds.
/// </summary>
/// <remarks>
/// <para>
/// Order: batches are read in append order and sent in read order through one <see cref="SendSequence"/>, which sends
/// each PBX's messages of a batch only after those of the earlier batches were accepted (PBXes in parallel), so each
/// PBX's order is kept on the queue. Once a send fails, the sequence starts nothing more; the forwarder stops reading, waits until every batch in flight settled or failed, acknowledges the accepted
/// ones in front of the first failure, rewinds the outbox to the oldest unacknowledged frame and, after the retry
/// delay, resends from there in a new sequence: old and new sends never interleave. Messages of other PBXes that
/// were accepted while an earlier batch failed are sent again; the broker drops those resends as duplicates.
/// </para>
/// <para>
/// Batching adapts to the load: with nothing in flight the frames waiting are sent at once; while batches are in flight
/// the next one gathers frames for up to <see cref="ForwarderOptions.LingerMilliseconds"/>, and is sent early when it is
/// full or when every batch in flight has settled.
/// </para>
/// </remarks>
public sealed class ServiceBusForwarder : BackgroundService
{
    private readonly IFrameSource _source;
    private readonly FrameSender _sender;
    private readonly ForwarderOptions _options;
    private readonly ServiceBusOptions _bus;
    private readonly ILogger _logger;
    private readonly TimeSpan _linger;
    private readonly Queue<InFlight> _inFlight = new();
    private readonly Queue<Task> _acknowledgements = new();
    private readonly Stopwatch _progress = new();
    private SendSequence _sequence;
    private Task<IReadOnlyList<Envelope>>? _read;
    private CancellationTokenSource? _readCancel;
    private bool _readLingers;
    private bool _sourceComplete;
    private bool _rewind;
    private long _total;
    private long _sinceProgress;

    /// <summary>Creates the forwarder: batching and backoff from <c>Relay:Forwarder</c>; <paramref name="sender"/> holds the SDK's client (shared with the heartbeat).</summary>
    public ServiceBusForwarder(IFrameSource source, FrameSender sender, IOptions<RelayOptions> options, ILogger<ServiceBusForwarder> logger)
    {
        _source = source;
        _sender = sender;
        _options = options.Value.Forwarder;
        _bus = options.Value.ServiceBus;
        _logger = logger;
        _linger = TimeSpan.FromMilliseconds(_options.LingerMilliseconds);
        _sequence = sender.StartSequence();
    }

    /// <summary>Envelopes accepted by the broker since start.</summary>
    public long Delivered => Interlocked.Read(ref _total);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var pipeline = BuildPipeline();
        _progress.Start();
        _logger.LogInformation(
            "forwarding frames to Service Bus {Host}, queue {Queue}, {Auth} (batches of up to {BatchSize}, up to {InFlight} in flight)",
            _sender.Host,
            _sender.Queue,
            _bus.AuthName,
            _options.BatchSize,
            _options.MaxBatchesInFlight);
        try
        {
            // one execution per batch acknowledged, so the retry delays start over after every success
            while (await pipeline.ExecuteAsync(static (self, ct) => self.AdvanceAsync(ct), this, stoppingToken).ConfigureAwait(false))
            {
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (FrameSourceException ex)
        {
            ExceptionDispatchInfo.Throw(ex.InnerException!);
        }
        finally
        {
            await StopReadingAsync().ConfigureAwait(false);

            // on the way out (stop or outbox failure) the outcome of what is in flight no longer matters: whatever was
            // not acknowledged stays in the outbox and is sent again after the restart
            await Task.WhenAll(_inFlight.Select(f => f.Settled).Concat(_acknowledgements)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>
    /// Keeps the pipeline full until the oldest batch in flight settled, then acknowledges it. Returns false when the
    /// source is complete and nothing is in flight. Throws the first failure in send order after everything in flight
    /// finished (the next call rewinds and resends), or <see cref="FrameSourceException"/> when the outbox failed.
    /// </summary>
    private async ValueTask<bool> AdvanceAsync(CancellationToken ct)
    {
        ObserveAcknowledgements();
        if (_rewind)
        {
            await CallSourceAsync(_source.RewindAsync(ct)).ConfigureAwait(false);
            _sequence = _sender.StartSequence();
            _rewind = false;
        }

        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (FirstFailed() is not null)
            {
                await FailAsync(ct).ConfigureAwait(false);
            }

            // a send that failed since the check above is seen by the next round
            if (_inFlight.TryPeek(out var oldest) && oldest.Settled.IsCompletedSuccessfully)
            {
                _inFlight.Dequeue();
                Acknowledge(oldest.Batch, ct);
                return true;
            }

            if (_read is null && !_sourceComplete && _inFlight.Count < _options.MaxBatchesInFlight)
            {
                StartRead(_inFlight.Count == 0 ? TimeSpan.Zero : _linger, ct);
            }

            if (_read is { IsCompleted: true })
            {
                var batch = await TakeReadAsync().ConfigureAwait(false);
                if (batch is null)
                {
                    continue; // cut short, read again
                }

                if (batch.Count == 0)
                {
                    _sourceComplete = true;
                    continue;
                }

                _inFlight.Enqueue(new InFlight(batch, _sequence.SendAsync(batch, ct)));
                continue;
            }

            if (oldest is null)
            {
                if (_read is null)
                {
                    return false; // source complete, everything acknowledged
                }

                if (_readLingers)
                {
                    // nothing in flight any more: the frames gathered so far go now
                    await _readCancel!.CancelAsync().ConfigureAwait(false);
                }

                await ((Task)_read).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing); // its outcome is taken above
                continue;
            }

            if (_read is null)
            {
                await oldest.Settled.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing); // its outcome is looked at above
            }
            else
            {
                await Task.WhenAny(_read, oldest.Settled).ConfigureAwait(false);
            }
        }
    }

    private void StartRead(TimeSpan linger, CancellationToken ct)
    {
        _readCancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _readLingers = linger > TimeSpan.Zero;
        _read = _source.ReadBatchAsync(_options.BatchSize, linger, _readCancel.Token).AsTask();
    }

    /// <summary>The completed read's batch, or null when it was cancelled by us (nothing was handed out).</summary>
    private async Task<IReadOnlyList<Envelope>?> TakeReadAsync()
    {
        var read = _read!;
        var cancel = _readCancel!;
        _read = null;
        _readCancel = null;
        using (cancel)
        {
            try
            {
                return await read.ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                // cancelled by us (cut short, failure) or by the stop; a stop is noticed by the caller
                return null;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new FrameSourceException(ex);
            }
        }
    }

    /// <summary>Cancels and waits for a pending read (nothing it read is kept: the outbox is rewound or the forwarder stops).</summary>
    private async Task StopReadingAsync()
    {
        if (_read is not null)
        {
            await _readCancel!.CancelAsync().ConfigureAwait(false);
            _ = await TakeReadAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The first batch in flight, in send order, whose send failed or was cancelled; null when none.</summary>
    private InFlight? FirstFailed()
    {
        foreach (var f in _inFlight)
        {
            if (f.Settled.IsFaulted || f.Settled.IsCanceled)
            {
                return f;
            }
        }

        return null;
    }

    /// <summary>
    /// A send failed: reads no more, waits until every batch in flight settled or failed (the sequence writes nothing
    /// after a failure), acknowledges the accepted ones in front of the first failure, marks the outbox for a rewind and
    /// throws the first failure in send order.
    /// </summary>
    private async Task FailAsync(CancellationToken ct)
    {
        await StopReadingAsync().ConfigureAwait(false);
        await Task.WhenAll(_inFlight.Select(f => f.Settled)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Exception? failure = null;
        var discarded = 0;
        while (_inFlight.TryDequeue(out var f))
        {
            if (failure is null && f.Settled.IsCompletedSuccessfully)
            {
                Acknowledge(f.Batch, ct);
                continue;
            }

            failure ??= f.Settled.Exception?.InnerException ?? new TaskCanceledException(f.Settled);
            discarded += f.Batch.Count;
        }

        _rewind = true;
        ct.ThrowIfCancellationRequested();
        _logger.LogDebug("{Count} frames in flight not accepted; resending them from the oldest after the retry delay", discarded);
        ExceptionDispatchInfo.Throw(failure!);
    }

    /// <summary>Starts the acknowledgement (the outbox checks the order when it starts; its commit is awaited later).</summary>
    private void Acknowledge(IReadOnlyList<Envelope> batch, CancellationToken ct)
    {
        _acknowledgements.Enqueue(_source.AcknowledgeAsync(batch, ct).AsTask());
        Interlocked.Add(ref _total, batch.Count);
        _sinceProgress += batch.Count;
        if (_progress.Elapsed >= TimeSpan.FromSeconds(_options.ProgressIntervalSeconds))
        {
            var last = batch[^1];
            _logger.LogInformation("forwarded {Count} frames to Service Bus (pbx={Pbx}, session={Session}, seq={Seq})", _sinceProgress, last.Pbx, last.Session, last.Seq);
            _sinceProgress = 0;
            _progress.Restart();
        }
    }

    /// <summary>Throws when an acknowledgement that completed failed (the outbox cannot delete: fatal, as before).</summary>
    private void ObserveAcknowledgements()
    {
        while (_acknowledgements.TryPeek(out var a) && a.IsCompleted)
        {
            _acknowledgements.Dequeue();
            if (a.IsFaulted)
            {
                throw new FrameSourceException(a.Exception!.InnerException!);
            }
        }
    }

    /// <summary>Awaits an outbox call; its failures become <see cref="FrameSourceException"/>.</summary>
    private static async Task CallSourceAsync(ValueTask call)
    {
        try
        {
            await call.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new FrameSourceException(ex);
        }
    }

    private ResiliencePipeline BuildPipeline()
    {
        var rejected = new RetryStrategyOptions
        {
            Name = "servicebus-rejected",
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e and not OperationCanceledException and not FrameSourceException && FrameSender.IsRejection(e)),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Constant,
            Delay = TimeSpan.FromSeconds(_options.RejectedRetryDelaySeconds),
            OnRetry = args =>
            {
                var e = FrameSender.Root(args.Outcome.Exception!);
                _logger.LogError(
                    "Service Bus REJECTED: {Condition}: {Message}; batch kept in the outbox, next try in {Delay:0.#} s",
                    FrameSender.ConditionOf(e),
                    e.Message,
                    args.RetryDelay.TotalSeconds);
                return ValueTask.CompletedTask;
            },
        };
        var failed = new RetryStrategyOptions
        {
            Name = "servicebus-failed",
            ShouldHandle = args => ValueTask.FromResult(
                (args.Outcome.Exception is { } e and not OperationCanceledException and not FrameSourceException && !FrameSender.IsRejection(e))
                || (args.Outcome.Exception is OperationCanceledException && !args.Context.CancellationToken.IsCancellationRequested)),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromSeconds(_options.RetryDelaySeconds),
            MaxDelay = TimeSpan.FromSeconds(_options.MaxRetryDelaySeconds),
            OnRetry = args =>
            {
                var ex = args.Outcome.Exception is { } failure ? FrameSender.Root(failure) : null;
                _logger.LogWarning(
                    "sending to Service Bus {Host} failed: {Condition} {Reason}; batch kept in the outbox, next try in {Delay:0.#} s",
                    _sender.Host,
                    ex is null ? null : FrameSender.ConditionOf(ex),
                    ex?.Message,
                    args.RetryDelay.TotalSeconds);
                return ValueTask.CompletedTask;
            },
        };
        return new ResiliencePipelineBuilder { Name = "servicebus-batch" }.AddRetry(rejected).AddRetry(failed).Build();
    }

    /// <summary>A batch in flight: its envelopes and the send that completes when the broker accepted all of them.</summary>
    private sealed record InFlight(IReadOnlyList<Envelope> Batch, Task Settled);

    /// <summary>The outbox failed (read, acknowledge, rewind): not a delivery problem, so not retried.</summary>
    private sealed class FrameSourceException(Exception inner) : Exception(inner.Message, inner);
}
