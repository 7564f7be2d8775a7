using System.Net.Sockets;
using System.Text;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Simulator;

namespace CloudTelephony.Relay.Tests;

public sealed class CtipSimulatorTests
{
    /// <summary>A raw line-based client: what a CTIP client sees on the wire.</summary>
    private sealed class RawClient : IDisposable
    {
        private readonly TcpClient _tcp = new();
        private StreamReader? _reader;
        private Stream? _stream;

        public async Task ConnectAsync(int port)
        {
            await _tcp.ConnectAsync("127.0.0.1", port);
            _stream = _tcp.GetStream();
            _reader = new StreamReader(_stream, Encoding.Latin1);
        }

        public async Task SendAsync(string line) => await _stream!.WriteAsync(Encoding.Latin1.GetBytes(line + "\r\n"));

        /// <summary>Next line that is not a link test.</summary>
        public async Task<string> ReadAsync()
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            while (true)
            {
                var line = await _reader!.ReadLineAsync(cts.Token) ?? throw new EndOfStreamException();
                if (line != "t")
                {
                    return line;
                }
            }
        }

        public void Dispose() => _tcp.Dispose();
    }

    private static CtipSimulator Sim(IReadOnlyList<CapturedFrame>? frames = null, bool loop = false) => new(new CtipSimulatorOptions
    {
        Frames = frames ?? [new(null, "STAT 101_ H f d l a p c q"), new(null, "aREL 101_ 1")],
        Port = 0,
        Pin = "1234",
        Speed = 0,
        Loop = loop,
    });

    [Fact]
    public async Task Answers_WHO_before_and_after_login_and_replays_with_the_a_marker()
    {
        await using var sim = Sim();
        await sim.StartAsync();
        using var client = new RawClient();
        await client.ConnectAsync(sim.Port);

        await client.SendAsync("aWHO");
        Assert.Equal("aOK NCP-000 NO03914 v1.23.0140/15 2025.10.10 01:54'59", await client.ReadAsync());
        await client.SendAsync("aLOGA 1234");
        Assert.Equal("aOK NCP 1.23 15", await client.ReadAsync());
        Assert.Equal("aSTAT 101_ H f d l a p c q", await client.ReadAsync());
        Assert.Equal("aREL 101_ 1", await client.ReadAsync());
        await client.SendAsync("aWHO");
        Assert.StartsWith("aOK NCP-000", await client.ReadAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wrong_key_gets_NA_11_and_a_second_LOGA_on_the_same_connection_gets_NA()
    {
        await using var sim = Sim();
        await sim.StartAsync();
        using var client = new RawClient();
        await client.ConnectAsync(sim.Port);

        await client.SendAsync("aLOGA 9999");
        Assert.Equal("aNA 11", await client.ReadAsync());
        await client.SendAsync("aLOGA 1234");
        Assert.Equal("aNA", await client.ReadAsync());
        Assert.Equal(2, sim.LoginAttempts);
        Assert.Equal(0, sim.FramesSent);
        Assert.Equal(["aLOGA ***", "aLOGA ***"], sim.Commands);
    }

    [Fact]
    public async Task Several_connections_each_get_their_own_replay_and_loop_repeats()
    {
        await using var sim = Sim(loop: true);
        await sim.StartAsync();
        using var a = new RawClient();
        using var b = new RawClient();
        await a.ConnectAsync(sim.Port);
        await b.ConnectAsync(sim.Port);
        await a.SendAsync("aLOGA 1234");
        await b.SendAsync("aLOGA 1234");
        foreach (var c in new[] { a, b })
        {
            Assert.Equal("aOK NCP 1.23 15", await c.ReadAsync());
            for (var round = 0; round < 3; round++)
            {
                Assert.Equal("aSTAT 101_ H f d l a p c q", await c.ReadAsync());
                Assert.Equal("aREL 101_ 1", await c.ReadAsync());
            }
        }
    }

    [Fact]
    public async Task Idle_connection_gets_link_tests()
    {
        await using var sim = new CtipSimulator(new CtipSimulatorOptions { Port = 0, LinkTestInterval = TimeSpan.FromMilliseconds(20) });
        await sim.StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", sim.Port);
        var buffer = new byte[3];
        await tcp.GetStream().ReadExactlyAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("t\r\n"u8.ToArray(), buffer);
    }

    [Theory]
    [InlineData(10_000, 60, 2_000, 166.667)] // 10 s at speed 60
    [InlineData(36_000_000, 60, 2_000, 2_000)] // a night is cut to --max-gap
    [InlineData(10_000, 0, 2_000, 0)] // speed max
    [InlineData(-5_000, 1, 2_000, 0)] // time going backwards: no wait
    public void Gap_is_scaled_and_capped(int gapMs, double speed, int maxGapMs, double expectedMs)
    {
        var t0 = DateTimeOffset.UnixEpoch;
        var gap = CtipSimulator.Gap(t0, t0.AddMilliseconds(gapMs), speed, TimeSpan.FromMilliseconds(maxGapMs));
        Assert.Equal(expectedMs, gap.TotalMilliseconds, precision: 2);
    }

    [Fact]
    public void Gap_without_times_is_zero() =>
        Assert.Equal(TimeSpan.Zero, CtipSimulator.Gap(null, DateTimeOffset.UnixEpoch, 1, TimeSpan.FromSeconds(2)));
}
