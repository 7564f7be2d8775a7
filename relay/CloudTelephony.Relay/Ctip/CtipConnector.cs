using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Sink;
using CloudTelephony.Relay.Status;
using CloudTelephony.Relay.Telemetry;
using Microsoft.Extensions.Logging;
using CloudTelephony.Relay.Framing;
using CloudTelephony.Relay.Hosting;

namespace CloudTelephony.Relay.Ctip;

/// <summary>
/// One Slican CTIP connection: connect, <c>aWHO</c>, one <c>aLOGA</c>, then stream every line (minus CR LF, latin-1,
/// <c>a</c> marker kept, <c>t</c> link tests skipped) into the <see cref="IFrameSink"/> as envelopes. Reconnects through
/// <see cref="ReconnectLoop"/>: exponential backoff with jitter for broken connections, a long one for refused logins.
/// </summary>
public sealed class CtipConnector
{
    private const int MaxLineBytes = 64 * 1024;
    private readonly PbxOptions _options;
    private readonly string _pbx;
    private readonly IFrameSink _sink;
    private readonly RelayStatus _status;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    /// <summary>Creates a connector for <paramref name="options"/> (Id, Host, Port, Pin and timings).</summary>
    public CtipConnector(PbxOptions options, IFrameSink sink, RelayStatus status, ILogger<CtipConnector> logger, TimeProvider? time = null)
    {
        _options = options;
        _pbx = options.Id ?? throw new ArgumentException("PBX id is required", nameof(options));
        _sink = sink;
        _status = status;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Connects and keeps reconnecting until <paramref name="cancellationToken"/> is cancelled (see <see cref="ReconnectLoop"/>).</summary>
    public Task RunAsync(CancellationToken cancellationToken)
        => ReconnectLoop.RunAsync("CTIP", _options, _status, _logger, _time, RunSessionAsync, cancellationToken);

    private async ValueTask RunSessionAsync(CancellationToken ct)
    {
        _status.SetState(_pbx, PbxConnectionState.Connecting, $"{_options.Host}:{_options.EffectivePort}");
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await PbxSessions.ConnectAsync(socket, _options, (m, e) => new CtipConnectionException(m, e), ct).ConfigureAwait(false);

        var session = PbxSessions.NewSessionId(_time.GetUtcNow());
        _status.Update(_pbx, s => s with { Session = session, Sessions = s.Sessions + 1 });
        _status.SetState(_pbx, PbxConnectionState.LoggingIn);

        await using var stream = new NetworkStream(socket, ownsSocket: false);
        using var sessionCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var lines = Channel.CreateBounded<ReceivedLine>(new BoundedChannelOptions(256) { SingleReader = true, SingleWriter = true });
        var readTask = ReadLinesAsync(stream, lines.Writer, sessionCts.Token);
        try
        {
            await LoginAsync(stream, lines.Reader, ct).ConfigureAwait(false);
            var loggedInAt = _time.GetUtcNow();
            _status.SetState(_pbx, PbxConnectionState.Connected, session);
            _logger.LogInformation("CTIP {Pbx}: logged in, session {Session}, streaming", _pbx, session);
            try
            {
                await StreamAsync(stream, lines.Reader, session, ct).ConfigureAwait(false);
            }
            catch (CtipConnectionException ex) when (_time.GetUtcNow() - loggedInAt >= Seconds(_options.StableSessionSeconds))
            {
                // A long, healthy session ended: reconnect at once with a fresh backoff.
                _status.SetState(_pbx, PbxConnectionState.Connecting, ex.Message);
                _logger.LogWarning("CTIP {Pbx}: session {Session} ended: {Reason}; reconnecting", _pbx, session, ex.Message);
            }
        }
        finally
        {
            await sessionCts.CancelAsync().ConfigureAwait(false);
            try
            {
                socket.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException)
            {
            }
            catch (ObjectDisposedException)
            {
            }

            await readTask.ConfigureAwait(false);
        }
    }


    private async Task LoginAsync(Stream stream, ChannelReader<ReceivedLine> lines, CancellationToken ct)
    {
        var replyTimeout = Seconds(_options.LoginTimeoutSeconds);
        await SendAsync(stream, CtipReplies.Who, ct).ConfigureAwait(false);
        var who = await ReadReplyAsync(lines, replyTimeout, ct).ConfigureAwait(false);
        if (who is not null && CtipReplies.IsOk(who))
        {
            var identity = who.Length > 4 ? who[4..] : "";
            _status.Update(_pbx, s => s with { PbxIdentity = identity });
            _logger.LogInformation("CTIP {Pbx}: connected to {Host}:{Port}: {Identity}", _pbx, _options.Host, _options.EffectivePort, who);
        }
        else
        {
            _logger.LogWarning(
                "CTIP {Pbx}: connected to {Host}:{Port}; WHO answered {Answer} (protocol older than 14?), logging in anyway",
                _pbx,
                _options.Host,
                _options.EffectivePort,
                who ?? "nothing in time");
        }

        // Exactly one LOGA per connection (MANUAL p.5). The key is a secret: never logged.
        await SendAsync(stream, CtipReplies.LoginPrefix + _options.Pin, ct).ConfigureAwait(false);
        var reply = await ReadReplyAsync(lines, replyTimeout, ct).ConfigureAwait(false);
        if (reply is null)
        {
            throw new CtipLoginRefusedException($"no answer to LOGA within {replyTimeout.TotalSeconds:0.#} s");
        }

        if (!CtipReplies.IsOk(reply))
        {
            throw new CtipLoginRefusedException(CtipReplies.DescribeRefusal(reply));
        }
    }

    /// <summary>The next reply line (<c>aOK</c>, <c>aNA</c> ...), skipping link tests and unknown lines; null on timeout.</summary>
    private async Task<string?> ReadReplyAsync(ChannelReader<ReceivedLine> lines, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = _time.GetUtcNow() + timeout;
        while (true)
        {
            var left = deadline - _time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                return null;
            }

            var line = await ReadLineAsync(lines, left, ct).ConfigureAwait(false);
            if (line is null)
            {
                return null;
            }

            if (CtipReplies.IsReply(line.Value.Text))
            {
                return line.Value.Text;
            }

            if (line.Value.Text != CtipReplies.LinkTest)
            {
                _logger.LogDebug("CTIP {Pbx}: ignoring '{Line}' while logging in", _pbx, line.Value.Text);
            }
        }
    }

    private async Task StreamAsync(Stream stream, ChannelReader<ReceivedLine> lines, string session, CancellationToken ct)
    {
        var idle = Seconds(_options.IdleProbeSeconds);
        var probeTimeout = Seconds(_options.ProbeTimeoutSeconds);
        var probing = false; // a WHO probe went out and no data came back yet
        var whoAnswersExpected = 0; // probe answers still to come (not forwarded)
        long seq = 0;
        var batch = new List<Envelope>();
        while (true)
        {
            var line = await ReadLineAsync(lines, probing ? probeTimeout : idle, ct).ConfigureAwait(false);
            if (line is not { } l)
            {
                if (probing)
                {
                    throw new CtipConnectionException(
                        $"dead link: no data for {idle.TotalSeconds:0.#} s and no answer to the WHO probe within {probeTimeout.TotalSeconds:0.#} s");
                }

                _logger.LogDebug("CTIP {Pbx}: no data for {Idle:0.#} s, probing with WHO", _pbx, idle.TotalSeconds);
                await SendAsync(stream, CtipReplies.Who, ct).ConfigureAwait(false);
                probing = true;
                whoAnswersExpected++;
                continue;
            }

            // Any data proves the link alive. After login we send nothing but WHO probes, so an aOK is a probe's answer.
            probing = false;
            batch.Clear();
            var next = l;
            do
            {
                if (whoAnswersExpected > 0 && CtipReplies.IsOk(next.Text))
                {
                    whoAnswersExpected--;
                    continue;
                }

                if (next.Text == CtipReplies.LinkTest)
                {
                    continue;
                }

                seq++;
                batch.Add(new Envelope(_pbx, Protocols.Ctip, session, seq, next.ReceivedAt, next.Text));
            }
            while (batch.Count < PbxSessions.MaxFramesPerAppend && lines.TryRead(out next));

            if (batch.Count > 0)
            {
                // every line already read shares one outbox commit
                await _sink.AppendAsync(batch, ct).ConfigureAwait(false);
                RelayTelemetry.FramesReceived(batch);
                var (last, count) = (batch[^1].ReceivedAt, batch.Count);
                _status.Update(_pbx, s => s with { LastFrameAt = last, FramesReceived = s.FramesReceived + count });
            }
        }
    }

    /// <summary>The next line, or null when none came within <paramref name="timeout"/>; throws when the connection ended.</summary>
    private static async ValueTask<ReceivedLine?> ReadLineAsync(ChannelReader<ReceivedLine> lines, TimeSpan timeout, CancellationToken ct)
    {
        if (lines.TryRead(out var ready))
        {
            return ready;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            return await lines.ReadAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return null;
        }
        catch (ChannelClosedException ex)
        {
            throw ex.InnerException as CtipConnectionException ?? new CtipConnectionException("connection closed by the PBX", ex);
        }
    }

    private static async Task SendAsync(Stream stream, string command, CancellationToken ct)
    {
        try
        {
            await stream.WriteAsync(Encoding.Latin1.GetBytes(command + "\r\n"), ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            // do not echo the command: it may be the LOGA key
            throw new CtipConnectionException($"send failed: {ex.InnerException?.Message ?? ex.Message}", ex);
        }
    }

    /// <summary>Pumps CR LF framed, latin-1 decoded lines from the socket into <paramref name="writer"/>.</summary>
    private async Task ReadLinesAsync(Stream stream, ChannelWriter<ReceivedLine> writer, CancellationToken ct)
    {
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        Exception? end = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(ct).ConfigureAwait(false);
                var buffer = result.Buffer;
                var at = PbxSessions.TruncateToMilliseconds(_time.GetUtcNow());
                while (LineFraming.TryReadLine(ref buffer, out var line))
                {
                    var text = Encoding.Latin1.GetString(line);
                    if (text.Length > 0)
                    {
                        await writer.WriteAsync(new ReceivedLine(text, at), ct).ConfigureAwait(false);
                    }
                }

                if (buffer.Length > MaxLineBytes)
                {
                    end = new CtipConnectionException($"protocol error: more than {MaxLineBytes} bytes without CR LF");
                    break;
                }

                if (result.IsCompleted)
                {
                    if (buffer.Length > 0)
                    {
                        _logger.LogWarning("CTIP {Pbx}: connection closed inside a frame; {Bytes} bytes without CR LF not forwarded", _pbx, buffer.Length);
                    }

                    end = new CtipConnectionException("connection closed by the PBX");
                    break;
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            end = new CtipConnectionException("session closed");
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            end = new CtipConnectionException($"connection lost: {ex.InnerException?.Message ?? ex.Message}", ex);
        }
        finally
        {
            writer.TryComplete(end);
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }


    private static TimeSpan Seconds(double s) => TimeSpan.FromSeconds(s);

    private readonly record struct ReceivedLine(string Text, DateTimeOffset ReceivedAt);
}
