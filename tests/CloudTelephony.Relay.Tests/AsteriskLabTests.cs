using System.Diagnostics;
using System.Globalization;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Ami;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Status;
using CloudTelephony.Tests;
using Xunit.Abstractions;

namespace CloudTelephony.Relay.Tests;

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
