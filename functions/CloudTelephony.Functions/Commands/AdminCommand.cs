using System.CommandLine;
using CloudTelephony.Storage;
using Npgsql;

namespace CloudTelephony.Functions.Commands;

/// <summary><c>admin ...</c>: operator commands against the database.</summary>
public static class AdminCommand
{
    /// <summary>Builds the command tree.</summary>
    public static Command Create()
    {
        var pbx = new Option<string>("--pbx") { Description = "PBX id", Required = true };
        var reset = new Command("reset-pbx", "Delete a PBX's frames, calls and correlator state (it stays registered)") { pbx };
        reset.SetAction(async (parse, ct) =>
        {
            await using var db = NpgsqlDataSource.Create(AppConfig.ConnectionString(AppConfig.Load()));
            var rows = await new HealthQueries(db).ResetPbxAsync(parse.GetValue(pbx)!, ct);
            Console.WriteLine($"reset {parse.GetValue(pbx)}: {rows} rows deleted");
            return 0;
        });

        return new Command("admin", "Administration commands") { reset, ArchiveCommand.Create() };
    }
}
