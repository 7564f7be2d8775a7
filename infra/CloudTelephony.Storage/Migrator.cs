using DbUp;
using DbUp.Engine.Output;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace CloudTelephony.Storage;

/// <summary>Applies the versioned SQL migrations embedded in this assembly (<c>Migrations/NNNN_name.sql</c>) with DbUp.</summary>
/// <remarks>
/// Rules: every script is <c>NNNN_name.sql</c> with a number of its own (<see cref="Check"/>); a script once applied is
/// never edited; a script that must be renumbered goes into <see cref="Renamed"/>, so databases that applied it under
/// its old name keep it applied (DbUp journals scripts by their embedded resource name).
/// </remarks>
public static partial class Migrator
{
    private const string ResourcePrefix = "CloudTelephony.Storage.Migrations.";

    /// <summary>Scripts renumbered after release: old journal name → new name (both without the resource prefix).</summary>
    public static IReadOnlyDictionary<string, string> Renamed { get; } = new Dictionary<string, string>
    {
        // 0002_relay_heartbeats and 0002_routing were written in parallel; the heartbeats depend on nothing after 0001
        ["0002_relay_heartbeats.sql"] = "0008_relay_heartbeats.sql",
    };

    /// <summary>The migration scripts embedded in this assembly (file names, e.g. <c>0001_foundation.sql</c>), in name order.</summary>
    public static IReadOnlyList<string> Scripts { get; } = [.. typeof(Migrator).Assembly.GetManifestResourceNames()
        .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal))
        .Select(n => n[ResourcePrefix.Length..])
        .Order(StringComparer.Ordinal)];

    /// <summary>What is wrong with a list of script names: names not of the form <c>NNNN_name.sql</c> and numbers used twice.</summary>
    /// <returns>One line per problem; empty when the scripts follow the rules.</returns>
    public static IReadOnlyList<string> Check(IEnumerable<string> scripts)
    {
        var problems = new List<string>();
        var numbers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in scripts)
        {
            var m = ScriptName().Match(name);
            if (!m.Success)
            {
                problems.Add($"migration '{name}' is not named NNNN_name.sql");
            }
            else if (numbers.TryGetValue(m.Groups[1].Value, out var other))
            {
                problems.Add($"migrations '{other}' and '{name}' share the number {m.Groups[1].Value}: give the newer one the next free number");
            }
            else
            {
                numbers[m.Groups[1].Value] = name;
            }
        }

        return problems;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^(\d{4})_[a-z0-9_]+\.sql$")]
    private static partial System.Text.RegularExpressions.Regex ScriptName();
    /// <summary>
    /// Brings the database to the newest schema. Already applied scripts (journal <c>ct.schema_versions</c>) are skipped,
    /// so running it again changes nothing.
    /// </summary>
    /// <param name="connectionString">Npgsql connection string of the target database (it must exist).</param>
    /// <param name="logger">Receives one line per applied script.</param>
    /// <returns>Names of the scripts applied by this run (empty when the schema was current).</returns>
    /// <exception cref="InvalidOperationException">A script failed (the message names it and PostgreSQL's error), or the
    /// scripts break the naming rules (<see cref="Check"/>).</exception>
    public static IReadOnlyList<string> Run(string connectionString, ILogger logger)
    {
        if (Check(Scripts) is [var problem, ..])
        {
            throw new InvalidOperationException(problem);
        }

        // DbUp creates the journal before the first script runs, so the schema must exist first; renumbered scripts
        // take their new names in the journal of databases that applied them before.
        using (var conn = new NpgsqlConnection(connectionString))
        {
            conn.Open();
            using var cmd = new NpgsqlCommand("CREATE SCHEMA IF NOT EXISTS ct", conn);
            cmd.ExecuteNonQuery();
            using var journal = new NpgsqlCommand("SELECT to_regclass('ct.schema_versions') IS NOT NULL", conn);
            if (journal.ExecuteScalar() is true)
            {
                foreach (var (old, renamed) in Renamed)
                {
                    using var rename = new NpgsqlCommand(
                        "UPDATE ct.schema_versions SET scriptname = @new WHERE scriptname = @old", conn);
                    rename.Parameters.AddWithValue("old", ResourcePrefix + old);
                    rename.Parameters.AddWithValue("new", ResourcePrefix + renamed);
                    if (rename.ExecuteNonQuery() > 0)
                    {
                        logger.LogInformation("migration {Old} is journalled as {New} from now on", old, renamed);
                    }
                }
            }
        }

        var upgrader = DeployChanges.To
            .PostgresqlDatabase(connectionString)
            .JournalToPostgresqlTable("ct", "schema_versions")
            .WithScriptsEmbeddedInAssembly(typeof(Migrator).Assembly, name => name.StartsWith(ResourcePrefix, StringComparison.Ordinal))
            .WithTransactionPerScript()
            .LogTo(new DbUpLog(logger))
            .Build();

        var result = upgrader.PerformUpgrade();
        if (!result.Successful)
        {
            throw new InvalidOperationException(
                $"migration {result.ErrorScript?.Name ?? "?"} failed: {result.Error?.Message}", result.Error);
        }

        return result.Scripts.Select(s => s.Name).ToList();
    }

    private sealed class DbUpLog(ILogger logger) : IUpgradeLog
    {
        public void LogTrace(string format, params object[] args) => logger.LogTrace(format, args);

        public void LogDebug(string format, params object[] args) => logger.LogDebug(format, args);

        public void LogInformation(string format, params object[] args) => logger.LogDebug(format, args);

        public void LogWarning(string format, params object[] args) => logger.LogWarning(format, args);

        public void LogError(string format, params object[] args) => logger.LogError(format, args);

        public void LogError(Exception ex, string format, params object[] args) => logger.LogError(ex, format, args);
    }
}
