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

    private static JsonObject Meta(IReadOnlyList<Envelope> batch, bool arrays) => arrays
        ? new JsonObject
        {
            ["MessageIdArray"] = new JsonArray([.. batch.Select(e => (JsonNode)JsonValue.Create(e.MessageId))]),
            ["SessionIdArray"] = new JsonArray([.. batch.Select(e => (JsonNode)JsonValue.Create(e.Pbx))]),
            ["DeliveryCountArray"] = new JsonArray([.. batch.Select(_ => (JsonNode)JsonValue.Create(1))]),
            ["ContentTypeArray"] = new JsonArray([.. batch.Select(_ => (JsonNode)JsonValue.Create("application/json"))]),
            ["ApplicationPropertiesArray"] = new JsonArray([.. batch.Select(_ => (JsonNode)new JsonObject())]),
            ["sys"] = new JsonObject { ["MethodName"] = "IngestFrames", ["UtcNow"] = "2026-01-01T00:00:00Z", ["RandGuid"] = Guid.NewGuid().ToString() },
        }
        : new JsonObject
        {
            ["MessageId"] = batch[0].MessageId,
            ["SessionId"] = batch[0].Pbx,
            ["DeliveryCount"] = 1,
            ["ContentType"] = "application/json",
            ["ApplicationProperties"] = new JsonObject(),
            ["sys"] = new JsonObject { ["MethodName"] = "IngestFrames" },
        };

    private async Task<(HttpStatusCode Status, InvocationResponse? Body)> InvokeAsync(JsonNode msg, JsonObject meta)
    {
        var payload = new JsonObject { ["Data"] = new JsonObject { ["msg"] = msg }, ["Metadata"] = meta };
        using var response = await _server.Http.PostAsync(IngestFramesEndpoint.Path, new StringContent(payload.ToJsonString(), Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadFromJsonAsync(ApiJson.Default.InvocationResponse);
        return (response.StatusCode, body);
    }

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
    }

    [Fact]
    public async Task Single_message_as_object()
    {
        var e = Capture.Ctip()[0];
        var (status, body) = await InvokeAsync(JsonNode.Parse(Json(e))!, Meta([e], arrays: false));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains(body!.Logs, l => l.Contains("1 frames stored", StringComparison.Ordinal));
        Assert.Equal(1, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
    }

    [Fact]
    public async Task Single_message_as_escaped_string()
    {
        var e = Capture.Ctip()[0];
        var (status, _) = await InvokeAsync(JsonValue.Create(Json(e)), Meta([e], arrays: false));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
    }

    [Fact]
    public async Task Batch_of_objects_strings_and_base64_stores_everything_once()
    {
        var batch = Capture.Ctip().Take(90).ToList();
        var items = batch.Select((e, i) => (i % 3) switch
        {
            0 => JsonNode.Parse(Json(e))!,
            1 => JsonValue.Create(Json(e)),
            _ => (JsonNode)JsonValue.Create(Convert.ToBase64String(Encoding.UTF8.GetBytes(Json(e)))),
        }).ToArray();

        var (status, body) = await InvokeAsync(new JsonArray(items), Meta(batch, arrays: true));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains(body!.Logs, l => l.StartsWith("IngestFrames: 90 messages", StringComparison.Ordinal));
        Assert.Equal(90, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));

        // redelivery of the same batch (Service Bus at-least-once) changes nothing
        items = batch.Select(e => JsonNode.Parse(Json(e))!).ToArray();
        Assert.Equal(HttpStatusCode.OK, (await InvokeAsync(new JsonArray(items), Meta(batch, arrays: true))).Status);
        Assert.Equal(90, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
    }

    [Fact]
    public async Task A_frame_that_does_not_parse_is_stored_with_its_error_and_the_batch_succeeds()
    {
        var batch = Capture.Ctip().Take(5).ToList();
        batch[2] = batch[2] with { Frame = "aRING 10" };
        var (status, body) = await InvokeAsync(new JsonArray([.. batch.Select(e => (JsonNode)JsonValue.Create(Json(e)))]), Meta(batch, arrays: true));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains(body!.Logs, l => l.Contains("1 parse errors", StringComparison.Ordinal));
        Assert.Equal(5, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
    }

    [Fact]
    public async Task A_message_that_is_not_an_envelope_fails_the_invocation_but_the_good_ones_are_stored()
    {
        var batch = Capture.Ctip().Take(3).ToList();
        var items = new JsonArray(JsonNode.Parse(Json(batch[0])), JsonValue.Create("hello, not json"), JsonNode.Parse(Json(batch[2])));
        var meta = Meta(batch, arrays: true);
        var (status, body) = await InvokeAsync(items, meta);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(body!.Logs, l => l.Contains($"message {batch[1].MessageId}", StringComparison.Ordinal) && l.Contains("is not an envelope", StringComparison.Ordinal));
        Assert.Equal(2, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
    }

    [Fact]
    public async Task Storage_failure_answers_500_and_stores_nothing()
    {
        var batch = Capture.Ctip().Take(10).ToList();
        await _server.Db.ScalarAsync("ALTER TABLE ct.frames RENAME TO frames_away; SELECT 0");
        try
        {
            var (status, body) = await InvokeAsync(new JsonArray([.. batch.Select(e => JsonNode.Parse(Json(e)))]), Meta(batch, arrays: true));
            Assert.Equal(HttpStatusCode.InternalServerError, status);
            Assert.Contains(body!.Logs, l => l.StartsWith("batch not stored", StringComparison.Ordinal));
        }
        finally
        {
            await _server.Db.ScalarAsync("ALTER TABLE ct.frames_away RENAME TO frames; SELECT 0");
        }

        Assert.Equal(0, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
        var (again, _) = await InvokeAsync(new JsonArray([.. batch.Select(e => JsonNode.Parse(Json(e)))]), Meta(batch, arrays: true));
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.Equal(10, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
    }

    [Fact]
    public async Task Invocation_without_data_msg_answers_400()
    {
        using var response = await _server.Http.PostAsync(IngestFramesEndpoint.Path, new StringContent("""{"Data":{},"Metadata":{}}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}
