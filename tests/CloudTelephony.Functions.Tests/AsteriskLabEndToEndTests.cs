using System.Net.Http.Json;
using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Tests;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace CloudTelephony.Functions.Tests;

[CollectionDefinition(Name)]
public sealed class AsteriskLabCollection : ICollectionFixture<AsteriskLab>
{
    public const string Name = "Asterisk lab";
}

/// <summary>
/// #14 end to end on a real Asterisk 20 (the lab of <c>../shared/asterisk</c>; skipped with one line when it is absent):
/// the lab's scenario driver places real SIP calls — a ring group, an IVR digit, an attended transfer, a
/// transfer by AMI Redirect, a queue — while the REAL relay (AMI connector with its
/// default event mask, SQLite outbox, HTTP forwarder) sends the manager interface's events to the real functions app
/// over PostgreSQL. Each stored call is compared with what the driver recorded really happened (its truth.jsonl:
/// direction, status, who answered, extensions that rang, ring and talk seconds within 1 s, transfers), with no number
/// plan configured: the stream's own evidence has to do.
/// </summary>
[Collection(AsteriskLabCollection.Name)]
public sealed class AsteriskLabEndToEndTests(AsteriskLab lab, ITestOutputHelper output) : IAsyncLifetime
{
    private const string Pbx = "lab-e2e";
    private readonly FunctionsServer _server = new(sweepSeconds: 0.5);
    private IHost? _relay;

    public async Task InitializeAsync()
    {
        if (!AsteriskLab.Available)
        {
            return;
        }

        await _server.InitializeAsync();
        var settings = new Dictionary<string, string?>
        {
            ["Relay:RelayId"] = "lab-e2e",
            ["Relay:Forwarder:Url"] = _server.BaseUrl,
            ["Relay:Pbxes:0:Id"] = Pbx,
            ["Relay:Pbxes:0:Protocol"] = Protocols.Ami,
            ["Relay:Pbxes:0:Host"] = "127.0.0.1",
            ["Relay:Pbxes:0:Port"] = E2e.S(lab.AmiPort),
            ["Relay:Pbxes:0:Ami:Username"] = "relay",
            ["Relay:Pbxes:0:Ami:Secret"] = "relay-secret-1",
        };
        _relay = await E2e.StartRelayAsync(settings, await _server.Db.RelayTokenAsync("lab-e2e"));
    }

    public async Task DisposeAsync()
    {
        if (_relay is not null)
        {
            await _relay.StopAsync();
            _relay.Dispose();
        }

        if (AsteriskLab.Available)
        {
            await _server.DisposeAsync();
        }
    }

    [LabFact]
    public async Task Real_calls_through_the_real_relay_are_stored_as_they_really_happened()
    {
        // the relay is logged in once the CoreShowChannels answer of its session is stored
        // (the relay's first contact files the PBX, as ami, under the relay token's enterprise; the crm token is of the same one)
        await WaitAsync(async () => (await _server.StreamAsync(Pbx))?.FramesStored > 0, "the relay's first frames stored", TimeSpan.FromSeconds(60));
        using var crm = _server.Client(await _server.CreateTokenAsync("lab-e2e", "crm", Pbx));
        async Task<IReadOnlyList<CallDto>> CallsAsync() => (await crm.GetFromJsonAsync($"/api/calls?pbx={Pbx}&pageSize=1000", ApiJson.Default.CallPageDto))!.Items;

        var scenarios = new[] { "b_ringgroup_answered", "k_ivr_digit_answered", "h_attended_transfer", "g2_redirect_transfer", "f_queue_answered" };
        var outDir = Directory.CreateTempSubdirectory("ct-lab-e2e-").FullName;
        foreach (var name in scenarios)
        {
            output.WriteLine(await lab.ScenarioAsync(name, outDir));
        }

        var truths = File.ReadAllLines(Path.Combine(outDir, "truth.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(scenarios.Length, truths.Count);
        var problems = new List<string>();
        foreach (var truth in truths)
        {
            var key = truth.GetProperty("callKey").GetString()!;
            IReadOnlyList<CallDto> found = [];
            await WaitAsync(async () => (found = (await CallsAsync()).Where(c => c.CallKey.Contains(key, StringComparison.Ordinal)).ToList()).Count > 0,
                $"the call {key} stored", TimeSpan.FromSeconds(60));
            var call = Assert.Single(found);
            problems.AddRange(Compare(truth, call).Select(p => $"{truth.GetProperty("file").GetString()}: {p}"));
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
        // the IVR scenario's digit came through the relay's default event mask (the dtmf class)
        var ivr = truths.Single(t => t.GetProperty("file").GetString()!.StartsWith("k_", StringComparison.Ordinal));
        var ivrCall = (await CallsAsync()).Single(c => c.CallKey.Contains(ivr.GetProperty("callKey").GetString()!, StringComparison.Ordinal));
        Assert.False(string.IsNullOrEmpty(ivrCall.IvrDigits), "the IVR call has its digits");
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(200);
        }
    }

    private static string Digits(string? s) => new([.. (s ?? "").Where(char.IsAsciiDigit)]);

    /// <summary>The differences between the driver's truth (see ../shared/asterisk/bin/truth.py) and the stored call.</summary>
    private static IEnumerable<string> Compare(JsonElement t, CallDto c)
    {
        var status = t.GetProperty("status").GetString()!;
        var want = status.StartsWith("not answered", StringComparison.Ordinal) ? "missed" : status;
        var got = JsonNamingPolicy.CamelCase.ConvertName(c.Status.ToString());
        if (want != got)
        {
            yield return $"status {got} (truth {want})";
        }

        if (t.GetProperty("direction").GetString() != JsonNamingPolicy.CamelCase.ConvertName(c.Direction.ToString()))
        {
            yield return $"direction {c.Direction} (truth {t.GetProperty("direction").GetString()})";
        }

        var answered = t.TryGetProperty("answeredBy", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
        if (Digits(answered) != Digits(c.AnsweredBy))
        {
            yield return $"answeredBy {c.AnsweredBy} (truth {answered})";
        }

        var extensions = t.GetProperty("extensions").EnumerateArray().Select(e => Digits(e.GetString())).Order().ToList();
        if (!extensions.SequenceEqual(c.Extensions.Select(Digits).Order()))
        {
            yield return $"extensions [{string.Join(",", c.Extensions)}] (truth [{string.Join(",", extensions)}])";
        }

        foreach (var (field, value) in new[] { ("ringSeconds", c.RingSeconds), ("talkSeconds", c.TalkSeconds) })
        {
            if (Math.Abs(t.GetProperty(field).GetDouble() - value) > 1.0)
            {
                yield return $"{field} {value} (truth {t.GetProperty(field).GetDouble()})";
            }
        }

        var transfers = t.GetProperty("transfers").EnumerateArray().Select(x => (Digits(x.GetProperty("to").GetString()), x.GetProperty("answered").GetBoolean())).Order().ToList();
        if (!transfers.SequenceEqual(c.Transfers.Select(x => (Digits(x.To), x.Answered)).Order()))
        {
            yield return $"transfers [{string.Join(",", c.Transfers.Select(x => $"{x.To}:{x.Answered}"))}] (truth [{string.Join(",", transfers)}])";
        }
    }
}
