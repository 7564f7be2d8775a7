using System.Net;
using System.Net.Http.Json;
using System.Text;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;

namespace CloudTelephony.Functions.Tests;

/// <summary>IngestHttp against real PostgreSQL through the real HTTP pipeline.</summary>
public sealed class IngestTests : IAsyncLifetime
{
    private readonly FunctionsServer _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [Fact]
    public async Task A_batch_posted_twice_changes_nothing_the_second_time()
    {
        var batch = Capture.Ctip().Take(200).ToList();

        var first = await (await _server.PostFramesAsync(batch)).Content.ReadFromJsonAsync(ApiJson.Default.IngestResult);
        var rows = await CountsAsync();
        var second = await (await _server.PostFramesAsync(batch)).Content.ReadFromJsonAsync(ApiJson.Default.IngestResult);

        Assert.Equal(200, first!.Stored);
        Assert.True(first.Calls > 0, "the first 200 frames complete some calls");
        Assert.Equal(0, second!.Stored);
        Assert.Equal(0, second.Calls);
        Assert.Equal(rows, await CountsAsync());
    }

    [Fact]
    public async Task A_frame_that_does_not_parse_is_stored_with_its_error_and_the_batch_goes_on()
    {
        var batch = Capture.Ctip().Take(10).ToList();
        batch[4] = batch[4] with { Frame = "aRING 10" };

        var response = await _server.PostFramesAsync(batch);
        var result = await response.Content.ReadFromJsonAsync(ApiJson.Default.IngestResult);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(10, result!.Stored);
        Assert.Equal(1, result.ParseErrors);
        Assert.Equal(10, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
        Assert.Equal(1, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE seq = 5 AND text = 'aRING 10' AND parse_error IS NOT NULL"));
    }

    [Theory]
    [InlineData("[{\"pbx\":\"p\"")]
    [InlineData("{\"pbx\":\"p\"}")]
    [InlineData("[{\"pbx\":\"p\",\"protocol\":\"q931\",\"session\":\"s\",\"seq\":1,\"receivedAt\":\"2025-09-03T07:00:00Z\",\"frame\":\"x\"}]")]
    [InlineData("[{\"pbx\":\"p\",\"protocol\":\"ctip\",\"session\":\"s\",\"seq\":0,\"receivedAt\":\"2025-09-03T07:00:00Z\",\"frame\":\"x\"}]")]
    public async Task Malformed_bodies_answer_400_and_store_nothing(string body)
    {
        var response = await (await _server.RelayAsync()).PostAsync(Routes.IngestPath, new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
    }

    [Fact]
    public async Task The_capture_in_any_batch_sizes_gives_the_same_calls_as_in_one_batch()
    {
        var frames = Capture.Ctip();
        foreach (var chunk in frames.Chunk(37))
        {
            Assert.Equal(HttpStatusCode.OK, (await _server.PostFramesAsync(chunk)).StatusCode);
        }

        var inOne = Capture.Ctip(pbx: "slican-2");
        Assert.Equal(HttpStatusCode.OK, (await _server.PostFramesAsync(inOne)).StatusCode);

        const string calls = """
            SELECT string_agg(concat_ws('|', call_key, direction, status, caller, called, answered_by, array_to_string(extensions, ','),
                                        started_at, answered_at, ended_at, ring_seconds, talk_seconds, transfers::text), E'\n' ORDER BY call_key)
              FROM ct.calls WHERE pbx = @pbx
            """;
        Assert.Equal(await TextAsync(calls, "slican"), await TextAsync(calls, "slican-2"));
        Assert.Equal(frames.Count, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames WHERE pbx = 'slican'"));
    }

    [Fact]
    public async Task Health_reports_each_pbx_stream()
    {
        await _server.PostFramesAsync(Capture.Ctip().Take(50));

        var health = await _server.Http.GetFromJsonAsync("/api/health", ApiJson.Default.HealthDto);

        Assert.Equal("healthy", health!.Status);
        var pbx = Assert.Single(health.Pbxes);
        Assert.Equal(("slican", "ctip", 50L), (pbx.Pbx, pbx.Protocol, pbx.FramesStored));
        Assert.NotNull(pbx.LastFrameAt);
    }

    private Task<long> CountsAsync()
        => _server.Db.ScalarAsync("SELECT (SELECT count(*) FROM ct.frames) * 1000000 + (SELECT count(*) FROM ct.calls) * 1000 + (SELECT count(*) FROM ct.call_events)");

    private async Task<string?> TextAsync(string sql, string pbx)
    {
        await using var cmd = _server.Db.DataSource.CreateCommand(sql);
        cmd.Parameters.AddWithValue("pbx", pbx);
        return await cmd.ExecuteScalarAsync() as string;
    }
}
