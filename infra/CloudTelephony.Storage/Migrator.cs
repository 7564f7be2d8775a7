using DbUp;
using DbUp.Engine.Output;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace CloudTelephony.Storage;

/// <summary>Applies the versioned SQL migrations embedded in this assembly (<c>Migrations/NNNN_name.sql</c>) with DbUp.</summary>
public static class Migrator
{
    /// <summary>
    /// Brings the database to the newest schema. Already applied scripts (journal <c>ct.schema_versions</c>) are skipped,
    /// so running it again changes nothing.
    /// </summary>
    /// <param name="connectionString">Npgsql connection string of the target database (it must exist).</param>
    /// <param name="logger">Receives one line per applied script.</param>
    /// <returns>Names of the scripts applied by this run (empty when the schema was current).</returns>
    /// <exception cref="InvalidOperationException">A script failed; the message names it and PostgreSQL's error.</exception>
    public static IReadOnlyList<string> Run(string connectionString, ILogger logger)
    {
        // DbUp creates the journal before the first script runs, so the schema must exist first.
        using (var conn = new NpgsqlConnection(connectionString))
        {
            conn.Open();
            using var cmd = new NpgsqlCommand("CREATE SCHEMA IF NOT EXISTS ct", conn);
            cmd.ExecuteNonQuery();
        }

        var upgrader = DeployChanges.To
            .PostgresqlDatabase(connectionString)
            .JournalToPostgresqlTable("ct", "schema_versions")
            .WithScriptsEmbeddedInAssembly(typeof(Migrator).Assembly, name => name.Contains(".Migrations.", StringComparison.Ordinal))
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
