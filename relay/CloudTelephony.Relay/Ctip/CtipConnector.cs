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
/// <c>a</c> marker kept, <c>t</c> link tests and replies skipped) into the <see cref="IFrameSink"/> as envelopes.
/// Reconnects through <see cref="ReconnectLoop"/>: exponential backoff with jitter for broken connections, a long one
/// for refused logins.
/// </summary>
/// <remarks>
/// The socket's read loop appends the frames of each read to the outbox itself, before it reads on or does anything
/// else with them (kill -9 can lose only what is in the kernel or not yet cut into lines); it hands only replies and
/// link tests to the session (login, idle probe). A line over <see cref="PbxOptions.MaxFrameBytes"/> is forwarded cut
/// and flagged, the rest of it skipped; NUL and other control characters are escaped and flagged
/// (<see cref="FrameText"/>), so no byte a PBX sends breaks the connection or the receiver.
/// </remarks>
public sealed class CtipConnector : PbxConnector
{
    private readonly bool _honourCaptureTimes;
    private bool _warnedCaptureTimes;

    /// <summary>Creates a connector for <paramref name="options"/> (Id, Host, Port, Ctip:Pin and timings).</summary>
    /// <param name="options">The PBX.</param>
    /// <param name="sink">The outbox.</param>
    /// <param name="status">The status board.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="time">The clock.</param>
    /// <param name="honourCaptureTimes">
    /// Demo only (<c>Relay:Demo:HonourCaptureTimes</c>): stamp each frame with the capture time the PBX simulator
    /// announced before it (<see cref="CtipReplies.CaptureTimePrefix"/>) instead of the receive time.
    /// </param>
    public CtipConnector(PbxOptions options, IFrameSink sink, RelayStatus status, ILogger<CtipConnector> logger, TimeProvider? time = null, bool honourCaptureTimes = false)
        : base("CTIP", options, sink, status, logger, time)
    {
        _honourCaptureTimes = honourCaptureTimes;
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
        // replies and link tests for the session; null = "data arrived" (the link is alive)
        var control = Channel.CreateBounded<string?>(new BoundedChannelOptions(64) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.DropOldest });
        var readTask = ReadAsync(stream, control.Writer, session, sessionCts.Token);
        try
        {
            await LoginAsync(stream, control.Reader, ct).ConfigureAwait(false);
            var loggedInAt = Time.GetUtcNow();
            Status.SetState(Pbx, PbxConnectionState.Connected, session);
            Logger.LogInformation(RelayEvents.LinkUp, "CTIP {Pbx}: logged in, session {Session}, streaming", Pbx, session);
            try
            {
                await KeepAliveAsync(stream, control.Reader, ct).ConfigureAwait(false);
            }
            catch (CtipConnectionException ex) when (Time.GetUtcNow() - loggedInAt >= Seconds(Options.StableSessionSeconds))
            {
                // A long, healthy session ended: reconnect at once with a fresh backoff.
                Status.SetState(Pbx, PbxConnectionState.Connecting, ex.Message);
                Logger.LogWarning(RelayEvents.LinkLost, "CTIP {Pbx}: session {Session} ended: {Reason}; reconnecting", Pbx, session, ex.Message);
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

    private async Task LoginAsync(Stream stream, ChannelReader<string?> control, CancellationToken ct)
    {
        var replyTimeout = Seconds(Options.LoginTimeoutSeconds);
        await SendAsync(stream, CtipReplies.Who, ct).ConfigureAwait(false);
        var who = await ReadReplyAsync(control, replyTimeout, ct).ConfigureAwait(false);
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
        await SendAsync(stream, CtipReplies.LoginPrefix + Options.Ctip.Pin, ct).ConfigureAwait(false);
        var reply = await ReadReplyAsync(control, replyTimeout, ct).ConfigureAwait(false);
        if (reply is null)
        {
            throw new CtipLoginRefusedException($"no answer to LOGA within {replyTimeout.TotalSeconds:0.#} s");
        }

        if (!CtipReplies.IsOk(reply))
        {
            throw new CtipLoginRefusedException(CtipReplies.DescribeRefusal(reply));
        }
    }

    /// <summary>The next reply line (<c>aOK</c>, <c>aNA</c> ...), skipping link tests and data pulses; null on timeout.</summary>
    private async Task<string?> ReadReplyAsync(ChannelReader<string?> control, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = Time.GetUtcNow() + timeout;
        while (true)
        {
            var left = deadline - Time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                return null;
            }

            var (got, line) = await ReadControlAsync(control, left, ct).ConfigureAwait(false);
            if (!got)
            {
                return null;
            }

            if (line is not null && CtipReplies.IsReply(line))
            {
                return line;
            }
        }
    }

    /// <summary>After login: anything from the PBX proves the link alive; after <c>IdleProbeSeconds</c> of silence an <c>aWHO</c> probe must be answered within <c>ProbeTimeoutSeconds</c>.</summary>
    private async Task KeepAliveAsync(Stream stream, ChannelReader<string?> control, CancellationToken ct)
    {
        var idle = Seconds(Options.Ctip.IdleProbeSeconds);
        var probeTimeout = Seconds(Options.Ctip.ProbeTimeoutSeconds);
        var probing = false;
        while (true)
        {
            var (got, _) = await ReadControlAsync(control, probing ? probeTimeout : idle, ct).ConfigureAwait(false);
            if (got)
            {
                probing = false;
                continue;
            }

            if (probing)
            {
                throw new CtipConnectionException(
                    $"dead link: no data for {idle.TotalSeconds:0.#} s and no answer to the WHO probe within {probeTimeout.TotalSeconds:0.#} s");
            }

            Logger.LogDebug("CTIP {Pbx}: no data for {Idle:0.#} s, probing with WHO", Pbx, idle.TotalSeconds);
            await SendAsync(stream, CtipReplies.Who, ct).ConfigureAwait(false);
            probing = true;
        }
    }

    /// <summary>The next control item (true, item) or (false, null) when none came within <paramref name="timeout"/>; throws when the connection ended.</summary>
    private static async ValueTask<(bool Got, string? Line)> ReadControlAsync(ChannelReader<string?> control, TimeSpan timeout, CancellationToken ct)
    {
        if (control.TryRead(out var ready))
        {
            return (true, ready);
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            return (true, await control.ReadAsync(cts.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (false, null);
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

    /// <summary>
    /// The socket's read loop: cuts each read into CR LF lines (latin-1), appends the frames to the outbox at once (one
    /// append per read), and hands replies, link tests and a "data arrived" pulse to the session.
    /// </summary>
    private async Task ReadAsync(Stream stream, ChannelWriter<string?> control, string session, CancellationToken ct)
    {
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        var lines = new CappedLines(Options.MaxFrameBytes);
        var batch = new List<Envelope>();
        long seq = 0;
        long batchBytes = 0;
        DateTimeOffset? captured = null;
        Exception? end = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(ct).ConfigureAwait(false);
                var buffer = result.Buffer;
                var at = PbxSessions.TruncateToMilliseconds(Time.GetUtcNow());
                var wasSkipping = lines.Skipping;
                while (lines.TryRead(ref buffer, out var line, out var kind))
                {
                    if (wasSkipping && lines.TakeDropped() is > 0 and var dropped)
                    {
                        Logger.LogWarning(RelayEvents.FrameFlagged, "CTIP {Pbx}: session {Session}: dropped the remaining {Bytes} bytes of the cut line", Pbx, session, dropped);
                    }

                    wasSkipping = kind == LineKind.Cut;
                    var bytes = line.IsSingleSegment ? line.FirstSpan : line.ToArray();
                    var problems = FrameText.Inspect(bytes, latin1: true);
                    if (kind == LineKind.Cut)
                    {
                        problems = FrameText.Join($"line over the {lines.MaxLineBytes}-byte cap without a line end, cut (the rest of the line is dropped)", problems);
                    }

                    string frame;
                    if (problems is null)
                    {
                        var text = frame = FrameText.Clean(bytes, latin1: true);
                        if (text.Length == 0)
                        {
                            continue;
                        }

                        if (text == CtipReplies.LinkTest || CtipReplies.IsReply(text))
                        {
                            // replies (login, probes) and link tests are for the session, never forwarded
                            control.TryWrite(text);
                            continue;
                        }

                        if (text.StartsWith(CtipReplies.CaptureTimePrefix, StringComparison.Ordinal))
                        {
                            if (_honourCaptureTimes && DateTimeOffset.TryParse(text.AsSpan(CtipReplies.CaptureTimePrefix.Length), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var t))
                            {
                                captured = PbxSessions.TruncateToMilliseconds(t);
                                continue;
                            }

                            if (!_warnedCaptureTimes)
                            {
                                _warnedCaptureTimes = true;
                                Logger.LogWarning("CTIP {Pbx}: the PBX announces capture times (a simulator?); forwarded as frames because Relay:Demo:HonourCaptureTimes is off", Pbx);
                            }
                        }
                    }
                    else
                    {
                        frame = FrameText.Flag(problems, bytes, latin1: true);
                        Logger.LogWarning(RelayEvents.FrameFlagged, "CTIP {Pbx}: session {Session} seq {Seq}: {Problems}; forwarded flagged", Pbx, session, seq + 1, problems);
                    }

                    seq++;
                    batch.Add(new Envelope(Pbx, Protocols.Ctip, session, seq, captured ?? at, frame, problems));
                    captured = null;
                    batchBytes += frame.Length;
                    if (batch.Count >= PbxSessions.MaxFramesPerAppend || batchBytes >= PbxSessions.MaxBytesPerAppend)
                    {
                        await PbxSessions.AppendReadAsync(Sink, Status, batch, ct).ConfigureAwait(false);
                        batch.Clear();
                        batchBytes = 0;
                    }
                }

                // every line of this read shares one outbox commit, before anything more is read
                await PbxSessions.AppendReadAsync(Sink, Status, batch, ct).ConfigureAwait(false);
                batch.Clear();
                batchBytes = 0;
                control.TryWrite(null);

                if (result.IsCompleted)
                {
                    if (buffer.Length > 0 && !lines.Skipping)
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
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // the outbox failed: the session ends (and reconnects) rather than read frames it cannot keep
            end = new CtipConnectionException($"frames could not be stored: {ex.Message}", ex);
        }
        finally
        {
            control.TryComplete(end);
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private static TimeSpan Seconds(double s) => TimeSpan.FromSeconds(s);
}
