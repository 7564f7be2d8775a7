using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Framing;
using CloudTelephony.Relay.Hosting;
using CloudTelephony.Relay.Sink;
using CloudTelephony.Relay.Status;
using Microsoft.Extensions.Logging;

namespace CloudTelephony.Relay.Ctip;

/// <summary>
/// One Slican CTIP connection: connect, <c>aWHO</c>, one <c>aLOGA</c>, then stream every line (minus CR LF, latin-1,
/// <c>a</c> marker kept, <c>t</c> link tests skipped) into the <see cref="IFrameSink"/> as envelopes. Reconnects through
/// <see cref="ReconnectLoop"/>: exponential backoff with jitter for broken connections, a long one for refused logins.
/// </summary>
public sealed class CtipConnector : PbxConnector
{
    private const int MaxLineBytes = 64 * 1024;

    /// <summary>Creates a connector for <paramref name="options"/> (Id, Host, Port, Pin and timings).</summary>
    public CtipConnector(PbxOptions options, IFrameSink sink, RelayStatus status, ILogger<CtipConnector> logger, TimeProvider? time = null)
        : base("CTIP", options, sink, status, logger, time)
    {
    }

    /// <inheritdoc />
    protected override async ValueTask RunSessionAsync(CancellationToken ct)
    {
        Status.SetState(Pbx, PbxConnectionState.Connecting, $"{Options.Host}:{Options.EffectivePort}");
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await PbxSessions.ConnectAsync(socket, Options, (m, e) => new CtipConnectionException(m, e), ct).ConfigureAwait(false);

        var session = PbxSessions.NewSessionId(Time.GetUtcNow());
        Status.Update(Pbx, s => s with { Session = session, Sessions = s.Sessions + 1 });
        Status.SetState(Pbx, PbxConnectionState.LoggingIn);

        await using var stream = new NetworkStream(socket, ownsSocket: false);
        using var sessionCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var lines = Channel.CreateBounded<ReceivedLine>(new BoundedChannelOptions(256) { SingleReader = true, SingleWriter = true });
        var readTask = ReadLinesAsync(stream, lines.Writer, sessionCts.Token);
        try
        {
            await LoginAsync(stream, lines.Reader, ct).ConfigureAwait(false);
            var loggedInAt = Time.GetUtcNow();
            Status.SetState(Pbx, PbxConnectionState.Connected, session);
            Logger.LogInformation("CTIP {Pbx}: logged in, session {Session}, streaming", Pbx, session);
            try
            {
                await StreamAsync(stream, lines.Reader, session, ct).ConfigureAwait(false);
            }
            catch (CtipConnectionException ex) when (Time.GetUtcNow() - loggedInAt >= Seconds(Options.StableSessionSeconds))
            {
                // A long, healthy session ended: reconnect at once with a fresh backoff.
                Status.SetState(Pbx, PbxConnectionState.Connecting, ex.Message);
                Logger.LogWarning("CTIP {Pbx}: session {Session} ended: {Reason}; reconnecting", Pbx, session, ex.Message);
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
        var replyTimeout = Seconds(Options.LoginTimeoutSeconds);
        await SendAsync(stream, CtipReplies.Who, ct).ConfigureAwait(false);
        var who = await ReadReplyAsync(lines, replyTimeout, ct).ConfigureAwait(false);
        if (who is not null && CtipReplies.IsOk(who))
        {
            var identity = who.Length > 4 ? who[4..] : "";
            Status.Update(Pbx, s => s with { PbxIdentity = identity });
            Logger.LogInformation("CTIP {Pbx}: connected to {Host}:{Port}: {Identity}", Pbx, Options.Host, Options.EffectivePort, who);
        }
        else
        {
            Logger.LogWarning(
                "CTIP {Pbx}: connected to {Host}:{Port}; WHO answered {Answer} (protocol older than 14?), logging in anyway",
                Pbx,
                Options.Host,
                Options.EffectivePort,
                who ?? "nothing in time");
        }

        // Exactly one LOGA per connection (MANUAL p.5). The key is a secret: never logged.
        await SendAsync(stream, CtipReplies.LoginPrefix + Options.Pin, ct).ConfigureAwait(false);
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
        var deadline = Time.GetUtcNow() + timeout;
        while (true)
        {
            var left = deadline - Time.GetUtcNow();
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
                Logger.LogDebug("CTIP {Pbx}: ignoring '{Line}' while logging in", Pbx, line.Value.Text);
            }
        }
    }

    private async Task StreamAsync(Stream stream, ChannelReader<ReceivedLine> lines, string session, CancellationToken ct)
    {
        var idle = Seconds(Options.IdleProbeSeconds);
        var probeTimeout = Seconds(Options.ProbeTimeoutSeconds);
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

                Logger.LogDebug("CTIP {Pbx}: no data for {Idle:0.#} s, probing with WHO", Pbx, idle.TotalSeconds);
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
                batch.Add(new Envelope(Pbx, Protocols.Ctip, session, seq, next.ReceivedAt, next.Text));
            }
            while (batch.Count < PbxSessions.MaxFramesPerAppend && lines.TryRead(out next));

            // every line already read shares one outbox commit
            await PbxSessions.AppendReadAsync(Sink, Status, batch, ct).ConfigureAwait(false);
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
                var at = PbxSessions.TruncateToMilliseconds(Time.GetUtcNow());
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
                        Logger.LogWarning("CTIP {Pbx}: connection closed inside a frame; {Bytes} bytes without CR LF not forwarded", Pbx, buffer.Length);
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
