using System.Diagnostics;
using System.Globalization;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Ami;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Status;
using CloudTelephony.Tests;
using Xunit.Abstractions;

namespace CloudTelephony.Relay.Tests;

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
    public async Task<string> ScenarioAsync(string name)
    {
        var outDir = Directory.CreateTempSubdirectory("ct-lab-scenario-").FullName;
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

[CollectionDefinition(Name)]
public sealed class AsteriskLabCollection : ICollectionFixture<AsteriskLab>
{
    public const string Name = "Asterisk lab";
}

/// <summary>
/// #14: the relay against a real Asterisk 20: login, the default event mask (with dtmf), Ping, and a reconnect in the
/// middle of a call with the CoreShowChannels resync (scenario p_relay_link_dropped_mid_call kills the relay's AMI
/// socket with ss -K while the phone rings).
/// </summary>
[Collection(AsteriskLabCollection.Name)]
public sealed class AsteriskLabTests(AsteriskLab lab, ITestOutputHelper output)
{
    private sealed class Running : IAsyncDisposable
    {
        private readonly CancellationTokenSource _cts = new();
        private readonly Task _run;

        public Running(int port)
        {
            Options = new PbxOptions
            {
                Id = "lab-asterisk", Protocol = Protocols.Ami, Host = "127.0.0.1", Port = port,
                Ami = new AmiOptions { Username = "relay", Secret = "relay-secret-1", PingIntervalSeconds = 0.5, PingTimeoutSeconds = 3 },
                ReconnectDelaySeconds = 0.05, ReconnectMaxDelaySeconds = 0.2, StableSessionSeconds = 0,
            };
            _run = new AmiConnector(Options, Sink, Status, Logs.For<AmiConnector>()).RunAsync(_cts.Token);
        }

        public PbxOptions Options { get; }

        public CollectingSink Sink { get; } = new();

        public RelayStatus Status { get; } = new();

        public ListLoggerProvider Logs { get; } = new();

        public PbxStatus State => Status.Get("lab-asterisk")!;

        public async ValueTask DisposeAsync()
        {
            await _cts.CancelAsync();
            await _run.WaitAsync(TimeSpan.FromSeconds(10));
            _cts.Dispose();
        }
    }

    [LabFact]
    public async Task Login_event_mask_with_dtmf_ping_and_the_resync_work_on_a_real_Asterisk()
    {
        await using var relay = new Running(lab.AmiPort);
        await Eventually.WaitAsync(() => relay.Status.Get("lab-asterisk")?.State == PbxConnectionState.Connected, "logged in", TimeSpan.FromSeconds(30));
        await Eventually.WaitAsync(() => relay.Sink.Items.Any(e => e.Frame.StartsWith("Event: CoreShowChannelsComplete", StringComparison.Ordinal)), "the CoreShowChannels answer");
        Assert.StartsWith("Asterisk Call Manager/", relay.State.PbxIdentity, StringComparison.Ordinal);
        Assert.DoesNotContain(relay.Logs.Lines, l => l.Contains("answered", StringComparison.Ordinal) && l.Contains("Events (EventMask", StringComparison.Ordinal));
        Assert.DoesNotContain(relay.Logs.Lines, l => l.Contains("CoreShowChannels answered", StringComparison.Ordinal));

        // pings every 0.5 s: an unanswered one would make a new session
        await Task.Delay(2500);
        Assert.Equal(1, relay.State.Sessions);

        // the IVR scenario: the caller sends DTMF 2; the dtmf class of the default mask brings it to the relay
        output.WriteLine(await lab.ScenarioAsync("k_ivr_digit_answered"));
        await Eventually.WaitAsync(() => relay.Sink.Items.Any(e => e.Frame.StartsWith("Event: DTMFEnd", StringComparison.Ordinal)), "a DTMFEnd event", TimeSpan.FromSeconds(30));
        var dtmf = relay.Sink.Items.First(e => e.Frame.StartsWith("Event: DTMFEnd", StringComparison.Ordinal));
        Assert.Contains("Digit: 2", dtmf.Frame, StringComparison.Ordinal);
        Assert.Equal(1, relay.State.Sessions);
        Assert.All(relay.Sink.Items, e => Assert.DoesNotContain("Response:", e.Frame, StringComparison.Ordinal));
    }

    [LabFact]
    public async Task After_the_link_is_killed_mid_call_the_relay_reconnects_and_the_resync_lists_the_call()
    {
        await using var relay = new Running(lab.AmiPort);
        await Eventually.WaitAsync(() => relay.Status.Get("lab-asterisk")?.State == PbxConnectionState.Connected, "logged in", TimeSpan.FromSeconds(30));
        var firstSession = relay.State.Session!;

        var driver = await lab.ScenarioAsync("p_relay_link_dropped_mid_call");
        output.WriteLine(driver);
        await Eventually.WaitAsync(() => relay.State.Sessions >= 2, "a reconnect after the kill", TimeSpan.FromSeconds(30));

        var frames = relay.Sink.Items;
        var before = frames.Where(e => e.Session == firstSession).ToList();
        var after = frames.Where(e => e.Session != firstSession).ToList();
        var linkedid = Header(before.First(e => e.Frame.StartsWith("Event: Newchannel", StringComparison.Ordinal)).Frame, "Linkedid");
        // the resync of the new session: the call's channels, then the end of the list
        var listed = after.Where(e => e.Frame.StartsWith("Event: CoreShowChannel\r\n", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(listed);
        Assert.Contains(listed, e => Header(e.Frame, "Linkedid") == linkedid);
        var complete = Assert.Single(after, e => e.Frame.StartsWith("Event: CoreShowChannelsComplete", StringComparison.Ordinal));
        Assert.Equal(listed.Count.ToString(CultureInfo.InvariantCulture), Header(complete.Frame, "ListItems"));
        Assert.True(after.IndexOf(complete) > after.IndexOf(listed[^1]));
        // the call goes on in the new session and ends there
        await Eventually.WaitAsync(() => relay.Sink.Items.Any(e => e.Session != firstSession && e.Frame.StartsWith("Event: Hangup", StringComparison.Ordinal) && Header(e.Frame, "Linkedid") == linkedid), "the call's hangup in the new session", TimeSpan.FromSeconds(60));
        Assert.All(relay.Sink.Items.GroupBy(e => e.Session), g => Assert.Equal(Enumerable.Range(1, g.Count()).Select(i => (long)i), g.Select(e => e.Seq)));
        Assert.Contains(relay.Logs.Lines, l => l.Contains("reconnecting", StringComparison.Ordinal));
    }

    private static string? Header(string frame, string key) => AmiFraming.Header(frame, key);
}
