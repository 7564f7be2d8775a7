using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace CloudTelephony.Functions.Tests;

/// <summary>
/// A fresh, migrated database on the real PostgreSQL server named by <c>CT_POSTGRES</c> (./ct test starts the local
/// cluster and sets it). Each fixture instance creates its own database and drops it when disposed.
/// </summary>
public sealed class PostgresDatabase : IAsyncLifetime
{
    private readonly string _admin;
    private readonly bool _migrate;

    /// <param name="migrate">False for an empty database (tests that migrate it themselves).</param>
    public PostgresDatabase(bool migrate = true)
    {
        _migrate = migrate;
        _admin = Environment.GetEnvironmentVariable("CT_POSTGRES") is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException("CT_POSTGRES is not set: run the tests through ./ct test, which starts PostgreSQL");
        Name = $"ct_test_{Guid.NewGuid():N}"[..24];
        ConnectionString = new NpgsqlConnectionStringBuilder(_admin) { Database = Name }.ConnectionString;
    }

    public string Name { get; }

    public string ConnectionString { get; }

    public NpgsqlDataSource DataSource { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await using (var admin = new NpgsqlConnection(_admin))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{Name}\"", admin);
            await create.ExecuteNonQueryAsync();
        }

        if (_migrate)
        {
            Migrator.Run(ConnectionString, NullLogger.Instance);
        }

        DataSource = NpgsqlDataSource.Create(ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await DataSource.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        await using var admin = new NpgsqlConnection(_admin);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
    }

    public async Task<long> ScalarAsync(string sql)
    {
        await using var cmd = DataSource.CreateCommand(sql);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync());
    }
}
