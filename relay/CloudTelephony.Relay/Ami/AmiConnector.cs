using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Channels;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Ctip;
using CloudTelephony.Relay.Framing;
using CloudTelephony.Relay.Hosting;
using CloudTelephony.Relay.Sink;
using CloudTelephony.Relay.Status;
using Microsoft.Extensions.Logging;

namespace CloudTelephony.Relay.Ami;

/// <summary>
/// One Asterisk Manager Interface connection: connect, read the <c>Asterisk Call Manager/x.y</c> banner,
/// <c>Action: Login</c>, <c>Action: Events</c> with the configured mask, <c>Action: CoreShowChannels</c> (the calls in
/// progress, so the correlator can reconcile calls whose events fell into a reconnect gap), then forward every message
/// that is not a response to one of our own actions (matched by ActionID) into the <see cref="IFrameSink"/>, exactly as
/// received (inner lines joined with CR LF, no trailing empty line) except for masked credentials
/// (<see cref="AmiRedaction"/>). <c>Action: Ping</c> keeps the link checked. Reconnects through
/// <see cref="ReconnectLoop"/>, like <see cref="CtipConnector"/>.
/// </summary>
/// <remarks>
/// The socket's read loop appends the messages of each read to the outbox itself before it reads on, and hands only the
/// banner and the responses to our actions to the session. A message over <see cref="PbxOptions.MaxFrameBytes"/> is
/// forwarded cut and flagged and the rest of it, up to its empty line, skipped; NUL, control characters and bytes that
/// are not UTF-8 are escaped and flagged (<see cref="FrameText"/>): the connection is never broken by what a PBX sends.
/// </remarks>
public sealed class AmiConnector : PbxConnector
{
    /// <summary>Creates a connector for <paramref name="options"/> (Id, Host, Port, the <c>Ami</c> section and timings).</summary>
    public AmiConnector(PbxOptions options, IFrameSink sink, RelayStatus status, ILogger<AmiConnector> logger, TimeProvider? time = null)
        : base("AMI", options, sink, status, logger, time)
    {
    }

    /// <inheritdoc />
    protected override async ValueTask RunSessionAsync(CancellationToken ct)
    {
        var host = Options.Host!;
        var port = Options.EffectivePort;
        Status.SetState(Pbx, PbxConnectionState.Connecting, $"{host}:{port}");
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await PbxSessions.ConnectAsync(socket, Options, (m, e) => new AmiConnectionException(m, e), ct).ConfigureAwait(false);

        var session = PbxSessions.NewSessionId(Time.GetUtcNow());
        Status.Update(Pbx, s => s with { Session = session, Sessions = s.Sessions + 1 });
        Status.SetState(Pbx, PbxConnectionState.LoggingIn);

        await using var stream = new NetworkStream(socket, ownsSocket: false);
        using var sessionCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var control = Channel.CreateBounded<AmiItem>(new BoundedChannelOptions(64) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.DropOldest });
        var actions = new ActionIds(session);
        var readTask = ReadAsync(stream, control.Writer, session, sessionCts.Token);
        try
        {
            await LoginAsync(stream, control.Reader, actions, host, port, ct).ConfigureAwait(false);
            var loggedInAt = Time.GetUtcNow();
            Status.SetState(Pbx, PbxConnectionState.Connected, session);
            Logger.LogInformation(RelayEvents.LinkUp, "AMI {Pbx}: logged in as {User}, session {Session}, event mask {Mask}, streaming", Pbx, Options.Ami.Username, session, Options.Ami.EventMask);
            try
            {
                await KeepAliveAsync(stream, control.Reader, actions, ct).ConfigureAwait(false);
            }
            catch (AmiConnectionException ex) when (Time.GetUtcNow() - loggedInAt >= Seconds(Options.StableSessionSeconds))
            {
                Status.SetState(Pbx, PbxConnectionState.Connecting, ex.Message);
                Logger.LogWarning(RelayEvents.LinkLost, "AMI {Pbx}: session {Session} ended: {Reason}; reconnecting", Pbx, session, ex.Message);
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

    private async Task LoginAsync(Stream stream, ChannelReader<AmiItem> control, ActionIds actions, string host, int port, CancellationToken ct)
    {
        var timeout = Seconds(Options.LoginTimeoutSeconds);
        var banner = await ReadAsync(control, timeout, ct).ConfigureAwait(false);
        if (banner is { IsBanner: true })
        {
            Status.Update(Pbx, s => s with { PbxIdentity = banner.Value.Text });
            Logger.LogInformation("AMI {Pbx}: connected to {Host}:{Port}: {Banner}", Pbx, host, port, banner.Value.Text);
        }
        else
        {
            // No banner in time (messages that came instead were forwarded): not an Asterisk we know; log in anyway, the answer decides.
            Logger.LogWarning("AMI {Pbx}: connected to {Host}:{Port}; no 'Asterisk Call Manager/' banner in time, logging in anyway", Pbx, host, port);
        }

        // The secret is never logged: the action is built here and written straight to the socket.
        var loginId = actions.Next();
        await SendAsync(stream, AmiFraming.Action(("Action", "Login"), ("ActionID", loginId), ("Username", Options.Ami.Username ?? ""), ("Secret", Options.Ami.Secret ?? "")), ct).ConfigureAwait(false);
        var reply = await WaitResponseAsync(control, loginId, timeout, ct).ConfigureAwait(false)
            ?? throw new AmiLoginRefusedException($"no answer to Login within {timeout.TotalSeconds:0.#} s");
        var response = AmiFraming.Header(reply.Lines, "Response");
        if (!string.Equals(response, "Success", StringComparison.OrdinalIgnoreCase))
        {
            var message = AmiFraming.Header(reply.Lines, "Message");
            throw new AmiLoginRefusedException($"{(string.IsNullOrEmpty(message) ? "login failed" : message)} (Response: {response}, user {Options.Ami.Username})");
        }

        var eventsId = actions.Next();
        await SendAsync(stream, AmiFraming.Action(("Action", "Events"), ("ActionID", eventsId), ("EventMask", Options.Ami.EventMask)), ct).ConfigureAwait(false);
        var events = await WaitResponseAsync(control, eventsId, timeout, ct).ConfigureAwait(false);
        var eventsResponse = events is null ? null : AmiFraming.Header(events.Value.Lines, "Response");
        if (!string.Equals(eventsResponse, "Success", StringComparison.OrdinalIgnoreCase))
        {
            Logger.LogWarning(
                "AMI {Pbx}: Events (EventMask {Mask}) answered {Answer}; streaming whatever the manager.conf read permissions send",
                Pbx,
                Options.Ami.EventMask,
                events is null ? "nothing in time" : $"{eventsResponse}: {AmiFraming.Header(events.Value.Lines, "Message")}");
        }

        await ResyncAsync(stream, control, actions, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>Action: CoreShowChannels</c> after login (<see cref="AmiOptions.ResyncChannels"/>): the read loop forwards its
    /// <c>CoreShowChannel</c> events and the closing <c>CoreShowChannelsComplete</c> like any other event (they carry our
    /// ActionID but are events, not responses); here only the acknowledgement is awaited, and a refusal is logged.
    /// </summary>
    private async Task ResyncAsync(Stream stream, ChannelReader<AmiItem> control, ActionIds actions, CancellationToken ct)
    {
        if (!Options.Ami.ResyncChannels)
        {
            return;
        }

        var id = actions.Next();
        await SendAsync(stream, AmiFraming.Action(("Action", "CoreShowChannels"), ("ActionID", id)), ct).ConfigureAwait(false);
        var answer = await WaitResponseAsync(control, id, Seconds(Options.LoginTimeoutSeconds), ct).ConfigureAwait(false);
        var response = answer is null ? null : AmiFraming.Header(answer.Value.Lines, "Response");
        if (string.Equals(response, "Success", StringComparison.OrdinalIgnoreCase))
        {
            Logger.LogInformation("AMI {Pbx}: CoreShowChannels sent; the channels in progress follow as frames", Pbx);
            return;
        }

        Logger.LogWarning(
            "AMI {Pbx}: CoreShowChannels answered {Answer}; calls in progress are not resynced after a reconnect (give the manager.conf user write = reporting)",
            Pbx,
            answer is null ? "nothing in time" : $"{response}: {AmiFraming.Header(answer.Value.Lines, "Message")}");
    }

    /// <summary>Reads until the response carrying <paramref name="actionId"/>; null on timeout.</summary>
    private async Task<AmiItem?> WaitResponseAsync(ChannelReader<AmiItem> control, string actionId, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = Time.GetUtcNow() + timeout;
        while (true)
        {
            var left = deadline - Time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                return null;
            }

            var item = await ReadAsync(control, left, ct).ConfigureAwait(false);
            if (item is not { } m)
            {
                return null;
            }

            if (!m.IsBanner && !m.IsPulse && m.ActionId == actionId)
            {
                return m;
            }
        }
    }

    /// <summary>After login: <c>Action: Ping</c> every <c>PingIntervalSeconds</c>; its answer must come within <c>PingTimeoutSeconds</c>.</summary>
    private async Task KeepAliveAsync(Stream stream, ChannelReader<AmiItem> control, ActionIds actions, CancellationToken ct)
    {
        var interval = Seconds(Options.Ami.PingIntervalSeconds);
        var pingTimeout = Seconds(Options.Ami.PingTimeoutSeconds);
        var nextPing = Time.GetUtcNow() + interval;
        string? pendingPing = null;
        DateTimeOffset pingDeadline = default;
        while (true)
        {
            var now = Time.GetUtcNow();
            var until = pendingPing is null ? nextPing : pingDeadline;
            if (until <= now)
            {
                if (pendingPing is not null)
                {
                    throw new AmiConnectionException($"dead link: no answer to Ping within {pingTimeout.TotalSeconds:0.#} s");
                }

                pendingPing = actions.Next();
                pingDeadline = now + pingTimeout;
                await SendAsync(stream, AmiFraming.Action(("Action", "Ping"), ("ActionID", pendingPing)), ct).ConfigureAwait(false);
                continue;
            }

            var item = await ReadAsync(control, until - now, ct).ConfigureAwait(false);
            if (item is { IsPulse: false } m && m.ActionId == pendingPing)
            {
                pendingPing = null;
                nextPing = Time.GetUtcNow() + interval;
            }
        }
    }

    private static async ValueTask<AmiItem?> ReadAsync(ChannelReader<AmiItem> control, TimeSpan timeout, CancellationToken ct)
    {
        if (control.TryRead(out var ready))
        {
            return ready;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            return await control.ReadAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return null;
        }
        catch (ChannelClosedException ex)
        {
            throw ex.InnerException as AmiConnectionException ?? new AmiConnectionException("connection closed by the PBX", ex);
        }
    }

    private static async Task SendAsync(Stream stream, byte[] action, CancellationToken ct)
    {
        try
        {
            await stream.WriteAsync(action, ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            // never echo the action: it may be the Login with the secret
            throw new AmiConnectionException($"send failed: {ex.InnerException?.Message ?? ex.Message}", ex);
        }
    }

    /// <summary>
    /// The socket's read loop: cuts each read into lines and messages (up to the empty line), appends the messages to
    /// the outbox at once (one append per read), and hands the banner and the responses to our actions to the session.
    /// </summary>
    private async Task ReadAsync(Stream stream, ChannelWriter<AmiItem> control, string session, CancellationToken ct)
    {
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        var cap = Options.MaxFrameBytes;
        var lines = new CappedLines(cap);
        var message = new List<string>();
        var escaped = new List<bool>();
        string? problems = null;
        long messageBytes = 0;
        var skippingMessage = false; // a message was cut at the cap: skip up to its empty line
        long skipped = 0;
        var bannerPending = true;
        var batch = new List<Envelope>();
        long seq = 0;
        long batchBytes = 0;
        Exception? end = null;

        async ValueTask FlushAsync()
        {
            await PbxSessions.AppendReadAsync(Sink, Status, batch, ct).ConfigureAwait(false);
            batch.Clear();
            batchBytes = 0;
        }

        async ValueTask CompleteAsync(DateTimeOffset at)
        {
            var redacted = AmiRedaction.Redact(message);
            var actionId = AmiFraming.Header(redacted, "ActionID");
            if (problems is null && actionId is not null && ActionIds.IsOurs(actionId) && AmiFraming.Header(redacted, "Response") is not null)
            {
                // our own responses (Login, Events, Ping/Pong, the resync's acknowledgement) are for the session only
                control.TryWrite(AmiItem.Message(redacted, at));
            }
            else
            {
                string text;
                if (problems is null)
                {
                    text = string.Join("\r\n", redacted);
                }
                else
                {
                    // flagged: the clean lines get their backslashes escaped too, so the whole frame unescapes the same way
                    text = FrameText.Flag(problems, string.Join("\r\n", redacted.Select((l, i) => escaped[i] ? l : FrameText.EscapeDecoded(l))));
                    Logger.LogWarning(RelayEvents.FrameFlagged, "AMI {Pbx}: session {Session} seq {Seq}: {Problems}; forwarded flagged", Pbx, session, seq + 1, problems);
                }

                seq++;
                batch.Add(new Envelope(Pbx, Protocols.Ami, session, seq, at, text, problems));
                batchBytes += text.Length;
                if (batch.Count >= PbxSessions.MaxFramesPerAppend || batchBytes >= PbxSessions.MaxBytesPerAppend)
                {
                    await FlushAsync().ConfigureAwait(false);
                }
            }

            message = [];
            escaped = [];
            problems = null;
            messageBytes = 0;
        }

        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(ct).ConfigureAwait(false);
                var buffer = result.Buffer;
                var at = PbxSessions.TruncateToMilliseconds(Time.GetUtcNow());
                while (lines.TryRead(ref buffer, out var raw, out var kind))
                {
                    if (kind == LineKind.Line && raw.Length == 0)
                    {
                        if (skippingMessage)
                        {
                            skippingMessage = false;
                            Logger.LogWarning(RelayEvents.FrameFlagged, "AMI {Pbx}: session {Session}: dropped the remaining {Bytes} bytes of the cut message", Pbx, session, skipped + lines.TakeDropped());
                            skipped = 0;
                        }
                        else if (message.Count > 0)
                        {
                            // receivedAt = when the message was complete (its empty line read), like a CTIP line's
                            await CompleteAsync(at).ConfigureAwait(false);
                        }

                        continue;
                    }

                    if (skippingMessage)
                    {
                        skipped += raw.Length + 2 + lines.TakeDropped();
                        continue;
                    }

                    var bytes = raw.IsSingleSegment ? raw.FirstSpan : raw.ToArray();
                    var text = FrameText.Decode(bytes, latin1: false, out var lineProblems);
                    if (kind == LineKind.Cut)
                    {
                        text = FrameText.Escape(bytes, latin1: false);
                        lineProblems = FrameText.Join(lineProblems, $"a line over the {cap}-byte cap without a line end");
                    }

                    if (bannerPending && message.Count == 0 && lineProblems is null)
                    {
                        bannerPending = false;
                        if (text.StartsWith(AmiFraming.BannerPrefix, StringComparison.Ordinal))
                        {
                            control.TryWrite(AmiItem.Banner(text, at));
                            continue;
                        }
                    }

                    message.Add(text);
                    escaped.Add(lineProblems is not null);
                    problems = lineProblems is null ? problems : FrameText.Join(problems, lineProblems);
                    messageBytes += bytes.Length + 2;
                    if (kind == LineKind.Cut || messageBytes > cap)
                    {
                        // forward what came, cut, and skip the rest of the message up to its empty line
                        problems = FrameText.Join(problems, $"message over the {cap}-byte cap, cut (the rest of the message is dropped)");
                        await CompleteAsync(at).ConfigureAwait(false);
                        skippingMessage = true;
                    }
                }

                // every message of this read shares one outbox commit, before anything more is read
                await FlushAsync().ConfigureAwait(false);
                control.TryWrite(AmiItem.Pulse);

                if (result.IsCompleted)
                {
                    if (message.Count > 0 || buffer.Length > 0)
                    {
                        Logger.LogWarning(
                            "AMI {Pbx}: connection closed inside a message; {Lines} lines and {Bytes} bytes without the closing empty line not forwarded",
                            Pbx,
                            message.Count,
                            buffer.Length);
                    }

                    end = new AmiConnectionException("connection closed by the PBX");
                    break;
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            end = new AmiConnectionException("session closed");
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            end = new AmiConnectionException($"connection lost: {ex.InnerException?.Message ?? ex.Message}", ex);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            end = new AmiConnectionException($"frames could not be stored: {ex.Message}", ex);
        }
        finally
        {
            control.TryComplete(end);
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private static TimeSpan Seconds(double s) => TimeSpan.FromSeconds(s);

    /// <summary>One banner line, one response to our action, or a pulse ("data arrived") from the read loop.</summary>
    private readonly record struct AmiItem(bool IsBanner, bool IsPulse, string Text, IReadOnlyList<string> Lines, string? ActionId, DateTimeOffset ReceivedAt)
    {
        public static AmiItem Pulse => new(false, true, "", [], null, default);

        public static AmiItem Banner(string text, DateTimeOffset at) => new(true, false, text, [text], null, at);

        public static AmiItem Message(IReadOnlyList<string> lines, DateTimeOffset at) =>
            new(false, false, string.Join("\r\n", lines), lines, AmiFraming.Header(lines, "ActionID"), at);
    }

    /// <summary>ActionIDs of one session: <c>ctrelay-&lt;session&gt;-N</c>.</summary>
    private sealed class ActionIds(string session)
    {
        private const string Prefix = "ctrelay-";

        private readonly string _prefix = $"{Prefix}{session}-";
        private int _next;

        public string Next() => _prefix + (++_next).ToString(System.Globalization.CultureInfo.InvariantCulture);

        public static bool IsOurs(string actionId) => actionId.StartsWith(Prefix, StringComparison.Ordinal);
    }
}

/// <summary>The Asterisk refused the login (<c>Response: Error</c>, or no answer in time); reconnecting waits long.</summary>
public sealed class AmiLoginRefusedException(string reason) : LoginRefusedException(reason);

/// <summary>The AMI TCP session failed: connect error, closed by the PBX, Ping unanswered, protocol violation.</summary>
public sealed class AmiConnectionException(string message, Exception? inner = null) : Exception(message, inner);
