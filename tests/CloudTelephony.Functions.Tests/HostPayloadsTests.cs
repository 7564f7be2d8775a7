using System.Text.Json;
using CloudTelephony.Functions.Hosting;
using Newtonsoft.Json.Linq;

namespace CloudTelephony.Functions.Tests;

/// <summary>The payload builder against the host's own unit test, and the app's decoder against the builder.</summary>
public sealed class HostPayloadsTests
{
    private sealed class TestPoco
    {
        public string? Name { get; set; }

        public int Id { get; set; }
    }

    [Fact]
    public void Known_answer_of_the_hosts_own_tests()
    {
        // azure-functions-host test/WebJobs.Script.Tests/Workers/ScriptInvocationContextExtensionsTests.cs:
        // GetHttpScriptInvocationContextValueTest_String and _POCO
        Assert.Equal("\"stringTest\"", HostPayloads.ContextValue("stringTest"));
        var poco = Assert.IsType<JObject>(HostPayloads.ContextValue(new TestPoco { Name = "TestName", Id = 1234 }));
        Assert.Equal("TestName", (string?)poco["Name"]);
        Assert.Equal(1234, (int?)poco["Id"]);
        Assert.Equal("AQID", HostPayloads.ContextValue(new byte[] { 1, 2, 3 }));
        Assert.Equal("[\"a\",\"b\"]", HostPayloads.ContextValue(new[] { "a", "b" }));
        Assert.Equal("7", HostPayloads.ContextValue(7));
    }

    [Fact]
    public void A_batch_arrives_as_strings_holding_json_and_decodes_to_the_bodies_and_metadata()
    {
        var json = HostPayloads.ServiceBusBatch([new("{\"a\":1}", "m1", "s1", 1), new("{\"b\":2}", "m2", "s1", 3)]);
        using (var doc = JsonDocument.Parse(json))
        {
            // what the host really sends: Data.msg is a JSON string holding the array text, and so are the metadata arrays
            Assert.Equal(JsonValueKind.String, doc.RootElement.GetProperty("Data").GetProperty("msg").ValueKind);
            Assert.Equal("[\"{\\\"a\\\":1}\",\"{\\\"b\\\":2}\"]", doc.RootElement.GetProperty("Data").GetProperty("msg").GetString());
            Assert.Equal("[\"m1\",\"m2\"]", doc.RootElement.GetProperty("Metadata").GetProperty("MessageIdArray").GetString());
            Assert.Equal(JsonValueKind.Object, doc.RootElement.GetProperty("Metadata").GetProperty("sys").ValueKind);
        }

        var messages = InvocationRequest.Parse(json).ServiceBusMessages();
        Assert.Equal(["{\"a\":1}", "{\"b\":2}"], messages.Select(m => m.Body));
        Assert.Equal(["m1", "m2"], messages.Select(m => m.MessageId));
        Assert.Equal(["s1", "s1"], messages.Select(m => m.SessionId));
        Assert.Equal([1, 3], messages.Select(m => m.DeliveryCount));
        Assert.Equal(new DateTimeOffset(2026, 1, 5, 10, 0, 0, TimeSpan.Zero), messages[0].EnqueuedTimeUtc);
    }

    [Fact]
    public void A_single_message_arrives_json_encoded_again_with_single_metadata()
    {
        var json = HostPayloads.ServiceBusSingle(new("42", "sms-42", null, 2), "SmsDispatch");
        using (var doc = JsonDocument.Parse(json))
        {
            Assert.Equal("\"42\"", doc.RootElement.GetProperty("Data").GetProperty("msg").GetString());
            Assert.Equal("\"sms-42\"", doc.RootElement.GetProperty("Metadata").GetProperty("MessageId").GetString());
            Assert.Equal("2", doc.RootElement.GetProperty("Metadata").GetProperty("DeliveryCount").GetString());
            Assert.Equal(JsonValueKind.Object, doc.RootElement.GetProperty("Metadata").GetProperty("ApplicationProperties").ValueKind);
        }

        var m = Assert.Single(InvocationRequest.Parse(json).ServiceBusMessages());
        Assert.Equal("42", m.Body);
        Assert.Equal("sms-42", m.MessageId);
        Assert.Equal(2, m.DeliveryCount);
    }

    [Fact]
    public void Timer_payload_reads_past_due()
    {
        Assert.True(InvocationRequest.Parse(HostPayloads.Timer("SweepCalls", pastDue: true)).TimerIsPastDue());
        Assert.False(InvocationRequest.Parse(HostPayloads.Timer("SweepCalls")).TimerIsPastDue());
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("{\"Metadata\":{}}")]
    public void Not_an_invocation_is_a_format_error(string body) =>
        Assert.Throws<InvocationFormatException>(() => InvocationRequest.Parse(body));
}
