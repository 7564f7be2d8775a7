using System.CommandLine;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Storage;

namespace CloudTelephony.Functions.Commands;

/// <summary>The <c>handler</c> program's command tree: <c>serve</c>, <c>migrate</c>, <c>correlate</c>, <c>admin</c>,
/// <c>report</c>, <c>demo</c>, <c>dev</c>.</summary>
public static class HandlerCommand
{
    /// <summary>Builds the root command (named as <see cref="Cli.Name"/>).</summary>
    public static Command Create()
    {
        var root = Cli.Root("CloudTelephony functions: ingest, correlate and serve PBX call records");

        var serve = new Command(
            "serve",
            "Serve every function over HTTP (custom handler under the Functions host, or standalone). Settings may follow as "
            + "--Section:Key=value or --Section:Key value, e.g. --ServiceBus:Endpoint=amqp://127.0.0.1:5672 (standalone queue consumer)")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        var urls = new Option<string?>("--urls") { Description = $"listen address when not under the Functions host (default {FunctionsApp.DefaultUrl})" };
        serve.Options.Add(urls);
        serve.SetAction(async (parse, ct) =>
        {
            var url = parse.GetValue(urls);
            var settings = FunctionsApp.SettingArguments(parse.UnmatchedTokens);
            var app = FunctionsApp.Build([.. url is null ? [] : new[] { "--urls", url }, .. settings]);
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
        return root;
    }
}
