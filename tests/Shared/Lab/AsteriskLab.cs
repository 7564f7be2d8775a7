using System.Diagnostics;
using System.Globalization;
using Xunit;

namespace CloudTelephony.Tests;

/// <summary>A test against the real Asterisk lab; skipped with one line when <c>../shared/asterisk</c> is absent.</summary>
public sealed class LabFactAttribute : FactAttribute
{
    public LabFactAttribute()
    {
        if (!AsteriskLab.Available)
        {
            Skip = $"the Asterisk lab ({AsteriskLab.Home}) is absent: lab tests skipped";
        }
    }
}

/// <summary>
/// The real Asterisk 20 lab of <c>../shared/asterisk</c> (a PBX under test plus a "world" playing handsets and carrier),
/// started through <c>infra/local/asterisk-lab.sh</c> (its own folder .ct/asterisk-lab, ports shifted by 300, the relay
/// user reading dtmf and writing reporting) and stopped again if this run started it.
/// </summary>
public sealed class AsteriskLab : IAsyncLifetime
{
    public static string Home => Path.Combine(TestPaths.Shared, "asterisk");

    public static bool Available => File.Exists(Path.Combine(Home, "bin", "lab.sh"));

    public string Dir { get; private set; } = "";

    public int AmiPort { get; private set; }

    private bool _startedHere;

    public async Task InitializeAsync()
    {
        if (!Available)
        {
            return;
        }

        var script = Path.Combine(TestPaths.RepoRoot, "infra", "local", "asterisk-lab.sh");
        _startedHere = (await RunAsync("bash", [script, "status"], TimeSpan.FromSeconds(30))).Code != 0;
        var (code, output) = await RunAsync("bash", [script, "start"], TimeSpan.FromMinutes(5));
        Assert.True(code == 0, $"asterisk-lab.sh start failed ({code}): {output}");
        Dir = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1].Trim();
        var env = await File.ReadAllLinesAsync(Path.Combine(Dir, "lab.env"));
        AmiPort = int.Parse(env.Single(l => l.StartsWith("LAB_AMI_PORT=", StringComparison.Ordinal))["LAB_AMI_PORT=".Length..].Trim('\''), CultureInfo.InvariantCulture);
    }

    public async Task DisposeAsync()
    {
        if (Available && _startedHere)
        {
            await RunAsync("bash", [Path.Combine(TestPaths.RepoRoot, "infra", "local", "asterisk-lab.sh"), "stop"], TimeSpan.FromMinutes(1));
        }
    }

    /// <summary>Runs one scenario of the lab's driver (real SIP calls between the PBX and the world); returns its output.</summary>
    /// <param name="name">A scenario of the driver (<c>scenarios.py --list</c>).</param>
    /// <param name="outDir">Where the driver writes the capture and appends the truth (<c>truth.jsonl</c>); a new
    /// temporary folder when null.</param>
    public async Task<string> ScenarioAsync(string name, string? outDir = null)
    {
        outDir ??= Directory.CreateTempSubdirectory("ct-lab-scenario-").FullName;
        var (code, output) = await RunAsync("python3", [Path.Combine(Home, "bin", "scenarios.py"), "--dir", Dir, "--out", outDir, name], TimeSpan.FromMinutes(3));
        Assert.True(code == 0, $"scenario {name} failed ({code}): {output}");
        return output;
    }

    public static async Task<(int Code, string Output)> RunAsync(string file, string[] args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            await p.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }

        return (p.ExitCode, (await stderr) + (await stdout));
    }
}
