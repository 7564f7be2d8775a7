using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Hosting;
using CloudTelephony.Relay.Sink;
using CloudTelephony.Relay.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace CloudTelephony.Relay.Forwarding;

/// <summary>
/// Drains the <see cref="IFrameSource"/> in batches (at most <c>BatchSize</c> envelopes and <c>MaxBatchBytes</c> of
/// JSON, below the receiver's request limit) and POSTs each as a JSON array of <see cref="Envelope"/> to
/// <c>{Relay:Forwarder:Url}/api/frames</c>. A 2xx answer acknowledges the batch. Each POST is retried by the HTTP
/// client's resilience handler (5xx, 408, 429, connection errors); a batch that still fails is sent again later, in
/// order, and never dropped. An answer that says "do not retry" (400, 413, 422) is narrowed down by halving the batch
/// until the envelopes the receiver refuses are alone: those go to the outbox's dead-letter table with the status and
/// the answer, the others are delivered, and delivery goes on behind them. Any other 4xx (401, 403, 404: a key or
/// address problem) is logged loudly with the body and the batch retried slowly.
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

    private const int InitialBodyBytes = 64 * 1024;
    private const int LargeBodyBytes = 1024 * 1024;

    private readonly IFrameSource _source;
    private readonly IHttpClientFactory _clients;
    private readonly ForwarderOptions _options;
    private readonly ILogger _logger;
    private readonly Uri _endpoint;
    // The JSON of the batch being posted, reused from batch to batch (one batch at a time). Serializing each batch into
    // a fresh buffer allocated the doubling chain 256 KiB..8 MiB on the large-object heap for every 4 MiB batch of a
    // flood of long lines, about 16 MiB per batch (the soak test's relay reached 364 MB RSS on a CI machine).
    private ArrayBufferWriter<byte> _body = new(InitialBodyBytes);
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

    /// <summary>
    /// A POST of <paramref name="body"/> (UTF-8 JSON) to <paramref name="url"/> with a Content-Length, never chunked: the
    /// Functions host forwards a request body only when <c>Content-Length &gt; 0</c> (protocols/functions-custom-handler.md
    /// §4.5). Adds <c>x-functions-key</c> from <see cref="ForwarderOptions.ApiKey"/> and <c>Authorization: Bearer</c> from
    /// <see cref="ForwarderOptions.Token"/> when they are set.
    /// </summary>
    public static HttpRequestMessage CreateRequest(Uri url, ReadOnlyMemory<byte> body, ForwarderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var content = new ReadOnlyMemoryContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        content.Headers.ContentLength = body.Length;
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = content };
        if (!string.IsNullOrEmpty(options.ApiKey))
        {
            request.Headers.TryAddWithoutValidation("x-functions-key", options.ApiKey);
        }

        if (!string.IsNullOrEmpty(options.Token))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
        }

        return request;
    }

    /// <summary><c>{baseUrl}/api/frames</c>, keeping any path prefix of <paramref name="baseUrl"/>.</summary>
    public static Uri EndpointFor(string baseUrl) => new(baseUrl.TrimEnd('/') + Routes.IngestPath, UriKind.Absolute);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batchPipeline = BuildBatchPipeline();
        var progress = Stopwatch.StartNew();
        var progressEvery = TimeSpan.FromSeconds(_options.ProgressIntervalSeconds);
        var linger = TimeSpan.FromMilliseconds(_options.LingerMilliseconds);
        _logger.LogInformation("forwarding frames to {Endpoint} (batches of up to {BatchSize} frames, {Bytes} bytes)", _endpoint, _options.BatchSize, _options.MaxBatchBytes);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var readTask = _source.ReadBatchAsync(_options.BatchSize, _options.MaxBatchBytes, linger, stoppingToken).AsTask();
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
                    await DeliverAsync(batchPipeline, batch, stoppingToken).ConfigureAwait(false);
                }

                await _source.AcknowledgeAsync(batch, stoppingToken).ConfigureAwait(false);
                if (_body.Capacity > LargeBodyBytes && _body.WrittenCount < _body.Capacity / 4)
                {
                    _body = new ArrayBufferWriter<byte>(InitialBodyBytes); // the flood of long lines is over: let its buffer go
                }

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
                _logger.LogError(RelayEvents.BatchRejected, "batch rejected again; keeping it and retrying in {Delay:0.#} s (frames are never dropped)", args.RetryDelay.TotalSeconds);
                return ValueTask.CompletedTask;
            },
        };
        var failed = new RetryStrategyOptions
        {
            Name = "forward-failed",
            ShouldHandle = args => ValueTask.FromResult(
                args.Outcome.Exception is not null and not BatchRejectedException and not DoNotRetryException and not OperationCanceledException
                || (args.Outcome.Exception is OperationCanceledException && !args.Context.CancellationToken.IsCancellationRequested)),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromSeconds(_options.RetryDelaySeconds),
            MaxDelay = TimeSpan.FromSeconds(_options.MaxRetryDelaySeconds),
            OnRetry = args =>
            {
                _logger.LogWarning(
                    RelayEvents.BatchFailed,
                    "forwarding to {Endpoint} failed: {Reason}; batch kept, next try in {Delay:0.#} s",
                    _endpoint,
                    args.Outcome.Exception?.Message,
                    args.RetryDelay.TotalSeconds);
                return ValueTask.CompletedTask;
            },
        };
        return new ResiliencePipelineBuilder { Name = "forward-batch" }.AddRetry(rejected).AddRetry(failed).Build();
    }

    /// <summary>
    /// Delivers <paramref name="batch"/> (retried through <paramref name="pipeline"/>); when the receiver answers "do not
    /// retry", delivers each half the same way, down to single envelopes, which are dead-lettered. Returns when every
    /// envelope of the batch was accepted or dead-lettered.
    /// </summary>
    private async Task DeliverAsync(ResiliencePipeline pipeline, IReadOnlyList<Envelope> batch, CancellationToken ct)
    {
        try
        {
            await pipeline.ExecuteAsync(static (state, token) => state.self.PostAsync(state.batch, token), (self: this, batch), ct).ConfigureAwait(false);
        }
        catch (DoNotRetryException refused) when (batch.Count > 1)
        {
            _logger.LogWarning(
                RelayEvents.DeadLettered,
                "ingest refused a batch of {Count} frames with HTTP {Status} (do not retry); sending it in halves to set aside only what it refuses",
                batch.Count,
                refused.Status);
            var half = batch.Count / 2;
            await DeliverAsync(pipeline, batch.Take(half).ToArray(), ct).ConfigureAwait(false);
            await DeliverAsync(pipeline, batch.Skip(half).ToArray(), ct).ConfigureAwait(false);
        }
        catch (DoNotRetryException refused)
        {
            var e = batch[0];
            await _source.DeadLetterAsync(e, refused.Status, refused.Message, ct).ConfigureAwait(false);
            _logger.LogError(
                RelayEvents.DeadLettered,
                "ingest refused frame pbx={Pbx} session={Session} seq={Seq} with {Reason}; set aside in the outbox's dead-letter table, delivery goes on",
                e.Pbx,
                e.Session,
                e.Seq,
                refused.Message);
        }
    }

    private async ValueTask PostAsync(IReadOnlyList<Envelope> batch, CancellationToken ct)
    {
        _body.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(_body))
        {
            JsonSerializer.Serialize(writer, batch as Envelope[] ?? [.. batch], ContractsJson.Default.EnvelopeArray);
        }

        using var request = CreateRequest(_endpoint, _body.WrittenMemory, _options);
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
        if (code is 400 or 413 or 422)
        {
            // the receiver says this content will never be accepted: narrowed down and dead-lettered, never retried
            throw new DoNotRetryException(code, $"HTTP {code} {response.ReasonPhrase}: {text}");
        }

        if (code is >= 400 and < 500 && response.StatusCode is not HttpStatusCode.RequestTimeout and not HttpStatusCode.TooManyRequests)
        {
            var first = batch[0];
            _logger.LogError(
                RelayEvents.BatchRejected,
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

    /// <summary>The ingest endpoint answered 4xx (other than 400/408/413/422/429): a key or address problem, retried slowly, never dropped.</summary>
    private sealed class BatchRejectedException(string message) : Exception(message);

    /// <summary>The ingest endpoint answered 400, 413 or 422: this content will not be accepted however often it is sent.</summary>
    private sealed class DoNotRetryException(int status, string message) : Exception(message)
    {
        public int Status { get; } = status;
    }
}
