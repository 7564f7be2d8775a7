using System.Net;
using System.Net.Sockets;
using System.Text;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Ctip;
using CloudTelephony.Relay.Simulator;
using CloudTelephony.Relay.Status;

namespace CloudTelephony.Relay.Tests;

public sealed class CtipConnectorTests
{
    // digits that no time stamp or session id in a log line can contain (hour 97), so the secret check cannot flake
    private const string Pin = "97531864";

    private static PbxOptions Pbx(int port, string pin = Pin) => new()
    {
        Id = "test-slican",
        Protocol = Protocols.Ctip,
        Host = "127.0.0.1",
        Port = port,
        Ctip = new() { Pin = pin },
        ReconnectDelaySeconds = 0.05,
        ReconnectMaxDelaySeconds = 0.2,
        StableSessionSeconds = 0,
    };

    private sealed class Running : IAsyncDisposable
    {
        private readonly CancellationTokenSource _cts = new();
        private readonly Task _run;

        public Running(PbxOptions options)
        {
            Connector = new CtipConnector(options, Sink, Status, Logs.For<CtipConnector>());
            _run = Connector.RunAsync(_cts.Token);
        }

        public CtipConnector Connector { get; }

        public CollectingSink Sink { get; } = new();

        public RelayStatus Status { get; } = new();

        public ListLoggerProvider Logs { get; } = new();

        public PbxStatus State => Status.Get("test-slican")!;

        public async ValueTask DisposeAsync()
        {
            await _cts.CancelAsync();
            await _run.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(PbxConnectionState.Stopped, State.State);
            Assert.DoesNotContain(Logs.Lines, l => l.Contains(Pin, StringComparison.Ordinal));
            _cts.Dispose();
        }
    }

    [Fact]
    public async Task Handshake_then_frames_arrive_in_order_with_seq_and_marker_and_without_link_tests()
    {
        // 40 real frames, one that already carries the 'a' marker, one with latin-1 text; 15 ms apart so that
        // the 5 ms link-test timer fires between frames.
        var frames = Captures.Slican().Take(40).ToList();
        frames.Add(new CapturedFrame(null, "aSTAT 101_ h f d l a p c q"));
        frames.Add(new CapturedFrame(null, "RING 101_ 600100200 0 618386710 _ Müller_Straße"));
        await using var sim = new CtipSimulator(new CtipSimulatorOptions
        {
            Frames = Captures.Retimed(frames, TimeSpan.FromMilliseconds(15)),
            Port = 0,
            Pin = Pin,
            Speed = 1,
            LinkTestInterval = TimeSpan.FromMilliseconds(5),
        });
        await sim.StartAsync();
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);

        await using (var relay = new Running(Pbx(sim.Port)))
        {
            await Eventually.WaitAsync(() => relay.Sink.Items.Count >= frames.Count, "all frames forwarded");
            Assert.Equal(PbxConnectionState.Connected, relay.State.State);
            Assert.Equal("NCP-000 NO03914 v1.23.0140/15 2025.10.10 01:54'59", relay.State.PbxIdentity);
            Assert.Contains(relay.Logs.Lines, l => l.Contains("aOK NCP-000 NO03914", StringComparison.Ordinal));

            var got = relay.Sink.Items;
            Assert.Equal(frames.Count, got.Count);
            Assert.Equal(Enumerable.Range(1, frames.Count).Select(i => (long)i), got.Select(e => e.Seq));
            Assert.Single(got.Select(e => e.Session).Distinct());
            Assert.Equal(frames.Select(f => f.Frame.StartsWith('a') ? f.Frame : "a" + f.Frame), got.Select(e => e.Frame));
            Assert.Equal("aRING 101_ 600100200 0 618386710 _ Müller_Straße", got[^1].Frame);
            Assert.All(got, e =>
            {
                Assert.Equal("test-slican", e.Pbx);
                Assert.Equal(Protocols.Ctip, e.Protocol);
                Assert.Equal(TimeSpan.Zero, e.ReceivedAt.Offset);
                Assert.Equal(0, e.ReceivedAt.Ticks % TimeSpan.TicksPerMillisecond);
                Assert.InRange(e.ReceivedAt, before, DateTimeOffset.UtcNow.AddSeconds(1));
            });
            Assert.DoesNotContain(got, e => e.Frame == "t");
            Assert.True(sim.LinkTestsSent > 0, "the simulator sent link tests");
            Assert.Equal(["aWHO", "aLOGA ***"], sim.Commands);
        }
    }

    [Fact]
    public async Task Wrong_pin_is_reported_and_not_retried_within_the_backoff()
    {
        await using var sim = new CtipSimulator(new CtipSimulatorOptions { Frames = Captures.Slican(), Port = 0, Pin = Pin, Speed = 0 });
        await sim.StartAsync();
        var options = Pbx(sim.Port, pin: "0000");
        options.RefusedDelaySeconds = 30;

        await using var relay = new Running(options);
        await Eventually.WaitAsync(() => relay.State.State == PbxConnectionState.Refused, "refused state");
        Assert.Equal("refused: wrong key (NA 11)", relay.State.ToString());
        Assert.NotNull(relay.State.NextAttemptAt);
        Assert.True(relay.State.NextAttemptAt > DateTimeOffset.UtcNow.AddSeconds(10), "long backoff after a refused login");
        Assert.Contains(relay.Logs.Lines, l => l.Contains("login refused: wrong key (NA 11)", StringComparison.Ordinal));

        // a short observation window: nothing else happens on the wire
        await Task.Delay(500);
        Assert.Equal(1, sim.LoginAttempts);
        Assert.Equal(1, sim.ConnectionsAccepted);
        Assert.Single(sim.Commands, c => c.StartsWith("aLOGA", StringComparison.Ordinal));
        Assert.Empty(relay.Sink.Items);
        Assert.Equal(PbxConnectionState.Refused, relay.State.State);
    }

    [Fact]
    public async Task Dropped_connection_reconnects_with_new_session_and_seq_restarting_at_1()
    {
        var capture = Captures.Slican().Take(400).ToList(); // paced 1 ms apart: the drop lands mid-stream
        await using var sim = new CtipSimulator(new CtipSimulatorOptions
        {
            Frames = Captures.Retimed(capture, TimeSpan.FromMilliseconds(1)),
            Port = 0,
            Pin = Pin,
            Speed = 1,
        });
        await sim.StartAsync();

        await using var relay = new Running(Pbx(sim.Port));
        await Eventually.WaitAsync(() => relay.Sink.Items.Count >= 100, "first 100 frames");
        sim.DropConnections();
        await Eventually.WaitAsync(
            () => relay.Sink.Items.Select(e => e.Session).Distinct().Count() == 2
                && relay.Sink.Items.Count(e => e.Session == relay.Sink.Items[^1].Session) == capture.Count,
            "second session with the whole capture",
            TimeSpan.FromSeconds(30));

        var sessions = relay.Sink.Items.GroupBy(e => e.Session).ToList();
        Assert.Equal(2, sessions.Count);
        Assert.NotEqual(sessions[0].Key, sessions[1].Key);
        Assert.Equal(2, relay.State.Sessions);
        var expected = capture.Select(f => "a" + f.Frame).ToList();
        foreach (var s in sessions)
        {
            var list = s.ToList();
            Assert.Equal(Enumerable.Range(1, list.Count).Select(i => (long)i), list.Select(e => e.Seq));
            Assert.Equal(expected.Take(list.Count), list.Select(e => e.Frame));
        }

        Assert.InRange(sessions[0].Count(), 100, capture.Count - 1);
        Assert.Equal(capture.Count, sessions[1].Count());
    }

    [Fact]
    public async Task Silent_link_is_probed_with_WHO_and_reconnected()
    {
        await using var pbx = new SilentPbx();
        var options = Pbx(pbx.Port);
        options.Ctip.IdleProbeSeconds = 0.3;
        options.Ctip.ProbeTimeoutSeconds = 0.3;

        await using var relay = new Running(options);
        await Eventually.WaitAsync(() => pbx.Accepted >= 2, "a second connection after the dead link");

        // first connection: WHO, LOGA, then the probe WHO that was never answered
        Assert.Equal(["aWHO", "aLOGA ***", "aWHO"], pbx.CommandsOf(1));
        Assert.Contains(relay.Logs.Lines, l => l.Contains("dead link", StringComparison.Ordinal));
        await Eventually.WaitAsync(() => relay.Sink.Items.Select(e => e.Session).Distinct().Count() == 2, "frames of the second session");
        Assert.All(relay.Sink.Items.GroupBy(e => e.Session), g => Assert.Equal([1L, 2L], g.Select(e => e.Seq).Take(2)));
    }

    [Fact]
    public async Task Answered_probes_keep_the_session_and_are_not_forwarded()
    {
        await using var sim = new CtipSimulator(new CtipSimulatorOptions { Frames = [], Port = 0, Pin = Pin });
        await sim.StartAsync();
        var options = Pbx(sim.Port);
        options.Ctip.IdleProbeSeconds = 0.1;
        options.Ctip.ProbeTimeoutSeconds = 2;

        await using var relay = new Running(options);
        await Eventually.WaitAsync(() => sim.Commands.Count(c => c == "aWHO") >= 4, "three probes after the login WHO");
        Assert.Equal(1, sim.ConnectionsAccepted);
        Assert.Equal(PbxConnectionState.Connected, relay.State.State);
        Assert.Empty(relay.Sink.Items);
    }

    /// <summary>Answers the first WHO and the LOGA, sends two frames, then never says a word again.</summary>
    private sealed class SilentPbx : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _cts = new();
        private readonly Dictionary<int, List<string>> _commands = [];
        private readonly List<Socket> _sockets = [];
        private readonly Task _accept;
        private int _accepted;

        public SilentPbx()
        {
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _accept = AcceptAsync();
        }

        public int Port { get; }

        public int Accepted => Volatile.Read(ref _accepted);

        public IReadOnlyList<string> CommandsOf(int connection)
        {
            lock (_commands)
            {
                return [.. _commands[connection]];
            }
        }

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var socket = await _listener.AcceptSocketAsync(_cts.Token);
                    lock (_sockets)
                    {
                        _sockets.Add(socket);
                    }

                    var n = Interlocked.Increment(ref _accepted);
                    lock (_commands)
                    {
                        _commands[n] = [];
                    }

                    _ = ServeAsync(n, socket);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        private async Task ServeAsync(int n, Socket socket)
        {
            try
            {
                using var stream = new NetworkStream(socket, ownsSocket: false);
                using var reader = new StreamReader(stream, Encoding.Latin1);
                var whoAnswered = false;
                while (await reader.ReadLineAsync(_cts.Token) is { } line)
                {
                    lock (_commands)
                    {
                        _commands[n].Add(line.StartsWith("aLOGA", StringComparison.Ordinal) ? "aLOGA ***" : line);
                    }

                    string? answer = null;
                    if (line == "aWHO" && !whoAnswered)
                    {
                        whoAnswered = true;
                        answer = "aOK NCP-000 NO03914 v1.23.0140/15 2025.10.10 01:54'59\r\n";
                    }
                    else if (line.StartsWith("aLOGA ", StringComparison.Ordinal))
                    {
                        answer = "aOK NCP 1.23 15\r\naSTAT 101_ H f d l a p c q\r\naREL 101_ 1\r\n";
                    }

                    if (answer is not null)
                    {
                        await stream.WriteAsync(Encoding.Latin1.GetBytes(answer), _cts.Token);
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _cts.CancelAsync();
            _listener.Stop();
            lock (_sockets)
            {
                _sockets.ForEach(s => s.Dispose());
            }

            await _accept;
            _cts.Dispose();
        }
    }
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Demo_mode_stamps_frames_with_the_capture_times_the_simulator_announces_and_only_then(bool honour)
    {
        var capture = Captures.Slican().Take(40).ToList(); // the capture's own times (2025-09-02, +02:00)
        await using var sim = new CtipSimulator(new CtipSimulatorOptions { Frames = capture, Port = 0, Pin = Pin, Speed = 0, AnnounceCaptureTimes = true });
        await sim.StartAsync();
        var sink = new CollectingSink();
        var logs = new ListLoggerProvider();
        var connector = new CtipConnector(Pbx(sim.Port), sink, new RelayStatus(), logs.For<CtipConnector>(), honourCaptureTimes: honour);
        using var cts = new CancellationTokenSource();
        var run = connector.RunAsync(cts.Token);
        await Eventually.WaitAsync(() => sink.Items.Count >= (honour ? capture.Count : capture.Count * 2), "the replay");
        await cts.CancelAsync();
        await run;

        var got = sink.Items;
        if (honour)
        {
            // replayed as fast as the socket takes it, stamped with the capture's times: ring and talk times stay real
            Assert.Equal(capture.Select(f => f.Frame.StartsWith('a') ? f.Frame : "a" + f.Frame), got.Select(e => e.Frame));
            Assert.Equal(capture.Select(f => CloudTelephony.Relay.Hosting.PbxSessions.TruncateToMilliseconds(f.ReceivedAt!.Value)), got.Select(e => e.ReceivedAt));
            Assert.Equal(TimeSpan.Zero, got[0].ReceivedAt.Offset);
        }
        else
        {
            // a production relay never takes a time from the wire: the announcements are data, and said so once
            Assert.Equal(capture.Count, got.Count(e => e.Frame.StartsWith("#capture-time ", StringComparison.Ordinal)));
            Assert.All(got, e => Assert.True(e.ReceivedAt > DateTimeOffset.UtcNow.AddMinutes(-5)));
            Assert.Single(logs.Lines, l => l.Contains("Relay:Demo:HonourCaptureTimes is off", StringComparison.Ordinal));
        }
    }
}
