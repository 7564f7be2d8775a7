using System.CommandLine;
using CloudTelephony.Functions.Commands;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Storage;
using Microsoft.Extensions.Logging.Abstractions;

// Entry point of the functions app (`handler`): the custom handler / standalone HTTP server and the operator commands.
var root = new RootCommand("CloudTelephony functions: ingest, correlate and serve PBX call records");

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
    using var factory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
    var applied = Migrator.Run(AppConfig.ConnectionString(AppConfig.Load()), factory.CreateLogger("migrate"));
    Console.WriteLine(applied.Count == 0 ? "schema is current" : $"applied {applied.Count} migration(s): {string.Join(", ", applied)}");
    return 0;
});
root.Subcommands.Add(migrate);

root.Subcommands.Add(CorrelateCommand.Create());
root.Subcommands.Add(AdminCommand.Create());
root.Subcommands.Add(ReportCommand.Create());

try
{
    // Our own handler below prints one readable line instead of System.CommandLine's stack trace.
    var invocation = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
    return await root.Parse(args.Length == 0 ? ["serve"] : args).InvokeAsync(invocation);
}
catch (ConfigException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 2;
}
catch (Exception ex) when (ex is Npgsql.NpgsqlException or System.Net.Sockets.SocketException
                           || (ex is InvalidOperationException && ex.Message.StartsWith("migration", StringComparison.Ordinal)))
{
    Console.Error.WriteLine($"error: database: {ex.Message}");
    return 1;
}
