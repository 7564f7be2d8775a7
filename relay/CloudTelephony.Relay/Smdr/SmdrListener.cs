using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Ctip;
using CloudTelephony.Relay.Framing;
using CloudTelephony.Relay.Hosting;
using CloudTelephony.Relay.Sink;
using CloudTelephony.Relay.Status;
using Microsoft.Extensions.Logging;

namespace CloudTelephony.Relay.Smdr;

/// <summary>
/// The Avaya IP Office SMDR receiver. IP Office is the TCP client: it connects to this listener and pushes one CSV
/// record per line (CR LF). Every accepted connection is a new session of the PBX its source address belongs to
/// (<see cref="SmdrPbxOptions.AllowedSources"/>); connections from other addresses are refused (closed at once) and
/// logged with the address. Several connections at once are fine.
/// </summary>
/// <remarks>
/// Framing: one frame per line ending in LF (a CR before it is removed, so bare LF works), UTF-8, empty lines skipped.
/// Nothing is dropped silently: a line longer than <see cref="SmdrListenerOptions.MaxLineBytes"/>, with control
/// characters other than TAB, or with bytes that are not UTF-8, is logged and forwarded with the marker
/// <c>[relay: reasons] </c> in front of its text, control characters and invalid bytes written as <c>\xNN</c>
/// (<see cref="MarkerPrefix"/>). The core's SMDR parser rejects such a frame (its Call Start does not parse), so it
/// is stored with a parse error and the raw text. A connection that closes in the middle of a line drops that
/// partial line after logging it (IP Office sends the whole record again on its next connection).
/// </remarks>
public sealed class SmdrListener : IAsyncDisposable
{
    /// <summary>The start of the marker put in front of a bad line (<see cref="FrameText.MarkerPrefix"/>).</summary>
    public const string MarkerPrefix = FrameText.MarkerPrefix;

    private readonly IPAddress _address;
    private readonly int _configuredPort;
    private readonly IReadOnlyDictionary<IPAddress, string> _sources;
    private readonly SmdrListenerOptions _limits;
    private readonly IFrameSink _sink;
    private readonly RelayStatus _status;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<int, (Socket Socket, Task Run)> _connections = new();
    private readonly ConcurrentDictionary<string, int> _open = new(StringComparer.Ordinal);
    private TcpListener? _listener;
    private readonly ConcurrentDictionary<IPAddress, int> _openBySource = new();
    private readonly ConcurrentDictionary<(IPAddress, string), RefusalLog> _refusalLogs = new();
    private int _nextConnection;
    private int _refused;

    /// <summary>Creates a listener on <paramref name="address"/>:<paramref name="port"/> (0 = any free port) for the PBXes in <paramref name="sources"/> (source address → PBX id).</summary>
    public SmdrListener(
        IPAddress address,
        int port,
        IReadOnlyDictionary<IPAddress, string> sources,
        SmdrListenerOptions limits,
        IFrameSink sink,
        RelayStatus status,
        ILogger<SmdrListener> logger,
        TimeProvider? time = null)
    {
        _address = address;
        _configuredPort = port;
        _sources = sources.ToDictionary(kv => Normalize(kv.Key), kv => kv.Value);
        _limits = limits;
        _sink = sink;
        _status = status;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The port actually listened on (useful with port 0); 0 before <see cref="Start"/>.</summary>
    public int Port { get; private set; }

    /// <summary>Connections accepted from allowed sources so far.</summary>
    public int ConnectionsAccepted => Volatile.Read(ref _nextConnection);

    /// <summary>Connections refused because their source address is not allowed.</summary>
    public int ConnectionsRefused => Volatile.Read(ref _refused);

    /// <summary>Binds the port; the PBXes are reported as listening. Called by <see cref="RunAsync"/> when needed.</summary>
    public void Start()
    {
        if (_listener is not null)
        {
            return;
        }

        var listener = new TcpListener(_address, _configuredPort);
        try
        {
            listener.Start();
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        foreach (var (ip, pbx) in _sources)
        {
            _status.SetState(pbx, PbxConnectionState.Listening, $"listening on {_address}:{Port} for {ip}");
        }

        _logger.LogInformation(
            "SMDR: listening on {Address}:{Port} for {Sources}",
            _address,
            Port,
            string.Join(", ", _sources.Select(kv => $"{kv.Value} from {kv.Key}")));
    }

    /// <summary>
    /// Binds (retrying with a doubling delay up to a minute while the port cannot be bound, each failure logged as an
    /// error), then accepts connections until <paramref name="cancellationToken"/> is cancelled, then closes them all.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromSeconds(1);
        while (_listener is null)
        {
            try
            {
                Start();
            }
            catch (SocketException ex)
            {
                _listener = null;
                _logger.LogError("SMDR: cannot listen on {Address}:{Port}: {Error}; trying again in {Delay:0.#} s", _address, _configuredPort, ex.Message, delay.TotalSeconds);
                foreach (var pbx in _sources.Values.Distinct())
                {
                    _status.SetState(pbx, PbxConnectionState.BackingOff, $"cannot listen on {_address}:{_configuredPort}: {ex.Message}", _time.GetUtcNow() + delay);
                }

                try
                {
                    await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    foreach (var pbx in _sources.Values.Distinct())
                    {
                        _status.SetState(pbx, PbxConnectionState.Stopped);
                    }

                    return;
                }

                delay = TimeSpan.FromSeconds(Math.Min(delay.TotalSeconds * 2, 60));
            }
        }

        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await _listener!.AcceptSocketAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    break;
                }
                catch (SocketException ex)
                {
                    _logger.LogWarning("SMDR: accept on port {Port} failed: {Error}", Port, ex.Message);
                    continue;
                }

                Accept(socket, cancellationToken);
            }
        }
        finally
        {
            _listener?.Stop();
            foreach (var (socket, _) in _connections.Values)
            {
                Close(socket);
            }

            await Task.WhenAll(_connections.Values.Select(c => c.Run)).ConfigureAwait(false);
            foreach (var pbx in _sources.Values.Distinct())
            {
                _status.SetState(pbx, PbxConnectionState.Stopped);
            }
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _listener?.Dispose();
        return ValueTask.CompletedTask;
    }

    private void Accept(Socket socket, CancellationToken ct)
    {
        var remote = (IPEndPoint)socket.RemoteEndPoint!;
        var ip = Normalize(remote.Address);
        if (!_sources.TryGetValue(ip, out var pbx))
        {
            Refuse(socket, ip, remote.Port, "not an allowed source of any PBX");
            return;
        }

        if (_openBySource.AddOrUpdate(ip, 1, (_, n) => n + 1) > _limits.MaxConnectionsPerSource)
        {
            _openBySource.AddOrUpdate(ip, 0, (_, n) => n - 1);
            Refuse(socket, ip, remote.Port, $"{_limits.MaxConnectionsPerSource} connections of PBX {pbx} are open already (Relay:Smdr:MaxConnectionsPerSource)");
            return;
        }

        var id = Interlocked.Increment(ref _nextConnection);
        var session = PbxSessions.NewSessionId(_time.GetUtcNow());
        var run = Task.Run(
            async () =>
            {
                try
                {
                    await ReceiveAsync(socket, pbx, session, $"{ip}:{remote.Port}", ct).ConfigureAwait(false);
                }
                finally
                {
                    _connections.TryRemove(id, out _);
                    _openBySource.AddOrUpdate(ip, 0, (_, n) => n - 1);
                    socket.Dispose();
                }
            },
            CancellationToken.None);
        _connections[id] = (socket, run);
    }

    /// <summary>Closes a refused connection with RST; logs at most one line per source and reason per <c>RefusedLogIntervalSeconds</c>, with the count of the refusals in between.</summary>
    private void Refuse(Socket socket, IPAddress ip, int remotePort, string reason)
    {
        Interlocked.Increment(ref _refused);
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
        var now = _time.GetUtcNow();
        var log = _refusalLogs.GetOrAdd((ip, reason), _ => new RefusalLog());
        int suppressed;
        lock (log)
        {
            if (log.LastLogged is { } last && now - last < TimeSpan.FromSeconds(_limits.RefusedLogIntervalSeconds))
            {
                log.Suppressed++;
                return;
            }

            suppressed = log.Suppressed;
            log.Suppressed = 0;
            log.LastLogged = now;
        }

        if (suppressed > 0)
        {
            _logger.LogWarning(RelayEvents.ConnectionRefused, "SMDR: refused connection from {Address}:{RemotePort} on port {Port}: {Reason} ({Suppressed} more refused since the last line)", ip, remotePort, Port, reason, suppressed);
        }
        else
        {
            _logger.LogWarning(RelayEvents.ConnectionRefused, "SMDR: refused connection from {Address}:{RemotePort} on port {Port}: {Reason}", ip, remotePort, Port, reason);
        }
    }

    private sealed class RefusalLog
    {
        public DateTimeOffset? LastLogged { get; set; }

        public int Suppressed { get; set; }
    }

    private async Task ReceiveAsync(Socket socket, string pbx, string session, string remote, CancellationToken ct)
    {
        _open.AddOrUpdate(pbx, 1, (_, n) => n + 1);
        _status.Update(pbx, s => s with { Session = session, Sessions = s.Sessions + 1, PbxIdentity = remote });
        _status.SetState(pbx, PbxConnectionState.Connected, session);
        _logger.LogInformation("SMDR {Pbx}: connection from {Remote}, session {Session}", pbx, remote, session);
        var reason = "connection closed by the PBX";
        long seq = 0;
        var batch = new List<Envelope>();
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        var idle = TimeSpan.FromSeconds(_limits.IdleTimeoutSeconds);
        using var idleCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            while (true)
            {
                idleCts.CancelAfter(idle);
                ReadResult result;
                try
                {
                    result = await reader.ReadAsync(idleCts.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    reason = $"idle for {idle.TotalSeconds:0.#} s (Relay:Smdr:IdleTimeoutSeconds), closed; IP Office connects again with its next record";
                    break;
                }

                var buffer = result.Buffer;
                var at = PbxSessions.TruncateToMilliseconds(_time.GetUtcNow());
                batch.Clear();
                while (TryReadLine(ref buffer, out var line, out var cut))
                {
                    if (line.Length == 0)
                    {
                        continue;
                    }

                    seq++;
                    var frame = ToFrame(line, cut ? $"no line end after {_limits.MaxBufferedBytes} bytes, cut" : null, out var problems);
                    if (problems is not null)
                    {
                        _logger.LogWarning(RelayEvents.FrameFlagged, "SMDR {Pbx}: session {Session} seq {Seq}: {Problems}; forwarded with the marker", pbx, session, seq, problems);
                    }

                    batch.Add(new Envelope(pbx, Protocols.Smdr, session, seq, at, frame, problems));
                }

                // the records of one read share a commit; nothing more is read from the socket before it is done
                await PbxSessions.AppendReadAsync(_sink, _status, batch, ct).ConfigureAwait(false);

                if (result.IsCompleted)
                {
                    if (buffer.Length > 0)
                    {
                        var partial = FrameText.Escape(buffer.ToArray(), latin1: false);
                        _logger.LogWarning(
                            "SMDR {Pbx}: session {Session}: connection closed in the middle of a line; {Bytes} bytes without a line end not forwarded: {Partial}",
                            pbx,
                            session,
                            buffer.Length,
                            partial.Length > 300 ? partial[..300] + "…" : partial);
                    }

                    break;
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            reason = "relay stopping";
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            reason = $"connection lost: {ex.InnerException?.Message ?? ex.Message}";
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            _logger.LogInformation("SMDR {Pbx}: session {Session} ended after {Frames} records: {Reason}", pbx, session, seq, reason);
            if (_open.AddOrUpdate(pbx, 0, (_, n) => n - 1) <= 0 && !ct.IsCancellationRequested)
            {
                _status.SetState(pbx, PbxConnectionState.Listening, $"{reason}; listening on {_address}:{Port}");
            }
        }
    }

    /// <summary>
    /// Cuts one line off <paramref name="buffer"/>: up to LF (a CR before it removed), or the first
    /// <see cref="SmdrListenerOptions.MaxBufferedBytes"/> when that many came without LF (<paramref name="cut"/>).
    /// </summary>
    private bool TryReadLine(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line, out bool cut)
    {
        cut = false;
        var lf = buffer.PositionOf((byte)'\n');
        if (lf is null)
        {
            if (buffer.Length >= _limits.MaxBufferedBytes)
            {
                line = buffer.Slice(0, _limits.MaxBufferedBytes);
                buffer = buffer.Slice(_limits.MaxBufferedBytes);
                cut = true;
                return true;
            }

            line = default;
            return false;
        }

        line = LineFraming.TakeLine(ref buffer, lf.Value);
        return true;
    }

    /// <summary>
    /// The frame for one line: its UTF-8 text when it is clean; otherwise <c>[relay: problems] </c> and the text with
    /// control characters, invalid bytes and backslashes as <c>\xNN</c> (<see cref="FrameText"/>). <paramref name="problems"/>
    /// is null for a clean line.
    /// </summary>
    private string ToFrame(in ReadOnlySequence<byte> line, string? extra, out string? problems)
    {
        var bytes = line.IsSingleSegment ? line.FirstSpan : line.ToArray();
        var bad = FrameText.Inspect(bytes, latin1: false);
        problems = FrameText.Join(bytes.Length > _limits.MaxLineBytes ? $"line of {bytes.Length} bytes over {_limits.MaxLineBytes}" : null, bad, extra);
        return problems is null ? FrameText.Clean(bytes, latin1: false) : FrameText.Flag(problems, bytes, latin1: false);
    }

    private static IPAddress Normalize(IPAddress ip) => ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip;

    private static void Close(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }

        try
        {
            socket.Close();
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
