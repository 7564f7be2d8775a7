using System.Collections.Concurrent;
using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Forwarding;
using CloudTelephony.Relay.Hosting;
using CloudTelephony.Relay.Status;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CloudTelephony.Relay.Tests;

/// <summary>
/// What the Functions host needs from the relay's HTTP requests (protocols/functions-custom-handler.md §4.5): a body
/// with a Content-Length (a chunked body is forwarded empty), <c>x-functions-key</c> for <c>authLevel: function</c>,
/// and the relay token. Checked on a real Kestrel server that records what arrived.
/// </summary>
public sealed class FunctionsHostRequestTests : IAsyncLifetime
{
    private readonly ConcurrentQueue<(string Path, long? Length, string? Encoding, string? Key, string? Authorization, int BodyBytes)> _requests = new();
    private WebApplication _app = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _app = builder.Build();
        _app.Run(async http =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body);
            _requests.Enqueue((
                http.Request.Path,
                http.Request.ContentLength,
                http.Request.Headers.TransferEncoding.ToString() is { Length: > 0 } te ? te : null,
                http.Request.Headers["x-functions-key"].ToString() is { Length: > 0 } k ? k : null,
                http.Request.Headers.Authorization.ToString() is { Length: > 0 } a ? a : null,
                (int)body.Length));
            http.Response.StatusCode = http.Request.Path == Routes.HeartbeatPath ? 204 : 200;
        });
        await _app.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private RelayOptions Options(string? key, string? token) => new()
    {
        RelayId = "site-9",
        HeartbeatSeconds = 0.2,
        Forwarder = new ForwarderOptions { Url = _app.Urls.First(), BatchSize = 50, ApiKey = key, Token = token, RetryDelaySeconds = 0.01 },
    };

    [Theory]
    [InlineData("fn-key-1", "relay-token-1")]
    [InlineData(null, null)]
    public async Task Frames_and_heartbeats_carry_a_content_length_and_the_configured_key_and_token(string? key, string? token)
    {
        var options = Options(key, token);
        await using var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton(Microsoft.Extensions.Options.Options.Create(options))
            .AddHttpForwarderClient()
            .BuildServiceProvider();
        await using var box = new TempOutbox();
        foreach (var i in Enumerable.Range(1, 120))
        {
            await box.Outbox.AppendAsync(new Envelope("p", Protocols.Ctip, "s", i, DateTimeOffset.UnixEpoch.AddSeconds(i), $"aRING {i}"), CancellationToken.None);
        }

        var forwarder = new HttpForwarder(box.Outbox, services.GetRequiredService<IHttpClientFactory>(), Microsoft.Extensions.Options.Options.Create(options), services.GetRequiredService<ILogger<HttpForwarder>>());
        var heartbeat = new HeartbeatService(Microsoft.Extensions.Options.Options.Create(options), new RelayStatus(), services, new ListLoggerProvider().For<HeartbeatService>());
        await forwarder.StartAsync(CancellationToken.None);
        await heartbeat.StartAsync(CancellationToken.None);
        await Eventually.WaitAsync(() => box.Outbox.Depth == 0 && _requests.Any(r => r.Path == Routes.HeartbeatPath), "frames and a heartbeat posted");
        await heartbeat.StopAsync(CancellationToken.None);
        await forwarder.StopAsync(CancellationToken.None);

        Assert.Contains(_requests, r => r.Path == Routes.IngestPath);
        Assert.All(_requests, r =>
        {
            Assert.Null(r.Encoding); // never chunked
            Assert.True(r.Length > 0, $"{r.Path}: Content-Length {r.Length}");
            Assert.Equal(r.Length, r.BodyBytes);
            Assert.Equal(key, r.Key);
            Assert.Equal(token is null ? null : "Bearer " + token, r.Authorization);
        });
        var beat = _requests.First(r => r.Path == Routes.HeartbeatPath);
        Assert.True(beat.BodyBytes > 50, "the heartbeat body arrived");
    }

    [Fact]
    public void Request_builder_sets_the_length_and_leaves_out_unset_headers()
    {
        using var request = HttpForwarder.CreateRequest(new Uri("http://127.0.0.1:1/api/heartbeat"), JsonSerializer.SerializeToUtf8Bytes(new { a = 1 }), new ForwarderOptions());
        Assert.Equal(7, request.Content!.Headers.ContentLength);
        Assert.False(request.Headers.Contains("x-functions-key"));
        Assert.Null(request.Headers.Authorization);
        Assert.Equal("application/json", request.Content.Headers.ContentType!.MediaType);
    }
}
