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
}
