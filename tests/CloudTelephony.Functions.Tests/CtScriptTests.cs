using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using CloudTelephony.Tests;

namespace CloudTelephony.Functions.Tests;

/// <summary>The <c>ct</c> script's own logic with real sockets and processes: a taken port is skipped (or refused
/// with one line when the operator chose it), a child that dies instead of binding its port stops <c>./ct run</c>,
/// and mistakes on its command line are one line and exit 2.</summary>
public sealed class CtScriptTests
{
    private static async Task<(int Code, string Out, string Err)> BashAsync(string script, IReadOnlyDictionary<string, string?>? env = null)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = TestPaths.RepoRoot };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        foreach (var (k, v) in env ?? new Dictionary<string, string?>())
        {
            start.Environment[k] = v;
        }

        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(timeout.Token);
        return (p.ExitCode, (await stdout).Trim(), (await stderr).Trim());
    }

    private static TcpListener Listen()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return l;
    }

    private static int PortOf(TcpListener l) => ((IPEndPoint)l.LocalEndpoint).Port;

    [Fact]
    public async Task A_taken_default_port_moves_to_the_next_free_one()
    {
        using var taken = Listen();
        var port = PortOf(taken);

        var (code, stdout, stderr) = await BashAsync($"source ./ct; pick_port {port} CT_TEST_PORT 'functions app'", new Dictionary<string, string?> { ["CT_TEST_PORT"] = null });

        Assert.Equal(0, code);
        Assert.True(int.Parse(stdout, System.Globalization.CultureInfo.InvariantCulture) > port, stdout);
        Assert.Contains($"port {port} is taken", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_taken_port_the_operator_chose_stops_with_one_line_and_exit_2()
    {
        using var taken = Listen();
        var port = PortOf(taken);

        var (code, _, stderr) = await BashAsync($"source ./ct; HTTP_PORT=$(pick_port {port} CT_HTTP_PORT 'functions app'); echo unreachable",
            new Dictionary<string, string?> { ["CT_HTTP_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) });

        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Split('\n'));
        Assert.Contains($"port {port} (CT_HTTP_PORT) is taken", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_child_that_exits_instead_of_binding_stops_run_even_when_another_process_answers()
    {
        // Another process holds the port and answers; our child fails (as the functions app does when its port is taken).
        using var other = Listen();
        var port = PortOf(other);
        var log = Path.GetTempFileName();

        var (code, _, stderr) = await BashAsync(
            $"source ./ct; (echo 'error: Failed to bind to address: address already in use' >'{log}'; exit 2) & wait_child $! 'functions app' '{log}' port_taken {port}; echo unreachable");

        Assert.Equal(1, code);
        Assert.Contains("address already in use", stderr, StringComparison.Ordinal);
        Assert.Contains("functions app stopped", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("run --speed", "--speed needs a value")]
    [InlineData("run --speed fast", "--speed 'fast' is not a number")]
    [InlineData("run --protocol", "--protocol needs a value")]
    [InlineData("run --protocol sip", "unknown protocol 'sip'")]
    [InlineData("run --bogus", "unknown option --bogus")]
    public async Task Run_mistakes_are_one_line_and_exit_2(string args, string message)
    {
        var (code, _, stderr) = await BashAsync($"./ct {args}");
        Assert.Equal(2, code);
        Assert.Contains(message, Assert.Single(stderr.Split('\n')), StringComparison.Ordinal);
        Assert.DoesNotContain("unbound variable", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Test_help_prints_help_and_exits_0()
    {
        var (code, stdout, _) = await BashAsync("./ct test --help");
        Assert.Equal(0, code);
        Assert.StartsWith("Usage: ./ct test", stdout, StringComparison.Ordinal);
    }
}
