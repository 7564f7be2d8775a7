using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;
using Npgsql;

namespace CloudTelephony.Functions.Commands;

/// <summary>
/// <c>demo prepare|watch</c>: what <c>./ct run</c> does around its processes. <c>prepare</c> files the demo PBX under
/// enterprise <c>demo</c> and keeps a crm token in a file (reused while the API accepts it); <c>watch</c> shows
/// progress (frames stored of those the captures hold, calls stored) and every PBX connection state change the relays
/// report (login refused, connection refused, connected), stops when a watched process dies, and at the end prints the
/// calls with their ring and talk times (and the capture's own times when the replay compressed them), the counts and
/// the API commands to try.
/// </summary>
public static class DemoCommand
{
    /// <summary>Enterprise the demo PBX is filed under.</summary>
    public const string Enterprise = "demo";

    /// <summary>Builds the command tree.</summary>
    /// <param name="database">Opens the database; null = from configuration.</param>
    /// <param name="output">Where progress and the report go; null = standard output.</param>
    public static Command Create(Func<NpgsqlDataSource>? database = null, TextWriter? output = null)
    {
        database ??= () => NpgsqlDataSource.Create(AppConfig.ConnectionString(AppConfig.Load()));
        Option<string> Pbx() => new("--pbx") { Description = "the demo PBX id", Required = true };
        Option<string> Protocol()
        {
            var o = new Option<string>("--protocol") { Description = "ctip, ami or smdr", Required = true };
            o.AcceptOnlyFromAmong([.. Protocols.All]);
            return o;
        }

        Option<Uri> Api() => new("--api")
        {
            Description = "base address of the functions app, e.g. http://127.0.0.1:7071",
            Required = true,
            CustomParser = r =>
            {
                if (Uri.TryCreate(r.Tokens.Count > 0 ? r.Tokens[0].Value : "", UriKind.Absolute, out var u) && u.Scheme is "http" or "https")
                {
                    return u;
                }

                r.AddError($"--api '{(r.Tokens.Count > 0 ? r.Tokens[0].Value : "")}' is not an http(s) address");
                return null;
            },
        };
        Option<FileInfo> TokenFile() => new("--token-file") { Description = "file that keeps the demo's crm token (mode 0600)", Required = true };

        var pbx = Pbx();
        var protocol = Protocol();
        var api = Api();
        var tokenFile = TokenFile();
        var prepare = new Command("prepare", "File the PBX under enterprise 'demo' and make (or reuse) a crm token kept in --token-file") { pbx, protocol, api, tokenFile };
        prepare.SetAction(async (parse, ct) =>
        {
            await using var db = database();
            var result = await PrepareAsync(db, parse.GetValue(pbx)!, parse.GetValue(protocol)!, parse.GetValue(api)!, parse.GetValue(tokenFile)!, ct);
            (output ?? Console.Out).WriteLine(result.Created
                ? $"created a crm token for enterprise '{Enterprise}' ({parse.GetValue(tokenFile)!.FullName}){(result.Why is null ? "" : $": {result.Why}")}"
                : $"reusing the crm token of enterprise '{Enterprise}' ({parse.GetValue(tokenFile)!.FullName})");
            return 0;
        });

        var tEnterprise = new Option<string>("--enterprise") { Description = "enterprise name (created when missing)", Required = true };
        var tScope = new Option<string>("--scope") { Description = "crm | relay", Required = true };
        tScope.AcceptOnlyFromAmong("crm", "relay");
        var tApi = Api();
        var tFile = TokenFile();
        var token = new Command("token", "Make (or reuse) a token of the enterprise kept in --token-file, e.g. the relay token ./ct run gives the relay")
        {
            tEnterprise, tScope, tApi, tFile,
        };
        token.SetAction(async (parse, ct) =>
        {
            await using var db = database();
            var store = new RoutingStore(db);
            var name = parse.GetValue(tEnterprise)!;
            var id = await store.FindEnterpriseAsync(name, ct) ?? await store.AddEnterpriseAsync(name, "Europe/Warsaw", ct);
            var scope = parse.GetValue(tScope)!;
            var result = await EnsureTokenAsync(db, id, scope, parse.GetValue(tApi)!, parse.GetValue(tFile)!, ct);
            (output ?? Console.Out).WriteLine(result.Created
                ? $"created a {scope} token for enterprise '{name}' ({parse.GetValue(tFile)!.FullName}){(result.Why is null ? "" : $": {result.Why}")}"
                : $"reusing the {scope} token of enterprise '{name}' ({parse.GetValue(tFile)!.FullName})");
            return 0;
        });

        var wPbx = new Option<string?>("--pbx") { Description = "the PBX whose frames and calls are counted; none = only the connection states" };
        var wProtocol = Protocol();
        var wApi = Api();
        var wToken = new Option<FileInfo?>("--token-file") { Description = "the demo's crm token (for the API commands the report prints)" };
        var captures = new Option<FileInfo[]>("--capture") { Description = "the captures the simulator replays (their frames are the expected count); none = a real PBX: watch until stopped", AllowMultipleArgumentsPerToken = true };
        captures.AcceptExistingOnly();
        var watch = new Option<string[]>("--watch-pid") { Description = "name=pid of a process the demo needs (relay, simulator): its end stops the demo", AllowMultipleArgumentsPerToken = true };
        var timeout = new Option<double>("--timeout") { Description = "seconds to wait for the replay to be stored", DefaultValueFactory = _ => 300 };
        var speed = new Option<double>("--speed") { Description = "replay speed of the simulator (for the report's note)", DefaultValueFactory = _ => 0 };
        var relayLog = new Option<FileInfo?>("--relay-log") { Description = "the relay's log: its last line is shown when neither heartbeats nor frames arrive" };
        var watchCommand = new Command("watch", "Show progress and PBX connection states until the replay is stored, then the report")
        {
            wPbx, wProtocol, wApi, wToken, captures, watch, timeout, speed, relayLog,
        };
        watchCommand.SetAction(async (parse, ct) =>
        {
            var pids = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var w in parse.GetValue(watch) ?? [])
            {
                if (w.Split('=', 2) is [var name, var text] && int.TryParse(text, CultureInfo.InvariantCulture, out var pid))
                {
                    pids[name] = pid;
                }
                else
                {
                    Console.Error.WriteLine($"error: --watch-pid '{w}' is not name=pid");
                    return 2;
                }
            }

            await using var db = database();
            var options = new WatchOptions(
                parse.GetValue(wPbx) is { Length: > 0 } p ? p : null, parse.GetValue(wProtocol)!, parse.GetValue(wApi)!, parse.GetValue(wToken),
                parse.GetValue(captures) ?? [], pids, TimeSpan.FromSeconds(parse.GetValue(timeout)), parse.GetValue(speed), parse.GetValue(relayLog));
            return await WatchAsync(db, options, output ?? Console.Out, ct);
        });

        return new Command("demo", "The ./ct run demo: tenant and tokens, progress, PBX states and the report") { prepare, token, watchCommand };
    }

    /// <summary>What <see cref="PrepareAsync"/> did.</summary>
    /// <param name="Token">The crm token.</param>
    /// <param name="Created">True when a new token was made (none kept, or the API refused the kept one).</param>
    /// <param name="Why">Why the kept token was not reused, when there was one.</param>
    public sealed record Prepared(string Token, bool Created, string? Why = null);

    /// <summary>Files <paramref name="pbx"/> under enterprise <see cref="Enterprise"/> (created with zone Europe/Warsaw
    /// if missing) and returns a crm token: the one in <paramref name="tokenFile"/> while <c>GET /api/calls</c> accepts
    /// it, else a new one written there (mode 0600).</summary>
    public static async Task<Prepared> PrepareAsync(NpgsqlDataSource db, string pbx, string protocol, Uri api, FileInfo tokenFile, CancellationToken ct)
    {
        var store = new RoutingStore(db);
        var enterprise = await store.FindEnterpriseAsync(Enterprise, ct) ?? await store.AddEnterpriseAsync(Enterprise, "Europe/Warsaw", ct);
        await store.AssignPbxAsync(pbx, enterprise, null, protocol, ct);
        return await EnsureTokenAsync(db, enterprise, "crm", api, tokenFile, ct);
    }

    /// <summary>A token of <paramref name="scope"/> for the enterprise: the one kept in <paramref name="tokenFile"/> while
    /// the API accepts it (crm: <c>GET /api/calls</c>; relay: an empty <c>POST /api/frames</c>), else a new one written
    /// there (mode 0600).</summary>
    public static async Task<Prepared> EnsureTokenAsync(NpgsqlDataSource db, long enterprise, string scope, Uri api, FileInfo tokenFile, CancellationToken ct)
    {
        string? why = null;
        if (File.Exists(tokenFile.FullName) && (await File.ReadAllTextAsync(tokenFile.FullName, ct)).Trim() is { Length: > 0 } kept)
        {
            using var http = Client(api, kept);
            using var probe = scope == "relay"
                ? await http.PostAsync("/api/frames", new StringContent("[]", System.Text.Encoding.UTF8, "application/json"), ct)
                : await http.GetAsync("/api/calls?pageSize=1", ct);
            if (probe.IsSuccessStatusCode)
            {
                return new Prepared(kept, false);
            }

            why = $"the kept token was refused ({(int)probe.StatusCode})";
        }

        var issued = await new TokenStore(db).CreateAsync(enterprise, scope, ct);
        tokenFile.Directory?.Create();
        await File.WriteAllTextAsync(tokenFile.FullName, issued.Token + "\n", ct);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(tokenFile.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return new Prepared(issued.Token, true, why);
    }

    /// <summary>Settings of <see cref="WatchAsync"/>.</summary>
    /// <param name="Pbx">The PBX whose frames and calls are counted; null = only the connection states.</param>
    /// <param name="Protocol">Its protocol.</param>
    /// <param name="Api">The functions app.</param>
    /// <param name="TokenFile">The crm token (see <see cref="PrepareAsync"/>) the report's API commands use.</param>
    /// <param name="Captures">What the simulator replays; empty = a real PBX (no expected count, no report).</param>
    /// <param name="Processes">Processes whose end stops the watch (name → pid).</param>
    /// <param name="Timeout">Longest wait for the replay.</param>
    /// <param name="Speed">The simulator's replay speed, for the report's note (0 = unknown).</param>
    /// <param name="RelayLog">The relay's log; its last line is shown while neither heartbeats nor frames arrive.</param>
    public sealed record WatchOptions(
        string? Pbx, string Protocol, Uri Api, FileInfo? TokenFile, IReadOnlyList<FileInfo> Captures,
        IReadOnlyDictionary<string, int> Processes, TimeSpan Timeout, double Speed, FileInfo? RelayLog = null);

    /// <summary>How long the watch waits for a first heartbeat or frame before it shows the relay's last log line.</summary>
    public static readonly TimeSpan QuietHint = TimeSpan.FromSeconds(15);

    /// <summary>Frames the simulator sends for <paramref name="captures"/>: every frame of the files, plus the AMI
    /// <c>FullyBooted</c> event the simulated Asterisk sends after each login and the <c>CoreShowChannelsComplete</c>
    /// that answers the relay's resync (<c>CoreShowChannels</c>, an empty list in the simulator).</summary>
    public static long ExpectedFrames(string protocol, IReadOnlyList<FileInfo> captures)
        => captures.Sum(c => (long)CaptureFile.Read(c.FullName, protocol).Count()) + (protocol == "ami" && captures.Count > 0 ? 2 : 0);

    /// <summary>Watches as described on the class; returns 0 when the replay was stored, 1 when a watched process
    /// ended or the timeout passed.</summary>
    public static async Task<int> WatchAsync(NpgsqlDataSource db, WatchOptions o, TextWriter output, CancellationToken ct)
    {
        var expected = o.Captures.Count > 0 && o.Pbx is not null ? ExpectedFrames(o.Protocol, o.Captures) : (long?)null;
        var streams = new HealthQueries(db);
        var queries = new CallQueries(db);
        var heartbeats = new HeartbeatStore(db);
        var states = new Dictionary<string, string>(StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        var started = DateTimeOffset.UtcNow;
        string? shownLine = null;
        long lastStored = -1;
        var eventPosition = await EventStore.TopAsync(db, ct);
        var stable = 0;
        while (!ct.IsCancellationRequested)
        {
            await ShowStatesAsync(heartbeats, states, started, output, ct);
            if (states.Count == 0 && lastStored <= 0 && clock.Elapsed > QuietHint && o.RelayLog is { } log && LastLine(log) is { } line && line != shownLine)
            {
                // nothing arrives: say what the relay says (a refused token, an unreachable app) instead of waiting mutely
                output.WriteLine($"nothing from the relay for {clock.Elapsed.TotalSeconds:0} s; its log ({log.FullName}) says: {line}");
                shownLine = line;
            }

            if (o.Processes.FirstOrDefault(p => !IsRunning(p.Value)) is { Key: { } dead })
            {
                output.WriteLine($"{dead} stopped (see its log in .ct/logs/)");
                return 1;
            }

            eventPosition = await ShowEventsAsync(db, o.Pbx, eventPosition, output, ct);
            var stream = o.Pbx is null ? null : (await streams.PbxStreamsAsync(ct)).SingleOrDefault(p => p.Pbx == o.Pbx);
            var stored = stream?.FramesStored ?? 0;
            if (stored != lastStored && o.Pbx is not null)
            {
                var calls = await queries.CountAsync(new CallFilter(Pbx: o.Pbx), ct);
                output.WriteLine(expected is { } total
                    ? $"{Bar(stored, total)} frames stored: {stored}/{total}, calls stored: {calls}"
                    : $"frames stored: {stored}, calls stored: {calls}");
            }

            if (expected is { } all)
            {
                stable = stored >= all && stored == lastStored ? stable + 1 : 0;
                if (stable >= 1)
                {
                    break;
                }

                if (clock.Elapsed > o.Timeout)
                {
                    output.WriteLine($"the replay was not stored within {o.Timeout.TotalSeconds:0} s ({stored} of {all} frames)");
                    return 1;
                }
            }

            lastStored = stored;
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }

        if (expected is null || ct.IsCancellationRequested)
        {
            return 0;
        }

        // The last calls linger a moment for late releases; the call sweep closes them once the stream is idle.
        var open = 0;
        for (var i = 0; i < 20; i++)
        {
            open = (await streams.PbxStreamsAsync(ct)).SingleOrDefault(p => p.Pbx == o.Pbx)?.OpenCalls ?? 0;
            if (open <= 1)
            {
                break;
            }

            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }

        output.WriteLine($"replay finished in {clock.Elapsed.TotalSeconds:0} s: {lastStored} frames stored{(open > 0 ? $", {open} call(s) still open" : "")}");
        await ReportAsync(db, o, output, ct);
        return 0;
    }

    /// <summary>Prints a line per <c>call.answered</c> and <c>call.ended</c> event sequenced after <paramref name="after"/>
    /// (the live call events as a CRM receives them); returns the new position.</summary>
    private static async Task<long> ShowEventsAsync(NpgsqlDataSource db, string? pbx, long after, TextWriter output, CancellationToken ct)
    {
        var inv = CultureInfo.InvariantCulture;
        while (true)
        {
            var rows = await EventStore.ReadAsync(db, null, after, [Events.CallEventTypes.Answered, Events.CallEventTypes.Ended], 500, ct);
            foreach (var row in rows.Where(r => pbx is null || r.Pbx == pbx))
            {
                using var doc = System.Text.Json.JsonDocument.Parse(row.Body);
                var e = doc.RootElement;
                var d = e.GetProperty("data");
                var time = e.GetProperty("time").GetDateTimeOffset().UtcDateTime.ToString("HH:mm:ss", inv);
                string Text(string name) => d.TryGetProperty(name, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString()! : "-";
                output.WriteLine(row.Type == Events.CallEventTypes.Answered
                    ? string.Create(inv, $"event {row.Type,-14} {time}Z call {row.CallKey}: {Text("caller")} answered by {Text("answeredBy")} after {d.GetProperty("ringSeconds").GetDouble():0.0} s")
                    : string.Create(inv, $"event {row.Type,-14} {time}Z call {row.CallKey}: {Text("status")}, ring {d.GetProperty("ringSeconds").GetDouble():0.0} s, talk {d.GetProperty("talkSeconds").GetDouble():0.0} s"));
            }

            if (rows.Count == 0)
            {
                return after;
            }

            after = rows[^1].Position;
            if (rows.Count < 500)
            {
                return after;
            }
        }
    }

    // Heartbeats received since the watch started (a relay of an earlier run left its last states behind).
    private static async Task ShowStatesAsync(HeartbeatStore heartbeats, Dictionary<string, string> shown, DateTimeOffset since, TextWriter output, CancellationToken ct)
    {
        foreach (var relay in (await heartbeats.RelaysAsync(ct)).Where(r => r.LastSeenAt >= since))
        {
            foreach (var p in relay.Pbxes)
            {
                var key = $"{relay.RelayId}/{p.Pbx}";
                if (!shown.TryGetValue(key, out var before) || before != p.State)
                {
                    shown[key] = p.State;
                    output.WriteLine($"PBX {p.Pbx} (relay {relay.RelayId}): {p.State} since {p.Since.UtcDateTime:HH:mm:ss}Z");
                }
            }
        }
    }

    /// <summary>The stored calls with their ring and talk times, next to the capture's own when they differ (the replay
    /// compresses gaps), the counts, and API commands with a real call id.</summary>
    private static async Task ReportAsync(NpgsqlDataSource db, WatchOptions o, TextWriter output, CancellationToken ct)
    {
        var queries = new CallQueries(db);
        var stored = (await queries.ListAsync(new CallFilter(Pbx: o.Pbx), 1, 1000, ct, oldestFirst: true)).Items;
        var zone = TimeZones.Find((await new HealthQueries(db).PbxStreamsAsync(ct)).SingleOrDefault(p => p.Pbx == o.Pbx)?.TimeZone) ?? TimeZoneInfo.Utc;
        var capture = CorrelateCommand.Correlate(o.Protocol, o.Captures, zone, o.Pbx ?? "capture", DateTimeOffset.UnixEpoch).Calls;
        var matched = Match(stored, capture);
        var compressed = matched.Any(m => m.Value is { } c && (Math.Abs(c.RingSeconds - m.Key.Call.RingSeconds) > 1 || Math.Abs(c.TalkSeconds - m.Key.Call.TalkSeconds) > 1));
        var inv = CultureInfo.InvariantCulture;
        output.WriteLine();
        output.WriteLine($"{"started (UTC)",-19} {"direction",-9} {"status",-9} {"caller",-13} {"called",-13} {"answered",-8} {"ring s",13} {"talk s",13}  id");
        foreach (var s in stored)
        {
            var c = s.Call;
            var cap = matched.GetValueOrDefault(s);
            string Time(double storedSeconds, double? captureSeconds)
                => compressed && captureSeconds is { } x ? string.Create(inv, $"{storedSeconds,5:F1} ({x,5:F1})") : string.Create(inv, $"{storedSeconds,13:F1}");
            output.WriteLine(string.Create(inv,
                $"{c.StartedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} {CallNames.Of(c.Direction),-9} {CallNames.Of(c.Status),-9} {c.Caller ?? "-",-13} {c.Called ?? "-",-13} {c.AnsweredBy ?? "-",-8} "
                + $"{Time(c.RingSeconds, cap?.RingSeconds),13} {Time(c.TalkSeconds, cap?.TalkSeconds),13}  #{s.Id}"));
        }

        if (compressed)
        {
            output.WriteLine($"(the simulator replayed the capture {(o.Speed > 0 ? $"at {o.Speed:0}× speed with long pauses cut" : "faster than real time")}: "
                             + "stored ring and talk times are compressed; in brackets the capture's own times, as ./ct correlate gives them)");
        }

        output.WriteLine();
        var counts = await queries.SummaryAsync(new CallFilter(Pbx: o.Pbx), ct);
        output.WriteLine($"calls by direction and status ({counts.Sum(c => c.Count)} in all; the capture itself holds {capture.Count}):");
        foreach (var c in counts)
        {
            output.WriteLine($"  {c.Direction,-9} {c.Status,-9} {c.Count,6}");
        }

        var api = o.Api.ToString().TrimEnd('/');
        output.WriteLine();
        var token = o.TokenFile is null ? "<crm token>" : $"$(cat {Relative(o.TokenFile)})";
        output.WriteLine(o.TokenFile is null ? "try:" : $"CRM token of enterprise '{Enterprise}' (scope crm) is in {o.TokenFile.FullName}; try:");
        output.WriteLine($"  curl -H \"Authorization: Bearer {token}\" '{api}/api/calls?pbx={o.Pbx}&direction=inbound&status=missed'");
        if (stored.Count > 0)
        {
            output.WriteLine($"  curl -H \"Authorization: Bearer {token}\" '{api}/api/calls/{stored[^1].Id}'   # legs, events, raw frames, SMS");
        }

        output.WriteLine($"  curl -H \"Authorization: Bearer {token}\" '{api}/api/health'   # its PBXes and relays; without a token: the status only");
        output.WriteLine($"  curl -N -H \"Authorization: Bearer {token}\" '{api}/api/events'   # the live call events as they happen (server-sent events; Ctrl-C ends)");
        output.WriteLine($"  curl -H \"Authorization: Bearer {token}\" '{api}/api/calls/active'   # the calls in progress");
    }

    /// <summary>Pairs each stored call with the capture's call of the same direction, status, parties and answering
    /// extension, in start order (a replay can merge two calls into one; the rest still pair up).</summary>
    public static Dictionary<StoredCall, Call?> Match(IReadOnlyList<StoredCall> stored, IReadOnlyList<Call> capture)
    {
        var queues = capture
            .GroupBy(c => (c.Direction, c.Status, c.Caller, c.Called, c.AnsweredBy))
            .ToDictionary(g => g.Key, g => new Queue<Call>(g.OrderBy(c => c.StartedAt)));
        var result = new Dictionary<StoredCall, Call?>();
        foreach (var s in stored.OrderBy(s => s.Call.StartedAt))
        {
            var key = (s.Call.Direction, s.Call.Status, s.Call.Caller, s.Call.Called, s.Call.AnsweredBy);
            result[s] = queues.TryGetValue(key, out var q) && q.Count > 0 ? q.Dequeue() : null;
        }

        return result;
    }

    /// <summary>The last non-empty line of <paramref name="file"/> (at most 300 characters), or null.</summary>
    private static string? LastLine(FileInfo file)
    {
        try
        {
            using var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            string? last = null;
            while (reader.ReadLine() is { } line)
            {
                if (line.Length > 0)
                {
                    last = line;
                }
            }

            return last is null ? null : last.Length > 300 ? last[..300] + "…" : last;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string Relative(FileInfo f)
        => Path.GetRelativePath(Environment.CurrentDirectory, f.FullName) is var r && !r.StartsWith("..", StringComparison.Ordinal) ? r : f.FullName;

    private static string Bar(long done, long total)
    {
        const int width = 24;
        var filled = total <= 0 ? width : (int)Math.Clamp(done * width / total, 0, width);
        return $"[{new string('#', filled)}{new string('.', width - filled)}]";
    }

    private static bool IsRunning(int pid)
    {
        // A child that ended but was not reaped yet by its shell is a zombie: ended for our purpose.
        var stat = $"/proc/{pid}/stat";
        if (OperatingSystem.IsLinux())
        {
            try
            {
                var text = File.ReadAllText(stat);
                var state = text[(text.LastIndexOf(')') + 2)..].TrimStart();
                return state.Length > 0 && state[0] is not ('Z' or 'X');
            }
            catch (IOException)
            {
                return false;
            }
        }

        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static HttpClient Client(Uri api, string token)
        => new() { BaseAddress = api, Timeout = TimeSpan.FromSeconds(10), DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", token) } };
}
