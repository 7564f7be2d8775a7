using System.CommandLine;
using System.Globalization;
using System.Net;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Routing;
using CloudTelephony.Storage;
using CloudTelephony.Telephony.Routing;
using CloudTelephony.Telephony.Streams;
using CsvHelper;
using CsvHelper.Configuration;
using Npgsql;

namespace CloudTelephony.Functions.Commands;

/// <summary><c>admin ...</c>: operator commands against the database (tenancy, tokens, Smart Redirect settings).</summary>
public static class AdminCommand
{
    /// <summary>Builds the command tree.</summary>
    /// <param name="database">Opens the database; null = from configuration (<c>ConnectionStrings__Postgres</c> or <c>CT_POSTGRES</c>).</param>
    /// <param name="output">Where results are printed; null = standard output.</param>
    public static Command Create(Func<NpgsqlDataSource>? database = null, TextWriter? output = null)
    {
        var ownsDb = database is null;
        database ??= () => NpgsqlDataSource.Create(AppConfig.ConnectionString(AppConfig.Load()));
        var env = new Env(database, ownsDb, output);

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
            reset, Enterprise(env), Token(env), Pbx(env), Extensions(env), Contacts(env), Trunks(env), Smart(env), Crm(env), ArchiveCommand.Create(),
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
            var id = await new RoutingStore(db).AddEnterpriseAsync(parse.GetValue(name)!, parse.GetValue(zone)!, ct);
            env.Out.WriteLine($"enterprise {id} '{parse.GetValue(name)}' created");
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
                return 1;
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
        return new Command("token", "API tokens") { create, revoke };
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
            var e = await env.EnterpriseAsync(db, parse.GetValue(enterprise)!, ct);
            if (e is null)
            {
                return 1;
            }

            if (!await new RoutingStore(db).AssignPbxAsync(parse.GetValue(pbx)!, e.Value, parse.GetValue(zone), parse.GetValue(protocol), ct))
            {
                env.Out.WriteLine($"PBX '{parse.GetValue(pbx)}' is not known yet: give --protocol to register it");
                return 1;
            }

            env.Out.WriteLine($"PBX '{parse.GetValue(pbx)}' assigned to enterprise {e}");
            return 0;
        }));
        return new Command("pbx", "PBXes") { assign };
    }

    private static Command Extensions(Env env)
    {
        var enterprise = EnterpriseOption();
        var file = new Option<FileInfo>("--file") { Description = "CSV: ext, internalId, user name (a header row is skipped)", Required = true };
        var import = new Command("import", "Import (upsert) the enterprise's extensions") { enterprise, file };
        import.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            var e = await env.EnterpriseAsync(db, parse.GetValue(enterprise)!, ct);
            if (e is null)
            {
                return 1;
            }

            var rows = ReadCsv(parse.GetValue(file)!, "ext")
                .Where(r => r.Length > 0 && r[0].Length > 0)
                .Select(r => new ExtensionRow(r[0], Cell(r, 1), Cell(r, 2)))
                .ToList();
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
        var import = new Command("import", "Import contacts; numbers are stored in E.164 with the enterprise's default region") { enterprise, file };
        import.SetAction((parse, ct) => env.RunAsync(async db =>
        {
            var e = await env.EnterpriseAsync(db, parse.GetValue(enterprise)!, ct);
            if (e is null)
            {
                return 1;
            }

            var store = new RoutingStore(db);
            var region = (await store.GetSettingsAsync(e.Value, ct)).DefaultRegion;
            var rows = new List<ContactRow>();
            var line = 0;
            foreach (var r in ReadCsv(parse.GetValue(file)!, "name"))
            {
                line++;
                var number = PhoneNormalizer.ToE164(Cell(r, 2), region);
                if (Cell(r, 0) is not { } name || number is null)
                {
                    env.Out.WriteLine($"row {line} skipped: needs a name and a valid number ({string.Join(",", r)})");
                    continue;
                }

                rows.Add(new ContactRow(name, Cell(r, 1), number, Cell(r, 2)!));
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
                    return 1;
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
                return 1;
            }

            List<IPNetwork>? nets = null;
            if (parse.GetValue(allow) is { Length: > 0 } cidrs)
            {
                nets = [];
                foreach (var c in cidrs.Where(c => !c.Equals("any", StringComparison.OrdinalIgnoreCase)))
                {
                    if (!IPNetwork.TryParse(c, out var net) && !(IPAddress.TryParse(c, out var ip) && IPNetwork.TryParse($"{ip}/{(ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)}", out net)))
                    {
                        env.Out.WriteLine($"--allow: '{c}' is not a CIDR network");
                        return 1;
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
            var now = await new RoutingStore(db).UpdateSettingsAsync(e.Value, update, ct);
            env.Out.WriteLine($"mode {SmartRedirect.Name(now.Mode)}, strategy {SmartRedirect.Name(now.Strategy)}, fallback {(now.Fallback is { } x ? SmartRedirect.Name(x) : "none")}, " +
                              $"budget {now.BudgetMs} ms, lookback {now.LookbackDays} days, region {now.DefaultRegion}, " +
                              $"allow {(now.IpAllowlist.Count == 0 ? "any" : string.Join(" ", now.IpAllowlist))}, crm {now.CrmKind ?? "none"}{(now.CrmUrl is null ? "" : " at " + now.CrmUrl)}");
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
                return 1;
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
        return new Command("smart", "Smart Redirect settings and a test lookup") { set, test };
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
                return 1;
            }

            await new RoutingStore(db).MapCrmManagerAsync(e.Value, parse.GetValue(manager)!, parse.GetValue(ext)!, ct);
            env.Out.WriteLine($"CRM manager {parse.GetValue(manager)} → extension {parse.GetValue(ext)}");
            return 0;
        }));
        return new Command("crm", "CRM integration") { map };
    }

    /// <summary>Rows of a CSV file (comma or semicolon, detected), cells trimmed; a first row whose first cell is
    /// <paramref name="header"/> (any case) is skipped.</summary>
    private static List<string[]> ReadCsv(FileInfo file, string header)
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
        var rows = new List<string[]>();
        while (csv.Read())
        {
            var record = csv.Parser.Record ?? [];
            if (rows.Count == 0 && record.Length > 0 && record[0].Equals(header, StringComparison.OrdinalIgnoreCase))
            {
                header = "\0"; // only the first row can be a header
                continue;
            }

            header = "\0";
            if (record.Any(c => c.Length > 0))
            {
                rows.Add(record);
            }
        }

        return rows;
    }

    private static string? Cell(string[] row, int i) => i < row.Length && row[i].Length > 0 ? row[i] : null;

    private sealed class Env(Func<NpgsqlDataSource> open, bool owns, TextWriter? output)
    {
        public TextWriter Out => output ?? Console.Out;

        public async Task<int> RunAsync(Func<NpgsqlDataSource, Task<int>> action)
        {
            var db = open();
            try
            {
                return await action(db);
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.CheckViolation or PostgresErrorCodes.ForeignKeyViolation)
            {
                Out.WriteLine($"error: {ex.MessageText}{(ex.Detail is { } d ? " (" + d + ")" : "")}");
                return 1;
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
                Out.WriteLine($"error: no enterprise '{nameOrId}' (see admin enterprise list)");
            }

            return id;
        }
    }
}
