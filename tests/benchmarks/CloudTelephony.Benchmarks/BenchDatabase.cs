using CloudTelephony.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace CloudTelephony.Benchmarks;

/// <summary>A benchmark's own database on the server named by <c>CT_POSTGRES</c>: dropped, created and migrated afresh.</summary>
public static class BenchDatabase
{
    /// <summary>Recreates <paramref name="name"/> and migrates it; returns its connection string (pool of 50).</summary>
    /// <exception cref="InvalidOperationException"><c>CT_POSTGRES</c> is not set.</exception>
    public static async Task<string> CreateAsync(string name)
    {
        var admin = Environment.GetEnvironmentVariable("CT_POSTGRES")
            ?? throw new InvalidOperationException("CT_POSTGRES is not set (./ct bench sets it)");
        await using (var conn = new NpgsqlConnection(admin))
        {
            await conn.OpenAsync();
            await new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", conn).ExecuteNonQueryAsync();
            await new NpgsqlCommand($"CREATE DATABASE {name}", conn).ExecuteNonQueryAsync();
        }

        var cs = new NpgsqlConnectionStringBuilder(admin) { Database = name, MaxPoolSize = 50 }.ConnectionString;
        Migrator.Run(cs, NullLogger.Instance);
        return cs;
    }
}
