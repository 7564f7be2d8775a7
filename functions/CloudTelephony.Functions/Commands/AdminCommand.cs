using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Routing;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;
using CloudTelephony.Telephony.Routing;
using CloudTelephony.Telephony.Streams;
using CsvHelper;
using CsvHelper.Configuration;
using Npgsql;

namespace CloudTelephony.Functions.Commands;

/// <summary><c>admin ...</c>: operator commands against the database (tenancy, tokens, Smart Redirect settings).</summary>
public static partial class AdminCommand
{
    /// <summary>Builds the command tree.</summary>
    /// <param name="database">Opens the database; null = from configuration (<c>ConnectionStrings__Postgres</c> or <c>CT_POSTGRES</c>).</param>
    /// <param name="output">Where results are printed; null = standard output.</param>
    /// <param name="errors">Where mistakes are reported (one line each); null = <paramref name="output"/> when given, else standard error.</param>
    /// <remarks>Every action answers 0 when done, 2 for an ordinary mistake (unknown enterprise, a name taken, a value out
    /// of range, an unreadable file: one line starting <c>error:</c>, nothing written), 1 when there was nothing to do
    /// (a token already revoked). Values are checked before anything is written.</remarks>
    public static Command Create(Func<NpgsqlDataSource>? database = null, TextWriter? output = null, TextWriter? errors = null)
    {
        var ownsDb = database is null;
        database ??= () => NpgsqlDataSource.Create(AppConfig.ConnectionString(AppConfig.Load()));
        var env = new Env(database, ownsDb, output, errors ?? output);

        var pbx = new Option<string>("--pbx") { Description = "PBX id", Required = true };
        var reset = new Command("reset-pbx", "Delete a PBX's frames, calls and correlator state (it stays registered)") { pbx };
        reset.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            var rows = await new HealthQueries(db).ResetPbxAsync(parse.GetValue(pbx)!, ct);
            env.Out.WriteLine($"reset {parse.GetValue(pbx)}: {rows} rows deleted");
            return 0;
        }));

        return new Command("admin", "Administration commands")
        {
            reset, Import(env), Enterprise(env), Token(env), Pbx(env), Relay(env), Extensions(env), Contacts(env), Trunks(env), Smart(env), Crm(env), ArchiveCommand.Create(),
            WebhookCommand.Create(database, output ?? Console.Out, errors ?? output ?? Console.Error),
        };
    }

    private static Option<string> EnterpriseOption() => new("--enterprise") { Description = "enterprise name or id", Required = true };

    private static Command Enterprise(Env env)
    {
        var name = new Option<string>("--name") { Description = "enterprise name (unique)", Required = true };
        var zone = new Option<string>("--time-zone") { Description = "IANA time zone", DefaultValueFactory = _ => "Europe/Warsaw" };
        var add = new Command("add", "Create an enterprise (tenant) with default Smart Redirect settings (mode off)") { name, zone };
        add.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            var store = new RoutingStore(db);
            var n = parse.GetValue(name)!.Trim();
            if (n.Length == 0)
            {
                return env.Fail("--name: an enterprise needs a name");
            }

            if (TimeZones.Problem(parse.GetValue(zone), "--time-zone") is { } zoneProblem)
            {
                return env.Fail(zoneProblem);
            }

            if ((await store.ListEnterprisesAsync(ct)).FirstOrDefault(e => e.Name == n) is { } existing)
            {
                return env.Fail($"enterprise '{n}' exists already (id {existing.Id}; see {Cli.Name} admin enterprise list)");
            }

            var id = await store.AddEnterpriseAsync(n, parse.GetValue(zone)!, ct);
            env.Out.WriteLine($"enterprise {id} '{n}' created");
            return 0;
        }));
        var list = new Command("list", "List enterprises");
        list.SetAction((_, ct) => env.RunAsync(async db =>
        {
            foreach (var e in await new RoutingStore(db).ListEnterprisesAsync(ct))
            {
                env.Out.WriteLine($"{e.Id}\t{e.Name}\t{e.TimeZone}\t{e.Pbxes} PBX(es)");
            }

            return 0;
        }));
        return new Command("enterprise", "Enterprises (tenants)") { add, list };
    }

    private static Command Token(Env env)
    {
        var enterprise = EnterpriseOption();
        var scope = new Option<string>("--scope") { Description = "routing | crm | relay", Required = true };
        scope.AcceptOnlyFromAmong([.. TokenStore.Scopes]);
        var create = new Command("create", "Create an API token; it is printed once and only its SHA-256 is stored") { enterprise, scope };
        create.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            var e = await env.EnterpriseAsync(db, parse.GetValue(enterprise)!, ct);
            if (e is null)
            {
                return 2;
            }

            var t = await new TokenStore(db).CreateAsync(e.Value, parse.GetValue(scope)!, ct);
            env.Out.WriteLine($"token {t.Id} ({parse.GetValue(scope)}): {t.Token}");
            env.Out.WriteLine("store it now: it cannot be shown again");
            return 0;
        }));
        var id = new Option<long>("--id") { Description = "token id", Required = true };
        var revoke = new Command("revoke", "Revoke a token (refused with 401 from then on)") { id };
        revoke.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            var ok = await new TokenStore(db).RevokeAsync(parse.GetValue(id), ct);
            env.Out.WriteLine(ok ? $"token {parse.GetValue(id)} revoked" : $"no active token {parse.GetValue(id)}");
            return ok ? 0 : 1;
        }));
        var lEnterprise = new Option<string?>("--enterprise") { Description = "only this enterprise (name or id)" };
        var list = new Command("list", "List tokens: id, enterprise, scope, created, revoked (secrets are never stored, so never shown)") { lEnterprise };
        list.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            long? only = null;
            if (parse.GetValue(lEnterprise) is { } name)
            {
                if (await env.EnterpriseAsync(db, name, ct) is not { } found)
                {
                    return 2;
                }

                only = found;
            }

            env.Out.WriteLine("id\tenterprise\tscope\tcreated (UTC)\trevoked (UTC)");
            foreach (var t in await new TokenStore(db).ListAsync(only, ct))
            {
                env.Out.WriteLine($"{t.Id}\t{t.Enterprise}\t{t.Scope}\t{Utc(t.CreatedAt)}\t{(t.RevokedAt is { } r ? Utc(r) : "active")}");
            }

            return 0;
        }));
        return new Command("token", "API tokens") { create, revoke, list };
    }

    private static Command Pbx(Env env)
    {
        var pbx = new Option<string>("--pbx") { Description = "PBX id (as the relay names it)", Required = true };
        var enterprise = EnterpriseOption();
        var zone = new Option<string?>("--time-zone") { Description = "IANA time zone of the PBX's clock" };
        var protocol = new Option<string?>("--protocol") { Description = string.Join(" | ", PbxProtocols.Names) + " (needed only for a PBX never seen)" };
        protocol.AcceptOnlyFromAmong([.. PbxProtocols.Names]);
        var assign = new Command("assign", "File a PBX (and its calls) under an enterprise") { pbx, enterprise, zone, protocol };
        assign.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            if (parse.GetValue(zone) is { } z && TimeZones.Problem(z, "--time-zone") is { } zoneProblem)
            {
                return env.Fail(zoneProblem);
            }

            var e = await env.EnterpriseAsync(db, parse.GetValue(enterprise)!, ct);
            if (e is null)
            {
                return 2;
            }

            if (!await new RoutingStore(db).AssignPbxAsync(parse.GetValue(pbx)!, e.Value, parse.GetValue(zone), parse.GetValue(protocol), ct))
            {
                return env.Fail($"PBX '{parse.GetValue(pbx)}' is not known yet: give --protocol to register it");
            }

            var row = (await new HealthQueries(db).PbxStreamsAsync(e.Value, ct)).Single(p => p.Pbx == parse.GetValue(pbx));
            env.Out.WriteLine($"PBX '{row.Pbx}' ({row.Protocol}, time zone {row.TimeZone}) assigned to enterprise {e}");
            return 0;
        }));
        var lEnterprise = new Option<string?>("--enterprise") { Description = "only this enterprise (name or id)" };
        var list = new Command("list", "List PBXes: id, enterprise, protocol, time zone, frames stored, last frame, connection state (from the relays' heartbeats)") { lEnterprise };
        list.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            long? only = null;
            if (parse.GetValue(lEnterprise) is { } name)
            {
                if (await env.EnterpriseAsync(db, name, ct) is not { } found)
                {
                    return 2;
                }

                only = found;
            }

            var names = (await new RoutingStore(db).ListEnterprisesAsync(ct)).ToDictionary(e => e.Id, e => e.Name);
            var states = (await new HeartbeatStore(db).RelaysAsync(ct))
                .SelectMany(r => r.Pbxes.Select(p => (r.RelayId, r.LastSeenAt, Pbx: p)))
                .GroupBy(x => x.Pbx.Pbx, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.MaxBy(x => x.LastSeenAt), StringComparer.Ordinal);
            env.Out.WriteLine("pbx\tenterprise\tprotocol\ttime zone\tframes\tparse errors\topen calls\tlast frame (UTC)\tstate");
            foreach (var p in await new HealthQueries(db).PbxStreamsAsync(only, ct))
            {
                var state = states.TryGetValue(p.Pbx, out var s) ? $"{s.Pbx.State} (relay {s.RelayId}, since {Utc(s.Pbx.Since)})" : "-";
                env.Out.WriteLine($"{p.Pbx}\t{names.GetValueOrDefault(p.EnterpriseId, p.EnterpriseId.ToString(CultureInfo.InvariantCulture))}\t{p.Protocol}\t{p.TimeZone}\t"
                                  + $"{p.FramesStored}\t{p.ParseErrors}\t{p.OpenCalls}\t{(p.LastFrameAt is { } t ? Utc(t) : "-")}\t{state}");
            }

            return 0;
        }));
        return new Command("pbx", "PBXes") { assign, list, SetNumberPlan(env) };
    }

    /// <summary><c>admin pbx set --pbx P [--trunk E]... [--extension-pattern RE] [--internal-context C]... [--infer]</c>:
    /// the PBX's number plan (AMI). Each option given replaces its part; <c>--infer</c> forgets the plan (inferred from the
    /// stream again).</summary>
    private static Command SetNumberPlan(Env env)
    {
        var pbx = new Option<string>("--pbx") { Description = "PBX id (as the relay names it)", Required = true };
        var trunk = new Option<string[]>("--trunk") { Description = "a trunk endpoint: technology/resource (PJSIP/provider, SIP/trunk1), an endpoint name or a dialplan context; repeatable; replaces the list" };
        var pattern = new Option<string?>("--extension-pattern") { Description = "regular expression an extension number matches as a whole (e.g. 2\\d\\d); \"\" clears it" };
        var contexts = new Option<string[]>("--internal-context") { Description = "a dialplan context whose channels are phones; repeatable; replaces the list" };
        var infer = new Option<bool>("--infer") { Description = "forget the number plan: trunks and extensions are inferred from the stream again" };
        var set = new Command("set", "Set a PBX's number plan (AMI: which channels are trunks, which extensions) and print it; used by every later correlation of its stream")
        {
            pbx, trunk, pattern, contexts, infer,
        };
        set.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            var id = parse.GetValue(pbx)!;
            var store = new RoutingStore(db);
            if (await store.NumberPlanAsync(id, ct) is not { } plan)
            {
                return env.Fail($"PBX '{id}' is not known: register it first ({Cli.Name} admin pbx assign --pbx {id} --enterprise E --protocol ami)");
            }

            if (parse.GetValue(infer))
            {
                plan = NumberPlan.None;
            }

            if (parse.GetResult(trunk) is not null)
            {
                plan = plan with { Trunks = parse.GetValue(trunk) ?? [] };
            }

            if (parse.GetResult(pattern) is not null)
            {
                plan = plan with { ExtensionPattern = parse.GetValue(pattern) is { Length: > 0 } p ? p : null };
            }

            if (parse.GetResult(contexts) is not null)
            {
                plan = plan with { InternalContexts = parse.GetValue(contexts) ?? [] };
            }

            if (plan.Problem("--trunk", "--extension-pattern") is { } problem)
            {
                return env.Fail(problem);
            }

            await store.SetNumberPlanAsync(id, plan, ct);
            env.Out.WriteLine($"PBX '{id}' number plan: {plan}");
            return 0;
        }));
        return set;
    }

    private static Command Import(Env env)
    {
        var pbx = new Option<string>("--pbx") { Description = "a registered PBX (admin pbx assign)", Required = true };
        var input = new Option<FileInfo>("--input") { Description = "the old collector's log: receivedAt<TAB>frame lines (CTIP), raw AMI event blocks, SMDR CSV, JSON Lines envelopes", Required = true };
        input.AcceptExistingOnly();
        var protocol = new Option<string?>("--protocol") { Description = "ctip | ami | smdr (default: the PBX's)" };
        protocol.AcceptOnlyFromAmong([.. Protocols.All]);
        var zone = new Option<string?>("--time-zone") { Description = "IANA zone of times without an offset (default: the PBX's zone)" };
        var import = new Command("import", "Back-fill a PBX's history from an old collector's log with the log's own times; importing the same file again changes nothing")
        {
            pbx, input, protocol, zone,
        };
        import.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            var id = parse.GetValue(pbx)!;
            if ((await new HealthQueries(db).PbxStreamsAsync(ct)).SingleOrDefault(p => p.Pbx == id) is not { } known)
            {
                return env.Fail($"PBX '{id}' is not known: register it first ({Cli.Name} admin pbx assign --pbx {id} --enterprise E --protocol P)");
            }

            var proto = parse.GetValue(protocol) ?? known.Protocol;
            if (proto != known.Protocol)
            {
                return env.Fail($"--protocol {proto}: PBX '{id}' speaks {known.Protocol}");
            }

            var zoneId = parse.GetValue(zone) ?? known.TimeZone;
            if (TimeZones.Find(zoneId) is not { } tz)
            {
                return env.Fail(TimeZones.Problem(zoneId, "--time-zone")!);
            }

            var file = parse.GetValue(input)!;
            var config = AppConfig.Load();
            using var logging = AppLogging.CreateFactory(config, LogLevel.Warning);
            var rules = new Sms.SmsRules(Settings.Read<Sms.SmsOptions>(config, Sms.SmsOptions.Section), TimeProvider.System, logging.CreateLogger<Sms.SmsRules>());
            var bar = new ProgressBar(env.Err);
            Ingest.ImportSummary summary;
            try
            {
                // the engine's one path, as ingest: the PBX's stream state and open calls continue with the import
                var correlate = new Ingest.CorrelateAndStore(db, new Ingest.StreamCache(new Ingest.IngestOptions { StreamCacheSize = 0 }), [rules], [],
                    logging.CreateLogger<Ingest.CorrelateAndStore>());
                summary = await new Ingest.HistoryImport(db, correlate).ImportAsync(id, proto, file, tz, bar, ct);
            }
            catch (FormatException ex)
            {
                bar.Done();
                return env.Fail($"{file.Name} is not a {proto} log: {ex.Message}");
            }

            bar.Done();
            if (summary.AlreadyImported)
            {
                env.Out.WriteLine($"{file.Name}: already imported into {id} (session {summary.Session}, {summary.Frames} frames); nothing changed");
                return 0;
            }

            env.Out.WriteLine($"{file.Name} → {id} (session {summary.Session}, time zone {zoneId}): {summary.Frames} frames"
                              + $"{(summary.FirstFrameAt is { } a && summary.LastFrameAt is { } b ? $" from {Utc(a)} to {Utc(b)} UTC" : "")}, "
                              + $"{summary.Stored} stored ({summary.Frames - summary.Stored} already there), {summary.ParseErrors} parse errors");
            env.Out.WriteLine($"calls: {summary.CallsByStatus.Values.Sum()}{(summary.CallsByStatus.Count == 0 ? "" : " (" + string.Join(", ", summary.CallsByStatus.Select(kv => $"{kv.Key} {kv.Value}")) + ")")}"
                              + $"; {summary.OpenCalls} still in progress (the next live frames continue them, or the call sweep closes them)");
            return 0;
        }));
        return import;
    }

    /// <summary>A progress bar on standard error: redrawn in place on a terminal, a line per 10 % otherwise.</summary>
    private sealed class ProgressBar(TextWriter err) : IProgress<(long Done, long Total)>
    {
        private readonly bool _terminal = ReferenceEquals(err, Console.Error) && !Console.IsErrorRedirected;
        private int _shown = -1;

        public void Report((long Done, long Total) value)
        {
            var percent = value.Total == 0 ? 100 : (int)(value.Done * 100 / value.Total);
            if (_terminal)
            {
                var filled = percent * 30 / 100;
                err.Write($"\r[{new string('#', filled)}{new string('.', 30 - filled)}] {value.Done}/{value.Total} frames");
            }
            else if (percent / 10 != _shown / 10)
            {
                err.WriteLine($"{percent,3}% {value.Done}/{value.Total} frames");
            }

            _shown = percent;
        }

        public void Done()
        {
            if (_terminal && _shown >= 0)
            {
                err.WriteLine();
            }
        }
    }

    private static Command Relay(Env env)
    {
        var list = new Command("list", "List relays from their heartbeats: id, version, last heartbeat, outbox, dead letters (envelopes ingest refused, set aside on the relay host), PBX states");
        list.SetAction((_, ct) => env.RunAsync(async db =>
        {
            var now = DateTimeOffset.UtcNow;
            env.Out.WriteLine("relay\tversion\tlast heartbeat (UTC)\tsilent s\toutbox\tdead letters\tpbxes");
            foreach (var r in await new HeartbeatStore(db).RelaysAsync(ct))
            {
                var pbxes = string.Join(", ", r.Pbxes.Select(p => $"{p.Pbx}: {p.State}"));
                env.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{r.RelayId}\t{r.Version}\t{Utc(r.LastSeenAt)}\t{(now - r.LastSeenAt).TotalSeconds:0}\t{r.OutboxDepth}{(r.OutboxAtCap ? " (full)" : "")}\t{r.DeadLetters}{(r.DeadLetterOldestAt is { } dead ? $" (oldest {Utc(dead)})" : "")}\t{(pbxes.Length == 0 ? "-" : pbxes)}"));
            }

            return 0;
        }));
        var relay = new Option<string>("--relay") { Description = "relay id (as relay list shows it)", Required = true };
        var forget = new Command("forget", "Forget a retired relay (its heartbeat and PBX states); a relay still running reappears with its next heartbeat") { relay };
        forget.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            if (!await new HeartbeatStore(db).ForgetAsync(parse.GetValue(relay)!, ct))
            {
                return env.Fail($"no relay '{parse.GetValue(relay)}' (see {Cli.Name} admin relay list)");
            }

            env.Out.WriteLine($"relay '{parse.GetValue(relay)}' forgotten");
            return 0;
        }));
        return new Command("relay", "Relays as their heartbeats describe them") { list, forget };
    }

    private static Command Extensions(Env env)
    {
        var enterprise = EnterpriseOption();
        var file = new Option<FileInfo>("--file") { Description = "CSV: ext, internalId, user name (a header row is skipped)", Required = true };
        file.AcceptExistingOnly();
        var import = new Command("import", "Import (upsert) the enterprise's extensions") { enterprise, file };
        import.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            var e = await env.EnterpriseAsync(db, parse.GetValue(enterprise)!, ct);
            if (e is null)
            {
                return 2;
            }

            var rows = new List<ExtensionRow>();
            foreach (var (line, r) in ReadCsv(parse.GetValue(file)!, "ext"))
            {
                if (!ExtensionNumber().IsMatch(r[0]))
                {
                    return env.Fail($"{parse.GetValue(file)!.Name} line {line}: '{r[0]}' is not an extension number; nothing imported "
                                    + "(expected ext,internalId,user name; a header row must start with 'ext')");
                }

                rows.Add(new ExtensionRow(r[0], Cell(r, 1), Cell(r, 2)));
            }

            var n = await new RoutingStore(db).ImportExtensionsAsync(e.Value, rows, ct);
            env.Out.WriteLine($"{n} extension(s) imported");
            return 0;
        }));
        return new Command("extensions", "Extensions") { import };
    }

    private static Command Contacts(Env env)
    {
        var enterprise = EnterpriseOption();
        var file = new Option<FileInfo>("--file") { Description = "CSV: name, company, number (a header row is skipped)", Required = true };
        file.AcceptExistingOnly();
        var import = new Command("import", "Import contacts; numbers are stored in E.164 with the enterprise's default region") { enterprise, file };
        import.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            var e = await env.EnterpriseAsync(db, parse.GetValue(enterprise)!, ct);
            if (e is null)
            {
                return 2;
            }

            var store = new RoutingStore(db);
            var region = (await store.GetSettingsAsync(e.Value, ct)).DefaultRegion;
            var rows = new List<ContactRow>();
            foreach (var (line, r) in ReadCsv(parse.GetValue(file)!, "name"))
            {
                var number = PhoneNormalizer.ToE164(Cell(r, 2), region);
                if (Cell(r, 0) is not { } name || number is null)
                {
                    env.Out.WriteLine($"line {line} skipped: needs a name and a valid number ({string.Join(",", r)})");
                    continue;
                }

                rows.Add(new ContactRow(name, Cell(r, 1), number, Cell(r, 2)!));
            }

            if (rows.Count == 0)
            {
                return env.Fail($"{parse.GetValue(file)!.Name}: no row with a name and a valid number; nothing imported (expected name,company,number)");
            }

            var n = await store.ImportContactsAsync(e.Value, rows, ct);
            env.Out.WriteLine($"{n} number(s) imported");
            return 0;
        }));
        return new Command("contacts", "Contacts") { import };
    }

    private static Command Trunks(Env env)
    {
        Command Make(string verb, bool on)
        {
            var enterprise = EnterpriseOption();
            var trunk = new Option<string>("--trunk") { Description = "TrunkId as the Asterisk macro sends it", Required = true };
            var cmd = new Command(verb, on ? "Answer DialPlans for calls on this trunk" : "Answer no DialPlan on this trunk (name only)") { enterprise, trunk };
            cmd.SetAction((parse, ct) => env.RunAsync(async db =>
            {
                var e = await env.EnterpriseAsync(db, parse.GetValue(enterprise)!, ct);
                if (e is null)
                {
                    return 2;
                }

                await new RoutingStore(db).SetTrunkAsync(e.Value, parse.GetValue(trunk)!, on, ct);
                env.Out.WriteLine($"trunk '{parse.GetValue(trunk)}': smart routing {(on ? "enabled" : "disabled")}");
                return 0;
            }));
            return cmd;
        }

        return new Command("trunks", "Trunks (lines) with smart routing") { Make("enable", true), Make("disable", false) };
    }

    private static Command Smart(Env env)
    {
        var enterprise = EnterpriseOption();
        var mode = new Option<string?>("--mode") { Description = "off | name-only | routing+name" };
        mode.AcceptOnlyFromAmong("off", "name-only", "routing+name");
        var strategy = new Option<string?>("--strategy") { Description = "first_call | last_call | crm" };
        strategy.AcceptOnlyFromAmong("first_call", "last_call", "crm");
        var fallback = new Option<string?>("--fallback") { Description = "first_call | last_call | crm | none" };
        fallback.AcceptOnlyFromAmong("first_call", "last_call", "crm", "none");
        var budget = new Option<int?>("--budget-ms") { Description = "answer budget in ms (10–5000; default 300)" };
        var lookback = new Option<int?>("--lookback-days") { Description = "window of first_call / last_call (1–3650)" };
        var region = new Option<string?>("--region") { Description = "default region for national numbers (ISO 3166, e.g. PL)" };
        var allow = new Option<string[]?>("--allow") { Description = "allowed client networks (CIDR), replaces the list; 'any' clears it", AllowMultipleArgumentsPerToken = true };
        var crm = new Option<string?>("--crm") { Description = "retailcrm" };
        crm.AcceptOnlyFromAmong("retailcrm");
        var crmUrl = new Option<string?>("--crm-url") { Description = "CRM base address, e.g. https://shop.retailcrm.pl" };
        var crmKey = new Option<string?>("--crm-key") { Description = "CRM API key" };
        var set = new Command("set", "Change Smart Redirect settings (options not given stay as they are) and print them")
        {
            enterprise, mode, strategy, fallback, budget, lookback, region, allow, crm, crmUrl, crmKey,
        };
        set.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            var e = await env.EnterpriseAsync(db, parse.GetValue(enterprise)!, ct);
            if (e is null)
            {
                return 2;
            }

            List<IPNetwork>? nets = null;
            if (parse.GetValue(allow) is { Length: > 0 } cidrs)
            {
                nets = [];
                foreach (var c in cidrs.Where(c => !c.Equals("any", StringComparison.OrdinalIgnoreCase)))
                {
                    if (!IPNetwork.TryParse(c, out var net) && !(IPAddress.TryParse(c, out var ip) && IPNetwork.TryParse($"{ip}/{(ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)}", out net)))
                    {
                        return env.Fail($"--allow: '{c}' is not a CIDR network");
                    }

                    nets.Add(net);
                }
            }

            var fb = parse.GetValue(fallback);
            var update = new RoutingSettingsUpdate(
                parse.GetValue(region),
                SmartRedirect.TryParseMode(parse.GetValue(mode), out var m) ? m : null,
                SmartRedirect.TryParseStrategy(parse.GetValue(strategy), out var s) ? s : null,
                fb is not null,
                SmartRedirect.TryParseStrategy(fb, out var f) ? f : null,
                parse.GetValue(lookback),
                parse.GetValue(budget),
                nets,
                parse.GetValue(crm),
                parse.GetValue(crmUrl),
                parse.GetValue(crmKey));
            if (update.Problem() is { } problem)
            {
                return env.Fail(problem);
            }

            var now = await new RoutingStore(db).UpdateSettingsAsync(e.Value, update, ct);
            env.Out.WriteLine(Describe(now));
            return 0;
        }));

        var sEnterprise = EnterpriseOption();
        var show = new Command("show", "Print the enterprise's Smart Redirect settings, its smart trunks and CRM manager map") { sEnterprise };
        show.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            if (await env.EnterpriseAsync(db, parse.GetValue(sEnterprise)!, ct) is not { } e)
            {
                return 2;
            }

            var store = new RoutingStore(db);
            env.Out.WriteLine(Describe(await store.GetSettingsAsync(e, ct)));
            var trunks = await store.ListTrunksAsync(e, ct);
            env.Out.WriteLine($"trunks: {(trunks.Count == 0 ? "none" : string.Join(", ", trunks.Select(t => $"{t.Trunk} {(t.SmartEnabled ? "smart" : "off")}")))}");
            var managers = await store.ListCrmManagersAsync(e, ct);
            env.Out.WriteLine($"crm managers: {(managers.Count == 0 ? "none" : string.Join(", ", managers.Select(m => $"{m.ManagerId} → {m.Ext}")))}");
            return 0;
        }));

        var tEnterprise = EnterpriseOption();
        var phone = new Option<string>("--phone") { Description = "caller number as the PBX sends it", Required = true };
        var trunk = new Option<string>("--trunk") { Description = "TrunkId", Required = true };
        var nameOnly = new Option<bool>("--no-dial-plan") { Description = "ask as LoadDialPlan \"false\"" };
        var test = new Command("test", "Run the Smart Redirect decision for a number and print it with why (no caches, not logged)") { tEnterprise, phone, trunk, nameOnly };
        test.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            var e = await env.EnterpriseAsync(db, parse.GetValue(tEnterprise)!, ct);
            if (e is null)
            {
                return 2;
            }

            var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Routing:NameCacheSeconds"] = "0", ["Routing:ExtensionCacheSeconds"] = "0", ["Routing:ConfigCacheSeconds"] = "0",
            }).Build();
            var services = new ServiceCollection().AddLogging().AddSingleton(db).AddSingleton(TimeProvider.System);
            services.AddRouting(config);
            await using var sp = services.BuildServiceProvider();
            var d = await sp.GetRequiredService<CustomerDataLookup>().DecideAsync(
                e.Value, new CustomerDataQuery("admin-test", parse.GetValue(phone)!, parse.GetValue(trunk), !parse.GetValue(nameOnly)), ct);
            env.Out.WriteLine($"Name: {d.Name ?? "null"}");
            env.Out.WriteLine($"DialPlan: {d.DialPlan ?? "null"}");
            env.Out.WriteLine($"outcome: {d.Outcome} (mode {d.Mode}, strategy {d.Strategy ?? "-"}, number {d.PhoneE164 ?? "invalid"}, {d.LatencyMs:F1} ms)");
            env.Out.WriteLine($"why: {d.Reason}");
            return 0;
        }));
        return new Command("smart", "Smart Redirect settings and a test lookup") { set, show, test };
    }

    private static Command Crm(Env env)
    {
        var enterprise = EnterpriseOption();
        var manager = new Option<string>("--manager") { Description = "the CRM's manager (user) id", Required = true };
        var ext = new Option<string>("--ext") { Description = "extension", Required = true };
        var map = new Command("map", "Map a CRM manager to the extension they answer on (strategy crm)") { enterprise, manager, ext };
        map.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            var e = await env.EnterpriseAsync(db, parse.GetValue(enterprise)!, ct);
            if (e is null)
            {
                return 2;
            }

            await new RoutingStore(db).MapCrmManagerAsync(e.Value, parse.GetValue(manager)!, parse.GetValue(ext)!, ct);
            env.Out.WriteLine($"CRM manager {parse.GetValue(manager)} → extension {parse.GetValue(ext)}");
            return 0;
        }));
        return new Command("crm", "CRM integration") { map };
    }

    /// <summary>Rows of a CSV file (comma or semicolon, detected) with their line numbers, cells trimmed, rows without
    /// a first cell left out; a first row whose first cell is <paramref name="header"/> (any case) is skipped.</summary>
    private static List<(int Line, string[] Cells)> ReadCsv(FileInfo file, string header)
    {
        using var reader = new StreamReader(file.FullName);
        using var csv = new CsvReader(reader, new CsvConfiguration(CultureInfo.InvariantCulture)
        {
            HasHeaderRecord = false,
            DetectDelimiter = true,
            TrimOptions = TrimOptions.Trim,
            BadDataFound = null,
            MissingFieldFound = null,
        });
        var rows = new List<(int, string[])>();
        while (csv.Read())
        {
            var record = csv.Parser.Record ?? [];
            if (rows.Count == 0 && record.Length > 0 && record[0].Equals(header, StringComparison.OrdinalIgnoreCase))
            {
                header = "\0"; // only the first row can be a header
                continue;
            }

            header = "\0";
            if (record.Length > 0 && record[0].Length > 0)
            {
                rows.Add((csv.Parser.RawRow, record));
            }
        }

        return rows;
    }

    /// <summary>An extension as PBXes report it: digits, possibly with letters or <c>*#+._-</c>, at least one digit, no spaces.</summary>
    [GeneratedRegex(@"^(?=.*[0-9])[0-9A-Za-z*#+._-]{1,32}$")]
    private static partial Regex ExtensionNumber();

    private static string Utc(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    private static string Describe(RoutingSettings now)
        => $"mode {SmartRedirect.Name(now.Mode)}, strategy {SmartRedirect.Name(now.Strategy)}, fallback {(now.Fallback is { } x ? SmartRedirect.Name(x) : "none")}, " +
           $"budget {now.BudgetMs} ms, lookback {now.LookbackDays} days, region {now.DefaultRegion}, " +
           $"allow {(now.IpAllowlist.Count == 0 ? "any" : string.Join(" ", now.IpAllowlist))}, crm {now.CrmKind ?? "none"}{(now.CrmUrl is null ? "" : " at " + now.CrmUrl)}";

    private static string? Cell(string[] row, int i) => i < row.Length && row[i].Length > 0 ? row[i] : null;

    private sealed class Env(Func<NpgsqlDataSource> open, bool owns, TextWriter? output, TextWriter? errors)
    {
        public TextWriter Out => output ?? Console.Out;

        public TextWriter Err => errors ?? Console.Error;

        /// <summary>Reports an ordinary mistake as one line; returns exit code 2.</summary>
        public int Fail(string message)
        {
            Err.WriteLine($"error: {message}");
            return 2;
        }

        public async Task<int> RunAsync(Func<NpgsqlDataSource, Task<int>> action)
        {
            var db = open();
            try
            {
                return await action(db);
            }
            catch (ArgumentException ex)
            {
                // the stores' own checks (time zone, region, ranges), for a value the command did not check itself
                return Fail(ex.Message.Split(" (Parameter", 2)[0]);
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.CheckViolation or PostgresErrorCodes.ForeignKeyViolation)
            {
                // a race with another writer (the commands check first); the constraint's name says which rule
                return Fail($"{ex.MessageText} ({ex.ConstraintName ?? ex.TableName})");
            }
            finally
            {
                if (owns)
                {
                    await db.DisposeAsync();
                }
            }
        }

        public async Task<long?> EnterpriseAsync(NpgsqlDataSource db, string nameOrId, CancellationToken ct)
        {
            var id = await new RoutingStore(db).FindEnterpriseAsync(nameOrId, ct);
            if (id is null)
            {
                Fail($"no enterprise '{nameOrId}' (see {Cli.Name} admin enterprise list)");
            }

            return id;
        }
    }
}
