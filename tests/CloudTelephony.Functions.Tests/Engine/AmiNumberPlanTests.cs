using CloudTelephony.Contracts;
using CloudTelephony.Functions.Commands;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.Functions.Tests.Engine;

/// <summary>
/// The AMI number plan per PBX (issue 14, AMI item 1) against a real database: <c>admin pbx set</c> stores it (mistakes are
/// one line and change nothing), and every correlation of the PBX's stream through <see cref="CorrelateAndStore"/> uses it;
/// <c>correlate --trunk</c> does the same offline. Material: the lab's <c>numberplan</c> variant (tests/data/ami/lab np*:
/// phones are accounts PJSIP/15001000N with caller id 20N, the trunk endpoint is named 3001).
/// </summary>
public sealed class AmiNumberPlanTests : IAsyncLifetime
{
    private static readonly string Np1 = Path.Combine(TestPaths.RepoRoot, "tests", "data", "ami", "lab", "np1_inbound_direct.txt");

    private readonly PostgresDatabase _db = new();

    public Task InitializeAsync() => _db.InitializeAsync();

    public Task DisposeAsync() => _db.DisposeAsync();

    private async Task<(int Code, string Out, string Err)> AdminAsync(params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var code = await Cli.InvokeAsync(AdminCommand.Create(() => _db.DataSource, output, errors), args, output, errors);
        return (code, output.ToString(), errors.ToString());
    }

    [Fact]
    public async Task Admin_pbx_set_stores_the_plan_and_refuses_mistakes_in_one_line()
    {
        Assert.Equal(0, (await AdminAsync("pbx", "assign", "--pbx", "office", "--enterprise", "default", "--protocol", "ami")).Code);

        var set = await AdminAsync("pbx", "set", "--pbx", "office", "--trunk", "PJSIP/3001", "--trunk", "SIP/backup", "--internal-context", "ctx-users");
        Assert.Equal(0, set.Code);
        Assert.Equal("PBX 'office' number plan: trunks PJSIP/3001,SIP/backup; internal contexts ctx-users", set.Out.Trim());

        // a part not given stays; a bad pattern or an unknown PBX is one line and writes nothing
        Assert.Contains("extensions 20\\d", (await AdminAsync("pbx", "set", "--pbx", "office", "--extension-pattern", "20\\d")).Out);
        var bad = await AdminAsync("pbx", "set", "--pbx", "office", "--extension-pattern", "20(\\d");
        Assert.Equal(2, bad.Code);
        Assert.StartsWith("error: --extension-pattern '20(\\d' is not a regular expression", bad.Err.Trim(), StringComparison.Ordinal);
        var unknown = await AdminAsync("pbx", "set", "--pbx", "nowhere", "--trunk", "PJSIP/x");
        Assert.Equal(2, unknown.Code);
        Assert.Contains("PBX 'nowhere' is not known", unknown.Err, StringComparison.Ordinal);
        Assert.Equal(1, await _db.ScalarAsync("SELECT count(*) FROM ct.pbxes WHERE id = 'office' AND trunk_endpoints = '{PJSIP/3001,SIP/backup}' AND extension_pattern = '20\\d'"));

        var infer = await AdminAsync("pbx", "set", "--pbx", "office", "--infer");
        Assert.Equal("PBX 'office' number plan: inferred from the stream", infer.Out.Trim());
        Assert.Equal(1, await _db.ScalarAsync("SELECT count(*) FROM ct.pbxes WHERE id = 'office' AND trunk_endpoints = '{}' AND extension_pattern IS NULL AND internal_contexts = '{}'"));
    }

    [Fact]
    public async Task Ingest_correlates_with_the_pbxs_stored_plan()
    {
        // two PBXes replay the same real call: one with the right plan, one told (wrongly) that only PJSIP/provider is a trunk
        foreach (var (pbx, trunk) in new[] { ("np-right", "PJSIP/3001"), ("np-wrong", "PJSIP/provider") })
        {
            Assert.Equal(0, (await AdminAsync("pbx", "assign", "--pbx", pbx, "--enterprise", "default", "--protocol", "ami")).Code);
            Assert.Equal(0, (await AdminAsync("pbx", "set", "--pbx", pbx, "--trunk", trunk)).Code);
        }

        var correlate = new CorrelateAndStore(_db.DataSource, new StreamCache(new IngestOptions()), [], [], NullLogger<CorrelateAndStore>.Instance);
        foreach (var pbx in new[] { "np-right", "np-wrong" })
        {
            var envelopes = CaptureFile.Read(Np1, "ami")
                .Select((f, i) => new Envelope(pbx, "ami", "s1", i + 1, new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero).AddMilliseconds(i), f.Frame))
                .ToList();
            Assert.Equal(1, (await correlate.IngestAsync(envelopes, default)).Calls);
        }

        Assert.Equal(1, await _db.ScalarAsync("SELECT count(*) FROM ct.calls WHERE pbx = 'np-right' AND direction = 'inbound' AND answered_by = '201' AND extensions = '{201}' AND trunk = '3001'"));
        Assert.Equal(1, await _db.ScalarAsync("SELECT count(*) FROM ct.calls WHERE pbx = 'np-wrong' AND direction = 'internal'"));
    }

    [Fact]
    public void Correlate_trunk_option_is_the_same_plan_offline()
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var code = CorrelateCommand.Run("ami", new FileInfo(Np1), "UTC", "capture", DateTimeOffset.UnixEpoch, output, errors, new Telephony.NumberPlan(["PJSIP/provider"], null, []));
        Assert.Equal(0, code);
        Assert.Contains("\"direction\":\"internal\"", output.ToString(), StringComparison.Ordinal);

        var bad = new StringWriter();
        Assert.Equal(2, CorrelateCommand.Run("ami", new FileInfo(Np1), "UTC", "capture", DateTimeOffset.UnixEpoch, new StringWriter(), bad, new Telephony.NumberPlan([], "(", [])));
        Assert.StartsWith("error: --extension-pattern '(' is not a regular expression", bad.ToString(), StringComparison.Ordinal);
    }
}
