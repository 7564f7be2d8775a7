using System.Net;
using System.Net.Sockets;
using System.Text;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Framing;
using CloudTelephony.Relay.Simulator;
using CloudTelephony.Relay.Smdr;
using CloudTelephony.Relay.Status;
using CloudTelephony.Tests;

namespace CloudTelephony.Relay.Tests;

public sealed class SmdrListenerTests
{
    private static readonly IPAddress Other = IPAddress.Parse("127.0.0.2");

    private static IReadOnlyList<CapturedFrame> Crisisline() =>
        CaptureFile.Read(TestPaths.Sample("smdr", "ipo-30field-2015-crisisline.csv"), Protocols.Smdr).ToList();

    private static IReadOnlyList<CapturedFrame> Russian() =>
        CaptureFile.Read(TestPaths.Sample("smdr", "ipo-30field-2018-ru.csv"), Protocols.Smdr).ToList();

    private sealed class Running : IAsyncDisposable
    {
        private readonly CancellationTokenSource _cts = new();
        private readonly Task _run;

        public Running(Dictionary<IPAddress, string> sources)
        {
            Listener = new SmdrListener(IPAddress.Loopback, 0, sources, new SmdrListenerOptions(), Sink, Status, Logs.For<SmdrListener>());
            Listener.Start();
            _run = Listener.RunAsync(_cts.Token);
        }

        public SmdrListener Listener { get; }

        public CollectingSink Sink { get; } = new();

        public RelayStatus Status { get; } = new();

        public ListLoggerProvider Logs { get; } = new();

        public IReadOnlyList<Envelope> Of(string pbx) => Sink.Items.Where(e => e.Pbx == pbx).ToList();

        public async ValueTask DisposeAsync()
        {
            await _cts.CancelAsync();
            await _run.WaitAsync(TimeSpan.FromSeconds(10));
            await Listener.DisposeAsync();
            _cts.Dispose();
        }
    }

    private static SmdrSimulator Pbx(int port, IReadOnlyList<CapturedFrame> frames, IPAddress? from = null) =>
        new(new SmdrSimulatorOptions
        {
            Frames = frames,
            Port = port,
            LocalAddress = from,
            Speed = 10, // 5 ms apart
            ReconnectDelay = TimeSpan.FromMilliseconds(100),
        });

    [Fact]
    public async Task Allowed_source_is_accepted_and_every_record_forwarded_verbatim_in_order()
    {
        var capture = Crisisline().Concat(Russian()).ToList();
        await using var relay = new Running(new() { [IPAddress.Loopback] = "ipo" });
        Assert.Equal(PbxConnectionState.Listening, relay.Status.Get("ipo")!.State);
        await using var pbx = Pbx(relay.Listener.Port, capture);
        await pbx.StartAsync();

        await Eventually.WaitAsync(() => relay.Sink.Items.Count >= capture.Count, "all records forwarded");
        var got = relay.Sink.Items;
        Assert.Equal(capture.Select(f => f.Frame), got.Select(e => e.Frame));
        Assert.Contains(got, e => e.Frame.Contains("Ирина", StringComparison.Ordinal) || e.Frame.Any(c => c is >= 'А' and <= 'я'));
        Assert.Equal(Enumerable.Range(1, got.Count).Select(i => (long)i), got.Select(e => e.Seq));
        Assert.All(got, e => Assert.Equal(("ipo", Protocols.Smdr), (e.Pbx, e.Protocol)));
        Assert.Single(got.Select(e => e.Session).Distinct());
        Assert.Equal(PbxConnectionState.Connected, relay.Status.Get("ipo")!.State);
        Assert.DoesNotContain(relay.Logs.Lines, l => l.StartsWith("Warning", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Other_source_is_refused_and_logged_with_its_address()
    {
        await using var relay = new Running(new() { [IPAddress.Loopback] = "ipo" });
        await using var stranger = Pbx(relay.Listener.Port, Crisisline(), from: Other);
        await stranger.StartAsync();

        await Eventually.WaitAsync(() => relay.Listener.ConnectionsRefused >= 2, "refused twice (the simulator reconnects)");
        await Eventually.WaitAsync(() => stranger.ConnectionsLost >= 1, "the stranger sees its connection closed");
        Assert.Contains(relay.Logs.Lines, l => l.Contains("refused connection from 127.0.0.2", StringComparison.Ordinal));
        Assert.Empty(relay.Sink.Items);
        Assert.Equal(0, relay.Listener.ConnectionsAccepted);
        Assert.Equal(PbxConnectionState.Listening, relay.Status.Get("ipo")!.State);
    }

    [Fact]
    public async Task Two_PBXes_connect_at_once_and_are_told_apart_by_source_address()
    {
        await using var relay = new Running(new() { [IPAddress.Loopback] = "ipo-a", [Other] = "ipo-b" });
        await using var a = Pbx(relay.Listener.Port, Crisisline());
        await using var b = Pbx(relay.Listener.Port, Russian(), from: Other);
        await Task.WhenAll(a.StartAsync(), b.StartAsync());

        await Eventually.WaitAsync(() => relay.Of("ipo-a").Count >= Crisisline().Count && relay.Of("ipo-b").Count >= Russian().Count, "both streams forwarded");
        Assert.Equal(Crisisline().Select(f => f.Frame), relay.Of("ipo-a").Select(e => e.Frame));
        Assert.Equal(Russian().Select(f => f.Frame), relay.Of("ipo-b").Select(e => e.Frame));
        Assert.NotEqual(relay.Of("ipo-a")[0].Session, relay.Of("ipo-b")[0].Session);
        Assert.Equal(PbxConnectionState.Connected, relay.Status.Get("ipo-a")!.State);
        Assert.Equal(PbxConnectionState.Connected, relay.Status.Get("ipo-b")!.State);
        Assert.Equal(2, relay.Listener.ConnectionsAccepted);
    }

    [Fact]
    public async Task Connection_dropped_mid_line_forwards_whole_lines_logs_the_partial_one_and_a_reconnect_is_a_new_session()
    {
        await using var relay = new Running(new() { [IPAddress.Loopback] = "ipo" });
        var lines = Crisisline();
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(IPAddress.Loopback, relay.Listener.Port);
            var bytes = Encoding.UTF8.GetBytes($"{lines[0].Frame}\r\n{lines[1].Frame}\n{lines[2].Frame[..25]}");
            await client.GetStream().WriteAsync(bytes);
            await Eventually.WaitAsync(() => relay.Sink.Items.Count >= 2, "whole lines forwarded");
            client.Client.Shutdown(SocketShutdown.Both);
        }

        await Eventually.WaitAsync(() => relay.Logs.Lines.Any(l => l.Contains("closed in the middle of a line", StringComparison.Ordinal)), "partial line logged");
        Assert.Contains(relay.Logs.Lines, l => l.Contains("25 bytes without a line end not forwarded: " + lines[2].Frame[..25], StringComparison.Ordinal));
        Assert.Equal([lines[0].Frame, lines[1].Frame], relay.Sink.Items.Select(e => e.Frame));
        await Eventually.WaitAsync(() => relay.Status.Get("ipo")!.State == PbxConnectionState.Listening, "listening again");

        await using var pbx = Pbx(relay.Listener.Port, lines.Skip(2).ToList());
        await pbx.StartAsync();
        await Eventually.WaitAsync(() => relay.Sink.Items.Count >= lines.Count, "the rest after the reconnect");
        var sessions = relay.Sink.Items.GroupBy(e => e.Session).ToList();
        Assert.Equal(2, sessions.Count);
        Assert.All(sessions, g => Assert.Equal(Enumerable.Range(1, g.Count()).Select(i => (long)i), g.Select(e => e.Seq)));
        Assert.Equal(lines.Select(f => f.Frame), relay.Sink.Items.Select(e => e.Frame));
    }

    [Fact]
    public async Task Long_line_and_binary_bytes_are_logged_and_forwarded_marked()
    {
        await using var relay = new Running(new() { [IPAddress.Loopback] = "ipo" });
        var good = Crisisline()[0].Frame;
        var longLine = good + "," + new string('x', 5000);
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, relay.Listener.Port);
        var payload = new List<byte>();
        payload.AddRange(Encoding.UTF8.GetBytes(longLine + "\r\n"));
        payload.AddRange(Encoding.UTF8.GetBytes("2015/03/01 01:00:00,"));
        payload.AddRange(new byte[] { 0x01, 0xFF, 0x09 });
        payload.AddRange(Encoding.UTF8.GetBytes("tail\r\n" + good + "\r\n"));
        await client.GetStream().WriteAsync(payload.ToArray());

        await Eventually.WaitAsync(() => relay.Sink.Items.Count >= 3, "all three lines forwarded");
        var got = relay.Sink.Items;
        Assert.Equal($"[relay: line of {longLine.Length} bytes over 4096] {longLine}", got[0].Frame);
        Assert.Equal("[relay: control characters; invalid UTF-8] 2015/03/01 01:00:00,\\x01\\xFF\ttail", got[1].Frame);
        Assert.Equal(good, got[2].Frame);
        Assert.Contains(relay.Logs.Lines, l => l.Contains("seq 1: line of 5", StringComparison.Ordinal) && l.Contains("forwarded with the marker", StringComparison.Ordinal));
        Assert.Contains(relay.Logs.Lines, l => l.Contains("seq 2: control characters; invalid UTF-8", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_busy_port_is_logged_and_retried_until_it_is_free()
    {
        var blocker = new TcpListener(IPAddress.Loopback, 0);
        blocker.Start();
        var port = ((IPEndPoint)blocker.LocalEndpoint).Port;
        var status = new RelayStatus();
        var logs = new ListLoggerProvider();
        await using var listener = new SmdrListener(
            IPAddress.Loopback, port, new Dictionary<IPAddress, string> { [IPAddress.Loopback] = "ipo" }, new SmdrListenerOptions(), new CollectingSink(), status, logs.For<SmdrListener>());
        using var cts = new CancellationTokenSource();
        var run = listener.RunAsync(cts.Token);

        await Eventually.WaitAsync(() => status.Get("ipo")?.State == PbxConnectionState.BackingOff, "backing off while the port is taken");
        Assert.Contains(logs.Lines, l => l.StartsWith("Error", StringComparison.Ordinal) && l.Contains($"cannot listen on 127.0.0.1:{port}", StringComparison.Ordinal));
        blocker.Dispose();
        await Eventually.WaitAsync(() => status.Get("ipo")?.State == PbxConnectionState.Listening, "listening once the port is free");
        Assert.Equal(port, listener.Port);

        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(PbxConnectionState.Stopped, status.Get("ipo")!.State);
    }

    [Fact]
    public void Escape_keeps_clean_UTF8_and_marks_control_and_invalid_bytes()
    {
        Assert.Equal("Иван,\tx\\y", FrameText.Decode(Encoding.UTF8.GetBytes("Иван,\tx\\y"), latin1: false, out var none));
        Assert.Null(none);
        Assert.Equal("a\\x00b\\x5C\\x01\\xC3", FrameText.Decode([(byte)'a', 0, (byte)'b', (byte)'\\', 1, 0xC3], latin1: false, out var all));
        Assert.Equal("NUL; control characters; invalid UTF-8", all);
    }
}
