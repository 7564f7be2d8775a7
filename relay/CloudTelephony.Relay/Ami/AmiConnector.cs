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
/// <c>Action: Login</c>, <c>Action: Events</c> with the configured mask, then forward every message block that is
/// not the answer to one of our own actions (matched by ActionID) into the <see cref="IFrameSink"/>, exactly as
/// received (inner lines joined with CR LF, no trailing empty line). <c>Action: Ping</c> keeps the link checked.
/// Reconnects through <see cref="ReconnectLoop"/>, like <see cref="CtipConnector"/>: exponential backoff with jitter
/// for broken connections, a long one for refused logins.
/// </summary>
public sealed class AmiConnector : PbxConnector
{
    private const int MaxMessageBytes = 1024 * 1024;

    /// <summary>Creates a connector for <paramref name="options"/> (Id, Host, Port, Username, Secret, EventMask and timings).</summary>
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
        var messages = Channel.CreateBounded<AmiItem>(new BoundedChannelOptions(256) { SingleReader = true, SingleWriter = true });
        var readTask = ReadMessagesAsync(stream, messages.Writer, sessionCts.Token);
        var actions = new ActionIds(session);
        long seq = 0;
        var batch = new List<Envelope>();
        async ValueTask Forward(IReadOnlyList<AmiItem> items)
        {
            // the messages already read share one outbox commit
            batch.Clear();
            foreach (var m in items)
            {
                seq++;
                batch.Add(new Envelope(Pbx, Protocols.Ami, session, seq, m.ReceivedAt, m.Text));
            }

            await PbxSessions.AppendReadAsync(Sink, Status, batch, ct).ConfigureAwait(false);
        }

        ValueTask ForwardOne(AmiItem m) => Forward([m]);

        try
        {
            await LoginAsync(stream, messages.Reader, actions, ForwardOne, host, port, ct).ConfigureAwait(false);
            var loggedInAt = Time.GetUtcNow();
            Status.SetState(Pbx, PbxConnectionState.Connected, session);
            Logger.LogInformation("AMI {Pbx}: logged in as {User}, session {Session}, event mask {Mask}, streaming", Pbx, Options.Username, session, Options.EventMask);
            try
            {
                await StreamAsync(stream, messages.Reader, actions, Forward, ct).ConfigureAwait(false);
            }
            catch (AmiConnectionException ex) when (Time.GetUtcNow() - loggedInAt >= Seconds(Options.StableSessionSeconds))
            {
                Status.SetState(Pbx, PbxConnectionState.Connecting, ex.Message);
                Logger.LogWarning("AMI {Pbx}: session {Session} ended: {Reason}; reconnecting", Pbx, session, ex.Message);
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


    private async Task LoginAsync(Stream stream, ChannelReader<AmiItem> messages, ActionIds actions, Func<AmiItem, ValueTask> forward, string host, int port, CancellationToken ct)
    {
        var timeout = Seconds(Options.LoginTimeoutSeconds);
        var banner = await ReadAsync(messages, timeout, ct).ConfigureAwait(false);
        if (banner is { IsBanner: true })
        {
            Status.Update(Pbx, s => s with { PbxIdentity = banner.Value.Text });
            Logger.LogInformation("AMI {Pbx}: connected to {Host}:{Port}: {Banner}", Pbx, host, port, banner.Value.Text);
        }
        else
        {
            if (banner is { } first)
            {
                await forward(first).ConfigureAwait(false); // a message instead of the banner: nothing is dropped
            }

            // No banner in time (or a message first): not an Asterisk we know; log in anyway, the answer decides.
            Logger.LogWarning("AMI {Pbx}: connected to {Host}:{Port}; no 'Asterisk Call Manager/' banner in time, logging in anyway", Pbx, host, port);
        }

        // The secret is never logged: the action is built here and written straight to the socket.
        var loginId = actions.Next();
        await SendAsync(stream, AmiFraming.Action(("Action", "Login"), ("ActionID", loginId), ("Username", Options.Username ?? ""), ("Secret", Options.Secret ?? "")), ct).ConfigureAwait(false);
        var reply = await WaitResponseAsync(messages, actions, forward, loginId, timeout, ct).ConfigureAwait(false)
            ?? throw new AmiLoginRefusedException($"no answer to Login within {timeout.TotalSeconds:0.#} s");
        var response = AmiFraming.Header(reply.Lines, "Response");
        if (!string.Equals(response, "Success", StringComparison.OrdinalIgnoreCase))
        {
            var message = AmiFraming.Header(reply.Lines, "Message");
            throw new AmiLoginRefusedException($"{(string.IsNullOrEmpty(message) ? "login failed" : message)} (Response: {response}, user {Options.Username})");
        }

        var eventsId = actions.Next();
        await SendAsync(stream, AmiFraming.Action(("Action", "Events"), ("ActionID", eventsId), ("EventMask", Options.EventMask)), ct).ConfigureAwait(false);
        var events = await WaitResponseAsync(messages, actions, forward, eventsId, timeout, ct).ConfigureAwait(false);
        var eventsResponse = events is null ? null : AmiFraming.Header(events.Value.Lines, "Response");
        if (!string.Equals(eventsResponse, "Success", StringComparison.OrdinalIgnoreCase))
        {
            Logger.LogWarning(
                "AMI {Pbx}: Events (EventMask {Mask}) answered {Answer}; streaming whatever the manager.conf read permissions send",
                Pbx,
                Options.EventMask,
                events is null ? "nothing in time" : $"{eventsResponse}: {AmiFraming.Header(events.Value.Lines, "Message")}");
        }
    }

    /// <summary>Reads until the response carrying <paramref name="actionId"/>; events that interleave are forwarded in order. Null on timeout.</summary>
    private async Task<AmiItem?> WaitResponseAsync(ChannelReader<AmiItem> messages, ActionIds actions, Func<AmiItem, ValueTask> forward, string actionId, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = Time.GetUtcNow() + timeout;
        while (true)
        {
            var left = deadline - Time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                return null;
            }

            var item = await ReadAsync(messages, left, ct).ConfigureAwait(false);
            if (item is not { } m)
            {
                return null;
            }

            if (m.IsBanner)
            {
                continue;
            }

            if (m.ActionId == actionId)
            {
                return m;
            }

            if (m.ActionId is not null && ActionIds.IsOurs(m.ActionId))
            {
                continue; // a late answer to an earlier action of ours
            }

            await forward(m).ConfigureAwait(false);
        }
    }

    private async Task StreamAsync(Stream stream, ChannelReader<AmiItem> messages, ActionIds actions, Func<IReadOnlyList<AmiItem>, ValueTask> forward, CancellationToken ct)
    {
        var items = new List<AmiItem>();
        var interval = Seconds(Options.PingIntervalSeconds);
        var pingTimeout = Seconds(Options.PingTimeoutSeconds);
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

            var item = await ReadAsync(messages, until - now, ct).ConfigureAwait(false);
            if (item is null)
            {
                continue;
            }

            items.Clear();
            var m = item.Value;
            do
            {
                if (m.IsBanner)
                {
                    continue;
                }

                if (m.ActionId is not null && ActionIds.IsOurs(m.ActionId))
                {
                    // our own responses (Ping's Pong, late Login/Events answers) are never forwarded
                    if (m.ActionId == pendingPing)
                    {
                        pendingPing = null;
                        nextPing = Time.GetUtcNow() + interval;
                    }

                    continue;
                }

                items.Add(m);
            }
            while (items.Count < PbxSessions.MaxFramesPerAppend && messages.TryRead(out m));

            if (items.Count > 0)
            {
                await forward(items).ConfigureAwait(false);
            }
        }
    }

    private static async ValueTask<AmiItem?> ReadAsync(ChannelReader<AmiItem> messages, TimeSpan timeout, CancellationToken ct)
    {
        if (messages.TryRead(out var ready))
        {
            return ready;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            return await messages.ReadAsync(cts.Token).ConfigureAwait(false);
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

    /// <summary>Pumps the banner line and then message blocks (up to the empty line) from the socket into <paramref name="writer"/>.</summary>
    private async Task ReadMessagesAsync(Stream stream, ChannelWriter<AmiItem> writer, CancellationToken ct)
    {
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        var lines = new List<string>();
        long messageBytes = 0;
        var bannerPending = true;
        Exception? end = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(ct).ConfigureAwait(false);
                var buffer = result.Buffer;
                var at = PbxSessions.TruncateToMilliseconds(Time.GetUtcNow());
                while (LineFraming.TryReadLine(ref buffer, out var raw))
                {
                    if (raw.Length == 0)
                    {
                        if (lines.Count > 0)
                        {
                            // receivedAt = when the message was complete (its empty line read), like a CTIP line's
                            await writer.WriteAsync(AmiItem.Message(lines, at), ct).ConfigureAwait(false);
                            lines = [];
                            messageBytes = 0;
                        }

                        continue;
                    }

                    var text = AmiFraming.Decode(raw);
                    if (bannerPending && lines.Count == 0)
                    {
                        bannerPending = false;
                        if (text.StartsWith(AmiFraming.BannerPrefix, StringComparison.Ordinal))
                        {
                            await writer.WriteAsync(AmiItem.Banner(text, at), ct).ConfigureAwait(false);
                            continue;
                        }
                    }

                    lines.Add(text);
                    messageBytes += raw.Length + 2;
                }

                if (messageBytes + buffer.Length > MaxMessageBytes)
                {
                    end = new AmiConnectionException($"protocol error: a message of more than {MaxMessageBytes} bytes without an empty line");
                    break;
                }

                if (result.IsCompleted)
                {
                    if (lines.Count > 0 || buffer.Length > 0)
                    {
                        Logger.LogWarning(
                            "AMI {Pbx}: connection closed inside a message; {Lines} lines and {Bytes} bytes without the closing empty line not forwarded",
                            Pbx,
                            lines.Count,
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
        finally
        {
            writer.TryComplete(end);
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private static TimeSpan Seconds(double s) => TimeSpan.FromSeconds(s);

    /// <summary>One banner line or one message block as read from the socket.</summary>
    private readonly record struct AmiItem(bool IsBanner, string Text, IReadOnlyList<string> Lines, string? ActionId, DateTimeOffset ReceivedAt)
    {
        public static AmiItem Banner(string text, DateTimeOffset at) => new(true, text, [text], null, at);

        public static AmiItem Message(List<string> lines, DateTimeOffset at) =>
            new(false, string.Join("\r\n", lines), lines, AmiFraming.Header(lines, "ActionID"), at);
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
