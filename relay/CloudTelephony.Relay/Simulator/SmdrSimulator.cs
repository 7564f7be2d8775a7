using System.Net;
using System.Net.Sockets;
using System.Text;
using CloudTelephony.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.Relay.Simulator;

/// <summary>Settings of an <see cref="SmdrSimulator"/>.</summary>
public sealed record SmdrSimulatorOptions
{
    /// <summary>SMDR records to push, one per frame (from <see cref="CaptureFile.Read(string,string,TimeZoneInfo?)"/> with protocol <c>smdr</c>).</summary>
    public IReadOnlyList<CapturedFrame> Frames { get; init; } = [];

    /// <summary>The relay's SMDR listener host (default 127.0.0.1).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>The relay's SMDR listener port (default 9000).</summary>
    public int Port { get; init; } = 9000;

    /// <summary>Local address to connect from (null = any); tests bind 127.0.0.2 to be a different source.</summary>
    public IPAddress? LocalAddress { get; init; }

    /// <summary>Pace: a record every <see cref="Gap"/> divided by this; 0 = as fast as possible. Default 1.</summary>
    public double Speed { get; init; } = 1;

    /// <summary>Gap between two records at speed 1 (default 50 ms; SMDR captures carry no receive times).</summary>
    public TimeSpan Gap { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Wait before connecting again after a refused or lost connection (default 1 s).</summary>
    public TimeSpan ReconnectDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Push the capture again when it ends (on the same connection).</summary>
    public bool Loop { get; init; }
}

/// <summary>
/// An Avaya IP Office stand-in for SMDR: the TCP client. Connects to the relay's listener, pushes each record as a
/// UTF-8 line ending in CR LF, keeps the connection open when done (like an idle PBX), and connects again after
/// <see cref="SmdrSimulatorOptions.ReconnectDelay"/> when refused or dropped — resuming with the record that was not
/// written (records already written count as delivered, as on a real PBX).
/// </summary>
public sealed class SmdrSimulator : IAsyncDisposable
{
    private readonly SmdrSimulatorOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private Task _run = Task.CompletedTask;
    private long _framesSent;
    private int _connectAttempts;
    private int _connections;
    private int _lost;
    private volatile bool _finished;

    /// <summary>Creates a simulator; nothing happens until <see cref="StartAsync"/>.</summary>
    public SmdrSimulator(SmdrSimulatorOptions options, ILogger<SmdrSimulator>? logger = null)
    {
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Records written to a socket, all connections together.</summary>
    public long FramesSent => Interlocked.Read(ref _framesSent);

    /// <summary>Connection attempts so far.</summary>
    public int ConnectAttempts => Volatile.Read(ref _connectAttempts);

    /// <summary>Connections established (TCP handshake done) so far.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Connections that failed or were closed by the relay (refused at accept, dropped).</summary>
    public int ConnectionsLost => Volatile.Read(ref _lost);

    /// <summary>True once every record was written (and <see cref="SmdrSimulatorOptions.Loop"/> is off).</summary>
    public bool Finished => _finished;

    /// <summary>Starts pushing in the background.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        _run = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Closes the connection and stops.</summary>
    public async Task StopAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _run.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken ct)
    {
        var next = 0;
        var o = _options;
        var gap = o.Speed <= 0 ? TimeSpan.Zero : o.Gap / o.Speed;
        while (!ct.IsCancellationRequested)
        {
            Interlocked.Increment(ref _connectAttempts);
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                if (o.LocalAddress is { } local)
                {
                    socket.Bind(new IPEndPoint(local, 0));
                }

                await socket.ConnectAsync(o.Host, o.Port, ct).ConfigureAwait(false);
                Interlocked.Increment(ref _connections);
                _logger.LogInformation("SMDR simulator: connected to {Host}:{Port} from {Local}, pushing from record {Next}", o.Host, o.Port, socket.LocalEndPoint, next + 1);
                await using var stream = new NetworkStream(socket, ownsSocket: false);
                var closed = WatchCloseAsync(socket, ct);
                do
                {
                    for (; next < o.Frames.Count; next++)
                    {
                        if (closed.IsCompleted)
                        {
                            throw new IOException("connection closed by the relay");
                        }

                        await stream.WriteAsync(Encoding.UTF8.GetBytes(o.Frames[next].Frame + "\r\n"), ct).ConfigureAwait(false);
                        Interlocked.Increment(ref _framesSent);
                        if (gap > TimeSpan.Zero)
                        {
                            await Task.WhenAny(Task.Delay(gap, ct), closed).ConfigureAwait(false);
                            ct.ThrowIfCancellationRequested();
                        }
                    }

                    if (o.Loop && o.Frames.Count > 0)
                    {
                        next = 0;
                    }
                }
                while (o.Loop && o.Frames.Count > 0 && !ct.IsCancellationRequested);

                _finished = true;
                _logger.LogInformation("SMDR simulator: all {Frames} records pushed; keeping the connection open", o.Frames.Count);
                await closed.ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
                throw new IOException("connection closed by the relay");
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                Interlocked.Increment(ref _lost);
                if (ct.IsCancellationRequested)
                {
                    // stopped while the relay reset the connection (a refused source): the run ends, not the caller
                    _logger.LogDebug("SMDR simulator: stopped; the connection had failed: {Error}", ex.Message);
                    return;
                }

                _logger.LogWarning("SMDR simulator: {Error}; connecting again in {Delay:0.###} s", ex.Message, o.ReconnectDelay.TotalSeconds);
                await Task.Delay(o.ReconnectDelay, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Completes when the relay closes the connection (a read returns 0 or fails); the relay never sends data.</summary>
    private static async Task WatchCloseAsync(Socket socket, CancellationToken ct)
    {
        var buffer = new byte[256];
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, ct).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }
}
