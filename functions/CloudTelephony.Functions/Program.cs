using System.CommandLine;
using CloudTelephony.Functions.Commands;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Storage;

// Entry point of the functions app (`handler`): the custom handler / standalone HTTP server and the operator commands.
var root = Cli.Root("CloudTelephony functions: ingest, correlate and serve PBX call records");

var serve = new Command("serve", "Serve every function over HTTP (custom handler under the Functions host, or standalone)");
var urls = new Option<string?>("--urls") { Description = $"listen address when not under the Functions host (default {FunctionsApp.DefaultUrl})" };
serve.Options.Add(urls);
serve.SetAction(async (parse, ct) =>
{
    var url = parse.GetValue(urls);
    var app = FunctionsApp.Build(url is null ? [] : ["--urls", url]);
    await app.RunAsync(ct);
    return 0;
});
root.Subcommands.Add(serve);

var migrate = new Command("migrate", "Apply the database schema migrations (idempotent)");
migrate.SetAction(_ =>
{
    var config = AppConfig.Load();
    using var factory = AppLogging.CreateFactory(config);
    var applied = Migrator.Run(AppConfig.ConnectionString(config), factory.CreateLogger("migrate"));
    Console.WriteLine(applied.Count == 0 ? "schema is current" : $"applied {applied.Count} migration(s): {string.Join(", ", applied)}");
    return 0;
});
root.Subcommands.Add(migrate);

root.Subcommands.Add(CorrelateCommand.Create());
root.Subcommands.Add(AdminCommand.Create());
root.Subcommands.Add(ReportCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(DevCommand.Create());

try
{
    // Command-line mistakes are one line and exit 2 (Cli); the handlers below print one readable line instead of a stack trace.
    return await Cli.InvokeAsync(root, args.Length == 0 ? ["serve"] : args);
}
catch (Exception ex) when (Settings.StartupProblem(ex) is { } problem)
{
    // A bad setting, an unparsable connection string, a taken port: one line, exit 2 (systemd's RestartPreventExitStatus).
    Console.Error.WriteLine($"error: {problem}");
    return 2;
}
catch (Exception ex) when (ex is Npgsql.NpgsqlException or System.Net.Sockets.SocketException
                           || (ex is InvalidOperationException && ex.Message.StartsWith("migration", StringComparison.Ordinal)))
{
    Console.Error.WriteLine($"error: database: {ex.Message}");
    return 1;
}
