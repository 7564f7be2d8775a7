using System.Text.Json;
using CloudTelephony.Functions.Commands;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Tests;

namespace CloudTelephony.Functions.Tests;

/// <summary><c>correlate</c> on the real Slican capture: JSON Lines with exactly the promised fields.</summary>
public sealed class CorrelateCommandTests
{
    private static readonly string[] Fields =
    [
        "pbx", "callKey", "direction", "status", "caller", "called", "answeredBy", "extensions",
        "startedAt", "answeredAt", "endedAt", "ringSeconds", "talkSeconds", "transfers",
    ];

    [Fact]
    public void The_capture_becomes_one_json_object_per_call_with_exactly_the_promised_fields()
    {
        var (code, lines, errors) = Run("ctip", TestPaths.Fixture("ctip", "slican-ncp-2025-09-02_04.tsv"), "Europe/Warsaw");

        Assert.Equal(0, code);
        Assert.Contains("855 frames, 0 parse errors", errors);
        Assert.True(lines.Count > 50, $"only {lines.Count} calls");
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            Assert.Equal(Fields, doc.RootElement.EnumerateObject().Select(p => p.Name));
            Assert.EndsWith("Z", doc.RootElement.GetProperty("startedAt").GetString());
        }

        var ringGroup = Single(lines, "2025-09-03T07:07:42.924412Z");
        Assert.Equal("inbound", ringGroup.GetProperty("direction").GetString());
        Assert.Equal("answered", ringGroup.GetProperty("status").GetString());
        Assert.Equal("101", ringGroup.GetProperty("answeredBy").GetString());
        Assert.Equal(["101", "102", "103", "104", "105", "109"], ringGroup.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(14.821, ringGroup.GetProperty("ringSeconds").GetDouble(), 3);
        Assert.Equal(115.388, ringGroup.GetProperty("talkSeconds").GetDouble(), 3);
    }

    [Fact]
    public void Json_lines_envelopes_give_the_same_calls_as_the_tsv_capture()
    {
        var tsv = TestPaths.Fixture("ctip", "slican-ncp-2025-09-02_04.tsv");
        var jsonl = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(jsonl, Capture.Ctip(pbx: "capture", session: CorrelateCommand.CaptureSession).Select(e =>
                JsonSerializer.Serialize(e with { Frame = e.Frame[1..] }, Contracts.ContractsJson.Default.Envelope)));

            Assert.Equal(Run("ctip", tsv, "UTC").Lines, Run("ctip", jsonl, "UTC").Lines);
        }
        finally
        {
            File.Delete(jsonl);
        }
    }

    [Fact]
    public void An_unknown_time_zone_is_one_clear_error()
    {
        var (code, lines, errors) = Run("ctip", TestPaths.Fixture("ctip", "slican-ncp-2025-09-02_04.tsv"), "Mars/Olympus");

        Assert.Equal(2, code);
        Assert.Empty(lines);
        Assert.Equal("error: unknown time zone 'Mars/Olympus' (use an IANA id such as Europe/Warsaw)", errors.Trim());
    }

    private static JsonElement Single(List<string> lines, string startedAt)
        => JsonDocument.Parse(Assert.Single(lines, l => l.Contains($"\"startedAt\":\"{startedAt}\""))).RootElement;

    private static (int Code, List<string> Lines, string Errors) Run(string protocol, string path, string zone)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var code = CorrelateCommand.Run(protocol, new FileInfo(path), zone, "capture", DateTimeOffset.UnixEpoch, output, errors);
        return (code, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList(), errors.ToString());
    }
}
