using CloudTelephony.Functions.Commands;
using CloudTelephony.Tests;

namespace CloudTelephony.Functions.Tests;

/// <summary>The logic of <c>./ct run</c>'s demo (<c>handler demo</c>) against the real app and PostgreSQL.</summary>
public sealed class DemoCommandTests : IAsyncLifetime
{
    private readonly FunctionsServer _server = new(0.5, "--Routing:ConfigCacheSeconds=0");

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [Fact]
    public async Task Prepare_keeps_one_token_while_the_api_accepts_it_and_makes_a_new_one_after_a_revoke()
    {
        var file = new FileInfo(Path.Combine(Path.GetTempPath(), $"ct-demo-token-{Guid.NewGuid():N}"));
        var api = new Uri(_server.BaseUrl);

        var first = await DemoCommand.PrepareAsync(_server.Db.DataSource, "demo-ctip", "ctip", api, file, default);
        var second = await DemoCommand.PrepareAsync(_server.Db.DataSource, "demo-ctip", "ctip", api, file, default);
        await _server.Db.ScalarAsync("UPDATE ct.api_tokens SET revoked_at = now(); SELECT 0");
        var third = await DemoCommand.PrepareAsync(_server.Db.DataSource, "demo-ctip", "ctip", api, file, default);

        Assert.True(first.Created);
        Assert.False(second.Created, second.Why);
        Assert.Equal(first.Token, second.Token);
        Assert.True(third.Created);
        Assert.Equal(third.Token, (await File.ReadAllTextAsync(file.FullName)).Trim());
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file.FullName));
        }

        Assert.Equal("Europe/Warsaw", (await _server.StreamAsync("demo-ctip"))!.TimeZone);
    }

    [Fact]
    public async Task Watch_counts_the_capture_reports_both_times_and_stops_when_a_watched_process_is_gone()
    {
        var capture = new FileInfo(TestPaths.Sample("slican-ncp-2025-09-02_04.tsv"));
        Assert.Equal(855, DemoCommand.ExpectedFrames("ctip", [capture]));
        var ami = TestPaths.Sample("ami", "HANDMADE_ast18_queue-agent.txt");
        Assert.Equal(CloudTelephony.Contracts.CaptureFile.Read(ami, "ami").Count() + 2, DemoCommand.ExpectedFrames("ami", [new FileInfo(ami)])); // + FullyBooted, CoreShowChannelsComplete

        var file = new FileInfo(Path.Combine(Path.GetTempPath(), $"ct-demo-token-{Guid.NewGuid():N}"));
        await DemoCommand.PrepareAsync(_server.Db.DataSource, "slican", "ctip", new Uri(_server.BaseUrl), file, default);
        // the capture with compressed times, as a fast replay stores it (receive times 10 ms apart)
        var t0 = DateTimeOffset.UtcNow.AddMinutes(-5);
        var frames = Capture.Ctip().Select((e, i) => e with { ReceivedAt = t0.AddMilliseconds(10 * i) }).ToList();
        for (var i = 0; i < frames.Count; i += 200)
        {
            (await _server.PostFramesAsync(frames.Skip(i).Take(200))).EnsureSuccessStatusCode();
        }

        var output = new StringWriter();
        var options = new DemoCommand.WatchOptions("slican", "ctip", new Uri(_server.BaseUrl), file, [capture], new Dictionary<string, int>(), TimeSpan.FromSeconds(60), 600);
        Assert.Equal(0, await DemoCommand.WatchAsync(_server.Db.DataSource, options, output, default));
        var text = output.ToString();
        Assert.Contains("frames stored: 855/855", text);
        Assert.Contains("in brackets the capture's own times", text);
        Assert.Matches(@"answered .*\(\s*142\.0\)", text); // the capture's 142 s talk next to the compressed one
        Assert.Contains("/api/calls/", text);

        var gone = new DemoCommand.WatchOptions("slican", "ctip", new Uri(_server.BaseUrl), file, [capture], new Dictionary<string, int> { ["relay"] = int.MaxValue - 1 }, TimeSpan.FromSeconds(10), 0);
        var stopped = new StringWriter();
        Assert.Equal(1, await DemoCommand.WatchAsync(_server.Db.DataSource, gone, stopped, default));
        Assert.Contains("relay stopped", stopped.ToString());
    }

    [Fact]
    public async Task When_nothing_arrives_watch_shows_the_relays_last_log_line_and_times_out()
    {
        var capture = new FileInfo(TestPaths.Sample("slican-ncp-2025-09-02_04.tsv"));
        var file = new FileInfo(Path.Combine(Path.GetTempPath(), $"ct-demo-token-{Guid.NewGuid():N}"));
        await DemoCommand.PrepareAsync(_server.Db.DataSource, "quiet", "ctip", new Uri(_server.BaseUrl), file, default);
        var log = new FileInfo(Path.GetTempFileName());
        await File.WriteAllTextAsync(log.FullName, "12:00:04.761 fail: HttpForwarder ingest REJECTED a batch of 27 frames: HTTP 401\n\n");

        var output = new StringWriter();
        var options = new DemoCommand.WatchOptions("quiet", "ctip", new Uri(_server.BaseUrl), file, [capture], new Dictionary<string, int>(),
            DemoCommand.QuietHint + TimeSpan.FromSeconds(3), 600, log);

        Assert.Equal(1, await DemoCommand.WatchAsync(_server.Db.DataSource, options, output, default));
        Assert.Contains("says: 12:00:04.761 fail: HttpForwarder ingest REJECTED a batch of 27 frames: HTTP 401", output.ToString());
        Assert.Contains("was not stored within", output.ToString());
    }
}
