using System.Net;
using System.Net.Sockets;
using System.Text;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Ami;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Simulator;
using CloudTelephony.Relay.Status;
using CloudTelephony.Tests;

namespace CloudTelephony.Relay.Tests;

public sealed class AmiConnectorTests
{
    private const string Secret = "s3cr3t-Xy9";
    private const string PbxId = "test-asterisk";

    private static PbxOptions Pbx(int port, string secret = Secret) => new()
    {
        Id = PbxId,
        Protocol = Protocols.Ami,
        Host = "127.0.0.1",
        Port = port,
        Ami = new() { Username = "relay", Secret = secret },
        ReconnectDelaySeconds = 0.05,
        ReconnectMaxDelaySeconds = 0.2,
        StableSessionSeconds = 0,
    };

    private static IReadOnlyList<CapturedFrame> Answered() =>
        CaptureFile.Read(TestPaths.Sample("ami", "sweeney-asterisk-mqtt_answered-outbound.txt"), Protocols.Ami).ToList();

    private static AmiSimulatorOptions Sim(IReadOnlyList<CapturedFrame> frames, string lineEnding = "\r\n") =>
        new() { Frames = frames, Port = 0, Username = "relay", Secret = Secret, Speed = 0, LineEnding = lineEnding };

    private sealed class Running : IAsyncDisposable
    {
        private readonly CancellationTokenSource _cts = new();
        private readonly Task _run;

        public Running(PbxOptions options)
        {
            _run = new AmiConnector(options, Sink, Status, Logs.For<AmiConnector>()).RunAsync(_cts.Token);
        }

        public CollectingSink Sink { get; } = new();

        public RelayStatus Status { get; } = new();

        public ListLoggerProvider Logs { get; } = new();

        public PbxStatus State => Status.Get(PbxId)!;

        public async ValueTask DisposeAsync()
        {
            await _cts.CancelAsync();
            await _run.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(PbxConnectionState.Stopped, State.State);
            Assert.DoesNotContain(Logs.Lines, l => l.Contains(Secret, StringComparison.Ordinal));
            _cts.Dispose();
        }
    }

    [Fact]
    public async Task Login_then_events_arrive_in_order_verbatim_without_our_responses()
    {
        var capture = Answered();
        await using var sim = new AmiSimulator(Sim(capture));
        await sim.StartAsync();
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);

        await using (var relay = new Running(Pbx(sim.Port)))
        {
            // FullyBooted (sent by Asterisk after Login) + the answer to our CoreShowChannels (an empty list) + the 23 real events
            await Eventually.WaitAsync(() => relay.Sink.Items.Count >= capture.Count + 2, "all events forwarded");
            Assert.Equal(PbxConnectionState.Connected, relay.State.State);
            Assert.Equal("Asterisk Call Manager/7.0.3", relay.State.PbxIdentity);
            Assert.Contains(relay.Logs.Lines, l => l.Contains("Asterisk Call Manager/7.0.3", StringComparison.Ordinal));

            var all = relay.Sink.Items;
            Assert.Equal(capture.Count + 2, all.Count);
            Assert.Equal(Enumerable.Range(1, all.Count).Select(i => (long)i), all.Select(e => e.Seq));
            var resync = Assert.Single(all, e => e.Frame.StartsWith("Event: CoreShowChannelsComplete\r\n", StringComparison.Ordinal));
            Assert.Contains("ListItems: 0", resync.Frame, StringComparison.Ordinal);
            Assert.Contains("CoreShowChannels", sim.Actions);
            var got = all.Where(e => e != resync).ToList();
            Assert.StartsWith("Event: FullyBooted\r\n", got[0].Frame, StringComparison.Ordinal);
            Assert.Equal(capture.Select(f => f.Frame), got.Skip(1).Select(e => e.Frame));
            Assert.Single(got.Select(e => e.Session).Distinct());
            Assert.All(got, e =>
            {
                Assert.Equal(PbxId, e.Pbx);
                Assert.Equal(Protocols.Ami, e.Protocol);
                Assert.DoesNotContain("Response:", e.Frame, StringComparison.Ordinal);
                Assert.DoesNotContain("ActionID", e.Frame, StringComparison.Ordinal);
                Assert.False(e.Frame.EndsWith('\n'), "no trailing line break");
                Assert.Equal(0, e.ReceivedAt.Ticks % TimeSpan.TicksPerMillisecond);
                Assert.InRange(e.ReceivedAt, before, DateTimeOffset.UtcNow.AddSeconds(1));
            });
            Assert.Equal(["Login", "Events", "CoreShowChannels"], sim.Actions);
            Assert.Equal(1, sim.LoginAttempts);
        }
    }

    [Fact]
    public async Task Bare_LF_framing_repeated_keys_empty_values_and_UTF8_are_forwarded_verbatim_with_CRLF()
    {
        const string tricky = "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/201-00000001\r\nCallerIDName: Łucja Żółć\r\n"
            + "AccountCode: \r\nChanVariable: FOO=1\r\nChanVariable: BAR=2\r\nVariable: X\r\nValue: a: b\r\nUniqueid: 1.1\r\nLinkedid: 1.1";
        var frames = Answered().Take(3).Append(new CapturedFrame(null, tricky)).ToList();
        foreach (var nl in new[] { "\n", "\r\n" })
        {
            await using var sim = new AmiSimulator(Sim(frames, nl));
            await sim.StartAsync();
            await using var relay = new Running(Pbx(sim.Port));
            await Eventually.WaitAsync(() => relay.Sink.Items.Count >= frames.Count + 1, $"events forwarded ({(nl == "\n" ? "LF" : "CRLF")})");
            Assert.Equal(frames.Select(f => f.Frame), relay.Sink.Items.Skip(1).Select(e => e.Frame));
            Assert.Equal(tricky, relay.Sink.Items[^1].Frame);
        }
    }

    [Fact]
    public async Task Rejected_login_is_reported_and_not_retried_within_the_backoff()
    {
        await using var sim = new AmiSimulator(Sim(Answered()));
        await sim.StartAsync();
        var options = Pbx(sim.Port, secret: "wrong-Qq1");
        options.RefusedDelaySeconds = 30;

        await using var relay = new Running(options);
        await Eventually.WaitAsync(() => relay.State.State == PbxConnectionState.Refused, "refused state");
        Assert.StartsWith("refused: Authentication failed", relay.State.ToString(), StringComparison.Ordinal);
        Assert.True(relay.State.NextAttemptAt > DateTimeOffset.UtcNow.AddSeconds(10), "long backoff after a refused login");
        Assert.Single(relay.Logs.Lines, l => l.Contains("login refused: Authentication failed", StringComparison.Ordinal));
        Assert.DoesNotContain(relay.Logs.Lines, l => l.Contains("wrong-Qq1", StringComparison.Ordinal));

        await Task.Delay(500); // observation window: nothing else happens on the wire
        Assert.Equal(1, sim.LoginAttempts);
        Assert.Equal(1, sim.ConnectionsAccepted);
        Assert.Empty(relay.Sink.Items);
        Assert.Equal(PbxConnectionState.Refused, relay.State.State);
    }

    [Fact]
    public async Task Unanswered_ping_reconnects_with_a_new_session_and_seq_restarting_at_1()
    {
        await using var sim = new AmiSimulator(Sim(Answered().Take(5).ToList()));
        await sim.StartAsync();
        var options = Pbx(sim.Port);
        options.Ami.PingIntervalSeconds = 0.2;
        options.Ami.PingTimeoutSeconds = 0.3;

        await using var relay = new Running(options);
        await Eventually.WaitAsync(() => sim.PingsAnswered >= 2, "pings answered");
        Assert.Equal(1, sim.ConnectionsAccepted);
        Assert.Equal(PbxConnectionState.Connected, relay.State.State);
        Assert.DoesNotContain(relay.Sink.Items, e => e.Frame.Contains("Pong", StringComparison.Ordinal));

        sim.AnswerPings = false; // a hung Asterisk: the socket stays open, pings go unanswered
        await Eventually.WaitAsync(() => sim.ConnectionsAccepted >= 2, "reconnect after the unanswered ping");
        sim.AnswerPings = true;
        await Eventually.WaitAsync(() => relay.Sink.Items.Select(e => e.Session).Distinct().Count() >= 2 && relay.Sink.Items.Count >= 12, "second session streamed");
        Assert.Contains(relay.Logs.Lines, l => l.Contains("no answer to Ping within 0.3 s", StringComparison.Ordinal));

        var sessions = relay.Sink.Items.GroupBy(e => e.Session).ToList();
        Assert.All(sessions, g => Assert.Equal(Enumerable.Range(1, g.Count()).Select(i => (long)i), g.Select(e => e.Seq)));
        Assert.True(relay.State.Sessions >= 2);
        Assert.Contains(sim.Actions, a => a == "Ping");
    }

    [Fact]
    public async Task Connection_closed_mid_message_drops_only_the_partial_block()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var server = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync();
            await socket.SendAsync(Encoding.UTF8.GetBytes("Asterisk Call Manager/2.10.5\r\n"));
            var buf = new byte[4096];
            var text = "";
            while (!text.Contains("Action: Events", StringComparison.Ordinal) || !text.EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                var n = await socket.ReceiveAsync(buf);
                text += Encoding.UTF8.GetString(buf, 0, n);
                if (text.Contains("Action: Login", StringComparison.Ordinal) && text.EndsWith("\r\n\r\n", StringComparison.Ordinal) && !text.Contains("Action: Events", StringComparison.Ordinal))
                {
                    var id = AmiFraming.Header(text, "ActionID");
                    await socket.SendAsync(Encoding.UTF8.GetBytes($"Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n"));
                }
            }

            await socket.SendAsync(Encoding.UTF8.GetBytes("Event: Newchannel\nUniqueid: 1.1\n\nEvent: Hangup\nUniqueid: 1."));
            socket.Shutdown(SocketShutdown.Both);
        });

        await using var relay = new Running(Pbx(port));
        await server.WaitAsync(TimeSpan.FromSeconds(15));
        await Eventually.WaitAsync(() => relay.Logs.Lines.Any(l => l.Contains("connection closed inside a message", StringComparison.Ordinal)), "partial block logged");
        await Eventually.WaitAsync(() => relay.Sink.Items.Count >= 1, "whole block forwarded");
        Assert.Equal(["Event: Newchannel\r\nUniqueid: 1.1"], relay.Sink.Items.Select(e => e.Frame));
    }
}
