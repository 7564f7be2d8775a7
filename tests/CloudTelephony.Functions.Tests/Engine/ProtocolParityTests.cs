using CloudTelephony.Contracts;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.Relay;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Hosting;
using CloudTelephony.Telephony.Streams;
using CloudTelephony.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.Functions.Tests.Engine;

/// <summary>
/// Every protocol registered in the core (<see cref="PbxProtocols"/>) is whole: a wire name, a relay connector and
/// simulator, a real sample capture in samples/, a parser that reads its frames, and a database that stores its
/// frames and calls. And the relay has no protocol the functions app cannot correlate.
/// </summary>
public sealed class ProtocolParityTests : IAsyncLifetime
{
    private readonly PostgresDatabase _db = new();

    public static TheoryData<string> Registered() => [.. PbxProtocols.Names];

    public Task InitializeAsync() => _db.InitializeAsync();

    public Task DisposeAsync() => _db.DisposeAsync();

    [Fact]
    public void The_relay_and_the_wire_know_exactly_the_registered_protocols()
    {
        Assert.Equal(PbxProtocols.Names.Order(), Protocols.All.Order());
        Assert.Equal(PbxProtocols.Names.Order(), PbxConnectorFactories.All.Select(f => f.Protocol).Order());
        Assert.Equal(PbxProtocols.All.Count, PbxProtocols.All.Select(p => p.DefaultPort).Distinct().Count());
    }

    [Theory]
    [MemberData(nameof(Registered))]
    public async Task A_registered_protocol_has_a_relay_simulator(string name)
    {
        var stderr = new StringWriter();
        var code = await RelayCli.InvokeAsync(["simulate", "--protocol", name, "--capture", Samples(name)[0].Path, "--speed", "fast"], stderr);

        // the protocol is accepted; what fails is the speed given on purpose, before anything starts
        Assert.NotEqual(0, code);
        Assert.Contains("--speed 'fast'", stderr.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("--protocol", stderr.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Registered))]
    public void A_registered_protocol_parses_the_frames_of_its_real_sample_captures(string name)
    {
        var protocol = PbxProtocols.Get(name);
        int total = 0, errors = 0;
        foreach (var capture in Samples(name))
        {
            var frames = CaptureFile.Read(capture.Path, protocol.Framing == CaptureFraming.Blocks, TimeZoneInfo.FindSystemTimeZoneById(capture.TimeZone)).ToList();
            var failing = frames.Select((f, i) => (Seq: i + 1, Parse: protocol.Parse(f.Frame, f.ReceivedAt ?? DateTimeOffset.UnixEpoch)))
                .Where(p => !p.Parse.Ok).Select(p => $"frame {p.Seq}: {p.Parse.Error}").ToList();

            // only the frames the golden output records as parse errors (known gaps, e.g. issue 14's 17-field SMDR records)
            var known = File.ReadAllLines(Path.Combine(GoldenCaptures.Folder, "correlate", capture.Name + ".stderr.txt"))
                .Where(l => l.StartsWith("frame ", StringComparison.Ordinal)).ToList();
            Assert.Equal(known, failing);
            total += frames.Count;
            errors += failing.Count;
        }

        Assert.True(total > 10 && errors * 10 < total, $"{name}: {errors} of {total} frames in samples/ do not parse");
    }

    [Theory]
    [MemberData(nameof(Registered))]
    public async Task The_database_stores_a_registered_protocols_frames_and_calls(string name)
    {
        var protocol = PbxProtocols.Get(name);
        var capture = Samples(name)[0];
        var envelopes = CaptureFile.Read(capture.Path, protocol.Framing == CaptureFraming.Blocks, TimeZoneInfo.FindSystemTimeZoneById(capture.TimeZone))
            .Select((f, i) => new Envelope($"parity-{name}", name, "s1", i + 1, (f.ReceivedAt ?? DateTimeOffset.UnixEpoch.AddMilliseconds(i + 1)).ToUniversalTime(), f.Frame))
            .ToList();
        var correlate = new CorrelateAndStore(_db.DataSource, new StreamCache(new IngestOptions()), [], [], NullLogger<CorrelateAndStore>.Instance);

        Assert.Null(CorrelateAndStore.Validate(envelopes));
        var result = await correlate.IngestAsync(envelopes, default);

        Assert.Equal(envelopes.Count, result.Stored);
        Assert.True(result.Calls > 0, $"{name}: no call stored from {capture.Name}");
        Assert.Equal(1, await _db.ScalarAsync($"SELECT count(*) FROM ct.pbxes WHERE id = 'parity-{name}' AND protocol = '{name}'"));
        Assert.Equal(result.Calls, await _db.ScalarAsync($"SELECT count(*) FROM ct.calls WHERE pbx = 'parity-{name}'"));
    }

    /// <summary>The sample captures of a protocol in samples/ (at least one, or the protocol is not whole).</summary>
    private static List<GoldenCapture> Samples(string name)
    {
        var samples = GoldenCaptures.All().Where(c => c.Protocol == name && c.Name.StartsWith("samples/", StringComparison.Ordinal)).ToList();
        Assert.True(samples.Count > 0, $"protocol {name} has no sample capture in samples/");
        return samples;
    }
}
