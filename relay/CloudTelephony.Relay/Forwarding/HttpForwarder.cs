using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Sink;
using CloudTelephony.Relay.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace CloudTelephony.Relay.Forwarding;

/// <summary>
/// Drains the <see cref="IFrameSource"/> in batches and POSTs each as a JSON array of <see cref="Envelope"/> to
/// <c>{Relay:Forwarder:Url}/api/frames</c>. A 2xx answer acknowledges the batch. Each POST is retried by the HTTP
/// client's resilience handler (5xx, 408, 429, connection errors); a batch that still fails is sent again later, in
/// order, and never dropped — a 4xx (our bug) is logged loudly with the body and retried slowly.
/// </summary>
/// <remarks>
/// One batch at a time (<see cref="ForwarderOptions.MaxBatchesInFlight"/> does not apply): POSTs in parallel could be
/// stored out of order. The next batch is read only after this one was acknowledged, and a batch is retried until it is
/// delivered, so the outbox never needs to be rewound.
/// </remarks>
public sealed class HttpForwarder : BackgroundService
{
    /// <summary>Name of the <see cref="IHttpClientFactory"/> client (with its resilience handler) the forwarder uses.</summary>
    public const string HttpClientName = "relay-forwarder";

    private readonly IFrameSource _source;
    private readonly IHttpClientFactory _clients;
    private readonly ForwarderOptions _options;
    private readonly ILogger _logger;
    private readonly Uri _endpoint;
    private long _sinceProgress;
    private long _total;
    private Envelope? _last;

    /// <summary>Creates the forwarder; the endpoint is <c>{Url}/api/frames</c>.</summary>
    public HttpForwarder(IFrameSource source, IHttpClientFactory clients, IOptions<RelayOptions> options, ILogger<HttpForwarder> logger)
    {
        _source = source;
        _clients = clients;
        _options = options.Value.Forwarder;
        _logger = logger;
        _endpoint = EndpointFor(_options.Url!);
    }

    /// <summary>Envelopes delivered (2xx) since start.</summary>
    public long Delivered => Interlocked.Read(ref _total);

    /// <summary><c>{baseUrl}/api/frames</c>, keeping any path prefix of <paramref name="baseUrl"/>.</summary>
    public static Uri EndpointFor(string baseUrl) => new(baseUrl.TrimEnd('/') + Routes.IngestPath, UriKind.Absolute);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batchPipeline = BuildBatchPipeline();
        var progress = Stopwatch.StartNew();
        var progressEvery = TimeSpan.FromSeconds(_options.ProgressIntervalSeconds);
        var linger = TimeSpan.FromMilliseconds(_options.LingerMilliseconds);
        _logger.LogInformation("forwarding frames to {Endpoint} (batches of up to {BatchSize})", _endpoint, _options.BatchSize);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var readTask = _source.ReadBatchAsync(_options.BatchSize, linger, stoppingToken).AsTask();
                var wait = progressEvery - progress.Elapsed;
                if (!readTask.IsCompleted && _sinceProgress > 0)
                {
                    // idle: report what was sent before going quiet
                    await Task.WhenAny(readTask, Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, stoppingToken)).ConfigureAwait(false);
                    if (!readTask.IsCompleted)
                    {
                        LogProgress(progress);
                    }
                }

                var batch = await readTask.ConfigureAwait(false);
                if (batch.Count == 0)
                {
                    return; // source completed
                }

                using (RelayTelemetry.StartForward(batch))
                {
                    await batchPipeline.ExecuteAsync(static (state, ct) => state.self.PostAsync(state.batch, ct), (self: this, batch), stoppingToken)
                        .ConfigureAwait(false);
                }

                await _source.AcknowledgeAsync(batch, stoppingToken).ConfigureAwait(false);
                RelayTelemetry.BatchForwarded(batch);
                _sinceProgress += batch.Count;
                Interlocked.Add(ref _total, batch.Count);
                _last = batch[^1];
                if (progress.Elapsed >= progressEvery)
                {
                    LogProgress(progress);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            if (_sinceProgress > 0)
            {
                LogProgress(progress);
            }
        }
    }

    private void LogProgress(Stopwatch progress)
    {
        if (_sinceProgress > 0 && _last is { } last)
        {
            _logger.LogInformation(
                "forwarded {Count} frames (pbx={Pbx}, session={Session}, seq={Seq})",
                _sinceProgress,
                last.Pbx,
                last.Session,
                last.Seq);
        }

        _sinceProgress = 0;
        progress.Restart();
    }

    /// <summary>Retries a whole batch forever (never dropped): backoff for failures, a slow fixed pace for 4xx rejections.</summary>
    private ResiliencePipeline BuildBatchPipeline()
    {
        var rejected = new RetryStrategyOptions
        {
            Name = "forward-rejected",
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is BatchRejectedException),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Constant,
            Delay = TimeSpan.FromSeconds(_options.RejectedRetryDelaySeconds),
            OnRetry = args =>
            {
                _logger.LogError("batch rejected again; keeping it and retrying in {Delay:0.#} s (frames are never dropped)", args.RetryDelay.TotalSeconds);
                return ValueTask.CompletedTask;
            },
        };
        var failed = new RetryStrategyOptions
        {
            Name = "forward-failed",
            ShouldHandle = args => ValueTask.FromResult(
                args.Outcome.Exception is not null and not BatchRejectedException and not OperationCanceledException
                || (args.Outcome.Exception is OperationCanceledException && !args.Context.CancellationToken.IsCancellationRequested)),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromSeconds(_options.RetryDelaySeconds),
            MaxDelay = TimeSpan.FromSeconds(_options.MaxRetryDelaySeconds),
            OnRetry = args =>
            {
                _logger.LogWarning(
                    "forwarding to {Endpoint} failed: {Reason}; batch kept, next try in {Delay:0.#} s",
                    _endpoint,
                    args.Outcome.Exception?.Message,
                    args.RetryDelay.TotalSeconds);
                return ValueTask.CompletedTask;
            },
        };
        return new ResiliencePipelineBuilder { Name = "forward-batch" }.AddRetry(rejected).AddRetry(failed).Build();
    }

    private async ValueTask PostAsync(IReadOnlyList<Envelope> batch, CancellationToken ct)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(batch as Envelope[] ?? [.. batch], ContractsJson.Default.EnvelopeArray);
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint) { Content = content };
        var client = _clients.CreateClient(HttpClientName);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        if (text.Length > 500)
        {
            text = text[..500] + "…";
        }

        var code = (int)response.StatusCode;
        if (code is >= 400 and < 500 && response.StatusCode is not HttpStatusCode.RequestTimeout and not HttpStatusCode.TooManyRequests)
        {
            var first = batch[0];
            _logger.LogError(
                "ingest REJECTED a batch of {Count} frames (pbx={Pbx}, session={Session}, seq={Seq}..): HTTP {Status}: {Body}",
                batch.Count,
                first.Pbx,
                first.Session,
                first.Seq,
                code,
                text);
            throw new BatchRejectedException($"HTTP {code}");
        }

        throw new HttpRequestException($"HTTP {code} {response.ReasonPhrase}: {text}", null, response.StatusCode);
    }

    /// <summary>The ingest endpoint answered 4xx (other than 408/429): our bug, retried slowly, never dropped.</summary>
    private sealed class BatchRejectedException(string message) : Exception(message);
}
