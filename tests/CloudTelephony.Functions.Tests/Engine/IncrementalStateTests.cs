using System.Net;
using System.Net.Http.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.Telephony;
using CloudTelephony.Telephony.Streams;
using CloudTelephony.Tests;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.Functions.Tests.Engine;

/// <summary>
/// The incremental correlation state against real PostgreSQL and real HTTP: any instance continues any PBX's stream (two
/// apps take turns), a cached engine is used only while it is current, a failed batch leaves nothing behind (not even in
/// the cache), replays add nothing, handlers see every change once, and a database of the previous release (one state
/// document per PBX) continues to the same calls.
/// </summary>
public sealed class IncrementalStateTests : IAsyncLifetime
{
    private readonly RecordingHandler _handler = new();
    private FunctionsServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = new FunctionsServer { Configure = s => s.AddSingleton<ICallChangeHandler>(_handler) };
        await _server.InitializeAsync();
    }

    public Task DisposeAsync() => _server.DisposeAsync();

    [Fact]
    public async Task Two_instances_taking_turns_store_the_calls_of_one_pass_and_read_open_calls_only_after_the_other_wrote()
    {
        var token = await _server.Db.RelayTokenAsync();
        await using var other = await StartAsync(_server.Db.ConnectionString, token);
        var frames = Capture.Ctip();
        using var mineClient = _server.Client(token);
        var clients = new[] { mineClient, other.Http };
        var batches = frames.Chunk(40).ToList();
        for (var i = 0; i < batches.Count; i++)
        {
            // two batches on one instance, then two on the other: every switch finds the other instance's newer version
            var response = await clients[(i / 2) % 2].PostAsJsonAsync(Routes.IngestPath, batches[i], ContractsJson.Default.EnvelopeArray);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(OnePass(frames), await StoredCallsAsync());
        var mine = _server.Services.GetRequiredService<StreamCache>();
        var theirs = other.Services.GetRequiredService<StreamCache>();
        Assert.True(mine.Hits >= batches.Count / 4 - 1, $"hits {mine.Hits}");
        Assert.True(mine.Misses + theirs.Misses >= batches.Count / 2 - 1, $"misses {mine.Misses} + {theirs.Misses}");
        Assert.Equal(await _server.Db.ScalarAsync("SELECT open_calls FROM ct.correlator_state"), await _server.Db.ScalarAsync("SELECT count(*) FROM ct.open_calls"));
        Assert.Equal(batches.Count, await _server.Db.ScalarAsync("SELECT version FROM ct.correlator_state"));
    }

    [Fact]
    public async Task A_batch_that_fails_stores_nothing_and_its_resend_gives_the_calls_of_one_pass()
    {
        var frames = Capture.Ctip();
        var batches = frames.Chunk(100).ToList();
        for (var i = 0; i < batches.Count; i++)
        {
            if (i == 3)
            {
                _handler.FailNext = true;
                var failed = await _server.PostFramesAsync(batches[i]);
                Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
                Assert.Equal(300, await _server.Db.ScalarAsync("SELECT count(*) FROM ct.frames"));
                Assert.Equal(3, await _server.Db.ScalarAsync("SELECT version FROM ct.correlator_state"));
            }

            Assert.Equal(HttpStatusCode.OK, (await _server.PostFramesAsync(batches[i])).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await _server.PostFramesAsync(batches[i])).StatusCode);   // redelivered: nothing new
        }

        Assert.Equal(OnePass(frames), await StoredCallsAsync());
        var committed = _handler.Committed();
        Assert.Equal(committed.Count, committed.Select(c => c.Id).Distinct().Count());
        Assert.Equal(await _server.Db.ScalarAsync("SELECT count(*) FROM ct.calls"), committed.Count(c => c.Kind == CallChangeKind.Completed));
        var ringGroup = committed.Where(c => c.CallKey == "s1:39").ToList();   // the 2025-09-03 07:07 ring group (CorrelateCommandTests)
        Assert.Equal(["101", "102", "103", "104", "105", "109"], ringGroup.Where(c => c.Kind == CallChangeKind.Ringing).Select(c => c.Extension!).Order());
        Assert.Equal("101", Assert.Single(ringGroup, c => c.Kind == CallChangeKind.Answered).Extension);
    }

    [Fact]
    public async Task A_database_of_the_previous_release_continues_its_streams_and_rewrites_their_state_once()
    {
        await using var db = new PostgresDatabase(migrate: false);
        await db.InitializeAsync();
        MigrationTests.MigrateAsReleased(db.ConnectionString);
        // the previous release's state after frame 600 of the capture (one document, written by the old CTIP correlator)
        var legacy = await File.ReadAllTextAsync(Path.Combine(TestPaths.RepoRoot, "tests", "CloudTelephony.Telephony.Tests", "Legacy", "slican-ncp-2025-09-02_04.tsv.600.json"));
        await using (var cmd = db.DataSource.CreateCommand("""
            INSERT INTO ct.pbxes (id, enterprise_id, protocol) SELECT 'slican', id, 'ctip' FROM ct.enterprises WHERE name = 'default';
            INSERT INTO ct.correlator_state (pbx, state, open_calls) VALUES ('slican', @state, 1);
            """))
        {
            cmd.Parameters.AddWithValue("state", legacy);
            await cmd.ExecuteNonQueryAsync();
        }

        Storage.Migrator.Run(db.ConnectionString, NullLogger.Instance);
        await using var app = await StartAsync(db.ConnectionString, await db.RelayTokenAsync());
        var frames = Capture.Ctip(session: "capture").Select(e => e with { Frame = e.Frame[1..] }).ToList();   // as the capture was read
        var response = await app.Http.PostAsJsonAsync(Routes.IngestPath, frames.Skip(600).ToArray(), ContractsJson.Default.EnvelopeArray);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var engine = PbxProtocols.Get("ctip").Create("slican");
        var after600 = new List<Call>();
        for (var i = 0; i < frames.Count; i++)
        {
            var f = frames[i];
            engine.Process(new PbxFrame("slican", f.Session, f.Seq, f.ReceivedAt, f.Frame), i < 600 ? new List<Call>() : after600);
        }

        Assert.Equal(Lines(after600), await StoredCallsAsync(db));
        Assert.Equal(1, await db.ScalarAsync("SELECT version FROM ct.correlator_state"));
        Assert.Equal(1, await db.ScalarAsync("SELECT count(*) FROM ct.correlator_state WHERE state LIKE '{\"format\":2,%' AND length(state) < 400"));
        Assert.Equal(engine.OpenCalls, await db.ScalarAsync("SELECT count(*) FROM ct.open_calls"));
    }

    private static List<string> OnePass(IReadOnlyList<Envelope> frames)
    {
        var engine = PbxProtocols.Get("ctip").Create("slican");
        var calls = new List<Call>();
        foreach (var f in frames)
        {
            engine.Process(new PbxFrame(f.Pbx, f.Session, f.Seq, f.ReceivedAt, f.Frame), calls);
        }

        return Lines(calls);
    }

    private static List<string> Lines(IEnumerable<Call> calls)
        => [.. calls.Select(c => string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{c.CallKey} {c.Direction} {c.Status} {c.Caller} {c.Called} {c.AnsweredBy} {string.Join(',', c.Extensions)} {c.RingSeconds:F3} {c.TalkSeconds:F3} {c.Transfers.Count} {c.Participants.Count} {c.Events.Count}"))
            .Order(StringComparer.Ordinal)];

    private Task<List<string>> StoredCallsAsync() => StoredCallsAsync(_server.Db);

    private static async Task<List<string>> StoredCallsAsync(PostgresDatabase db)
    {
        const string sql = """
            SELECT c.call_key || ' ' || initcap(c.direction) || ' ' || initcap(c.status) || ' ' || coalesce(c.caller, '') || ' ' || coalesce(c.called, '')
                   || ' ' || coalesce(c.answered_by, '') || ' ' || array_to_string(c.extensions, ',') || ' ' || to_char(c.ring_seconds, 'FM999999990.000')
                   || ' ' || to_char(c.talk_seconds, 'FM999999990.000') || ' ' || jsonb_array_length(c.transfers)
                   || ' ' || (SELECT count(*) FROM ct.call_participants p WHERE p.call_id = c.id)
                   || ' ' || (SELECT count(*) FROM ct.call_events e WHERE e.call_id = c.id)
              FROM ct.calls c
            """;
        await using var cmd = db.DataSource.CreateCommand(sql);
        var lines = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            lines.Add(r.GetString(0));
        }

        return [.. lines.Order(StringComparer.Ordinal)];
    }

    /// <summary>Another functions app on <paramref name="connectionString"/>, with a client that posts as a relay.</summary>
    private static async Task<App> StartAsync(string connectionString, string relayToken)
    {
        var app = FunctionsApp.Build(["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", "--Ingest:SweepSeconds=0"], connectionString);
        await app.StartAsync();
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new App(app, TestTokens.Client(url, relayToken));
    }

    private sealed record App(WebApplication Web, HttpClient Http) : IAsyncDisposable
    {
        public IServiceProvider Services => Web.Services;

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await Web.StopAsync();
            await Web.DisposeAsync();
        }
    }

    /// <summary>A call-change handler that keeps what committed transactions showed it, and can fail one transaction.</summary>
    private sealed class RecordingHandler : ICallChangeHandler
    {
        private readonly List<CallChange> _committed = [];

        public bool FailNext { get; set; }

        public Task HandleAsync(CallChangeContext context, CancellationToken ct)
        {
            if (FailNext)
            {
                FailNext = false;
                throw new Npgsql.NpgsqlException("handler failed on purpose");
            }

            // this test's transactions hold one PBX and commit right after the handlers
            lock (_committed)
            {
                _committed.AddRange(context.Changes);
            }

            return Task.CompletedTask;
        }

        public List<CallChange> Committed()
        {
            lock (_committed)
            {
                return [.. _committed];
            }
        }
    }
}
