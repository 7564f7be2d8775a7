using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Forwarding;
using CloudTelephony.Relay.Hosting;
using CloudTelephony.Relay.Sink;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CloudTelephony.Relay.Tests;

public sealed class HttpForwarderTests
{
    /// <summary>A real Kestrel server on 127.0.0.1:0 playing the ingest endpoint; answers from a script, then 200.</summary>
    private sealed class IngestServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly Queue<int> _script;
        private readonly List<Envelope[]> _stored = [];
        private int _requests;

        public IngestServer(params int[] script)
        {
            _script = new Queue<int>(script);
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            _app = builder.Build();
            _app.MapPost(Routes.IngestPath, async (HttpContext http) =>
            {
                using var body = new MemoryStream();
                await http.Request.Body.CopyToAsync(body);
                RawBodies.Add(System.Text.Encoding.UTF8.GetString(body.ToArray()));
                var batch = JsonSerializer.Deserialize(body.ToArray(), ContractsJson.Default.EnvelopeArray)!;
                int status;
                lock (_stored)
                {
                    _requests++;
                    status = _script.Count > 0 ? _script.Dequeue() : 200;
                    if (status / 100 == 2)
                    {
                        _stored.Add(batch);
                    }
                }

                return Results.Text(status == 200 ? "stored" : "nope: bad batch", statusCode: status);
            });
        }

        public List<string> RawBodies { get; } = [];

        public string BaseUrl => _app.Urls.First();

        public int Requests
        {
            get
            {
                lock (_stored)
                {
                    return _requests;
                }
            }
        }

        public IReadOnlyList<Envelope[]> Stored
        {
            get
            {
                lock (_stored)
                {
                    return [.. _stored];
                }
            }
        }

        public Task StartAsync() => _app.StartAsync();

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private static (HttpForwarder Forwarder, TempOutbox Buffer, ServiceProvider Services, ListLoggerProvider Logs) Create(string url, int batchSize)
    {
        var logs = new ListLoggerProvider();
        var options = new RelayOptions
        {
            Forwarder = new ForwarderOptions
            {
                Url = url,
                BatchSize = batchSize,
                RetryDelaySeconds = 0.01,
                MaxRetryDelaySeconds = 0.05,
                RejectedRetryDelaySeconds = 0.05,
                ProgressIntervalSeconds = 0.1,
            },
        };
        var services = new ServiceCollection()
            .AddLogging(b => b.AddProvider(logs))
            .AddSingleton(Options.Create(options))
            .AddHttpForwarderClient()
            .BuildServiceProvider();
        var buffer = new TempOutbox(10_000);
        var forwarder = new HttpForwarder(
            buffer.Outbox,
            services.GetRequiredService<IHttpClientFactory>(),
            Options.Create(options),
            services.GetRequiredService<ILogger<HttpForwarder>>());
        return (forwarder, buffer, services, logs);
    }

    private static List<Envelope> Envelopes(int count, string session = "20250902T134419Z-abcdef") =>
        Enumerable.Range(1, count)
            .Select(i => new Envelope("test-slican", Protocols.Ctip, session, i, new DateTimeOffset(2025, 9, 2, 13, 44, 19, 33, TimeSpan.Zero).AddMilliseconds(i), $"aREL {100 + (i % 9)}_ 1"))
            .ToList();

    [Fact]
    public async Task Batches_arrive_as_json_arrays_in_order()
    {
        await using var server = new IngestServer();
        await server.StartAsync();
        var (forwarder, buffer, services, logs) = Create(server.BaseUrl, batchSize: 100);
        await using var _ = services;
        await using var ___ = buffer;
        var sent = Envelopes(1234);
        foreach (var e in sent)
        {
            await buffer.Outbox.AppendAsync(e, CancellationToken.None);
        }

        await forwarder.StartAsync(CancellationToken.None);
        await Eventually.WaitAsync(() => server.Stored.Sum(b => b.Length) >= sent.Count, "all frames stored");
        // the outbox acknowledges with a commit: wait for it before stopping (a stop cancels a pending acknowledgement)
        await Eventually.WaitAsync(() => forwarder.Delivered >= sent.Count, "all frames acknowledged");
        await forwarder.StopAsync(CancellationToken.None);

        Assert.All(server.Stored, b => Assert.InRange(b.Length, 1, 100));
        Assert.Equal(sent, server.Stored.SelectMany(b => b));
        Assert.Equal(sent.Count, forwarder.Delivered);
        Assert.All(server.RawBodies, body => Assert.StartsWith("[{\"pbx\":\"test-slican\",\"protocol\":\"ctip\",\"session\":", body, StringComparison.Ordinal));
        Assert.Contains("\"receivedAt\":\"2025-09-02T13:44:19.034+00:00\"", server.RawBodies[0], StringComparison.Ordinal);
        Assert.Contains(logs.Lines, l => l.Contains("forwarded ", StringComparison.Ordinal) && l.Contains("pbx=test-slican", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Server_errors_are_retried_and_every_frame_is_delivered_once_in_order()
    {
        await using var server = new IngestServer(503, 503);
        await server.StartAsync();
        var (forwarder, buffer, services, _) = Create(server.BaseUrl, batchSize: 500);
        await using var __ = services;
        await using var ___ = buffer;
        await forwarder.StartAsync(CancellationToken.None);
        var sent = Envelopes(50);
        foreach (var e in sent)
        {
            await buffer.Outbox.AppendAsync(e, CancellationToken.None);
        }

        await Eventually.WaitAsync(() => server.Stored.Sum(b => b.Length) >= sent.Count, "all frames stored");
        await forwarder.StopAsync(CancellationToken.None);

        Assert.Equal(sent, server.Stored.SelectMany(b => b));
        Assert.Equal(server.Stored.Count + 2, server.Requests);
    }

    [Fact]
    public async Task Rejected_batch_is_logged_kept_and_sent_again()
    {
        await using var server = new IngestServer(403, 503, 503, 503, 503, 503, 503); // a wrong key: kept and retried (400/413/422 are dead-lettered instead)
        await server.StartAsync();
        var (forwarder, buffer, services, logs) = Create(server.BaseUrl, batchSize: 500);
        await using var __ = services;
        await using var ___ = buffer;
        var sent = Envelopes(10);
        foreach (var e in sent)
        {
            await buffer.Outbox.AppendAsync(e, CancellationToken.None);
        }

        await forwarder.StartAsync(CancellationToken.None);
        await Eventually.WaitAsync(() => server.Stored.Sum(b => b.Length) >= sent.Count, "all frames stored");
        await forwarder.StopAsync(CancellationToken.None);

        Assert.Equal(sent, server.Stored.SelectMany(b => b));
        Assert.Contains(logs.Lines, l => l.StartsWith("Error: ingest REJECTED a batch of 10 frames", StringComparison.Ordinal) && l.Contains("nope: bad batch", StringComparison.Ordinal));
        Assert.Contains(logs.Lines, l => l.Contains("batch kept", StringComparison.Ordinal));
        Assert.Equal(8, server.Requests);
    }
}
