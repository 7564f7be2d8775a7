using System.Net;
using System.Net.Sockets;
using System.Text;
using CloudTelephony.Tests;

namespace CloudTelephony.Relay.Tests;

public sealed class CliTests
{
    [Theory]
    [InlineData("run")]
    [InlineData("simulate")]
    public async Task Every_command_has_help(string command)
    {
        var output = new StringWriter();
        var code = await RelayCli.InvokeAsync([command, "--help"], new StringWriter(), CancellationToken.None, output);

        Assert.Equal(0, code);
        Assert.Contains(command, output.ToString(), StringComparison.Ordinal);
        if (command == "simulate")
        {
            Assert.Contains("--capture", output.ToString(), StringComparison.Ordinal);
            Assert.Contains("--max-gap", output.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Simulate_rejects_a_bad_speed()
    {
        var stderr = new StringWriter();
        var code = await RelayCli.InvokeAsync(
            ["simulate", "--protocol", "ctip", "--capture", CloudTelephony.Tests.TestPaths.Sample("slican-ncp-2025-09-02_04.tsv"), "--speed", "fast"],
            stderr);
        Assert.NotEqual(0, code);
        Assert.Contains("--speed 'fast'", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_command_is_an_error_not_configuration()
    {
        var stderr = new StringWriter();
        Assert.Equal(2, await RelayCli.InvokeAsync(["simulte"], stderr));
        Assert.Contains("unknown command 'simulte'", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_smdr_rejects_a_bad_target()
    {
        var stderr = new StringWriter();
        var code = await RelayCli.InvokeAsync(
            ["simulate", "--protocol", "smdr", "--capture", TestPaths.Sample("smdr", "ipo-30field-2015-crisisline.csv"), "--target", "nohost"],
            stderr);
        Assert.NotEqual(0, code);
        Assert.Contains("--target must be host:port", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_ami_serves_the_banner_and_rejects_a_wrong_secret()
    {
        var port = FreePort();
        using var cts = new CancellationTokenSource();
        var run = RelayCli.InvokeAsync(
            ["simulate", "--protocol", "ami", "--capture", TestPaths.Sample("ami", "sweeney-asterisk-mqtt_answered-outbound.txt"), "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--secret", "good"],
            new StringWriter(),
            cts.Token);
        using var client = await ConnectAsync(port);
        using var reader = new StreamReader(client.GetStream(), Encoding.UTF8);
        Assert.Equal("Asterisk Call Manager/7.0.3", await reader.ReadLineAsync());
        await client.GetStream().WriteAsync(Encoding.UTF8.GetBytes("Action: Login\r\nActionID: 7\r\nUsername: admin\r\nSecret: bad\r\n\r\n"));
        string[] answer = [(await reader.ReadLineAsync())!, (await reader.ReadLineAsync())!, (await reader.ReadLineAsync())!];
        Assert.Equal(["Response: Error", "ActionID: 7", "Message: Authentication failed"], answer);

        await cts.CancelAsync();
        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Simulate_smdr_connects_to_the_target_and_pushes_every_file_in_order()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        string[] files = [TestPaths.Sample("smdr", "ipo-30field-2015-crisisline.csv"), TestPaths.Sample("smdr", "ipo-30field-2018-ru.csv")];
        var expected = files.SelectMany(f => File.ReadAllLines(f)).Where(l => l.Length > 0).ToList();
        using var cts = new CancellationTokenSource();
        var run = RelayCli.InvokeAsync(
            ["simulate", "--protocol", "smdr", "--capture", files[0], files[1], "--target", $"127.0.0.1:{port}", "--speed", "max"],
            new StringWriter(),
            cts.Token);
        using var socket = await listener.AcceptSocketAsync().WaitAsync(TimeSpan.FromSeconds(15));
        using var reader = new StreamReader(new NetworkStream(socket), Encoding.UTF8);
        var got = new List<string>();
        while (got.Count < expected.Count)
        {
            got.Add((await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(15)))!);
        }

        Assert.Equal(expected, got);
        await cts.CancelAsync();
        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static async Task<TcpClient> ConnectAsync(int port)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var client = new TcpClient();
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, port);
                return client;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                client.Dispose();
                await Task.Delay(20);
            }
        }
    }
}
