using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.Tests;

namespace CloudTelephony.Functions.Tests;

/// <summary>IngestFrames (serviceBusTrigger custom-handler payloads) against real PostgreSQL through the real HTTP pipeline.</summary>
public sealed class IngestFramesTests : IAsyncLifetime
{
    private readonly FunctionsServer _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    private static string Json(Envelope e) => JsonSerializer.Serialize(e, ContractsJson.Default.Envelope);

    private static HostPayloads.Message Message(Envelope e, string? body = null) => new(body ?? Json(e), e.MessageId, e.Pbx);

    private async Task<(HttpStatusCode Status, InvocationResponse? Body)> PostAsync(string payload)
    {
        using var response = await _server.Http.PostAsync(IngestFramesEndpoint.Path, new StringContent(payload, Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadFromJsonAsync(ApiJson.Default.InvocationResponse);
        return (response.StatusCode, body);
    }

    /// <summary>A batch as the host posts it (HostPayloads: Newtonsoft, the host's value rules).</summary>
    private Task<(HttpStatusCode Status, InvocationResponse? Body)> InvokeAsync(IReadOnlyList<HostPayloads.Message> messages) =>
        PostAsync(HostPayloads.ServiceBusBatch(messages));

    [Fact]
    public void Function_json_declares_the_session_batch_trigger()
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "functions", "CloudTelephony.Functions", "IngestFrames", "function.json")))!;
        var b = json["bindings"]![0]!;
        Assert.Equal("serviceBusTrigger", (string?)b["type"]);
        Assert.Equal("msg", (string?)b["name"]);
        Assert.Equal(Routes.FramesQueue, (string?)b["queueName"]);
        Assert.Equal("ServiceBusConnection", (string?)b["connection"]);
        Assert.True((bool?)b["isSessionsEnabled"]);
        Assert.Equal("many", (string?)b["cardinality"]);
        Assert.Equal("string", (string?)b["dataType"]); // message bodies as strings, not object[] (§4.2)
    }

    [Fact]
    public async Task Single_message_json_encoded_again_by_the_host()
    {
        var e = Capture.Ctip()[0];
        var (status, body) = await PostAsync(HostPayloads.ServiceBusSingle(Message(e), "IngestFrames"));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains(body!.Logs, l => l.Contains("1 frames stored", StringComparison.Ordinal));
        Assert.Equal(1, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
    }

    [Fact]
    public async Task Batch_as_the_host_sends_it_stores_everything_once_and_base64_bodies_are_read_too()
    {
        var batch = Capture.Ctip().Take(90).ToList();
        var messages = batch.Select((e, i) => i % 3 == 2 ? Message(e, Convert.ToBase64String(Encoding.UTF8.GetBytes(Json(e)))) : Message(e)).ToList();

        var (status, body) = await InvokeAsync(messages);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains(body!.Logs, l => l.StartsWith($"IngestFrames: 90 messages (session {batch[0].Pbx})", StringComparison.Ordinal));
        Assert.Equal(90, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));

        // redelivery of the same batch (Service Bus at-least-once) changes nothing
        Assert.Equal(HttpStatusCode.OK, (await InvokeAsync([.. batch.Select(e => Message(e))])).Status);
        Assert.Equal(90, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
    }

    [Fact]
    public async Task Batch_of_one_is_still_a_batch()
    {
        var e = Capture.Ctip()[0];
        var (status, _) = await InvokeAsync([Message(e)]);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
    }

    [Fact]
    public async Task A_frame_that_does_not_parse_is_stored_with_its_error_and_the_batch_succeeds()
    {
        var batch = Capture.Ctip().Take(5).ToList();
        batch[2] = batch[2] with { Frame = "aRING 10" };
        var (status, body) = await InvokeAsync([.. batch.Select(e => Message(e))]);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains(body!.Logs, l => l.Contains("1 parse errors", StringComparison.Ordinal));
        Assert.Equal(5, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
    }

    [Fact]
    public async Task A_message_that_is_not_an_envelope_fails_the_invocation_but_the_good_ones_are_stored()
    {
        var batch = Capture.Ctip().Take(3).ToList();
        var (status, body) = await InvokeAsync([Message(batch[0]), Message(batch[1], "hello, not json"), Message(batch[2])]);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(body!.Logs, l => l.Contains($"message {batch[1].MessageId} (session {batch[1].Pbx}, delivery 1)", StringComparison.Ordinal) && l.Contains("is not an envelope", StringComparison.Ordinal));
        Assert.Equal(2, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
    }

    [Fact]
    public async Task Storage_failure_answers_500_and_stores_nothing()
    {
        var batch = Capture.Ctip().Take(10).ToList();
        await _server.Db.ScalarAsync("ALTER TABLE ct.frames RENAME TO frames_away; SELECT 0");
        try
        {
            var (status, body) = await InvokeAsync([.. batch.Select(e => Message(e))]);
            Assert.Equal(HttpStatusCode.InternalServerError, status);
            Assert.Contains(body!.Logs, l => l.StartsWith("batch not stored", StringComparison.Ordinal));
        }
        finally
        {
            await _server.Db.ScalarAsync("ALTER TABLE ct.frames_away RENAME TO frames; SELECT 0");
        }

        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
        var (again, _) = await InvokeAsync([.. batch.Select(e => Message(e))]);
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.Equal(10, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
    }

    [Fact]
    public async Task Invocation_without_data_msg_answers_400()
    {
        var (status, body) = await PostAsync(HostPayloads.Invocation(new Dictionary<string, object?>(), new Dictionary<string, object?>()));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(body!.Logs, l => l.Contains("no Data.msg", StringComparison.Ordinal));
    }
}
