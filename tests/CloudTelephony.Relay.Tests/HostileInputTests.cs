using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Ami;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Framing;
using CloudTelephony.Relay.Hosting;
using CloudTelephony.Relay.Outbox;
using CloudTelephony.Relay.Simulator;
using CloudTelephony.Relay.Smdr;
using CloudTelephony.Relay.Status;
using CloudTelephony.Tests;
using Microsoft.Extensions.DependencyInjection;

namespace CloudTelephony.Relay.Tests;

/// <summary>
/// #18: no frame, batch or PBX can stop delivery for the others. Each defect reproduced with real sockets, the real
/// SQLite outbox and a real Kestrel receiver.
/// </summary>
public sealed class HostileInputTests
{
    private static string S(int v) => v.ToString(CultureInfo.InvariantCulture);

    private static Dictionary<string, string?> Ctip(int index, string id, int port) => new()
    {
        [$"Relay:Pbxes:{index}:Id"] = id,
        [$"Relay:Pbxes:{index}:Protocol"] = "ctip",
        [$"Relay:Pbxes:{index}:Host"] = "127.0.0.1",
        [$"Relay:Pbxes:{index}:Port"] = S(port),
        [$"Relay:Pbxes:{index}:Ctip:Pin"] = "1234",
        [$"Relay:Pbxes:{index}:ReconnectDelaySeconds"] = "0.05",
        [$"Relay:Pbxes:{index}:ReconnectMaxDelaySeconds"] = "0.2",
    };

    private static Dictionary<string, string?> Merge(params Dictionary<string, string?>[] parts) =>
        parts.SelectMany(p => p).ToDictionary(kv => kv.Key, kv => kv.Value);

    [Fact]
    public async Task A_NUL_byte_and_control_characters_are_forwarded_escaped_and_flagged_and_the_link_stays_up()
    {
        await using var pbx = new HostileCtipPbx(async (s, ct) =>
        {
            await s.WriteAsync(Encoding.Latin1.GetBytes("aRING 101_ 600100200\0x 0 618386710 _ a\\b\r\n"), ct);
            await s.WriteAsync(Encoding.Latin1.GetBytes("aCONN 101_ 600100200\r\n"), ct);
        });
        pbx.Start();
        await using var ingest = new TestIngest();
        await ingest.StartAsync();
        await using var relay = await TestRelay.StartAsync(Merge(Ctip(0, "nul-pbx", pbx.Port), new() { ["Relay:Forwarder:Url"] = ingest.BaseUrl }));

        await Eventually.WaitAsync(() => ingest.Of("nul-pbx").Count >= 2, "both frames delivered");
        var frames = ingest.Of("nul-pbx");
        Assert.Equal("[relay: NUL] aRING 101_ 600100200\\x00x 0 618386710 _ a\\x5Cb", frames[0].Frame);
        Assert.Equal("NUL", frames[0].Problem);
        Assert.DoesNotContain('\0', frames[0].Frame);
        Assert.Equal("aCONN 101_ 600100200", frames[1].Frame);
        Assert.Null(frames[1].Problem);
        Assert.Equal(1, pbx.ConnectionsAccepted); // never a protocol error, never a reconnect
    }

    [Fact]
    public async Task A_line_over_the_cap_is_forwarded_cut_and_flagged_and_the_next_line_is_untouched()
    {
        var longLine = "aRING " + new string('7', 200_000);
        await using var pbx = new HostileCtipPbx(async (s, ct) =>
        {
            // written in pieces, as a flood arrives: the relay must cut at the cap without holding the whole line
            var bytes = Encoding.Latin1.GetBytes(longLine + "\r\naREL 101_ 16\r\n");
            for (var i = 0; i < bytes.Length; i += 7000)
            {
                await s.WriteAsync(bytes.AsMemory(i, Math.Min(7000, bytes.Length - i)), ct);
            }
        });
        pbx.Start();
        await using var ingest = new TestIngest();
        await ingest.StartAsync();
        await using var relay = await TestRelay.StartAsync(Merge(
            Ctip(0, "long-pbx", pbx.Port),
            new() { ["Relay:Forwarder:Url"] = ingest.BaseUrl, ["Relay:Pbxes:0:MaxFrameBytes"] = "4096" }));

        await Eventually.WaitAsync(() => ingest.Of("long-pbx").Count >= 2, "cut line and the next one delivered");
        var frames = ingest.Of("long-pbx");
        Assert.Equal(2, frames.Count);
        Assert.StartsWith("[relay: line over the 4096-byte cap without a line end, cut (the rest of the line is dropped)] aRING 7777", frames[0].Frame, StringComparison.Ordinal);
        Assert.Equal(4096, frames[0].Frame.Length - frames[0].Frame.IndexOf("] ", StringComparison.Ordinal) - 2);
        Assert.Equal("line over the 4096-byte cap without a line end, cut (the rest of the line is dropped)", frames[0].Problem);
        Assert.Equal("aREL 101_ 16", frames[1].Frame);
        Assert.Equal([1L, 2L], frames.Select(f => f.Seq));
        Assert.Equal(1, pbx.ConnectionsAccepted);
        Assert.Contains(relay.Logs.Lines, l => l.Contains("dropped the remaining", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_AMI_message_over_the_cap_and_invalid_UTF8_are_flagged_and_the_stream_goes_on()
    {
        var huge = string.Join("\r\n", Enumerable.Range(0, 3000).Select(i => $"Variable{i}: {new string('v', 40)}"));
        var frames = new List<CapturedFrame>
        {
            new(null, "Event: VarSet\r\nPrivilege: dialplan,all\r\n" + huge),
            new(null, "Event: Newchannel\r\nChannel: PJSIP/201-00000001\r\nCallerIDName: Bad\u0001Name"),
            new(null, "Event: Hangup\r\nChannel: PJSIP/201-00000001\r\nCause: 16"),
        };
        await using var sim = new AmiSimulator(new AmiSimulatorOptions { Frames = frames, Port = 0, Username = "relay", Secret = "s", Speed = 0 });
        await sim.StartAsync();
        var sink = new CollectingSink();
        var options = new PbxOptions
        {
            Id = "ami-cap", Protocol = "ami", Host = "127.0.0.1", Port = sim.Port, MaxFrameBytes = 8192,
            Ami = new AmiOptions { Username = "relay", Secret = "s" }, StableSessionSeconds = 0,
        };
        var connector = new AmiConnector(options, sink, new RelayStatus(), new ListLoggerProvider().For<AmiConnector>());
        using var cts = new CancellationTokenSource();
        var run = connector.RunAsync(cts.Token);

        await Eventually.WaitAsync(() => sink.Items.Any(e => e.Frame.StartsWith("Event: Hangup", StringComparison.Ordinal)), "the message after the huge one");
        await cts.CancelAsync();
        await run;
        var got = sink.Items.Where(e => !e.Frame.StartsWith("Event: FullyBooted", StringComparison.Ordinal) && !e.Frame.StartsWith("Event: CoreShowChannelsComplete", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, got.Count);
        Assert.StartsWith("[relay: message over the 8192-byte cap, cut (the rest of the message is dropped)] Event: VarSet\r\n", got[0].Frame, StringComparison.Ordinal);
        Assert.True(got[0].Frame.Length < 8192 + 200);
        Assert.Equal("[relay: control characters] Event: Newchannel\r\nChannel: PJSIP/201-00000001\r\nCallerIDName: Bad\\x01Name", got[1].Frame);
        Assert.Equal("Event: Hangup\r\nChannel: PJSIP/201-00000001\r\nCause: 16", got[2].Frame);
        Assert.Equal(1, sim.ConnectionsAccepted);
    }

    [Fact]
    public async Task Secrets_in_a_real_Asterisk_capture_are_masked_before_the_outbox()
    {
        // recorded with the Asterisk lab: user relay (read call,cdr,dialplan,agent), dialplan reload, scenario n1 (Macro getcustomerdata)
        var path = TestPaths.Sample("ami", "lab-asterisk20_n1-smart-redirect_relay-view.txt");
        const string Token = "ctr_9Kq2VxT7mB4nWz8";
        Assert.Contains(Token, await File.ReadAllTextAsync(path), StringComparison.Ordinal);
        var capture = CaptureFile.Read(path, Protocols.Ami).ToList();
        await using var sim = new AmiSimulator(new AmiSimulatorOptions { Frames = capture, Port = 0, Username = "relay", Secret = "s", Speed = 0 });
        await sim.StartAsync();
        await using var outbox = new TempOutbox();
        var options = new PbxOptions { Id = "lab", Protocol = "ami", Host = "127.0.0.1", Port = sim.Port, Ami = new AmiOptions { Username = "relay", Secret = "s" } };
        var connector = new AmiConnector(options, outbox.Outbox, new RelayStatus(), new ListLoggerProvider().For<AmiConnector>());
        using var cts = new CancellationTokenSource();
        var run = connector.RunAsync(cts.Token);
        var events = capture.Count(f => f.Frame.StartsWith("Event:", StringComparison.Ordinal));
        await Eventually.WaitAsync(() => outbox.Outbox.Depth >= events + 2, "every event in the outbox");
        await cts.CancelAsync();
        await run;

        var stored = await outbox.Outbox.ReadBatchAsync(10_000, TimeSpan.Zero, CancellationToken.None);
        Assert.DoesNotContain(stored, e => e.Frame.Contains(Token, StringComparison.Ordinal));
        Assert.Contains(stored, e => e.Frame.Contains("Variable: CT_ROUTING_TOKEN\r\nValue: ***", StringComparison.Ordinal));
        Assert.Contains(stored, e => e.Frame.Contains("AppData: CURLOPT(httpheader)=Token: ***", StringComparison.Ordinal));
        // nothing else changed: every other event is byte for byte the capture's
        var masked = stored.Count(e => e.Frame.Contains("***", StringComparison.Ordinal));
        Assert.Equal(2, masked);
        var originals = capture.Where(f => f.Frame.StartsWith("Event:", StringComparison.Ordinal) && !f.Frame.Contains(Token, StringComparison.Ordinal)).Select(f => f.Frame).ToList();
        Assert.Equal(originals, stored.Where(e => !e.Frame.Contains("***", StringComparison.Ordinal) && e.Frame.StartsWith("Event:", StringComparison.Ordinal)).Select(e => e.Frame).Where(originals.Contains).ToList());
        // + the FullyBooted the simulator sends after every Login, as Asterisk does, and the answer to CoreShowChannels
        Assert.Equal(capture.Count(f => f.Frame.StartsWith("Event:", StringComparison.Ordinal)) + 2, stored.Count(e => e.Frame.StartsWith("Event:", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("Token: abc123", "Token: ***")]
    [InlineData("CURLOPT(httpheader)=Authorization: Bearer eyJhbGciOi", "CURLOPT(httpheader)=Authorization: Bearer ***")]
    [InlineData("CURLOPT(httpheader)=Content-Type: application/json", "CURLOPT(httpheader)=Content-Type: application/json")]
    [InlineData("__CT_ROUTING_TOKEN=abc", "__CT_ROUTING_TOKEN=***")]
    [InlineData("CURLOPT(userpwd)=relay:pa55", "CURLOPT(userpwd)=***")]
    [InlineData("SMS_API_KEY=k1,TIMEOUT=5", "SMS_API_KEY=***,TIMEOUT=5")]
    [InlineData("PJSIP/201,30,tT", "PJSIP/201,30,tT")]
    [InlineData("CALLERID(name)=Jan Kowalski", "CALLERID(name)=Jan Kowalski")]
    public void Header_credentials_and_secret_assignments_are_masked_in_values(string value, string expected) =>
        Assert.Equal(expected, AmiRedaction.RedactValue(value));

    [Fact]
    public async Task The_SMDR_listener_closes_idle_connections_caps_them_per_source_and_rate_limits_refusal_logs()
    {
        var sink = new CollectingSink();
        var logs = new ListLoggerProvider();
        var limits = new SmdrListenerOptions { IdleTimeoutSeconds = 0.5, MaxConnectionsPerSource = 2, RefusedLogIntervalSeconds = 60 };
        await using var listener = new SmdrListener(IPAddress.Loopback, 0, new Dictionary<IPAddress, string> { [IPAddress.Loopback] = "ipo" }, limits, sink, new RelayStatus(), logs.For<SmdrListener>());
        listener.Start();
        using var cts = new CancellationTokenSource();
        var run = listener.RunAsync(cts.Token);

        // idle: closed by the relay after the timeout
        using (var idle = new TcpClient())
        {
            await idle.ConnectAsync(IPAddress.Loopback, listener.Port);
            var read = await idle.GetStream().ReadAsync(new byte[1]).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(0, read);
        }

        Assert.Contains(logs.Lines, l => l.Contains("idle for 0.5 s", StringComparison.Ordinal));

        // cap: two open connections per source; 20 more are refused, logged once
        limits.IdleTimeoutSeconds = 60;
        using var a = new TcpClient();
        using var b = new TcpClient();
        await a.ConnectAsync(IPAddress.Loopback, listener.Port);
        await b.ConnectAsync(IPAddress.Loopback, listener.Port);
        await Eventually.WaitAsync(() => listener.ConnectionsAccepted >= 3, "two more accepted");
        for (var i = 0; i < 20; i++)
        {
            using var extra = new TcpClient();
            try
            {
                await extra.ConnectAsync(IPAddress.Loopback, listener.Port);
                var n = await extra.GetStream().ReadAsync(new byte[1]).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Equal(0, n);
            }
            catch (Exception ex) when (ex is IOException or SocketException)
            {
                // reset: refused
            }
        }

        await Eventually.WaitAsync(() => listener.ConnectionsRefused >= 20, "20 refused");
        Assert.Single(logs.Lines, l => l.Contains("refused connection from 127.0.0.1", StringComparison.Ordinal));
        Assert.Contains(logs.Lines, l => l.Contains("2 connections of PBX ipo are open already", StringComparison.Ordinal));

        // the two accepted connections still deliver
        await a.GetStream().WriteAsync("2015/03/01 01:00:00,00:00:05,3,201,O,0601234567,0601234567,,0,1000001,0,E201,Ext201,T9001,Line 1.1,0,0,,,,,,,,,,,,,\r\n"u8.ToArray());
        await Eventually.WaitAsync(() => sink.Items.Count == 1, "a record from an accepted connection");
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Batches_are_split_by_bytes_below_the_receivers_limit()
    {
        await using var ingest = new TestIngest();
        await ingest.StartAsync();
        await using var outbox = new TempOutbox();
        var big = new string('x', 60_000);
        var sent = Enumerable.Range(1, 200).Select(i => new Envelope("big", "ctip", "s1", i, DateTimeOffset.UnixEpoch.AddSeconds(i), $"aRING {i} {big}")).ToList();
        await outbox.Outbox.AppendAsync(sent, CancellationToken.None);
        await using var forwarder = HttpForwarding.Start(ingest.BaseUrl, outbox.Outbox, new ForwarderOptions { MaxBatchBytes = 1024 * 1024 });

        await Eventually.WaitAsync(() => ingest.Stored.Count >= sent.Count, "every frame delivered");
        Assert.Equal(sent.Select(e => e.Seq), ingest.Stored.Select(e => e.Seq));
        Assert.All(ingest.BodySizes, size => Assert.True(size <= 1024 * 1024, $"a body of {size} bytes"));
        Assert.True(ingest.BodySizes.Count >= 12); // 12 MB in batches of at most 1 MiB
    }

    [Fact]
    public async Task A_frame_the_receiver_refuses_with_400_is_dead_lettered_with_the_reason_and_delivery_goes_on()
    {
        await using var ingest = new TestIngest
        {
            Refuse = batch => batch.Any(e => e.Frame.Contains("POISON", StringComparison.Ordinal))
                ? (422, "frame 'POISON' cannot be stored")
                : (200, "stored"),
        };
        await ingest.StartAsync();
        var status = new RelayStatus();
        await using var outbox = new TempOutbox(status: status);
        var sent = Enumerable.Range(1, 100).Select(i => new Envelope("dl", "ctip", "s1", i, DateTimeOffset.UnixEpoch.AddSeconds(i), i is 37 or 80 ? "aPOISON" : $"aREL {i}")).ToList();
        await outbox.Outbox.AppendAsync(sent, CancellationToken.None);
        await using var forwarder = HttpForwarding.Start(ingest.BaseUrl, outbox.Outbox, new ForwarderOptions { BatchSize = 50 });

        await Eventually.WaitAsync(() => ingest.Stored.Count >= 98 && outbox.Outbox.Depth == 0, "every other frame delivered and the outbox empty");
        Assert.Equal(sent.Where(e => e.Seq is not 37 and not 80).Select(e => e.Seq), ingest.Stored.Select(e => e.Seq));
        var dead = outbox.Outbox.ReadDeadLetters();
        Assert.Equal([37L, 80L], dead.Select(d => d.Envelope.Seq));
        Assert.All(dead, d => Assert.Equal(422, d.Status));
        Assert.All(dead, d => Assert.Contains("frame 'POISON' cannot be stored", d.Reason, StringComparison.Ordinal));
        Assert.Equal(2, status.Outbox.DeadLetters);
        Assert.NotNull(status.Outbox.DeadLetterOldestAt);

        var heartbeat = CloudTelephony.Relay.Hosting.HeartbeatService.Build("r1", status);
        Assert.Equal(2, heartbeat.DeadLetters);
        Assert.Equal(status.Outbox.DeadLetterOldestAt, heartbeat.DeadLetterOldestAt);

        // kept across a restart
        await outbox.ReopenAsync();
        Assert.Equal(2, outbox.Outbox.DeadLetters);
    }

    [Fact]
    public async Task A_PBX_at_its_outbox_share_waits_while_another_PBX_goes_on()
    {
        var status = new RelayStatus();
        var logs = new ListLoggerProvider();
        var dir = Directory.CreateTempSubdirectory("ct-share-").FullName;
        await using var outbox = new SqliteOutbox(new OutboxOptions { Path = Path.Combine(dir, "o.db"), MaxFrames = 100, MaxFramesPerPbx = 50 }, logs.For<SqliteOutbox>(), status);
        Envelope E(string pbx, int i) => new(pbx, "ctip", "s", i, DateTimeOffset.UnixEpoch, $"aREL {i}");

        await outbox.AppendAsync([.. Enumerable.Range(1, 50).Select(i => E("flood", i))], CancellationToken.None);
        var blocked = outbox.AppendAsync(E("flood", 51), CancellationToken.None).AsTask();
        await Eventually.WaitAsync(() => logs.Lines.Any(l => l.Contains("outbox share of PBX flood full", StringComparison.Ordinal)), "the share alarm");
        Assert.False(blocked.IsCompleted);
        Assert.True(status.Outbox.AtCap);

        // the quiet PBX is not held back by the flood
        await outbox.AppendAsync([.. Enumerable.Range(1, 40).Select(i => E("quiet", i))], CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(blocked.IsCompleted);

        var batch = await outbox.ReadBatchAsync(30, TimeSpan.Zero, CancellationToken.None);
        await outbox.AcknowledgeAsync(batch, CancellationToken.None);
        await blocked.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(90 - 30 + 1, outbox.Depth);
    }

    [Fact]
    public void The_per_PBX_share_defaults_to_an_equal_part_of_the_outbox()
    {
        var options = new RelayOptions { Outbox = new OutboxOptions { MaxFrames = 1000 }, Pbxes = [new() { Id = "a" }, new() { Id = "b" }, new() { Id = "c" }, new() { Id = "d" }] };
        Assert.Equal(250, CloudTelephony.Relay.Hosting.RelayServices.EffectiveOutbox(options).MaxFramesPerPbx);
        options.Outbox.MaxFramesPerPbx = 600;
        Assert.Equal(600, CloudTelephony.Relay.Hosting.RelayServices.EffectiveOutbox(options).MaxFramesPerPbx);
    }

    [Fact]
    public void Flagged_frames_unescape_to_the_bytes_received()
    {
        var bytes = new byte[] { (byte)'a', 0, (byte)'\\', (byte)'x', (byte)'4', (byte)'1', 0x1B, 0xC3, 0xA9, 0xFF };
        var text = FrameText.Decode(bytes, latin1: false, out var problems);
        Assert.NotNull(problems);
        Assert.Equal(bytes, Unescape(text));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_flagged_frame_of_random_bytes_is_the_marker_and_the_bytes_escaped_in_one_string(bool latin1)
    {
        // the flood's cut lines: binary with the odd valid UTF-8 sequence (2-, 3- and 4-byte, so surrogate pairs too)
        var random = new Random(7);
        for (var round = 0; round < 50; round++)
        {
            var bytes = new byte[random.Next(0, 70_000)];
            random.NextBytes(bytes);
            for (var i = 0; i + 4 < bytes.Length; i += random.Next(8, 64))
            {
                Encoding.UTF8.GetBytes(round % 3 == 0 ? "é" : round % 3 == 1 ? "€" : "😀").CopyTo(bytes, i);
            }

            var frame = FrameText.Flag("line cut", bytes, latin1);
            Assert.StartsWith("[relay: line cut] ", frame, StringComparison.Ordinal);
            Assert.DoesNotContain('\0', frame);
            Assert.Equal(bytes, Unescape(frame["[relay: line cut] ".Length..], latin1));
        }
    }

    /// <summary>What a receiver does to get the bytes back: <c>\xNN</c> → byte NN, everything else UTF-8 (or latin-1).</summary>
    private static byte[] Unescape(string text, bool latin1 = false)
    {
        var result = new List<byte>();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && i + 3 < text.Length && text[i + 1] == 'x')
            {
                result.Add(byte.Parse(text.AsSpan(i + 2, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                i += 3;
            }
            else
            {
                var n = char.IsSurrogate(text[i]) ? 2 : 1;
                result.AddRange((latin1 ? Encoding.Latin1 : Encoding.UTF8).GetBytes(text.Substring(i, n)));
                i += n - 1;
            }
        }

        return [.. result];
    }
}

/// <summary>An <see cref="CloudTelephony.Relay.Forwarding.HttpForwarder"/> over a given outbox, started; disposed = stopped.</summary>
internal sealed class HttpForwarding : IAsyncDisposable
{
    private readonly CloudTelephony.Relay.Forwarding.HttpForwarder _forwarder;
    private readonly ServiceProvider _services;

    private HttpForwarding(CloudTelephony.Relay.Forwarding.HttpForwarder forwarder, ServiceProvider services)
    {
        _forwarder = forwarder;
        _services = services;
    }

    public static HttpForwarding Start(string url, SqliteOutbox outbox, ForwarderOptions forwarder)
    {
        forwarder.Url = url;
        forwarder.RetryDelaySeconds = 0.01;
        forwarder.MaxRetryDelaySeconds = 0.05;
        forwarder.RejectedRetryDelaySeconds = 0.05;
        forwarder.LingerMilliseconds = 0;
        var options = Microsoft.Extensions.Options.Options.Create(new RelayOptions { Forwarder = forwarder });
        var services = new ServiceCollection().AddLogging().AddSingleton(options).AddHttpForwarderClient().BuildServiceProvider();
        var f = new CloudTelephony.Relay.Forwarding.HttpForwarder(
            outbox,
            services.GetRequiredService<IHttpClientFactory>(),
            options,
            services.GetRequiredService<Microsoft.Extensions.Logging.ILogger<CloudTelephony.Relay.Forwarding.HttpForwarder>>());
        f.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        return new HttpForwarding(f, services);
    }

    public async ValueTask DisposeAsync()
    {
        await _forwarder.StopAsync(CancellationToken.None);
        _forwarder.Dispose();
        await _services.DisposeAsync();
    }
}
