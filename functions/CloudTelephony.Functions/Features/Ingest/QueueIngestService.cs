using Azure.Messaging.ServiceBus;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.ServiceBus;
using CloudTelephony.Storage;
using Polly;
using Polly.Retry;

namespace CloudTelephony.Functions.Ingest;

/// <summary>
/// Standalone mode (no Functions host): consumes the frames queue itself with the SDK's
/// <see cref="ServiceBusSessionProcessor"/> (configuration section <c>ServiceBus</c>, see <see cref="ServiceBusOptions"/>):
/// up to <see cref="ServiceBusOptions.MaxConcurrentSessions"/> PBX sessions at once, one message at a time per session
/// (so each PBX's order is kept), the session lock renewed by the SDK while a message is processed. Each message goes
/// straight to the ingest code (<see cref="IngestFramesEndpoint.HandleAsync"/>, the same as the IngestFrames trigger):
/// stored → complete; not an envelope → dead-letter at once with reason <c>NotAnEnvelope</c> and why; storage failed
/// → tried again with backoff while the session stays locked (<see cref="ServiceBusOptions.StorageRetryAttempts"/>),
/// then abandoned (the broker counts the delivery and dead-letters after the queue's <c>maxDeliveryCount</c>,
/// <c>MaxDeliveryCountExceeded</c>). The delivery count is the message's own.
/// </summary>
public sealed class QueueIngestService(
    ServiceBusOptions options,
    CorrelateAndStore pipeline,
    IngestProgress progress,
    HeartbeatStore heartbeats,
    TimeProvider clock,
    ILogger<QueueIngestService> logger) : BackgroundService
{
    /// <summary>The configuration section of the consumer.</summary>
    public const string SectionName = "ServiceBus";

    /// <summary>Dead-letter reason of a message that is not an envelope or heartbeat.</summary>
    public const string PoisonReason = "NotAnEnvelope";

    private readonly ResiliencePipeline<FramesOutcome> _storage = new ResiliencePipelineBuilder<FramesOutcome>()
        .AddRetry(new RetryStrategyOptions<FramesOutcome>
        {
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is { Status: >= 500 }),
            MaxRetryAttempts = Math.Max(1, options.StorageRetryAttempts),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromSeconds(0.5),
            MaxDelay = TimeSpan.FromSeconds(10),
            OnRetry = args =>
            {
                logger.LogWarning(LogEvents.BatchFailed, "standalone: storing failed ({Reason}); trying again in {Delay:0.0} s", string.Join("; ", args.Outcome.Result?.Logs ?? []), args.RetryDelay.TotalSeconds);
                return ValueTask.CompletedTask;
            },
        })
        .Build();

    private long _completed;
    private long _abandoned;
    private long _deadLettered;

    /// <summary>Messages completed since start.</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Messages abandoned (storage failed) since start.</summary>
    public long Abandoned => Interlocked.Read(ref _abandoned);

    /// <summary>Messages dead-lettered (not an envelope) since start.</summary>
    public long DeadLettered => Interlocked.Read(ref _deadLettered);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await using var client = options.CreateClient();
        await using var processor = client.CreateSessionProcessor(options.Queue, new ServiceBusSessionProcessorOptions
        {
            AutoCompleteMessages = false,
            MaxConcurrentSessions = options.MaxConcurrentSessions,
            MaxConcurrentCallsPerSession = 1,
            PrefetchCount = options.PrefetchCount,
            SessionIdleTimeout = TimeSpan.FromSeconds(options.SessionIdleTimeoutSeconds),
            ReceiveMode = ServiceBusReceiveMode.PeekLock,
        });
        processor.ProcessMessageAsync += OnMessageAsync;
        processor.ProcessErrorAsync += OnErrorAsync;
        logger.LogInformation(
            "standalone: consuming {Queue} from {Host} ({Auth}), up to {Sessions} sessions at once",
            options.Queue,
            client.FullyQualifiedNamespace,
            options.AuthName,
            options.MaxConcurrentSessions);
        await processor.StartProcessingAsync(stoppingToken);
        try
        {
            await Task.Delay(Timeout.Infinite, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            await processor.StopProcessingAsync(CancellationToken.None);
        }
    }

    private async Task OnMessageAsync(ProcessSessionMessageEventArgs args)
    {
        var m = args.Message;
        var message = new ServiceBusTriggerMessage(0, m.Body.ToString(), m.MessageId, m.SessionId, m.DeliveryCount, m.EnqueuedTime);
        var outcome = options.StorageRetryAttempts == 0
            ? await IngestFramesEndpoint.HandleAsync([message], pipeline, progress, heartbeats, clock, logger, args.CancellationToken)
            : await _storage.ExecuteAsync(
                async ct => await IngestFramesEndpoint.HandleAsync([message], pipeline, progress, heartbeats, clock, logger, ct),
                args.CancellationToken);
        switch (outcome.Status)
        {
            case 200:
                await args.CompleteMessageAsync(m, args.CancellationToken);
                Interlocked.Increment(ref _completed);
                break;
            case 400:
                var why = string.Join("; ", outcome.Poison);
                await args.DeadLetterMessageAsync(m, PoisonReason, why.Length > 4000 ? why[..4000] : why, args.CancellationToken);
                Interlocked.Increment(ref _deadLettered);
                logger.LogError(LogEvents.DeadLettered, "standalone: message {MessageId} of session {Session} dead-lettered ({Reason}): {Why}", m.MessageId, m.SessionId, PoisonReason, why);
                break;
            default:
                await args.AbandonMessageAsync(m, cancellationToken: args.CancellationToken);
                Interlocked.Increment(ref _abandoned);
                logger.LogWarning(
                    "standalone: message {MessageId} of session {Session} abandoned (delivery {Count}): {Reason}",
                    m.MessageId,
                    m.SessionId,
                    m.DeliveryCount,
                    string.Join("; ", outcome.Logs));
                break;
        }
    }

    private Task OnErrorAsync(ProcessErrorEventArgs args)
    {
        if (args.Exception is ServiceBusException { Reason: ServiceBusFailureReason.ServiceTimeout })
        {
            return Task.CompletedTask; // no session had messages within the try timeout: the processor simply tries again
        }

        logger.LogWarning(
            LogEvents.QueueUnreachable,
            "standalone: Service Bus {Source} on {Queue} failed: {Condition}: {Message}; the SDK retries",
            args.ErrorSource,
            args.EntityPath,
            FrameSender.ConditionOf(args.Exception),
            args.Exception.Message);
        return Task.CompletedTask;
    }
}
