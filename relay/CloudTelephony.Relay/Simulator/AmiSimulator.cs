using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Ami;
using CloudTelephony.Relay.Framing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.Relay.Simulator;

/// <summary>Settings of an <see cref="AmiSimulator"/>.</summary>
public sealed record AmiSimulatorOptions
{
    /// <summary>Message blocks to replay (from <see cref="CaptureFile.Read(string,string,TimeZoneInfo?)"/> with protocol <c>ami</c>); <c>Response:</c> blocks of the capture are skipped.</summary>
    public IReadOnlyList<CapturedFrame> Frames { get; init; } = [];

    /// <summary>Address to listen on (default loopback).</summary>
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>TCP port; 0 picks a free one (see <see cref="AmiSimulator.Port"/>). Default 5038.</summary>
    public int Port { get; init; } = 5038;

    /// <summary>The accepted Login user name.</summary>
    public string Username { get; init; } = "admin";

    /// <summary>The accepted Login secret.</summary>
    public string Secret { get; init; } = "secret";

    /// <summary>The banner line sent on connect.</summary>
    public string Banner { get; init; } = "Asterisk Call Manager/7.0.3";

    /// <summary>Replay speed: gaps between the blocks' <c>Timestamp:</c> headers divided by this; 0 = as fast as possible.</summary>
    public double Speed { get; init; } = 60;

    /// <summary>Longest gap between two blocks after scaling (default 2 s).</summary>
    public TimeSpan MaxGap { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Start the capture again when it ends (on the same connection).</summary>
    public bool Loop { get; init; }

    /// <summary>Line ending on the wire: <c>\r\n</c> (Asterisk) or <c>\n</c> (to test bare-LF tolerance).</summary>
    public string LineEnding { get; init; } = "\r\n";
}

/// <summary>
/// An Asterisk stand-in on a real TCP socket: sends the <c>Asterisk Call Manager/7.0.3</c> banner, answers
/// <c>Action: Login</c> (<c>Response: Success</c> / <c>Message: Authentication accepted</c> for the configured user and
/// secret, <c>Response: Error</c> / <c>Message: Authentication failed</c> otherwise), <c>Action: Ping</c>
/// (<c>Response: Success</c>, <c>Ping: Pong</c>), <c>Action: Events</c>, <c>Action: Logoff</c>; every answer carries
/// the request's ActionID. After the Events action of a logged-in connection it replays the capture's event blocks,
/// spaced by their <c>Timestamp:</c> headers (when present) scaled by <see cref="AmiSimulatorOptions.Speed"/>.
/// </summary>
public sealed class AmiSimulator : IAsyncDisposable
{
    private readonly AmiSimulatorOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<int, Socket> _sockets = new();
    private readonly ConcurrentBag<Task> _runs = [];
    private readonly ConcurrentQueue<string> _actions = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly IReadOnlyList<(DateTimeOffset? At, string Block)> _events;
    private TcpListener? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private int _nextConnection;
    private int _loginAttempts;
    private long _framesSent;
    private int _pingsAnswered;
    private volatile bool _answerPings = true;

    /// <summary>Creates a simulator; nothing listens until <see cref="StartAsync"/>.</summary>
    public AmiSimulator(AmiSimulatorOptions options, ILogger<AmiSimulator>? logger = null)
    {
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _events = options.Frames
            .Where(f => AmiFraming.Header(f.Frame, "Response") is null)
            .Select(f => (f.ReceivedAt ?? EventTime(f.Frame), f.Frame))
            .ToList();
    }

    /// <summary>The port actually listened on (useful with port 0).</summary>
    public int Port { get; private set; }

    /// <summary>Login actions received, all connections together.</summary>
    public int LoginAttempts => Volatile.Read(ref _loginAttempts);

    /// <summary>Event blocks sent, all connections together.</summary>
    public long FramesSent => Interlocked.Read(ref _framesSent);

    /// <summary>Pings answered.</summary>
    public int PingsAnswered => Volatile.Read(ref _pingsAnswered);

    /// <summary>Connections accepted so far.</summary>
    public int ConnectionsAccepted => Volatile.Read(ref _nextConnection);

    /// <summary>Event blocks the capture holds (its <c>Response:</c> blocks excluded).</summary>
    public int EventCount => _events.Count;

    /// <summary>Every action received, as <c>Action</c> names in order of arrival (secrets never kept).</summary>
    public IReadOnlyCollection<string> Actions => _actions.ToArray();

    /// <summary>Test hook: when false, Ping actions get no answer at all (a hung Asterisk); default true.</summary>
    public bool AnswerPings
    {
        get => _answerPings;
        set => _answerPings = value;
    }

    /// <summary>Starts listening; returns once the port is bound.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        _listener = new TcpListener(_options.Address, _options.Port);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _logger.LogInformation(
            "AMI simulator listening on {Address}:{Port} ({Frames} events to replay, speed {Speed})",
            _options.Address,
            Port,
            _events.Count,
            _options.Speed <= 0 ? "max" : _options.Speed);
        _acceptLoop = AcceptLoopAsync(_stop.Token);
        return Task.CompletedTask;
    }

    /// <summary>Test hook: drops every open connection at once (RST).</summary>
    public void DropConnections()
    {
        foreach (var s in _sockets.Values)
        {
            try
            {
                s.LingerState = new LingerOption(true, 0);
                s.Close();
            }
            catch (ObjectDisposedException)
            {
            }
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
        await IgnoreEnd(_acceptLoop).ConfigureAwait(false);
        foreach (var run in _runs)
        {
            await IgnoreEnd(run).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    /// <summary>The <c>Timestamp:</c> header (<c>epoch.usec</c>) of a block as UTC, or null.</summary>
    public static DateTimeOffset? EventTime(string block) =>
        AmiFraming.Header(block, "Timestamp") is { } t && decimal.TryParse(t, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var epoch)
            ? DateTimeOffset.UnixEpoch.AddTicks((long)(epoch * TimeSpan.TicksPerSecond))
            : null;

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
            _sockets[id] = socket;
            _runs.Add(Task.Run(
                async () =>
                {
                    try
                    {
                        await ServeAsync(id, socket, ct).ConfigureAwait(false);
                    }
                    finally
                    {
                        _sockets.TryRemove(id, out _);
                        socket.Dispose();
                    }
                },
                CancellationToken.None));
        }
    }

    private async Task ServeAsync(int id, Socket socket, CancellationToken stop)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var ct = cts.Token;
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        using var writeLock = new SemaphoreSlim(1, 1);
        var nl = _options.LineEnding;
        var loggedIn = false;
        var replay = Task.CompletedTask;

        async Task Send(string message)
        {
            var bytes = Encoding.UTF8.GetBytes(message);
            await writeLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await stream.WriteAsync(bytes, ct).ConfigureAwait(false);
            }
            finally
            {
                writeLock.Release();
            }
        }

        string Block(params string[] lines) => string.Join(nl, lines) + nl + nl;

        _logger.LogInformation("AMI simulator: connection {Id} from {Remote}", id, socket.RemoteEndPoint);
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        try
        {
            await Send(_options.Banner + nl).ConfigureAwait(false);
            var lines = new List<string>();
            while (true)
            {
                var result = await reader.ReadAsync(ct).ConfigureAwait(false);
                var buffer = result.Buffer;
                while (LineFraming.TryReadLine(ref buffer, out var raw))
                {
                    if (raw.Length > 0)
                    {
                        lines.Add(AmiFraming.Decode(raw));
                        continue;
                    }

                    if (lines.Count == 0)
                    {
                        continue;
                    }

                    var action = AmiFraming.Header(lines, "Action") ?? "";
                    var actionId = AmiFraming.Header(lines, "ActionID");
                    var idLine = actionId is null ? [] : new[] { $"ActionID: {actionId}" };
                    _actions.Enqueue(action);
                    switch (action.ToLowerInvariant())
                    {
                        case "login":
                            Interlocked.Increment(ref _loginAttempts);
                            if (AmiFraming.Header(lines, "Username") == _options.Username && AmiFraming.Header(lines, "Secret") == _options.Secret)
                            {
                                loggedIn = true;
                                await Send(Block(["Response: Success", .. idLine, "Message: Authentication accepted"])).ConfigureAwait(false);
                                await Send(Block("Event: FullyBooted", "Privilege: system,all", "Uptime: 1", "LastReload: 1", "Status: Fully Booted")).ConfigureAwait(false);
                                _logger.LogInformation("AMI simulator: connection {Id}: logged in", id);
                            }
                            else
                            {
                                _logger.LogWarning("AMI simulator: connection {Id}: authentication failed", id);
                                await Send(Block(["Response: Error", .. idLine, "Message: Authentication failed"])).ConfigureAwait(false);
                            }

                            break;
                        case "ping":
                            if (_answerPings)
                            {
                                Interlocked.Increment(ref _pingsAnswered);
                                var now = DateTimeOffset.UtcNow;
                                var ts = (now.ToUnixTimeMilliseconds() / 1000m).ToString("0.000000", CultureInfo.InvariantCulture);
                                await Send(Block(["Response: Success", .. idLine, "Ping: Pong", $"Timestamp: {ts}"])).ConfigureAwait(false);
                            }

                            break;
                        case "events" when loggedIn:
                            await Send(Block(["Response: Success", .. idLine, "Events: On"])).ConfigureAwait(false);
                            if (replay.IsCompleted)
                            {
                                replay = Task.Run(() => ReplayAsync(id, Send, nl, ct), CancellationToken.None);
                            }

                            break;
                        case "logoff":
                            await Send(Block(["Response: Goodbye", .. idLine, "Message: Thanks for all the fish."])).ConfigureAwait(false);
                            socket.Shutdown(SocketShutdown.Both);
                            break;
                        default:
                            await Send(Block(["Response: Error", .. idLine, loggedIn ? "Message: Invalid/unknown command" : "Message: Permission denied"])).ConfigureAwait(false);
                            break;
                    }

                    lines.Clear();
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
            await cts.CancelAsync().ConfigureAwait(false);
            await reader.CompleteAsync().ConfigureAwait(false);
            await IgnoreEnd(replay).ConfigureAwait(false);
            _logger.LogInformation("AMI simulator: connection {Id} closed", id);
        }
    }

    private async Task ReplayAsync(int id, Func<string, Task> send, string nl, CancellationToken ct)
    {
        do
        {
            DateTimeOffset? previous = null;
            var sent = 0;
            foreach (var (at, block) in _events)
            {
                var gap = CtipSimulator.Gap(previous, at, _options.Speed, _options.MaxGap);
                if (gap > TimeSpan.Zero)
                {
                    await Task.Delay(gap, ct).ConfigureAwait(false);
                }

                previous = at ?? previous;
                await send(block.Replace("\r\n", nl, StringComparison.Ordinal) + nl + nl).ConfigureAwait(false);
                Interlocked.Increment(ref _framesSent);
                sent++;
            }

            _logger.LogInformation("AMI simulator: connection {Id}: replay finished: {Frames} events{Loop}", id, sent, _options.Loop ? ", looping" : "");
        }
        while (_options.Loop && _events.Count > 0 && !ct.IsCancellationRequested);
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
}
