using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Framing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.Relay.Simulator;

/// <summary>Settings of a <see cref="CtipSimulator"/>.</summary>
public sealed record CtipSimulatorOptions
{
    /// <summary>Frames to replay after a good login (from <see cref="CaptureFile.Read(string,string,TimeZoneInfo?)"/>).</summary>
    public IReadOnlyList<CapturedFrame> Frames { get; init; } = [];

    /// <summary>Address to listen on (default loopback).</summary>
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>TCP port; 0 picks a free one (see <see cref="CtipSimulator.Port"/>). Default 5524.</summary>
    public int Port { get; init; } = 5524;

    /// <summary>The LOGA key that is accepted.</summary>
    public string Pin { get; init; } = "1234";

    /// <summary>Replay speed: original gaps are divided by this; 0 (or <c>--speed max</c>) sends as fast as possible.</summary>
    public double Speed { get; init; } = 60;

    /// <summary>Longest gap between two frames after scaling, so an overnight pause does not stall a demo (default 2 s).</summary>
    public TimeSpan MaxGap { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Start the capture again when it ends (on the same connection).</summary>
    public bool Loop { get; init; }

    /// <summary>A <c>t</c> link-test frame is sent after this much idle time (default 30 s, like the LAN module).</summary>
    public TimeSpan LinkTestInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>WHO answer (after <c>a</c>): a real NCP-000's identity line.</summary>
    public string Identity { get; init; } = "OK NCP-000 NO03914 v1.23.0140/15 2025.10.10 01:54'59";

    /// <summary>LOGA success answer (after <c>a</c>).</summary>
    public string LoginOk { get; init; } = "OK NCP 1.23 15";
}

/// <summary>
/// A Slican NCP stand-in on a real TCP socket: answers <c>aWHO</c> (before and after login), accepts exactly one
/// <c>aLOGA</c> per connection (<c>aOK NCP 1.23 15</c>, or <c>aNA 11</c> for a wrong key, <c>aNA</c> for a second
/// LOGA), then replays the capture once per connection with its original spacing scaled by
/// <see cref="CtipSimulatorOptions.Speed"/> and capped at <see cref="CtipSimulatorOptions.MaxGap"/>. Sends <c>t</c>
/// link tests when idle. Several connections at once are fine; each gets its own replay.
/// </summary>
public sealed class CtipSimulator : IAsyncDisposable
{
    private readonly CtipSimulatorOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<int, Connection> _connections = new();
    private readonly ConcurrentQueue<string> _commands = new();
    private readonly CancellationTokenSource _stop = new();
    private TcpListener? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private int _nextConnection;
    private int _loginAttempts;
    private long _framesSent;
    private long _linkTestsSent;

    /// <summary>Creates a simulator; nothing listens until <see cref="StartAsync"/>.</summary>
    public CtipSimulator(CtipSimulatorOptions options, ILogger<CtipSimulator>? logger = null)
    {
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>The port actually listened on (useful with port 0).</summary>
    public int Port { get; private set; }

    /// <summary>LOGA commands received, all connections together.</summary>
    public int LoginAttempts => Volatile.Read(ref _loginAttempts);

    /// <summary>Event frames sent, all connections together (link tests and replies not counted).</summary>
    public long FramesSent => Interlocked.Read(ref _framesSent);

    /// <summary><c>t</c> link-test frames sent, all connections together.</summary>
    public long LinkTestsSent => Interlocked.Read(ref _linkTestsSent);

    /// <summary>Connections accepted so far.</summary>
    public int ConnectionsAccepted => Volatile.Read(ref _nextConnection);

    /// <summary>Every command received, in order of arrival; LOGA keys are masked as <c>aLOGA ***</c>.</summary>
    public IReadOnlyCollection<string> Commands => _commands.ToArray();

    /// <summary>Starts listening; returns once the port is bound.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        _listener = new TcpListener(_options.Address, _options.Port);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _logger.LogInformation("CTIP simulator listening on {Address}:{Port} ({Frames} frames to replay, speed {Speed})", _options.Address, Port, _options.Frames.Count, _options.Speed <= 0 ? "max" : _options.Speed);
        _acceptLoop = AcceptLoopAsync(_stop.Token);
        return Task.CompletedTask;
    }

    /// <summary>Test hook: drops every open connection at once (like a PBX reboot or a cut cable).</summary>
    public void DropConnections()
    {
        foreach (var c in _connections.Values)
        {
            c.Abort();
        }
    }

    /// <summary>Stops listening and closes every connection.</summary>
    public async Task StopAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _listener?.Stop();
        DropConnections();
        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        await Task.WhenAll(_connections.Values.Select(c => c.Completion)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener!.AcceptSocketAsync(ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var id = Interlocked.Increment(ref _nextConnection);
            var connection = new Connection(this, id, socket, ct);
            _connections[id] = connection;
            connection.Completion = Task.Run(async () =>
            {
                try
                {
                    await connection.RunAsync().ConfigureAwait(false);
                }
                finally
                {
                    _connections.TryRemove(id, out _);
                    connection.Dispose();
                }
            }, CancellationToken.None);
        }
    }

    private sealed class Connection : IDisposable
    {
        private readonly CtipSimulator _sim;
        private readonly int _id;
        private readonly Socket _socket;
        private readonly NetworkStream _stream;
        private readonly CancellationTokenSource _cts;
        private readonly SemaphoreSlim _writeLock = new(1, 1);
        private long _lastWriteTicks = Environment.TickCount64;
        private bool _loginSeen;
        private Task _replay = Task.CompletedTask;

        public Connection(CtipSimulator sim, int id, Socket socket, CancellationToken stop)
        {
            _sim = sim;
            _id = id;
            _socket = socket;
            _stream = new NetworkStream(socket, ownsSocket: true);
            _cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
        }

        public Task Completion { get; set; } = Task.CompletedTask;

        private ILogger Log => _sim._logger;

        public void Abort()
        {
            try
            {
                _socket.LingerState = new LingerOption(true, 0); // RST, like a cut link
                _socket.Close();
                _cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // already closed
            }
        }

        public async Task RunAsync()
        {
            var remote = _socket.RemoteEndPoint;
            Log.LogInformation("CTIP simulator: connection {Id} from {Remote}", _id, remote);
            var ct = _cts.Token;
            var linkTests = LinkTestLoopAsync(ct);
            var reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
            try
            {
                while (true)
                {
                    var result = await reader.ReadAsync(ct).ConfigureAwait(false);
                    var buffer = result.Buffer;
                    while (LineFraming.TryReadLine(ref buffer, out var line))
                    {
                        await HandleAsync(Encoding.Latin1.GetString(line), ct).ConfigureAwait(false);
                    }

                    reader.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        break;
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
            }
            finally
            {
                await _cts.CancelAsync().ConfigureAwait(false);
                await reader.CompleteAsync().ConfigureAwait(false);
                await IgnoreEnd(linkTests).ConfigureAwait(false);
                await IgnoreEnd(_replay).ConfigureAwait(false);
                Log.LogInformation("CTIP simulator: connection {Id} closed", _id);
            }
        }

        private static async Task IgnoreEnd(Task t)
        {
            try
            {
                await t.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
            }
        }

        private async Task HandleAsync(string command, CancellationToken ct)
        {
            if (command.Length == 0)
            {
                return;
            }

            var isLogin = command.StartsWith("aLOGA ", StringComparison.Ordinal) || command == "aLOGA";
            _sim._commands.Enqueue(isLogin ? "aLOGA ***" : command);
            if (command == "aWHO")
            {
                await SendAsync("a" + _sim._options.Identity, ct).ConfigureAwait(false);
                return;
            }

            if (isLogin)
            {
                Interlocked.Increment(ref _sim._loginAttempts);
                if (_loginSeen)
                {
                    Log.LogWarning("CTIP simulator: connection {Id}: second LOGA refused (one per connection)", _id);
                    await SendAsync("aNA", ct).ConfigureAwait(false);
                    return;
                }

                _loginSeen = true;
                var pin = command.Length > 6 ? command[6..].Trim() : "";
                if (pin != _sim._options.Pin)
                {
                    Log.LogWarning("CTIP simulator: connection {Id}: wrong key, answering aNA 11", _id);
                    await SendAsync("aNA 11", ct).ConfigureAwait(false);
                    return;
                }

                Log.LogInformation("CTIP simulator: connection {Id}: logged in, replaying {Frames} frames", _id, _sim._options.Frames.Count);
                await SendAsync("a" + _sim._options.LoginOk, ct).ConfigureAwait(false);
                _replay = Task.Run(() => ReplayAsync(ct), CancellationToken.None);
                return;
            }

            // unknown or unsupported command
            await SendAsync(_loginSeen ? "aERROR" : "aNA 1", ct).ConfigureAwait(false);
        }

        private async Task ReplayAsync(CancellationToken ct)
        {
            var o = _sim._options;
            do
            {
                DateTimeOffset? previous = null;
                var sent = 0;
                foreach (var f in o.Frames)
                {
                    var gap = Gap(previous, f.ReceivedAt, o.Speed, o.MaxGap);
                    if (gap > TimeSpan.Zero)
                    {
                        await Task.Delay(gap, ct).ConfigureAwait(false);
                    }

                    previous = f.ReceivedAt ?? previous;
                    await SendAsync(f.Frame.StartsWith('a') ? f.Frame : "a" + f.Frame, ct).ConfigureAwait(false);
                    Interlocked.Increment(ref _sim._framesSent);
                    sent++;
                }

                Log.LogInformation("CTIP simulator: connection {Id}: replay finished: {Frames} frames{Loop}", _id, sent, o.Loop ? ", looping" : "");
            }
            while (o.Loop && o.Frames.Count > 0 && !ct.IsCancellationRequested);
        }

        private async Task LinkTestLoopAsync(CancellationToken ct)
        {
            var interval = _sim._options.LinkTestInterval;
            while (!ct.IsCancellationRequested)
            {
                var idleFor = TimeSpan.FromMilliseconds(Environment.TickCount64 - Interlocked.Read(ref _lastWriteTicks));
                if (idleFor >= interval)
                {
                    await SendAsync("t", ct).ConfigureAwait(false);
                    Interlocked.Increment(ref _sim._linkTestsSent);
                    continue;
                }

                await Task.Delay(interval - idleFor, ct).ConfigureAwait(false);
            }
        }

        private async Task SendAsync(string line, CancellationToken ct)
        {
            var bytes = Encoding.Latin1.GetBytes(line + "\r\n");
            await _writeLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await _stream.WriteAsync(bytes, ct).ConfigureAwait(false);
                Interlocked.Exchange(ref _lastWriteTicks, Environment.TickCount64);
            }
            finally
            {
                _writeLock.Release();
            }
        }

        public void Dispose()
        {
            _stream.Dispose();
            _cts.Dispose();
            _writeLock.Dispose();
        }
    }

    /// <summary>
    /// The wait before a frame: the original gap divided by <paramref name="speed"/> (0 = no wait), capped at
    /// <paramref name="maxGap"/>; zero when either time is unknown or time went backwards.
    /// </summary>
    public static TimeSpan Gap(DateTimeOffset? previous, DateTimeOffset? current, double speed, TimeSpan maxGap)
    {
        if (speed <= 0 || previous is null || current is null || current <= previous)
        {
            return TimeSpan.Zero;
        }

        var scaled = (current.Value - previous.Value) / speed;
        return scaled > maxGap ? maxGap : scaled;
    }

}
