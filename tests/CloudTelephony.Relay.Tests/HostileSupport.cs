using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CloudTelephony.Relay.Tests;

/// <summary>
/// A real Kestrel server playing the functions app's ingest endpoint: every POST body is kept (size, envelopes);
/// <see cref="Refuse"/> decides per batch which status to answer (default 200), like a receiver that refuses a frame.
/// </summary>
public sealed class TestIngest : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<Envelope> _stored = [];
    private readonly List<long> _bodySizes = [];

    public TestIngest()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 30_000_000);
        _app = builder.Build();
        _app.MapPost(Routes.IngestPath, async (HttpContext http) =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body);
            var batch = JsonSerializer.Deserialize(body.ToArray(), ContractsJson.Default.EnvelopeArray)!;
            var (status, text) = Refuse(batch);
            lock (_stored)
            {
                _bodySizes.Add(body.Length);
                if (status / 100 == 2)
                {
                    _stored.AddRange(batch);
                }
            }

            return Results.Text(text, statusCode: status);
        });
        _app.MapPost(Routes.HeartbeatPath, () => Results.NoContent());
    }

    /// <summary>The answer to a batch: status and body (default 200 "stored").</summary>
    public Func<Envelope[], (int Status, string Body)> Refuse { get; set; } = _ => (200, "stored");

    public string BaseUrl => _app.Urls.First();

    public IReadOnlyList<Envelope> Stored
    {
        get
        {
            lock (_stored)
            {
                return [.. _stored];
            }
        }
    }

    public IReadOnlyList<Envelope> Of(string pbx) => Stored.Where(e => e.Pbx == pbx).ToList();

    public IReadOnlyList<long> BodySizes
    {
        get
        {
            lock (_stored)
            {
                return [.. _bodySizes];
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

/// <summary>The real relay host (<see cref="RelayServices.AddRelay"/>: connectors, SQLite outbox, HTTP forwarder) from in-memory settings, with its own outbox folder.</summary>
public sealed class TestRelay : IAsyncDisposable
{
    private readonly IHost _host;

    private TestRelay(IHost host, string dir, ListLoggerProvider logs)
    {
        _host = host;
        Dir = dir;
        Logs = logs;
    }

    public string Dir { get; }

    public ListLoggerProvider Logs { get; }

    public IServiceProvider Services => _host.Services;

    public static async Task<TestRelay> StartAsync(Dictionary<string, string?> settings)
    {
        var dir = Directory.CreateTempSubdirectory("ct-relay-host-").FullName;
        settings.TryAdd("Relay:Outbox:Path", Path.Combine(dir, "outbox.db"));
        settings.TryAdd("Relay:RelayId", "test-relay");
        settings.TryAdd("Relay:HeartbeatSeconds", "0");
        settings.TryAdd("Relay:Forwarder:LingerMilliseconds", "5");
        settings.TryAdd("Relay:Forwarder:RetryDelaySeconds", "0.05");
        settings.TryAdd("Relay:Forwarder:MaxRetryDelaySeconds", "0.2");
        var logs = new ListLoggerProvider();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddRelay(builder.Configuration);
        var host = builder.Build();
        await host.StartAsync();
        return new TestRelay(host, dir, logs);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// A CTIP PBX that logs the relay in (aWHO → aOK, aLOGA → aOK) and then writes whatever <see cref="Payload"/> writes —
/// garbage, NULs, lines without end — on a real socket. Counts connections, so a broken one shows as a reconnect.
/// </summary>
public sealed class HostileCtipPbx : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private Task _accept = Task.CompletedTask;
    private int _accepted;

    public HostileCtipPbx(Func<Stream, CancellationToken, Task> payload) => Payload = payload;

    public Func<Stream, CancellationToken, Task> Payload { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public int ConnectionsAccepted => Volatile.Read(ref _accepted);

    public bool PayloadDone { get; private set; }

    public void Start()
    {
        _listener.Start();
        _accept = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                Interlocked.Increment(ref _accepted);
                lock (_connections)
                {
                    _connections.Add(ServeAsync(client));
                }
            }
        });
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var owned = client;
        var stream = client.GetStream();
        var reader = new StreamReader(stream, Encoding.Latin1);
        try
        {
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                if (line == "aWHO")
                {
                    await stream.WriteAsync("aOK NCP-000 hostile\r\n"u8.ToArray(), _stop.Token);
                }
                else if (line.StartsWith("aLOGA ", StringComparison.Ordinal))
                {
                    await stream.WriteAsync("aOK NCP 1.23 15\r\n"u8.ToArray(), _stop.Token);
                    _ = Task.Run(async () =>
                    {
                        await Payload(stream, _stop.Token);
                        PayloadDone = true;
                    });
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accept;
        Task[] open;
        lock (_connections)
        {
            open = [.. _connections];
        }

        await Task.WhenAll(open).WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }
}
