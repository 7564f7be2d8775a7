using System.Diagnostics;
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
/// Drains the outbox (<see cref="IFrameSource"/>) to a Service Bus queue over AMQP 1.0 (<see cref="QueueSender"/>):
/// each batch goes out as unsettled transfers in flight on one link and is acknowledged (deleted from the outbox) only
/// when the broker accepted every message. Connection or link loss → reconnect with exponential backoff and jitter;
/// a rejection (<c>amqp:unauthorized-access</c>, <c>amqp:not-found</c>, size, ...) → one error line with the condition,
/// the batch stays in the outbox and is tried again at a slow pace. Resends are safe: MessageId = <c>pbx:session:seq</c>.
/// </summary>
public sealed class ServiceBusForwarder : BackgroundService
{
    private static readonly HashSet<string> RejectionConditions = new(StringComparer.Ordinal)
    {
        "amqp:unauthorized-access",
        "amqp:not-found",
        "amqp:not-allowed",
        "amqp:link:message-size-exceeded",
        "amqp:invalid-field",
        "amqp:decode-error",
        "com.microsoft:entity-disabled",
    };

    private readonly IFrameSource _source;
    private readonly QueueSender _sender;
    private readonly ForwarderOptions _options;
    private readonly ServiceBusOptions _bus;
    private readonly ILogger _logger;
    private long _total;
    private long _sinceProgress;

    /// <summary>Creates the forwarder: batching and backoff from <c>Relay:Forwarder</c>; <paramref name="sender"/> holds the namespace connection (shared with the heartbeat).</summary>
    public ServiceBusForwarder(IFrameSource source, QueueSender sender, IOptions<RelayOptions> options, ILogger<ServiceBusForwarder> logger)
    {
        _source = source;
        _sender = sender;
        _options = options.Value.Forwarder;
        _bus = options.Value.ServiceBus;
        _logger = logger;
    }

    /// <summary>Envelopes accepted by the broker since start.</summary>
    public long Delivered => Interlocked.Read(ref _total);

    /// <summary>True when <paramref name="condition"/> is a refusal that retrying soon will not fix (credentials, missing queue, size).</summary>
    public static bool IsRejection(string? condition) => condition is not null && RejectionConditions.Contains(condition);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var sender = _sender;
        var pipeline = BuildPipeline();
        var linger = TimeSpan.FromMilliseconds(_options.LingerMilliseconds);
        var progress = Stopwatch.StartNew();
        var progressEvery = TimeSpan.FromSeconds(_options.ProgressIntervalSeconds);
        _logger.LogInformation("forwarding frames to Service Bus {Endpoint}, queue {Queue} (batches of up to {BatchSize})", _bus.Endpoint, _bus.Queue, _options.BatchSize);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var batch = await _source.ReadBatchAsync(_options.BatchSize, linger, stoppingToken).ConfigureAwait(false);
                if (batch.Count == 0)
                {
                    return;
                }

                await pipeline.ExecuteAsync(static (s, ct) => new ValueTask(s.sender.SendAsync(s.batch, ct)), (sender, batch), stoppingToken).ConfigureAwait(false);
                await _source.AcknowledgeAsync(batch, stoppingToken).ConfigureAwait(false);
                Interlocked.Add(ref _total, batch.Count);
                _sinceProgress += batch.Count;
                if (progress.Elapsed >= progressEvery)
                {
                    var last = batch[^1];
                    _logger.LogInformation("forwarded {Count} frames to Service Bus (pbx={Pbx}, session={Session}, seq={Seq})", _sinceProgress, last.Pbx, last.Session, last.Seq);
                    _sinceProgress = 0;
                    progress.Restart();
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private ResiliencePipeline BuildPipeline()
    {
        var rejected = new RetryStrategyOptions
        {
            Name = "servicebus-rejected",
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is ServiceBusException s && IsRejection(s.Condition)),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Constant,
            Delay = TimeSpan.FromSeconds(_options.RejectedRetryDelaySeconds),
            OnRetry = args =>
            {
                var s = (ServiceBusException)args.Outcome.Exception!;
                _logger.LogError(
                    "Service Bus REJECTED: {Condition}: {Message}; batch kept in the outbox, next try in {Delay:0.#} s",
                    s.Condition,
                    s.Message,
                    args.RetryDelay.TotalSeconds);
                return ValueTask.CompletedTask;
            },
        };
        var failed = new RetryStrategyOptions
        {
            Name = "servicebus-failed",
            ShouldHandle = args => ValueTask.FromResult(
                (args.Outcome.Exception is not null and not OperationCanceledException && !(args.Outcome.Exception is ServiceBusException s && IsRejection(s.Condition)))
                || (args.Outcome.Exception is OperationCanceledException && !args.Context.CancellationToken.IsCancellationRequested)),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromSeconds(_options.RetryDelaySeconds),
            MaxDelay = TimeSpan.FromSeconds(_options.MaxRetryDelaySeconds),
            OnRetry = args =>
            {
                var ex = args.Outcome.Exception;
                _logger.LogWarning(
                    "sending to Service Bus {Endpoint} failed: {Condition} {Reason}; batch kept in the outbox, reconnecting in {Delay:0.#} s",
                    _bus.Endpoint,
                    ex is null ? null : ServiceBusConnection.ConditionOf(ex) ?? ex.GetType().Name,
                    ex?.Message,
                    args.RetryDelay.TotalSeconds);
                return ValueTask.CompletedTask;
            },
        };
        return new ResiliencePipelineBuilder { Name = "servicebus-batch" }.AddRetry(rejected).AddRetry(failed).Build();
    }
}
