using CloudTelephony.Storage;
using DbUp;
using DbUp.Engine;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace CloudTelephony.Functions.Tests.Engine;

/// <summary>
/// The migration rules (<see cref="Migrator"/>): every script has a number of its own; a database migrated before a
/// renumbering (0002_relay_heartbeats → 0008) keeps its scripts applied and gets only the new ones; 0010 keeps each
/// enterprise's region.
/// </summary>
public sealed class MigrationTests
{
    private const string Prefix = "CloudTelephony.Storage.Migrations.";

    [Fact]
    public void Every_migration_has_a_number_of_its_own()
    {
        Assert.Empty(Migrator.Check(Migrator.Scripts));
        Assert.Contains("0009_open_calls.sql", Migrator.Scripts);
    }

    [Fact]
    public void Two_migrations_with_the_same_number_are_refused_with_their_names()
    {
        var problems = Migrator.Check(["0001_foundation.sql", "0002_relay_heartbeats.sql", "0002_routing.sql", "3_bad-name.sql"]);

        Assert.Equal(
            [
                "migrations '0002_relay_heartbeats.sql' and '0002_routing.sql' share the number 0002: give the newer one the next free number",
                "migration '3_bad-name.sql' is not named NNNN_name.sql",
            ],
            problems);
    }

    [Fact]
    public async Task A_database_migrated_before_the_renumbering_keeps_its_scripts_and_its_regions()
    {
        await using var db = new PostgresDatabase(migrate: false);
        await db.InitializeAsync();
        MigrateAsReleased(db.ConnectionString);
        await ExecAsync(db, """
            INSERT INTO ct.enterprises (name) VALUES ('sms-only'), ('both');
            INSERT INTO ct.sms_settings (enterprise_id, region) SELECT id, 'DE' FROM ct.enterprises WHERE name = 'sms-only';
            INSERT INTO ct.sms_settings (enterprise_id, region) SELECT id, 'CZ' FROM ct.enterprises WHERE name = 'both';
            INSERT INTO ct.enterprise_settings (enterprise_id, default_region) SELECT id, 'PL' FROM ct.enterprises WHERE name = 'both';
            """);

        var applied = Migrator.Run(db.ConnectionString, NullLogger.Instance);

        // the two new scripts of the renumbering, then only scripts numbered after it (0011 on)
        Assert.Equal([Prefix + "0009_open_calls.sql", Prefix + "0010_enterprise_region.sql"], applied.Take(2));
        Assert.All(applied.Skip(2), s => Assert.True(string.CompareOrdinal(s, Prefix + "0011") > 0, s));
        Assert.Equal(1, await db.ScalarAsync($"SELECT count(*) FROM ct.schema_versions WHERE scriptname = '{Prefix}0008_relay_heartbeats.sql'"));
        Assert.Equal(0, await db.ScalarAsync($"SELECT count(*) FROM ct.schema_versions WHERE scriptname = '{Prefix}0002_relay_heartbeats.sql'"));
        Assert.Equal("DE", await TextAsync(db, "SELECT default_region FROM ct.enterprise_settings s JOIN ct.enterprises e ON e.id = s.enterprise_id WHERE e.name = 'sms-only'"));
        Assert.Equal("PL", await TextAsync(db, "SELECT default_region FROM ct.enterprise_settings s JOIN ct.enterprises e ON e.id = s.enterprise_id WHERE e.name = 'both'"));
        Assert.Equal(0, await db.ScalarAsync("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'ct' AND table_name = 'sms_settings' AND column_name = 'region'"));
        Assert.Empty(Migrator.Run(db.ConnectionString, NullLogger.Instance));
    }

    [Fact]
    public async Task The_database_accepts_any_protocol_name_but_no_garbage()
    {
        await using var db = new PostgresDatabase();
        await db.InitializeAsync();

        await ExecAsync(db, "INSERT INTO ct.pbxes (id, enterprise_id, protocol) SELECT 'future', id, 'q-sig2' FROM ct.enterprises WHERE name = 'default'");
        var refused = await Assert.ThrowsAsync<PostgresException>(() => ExecAsync(db,
            "INSERT INTO ct.pbxes (id, enterprise_id, protocol) SELECT 'bad', id, 'CTIP; drop' FROM ct.enterprises WHERE name = 'default'"));
        Assert.Equal("pbxes_protocol_name", refused.ConstraintName);
    }

    [Fact]
    public async Task Migration_0014_keeps_every_event_position_and_the_events_not_sequenced_yet_get_the_next_ones()
    {
        await using var db = new PostgresDatabase(migrate: false);
        await db.InitializeAsync();
        MigrateUpTo(db.ConnectionString, "0014");
        for (var i = 1; i <= 5; i++)
        {
            // one transaction each: written_xid increases; the first three were sequenced by the release before
            var position = i <= 3 ? i.ToString(System.Globalization.CultureInfo.InvariantCulture) : "NULL";
            await ExecAsync(db, $"""
                INSERT INTO ct.call_events_out (event_id, enterprise_id, pbx, call_key, type, call_seq, occurred_at, body, position)
                SELECT 'e{i}', id, 'pbx', 'k', 'call.ringing', {i}, now(), 'body', {position}
                  FROM ct.enterprises WHERE name = 'default'
                """);
        }

        Assert.Equal([Prefix + "0014_call_event_positions.sql"], Migrator.Run(db.ConnectionString, NullLogger.Instance).Take(1));
        Assert.Equal(3, await EventStore.TopAsync(db.DataSource, default));
        Assert.True(await EventStore.PendingAsync(db.DataSource, default));
        Assert.Equal(2, await EventStore.SequenceAsync(db.DataSource, 1000, default));
        Assert.False(await EventStore.PendingAsync(db.DataSource, default));
        var events = await EventStore.ReadAsync(db.DataSource, null, 0, null, 100, default);
        Assert.Equal(["e1", "e2", "e3", "e4", "e5"], events.Select(e => e.EventId));
        Assert.Equal([1L, 2, 3, 4, 5], events.Select(e => e.Position));
    }

    /// <summary>Applies the scripts numbered below <paramref name="before"/>, as a release without the later ones did.</summary>
    private static void MigrateUpTo(string connectionString, string before)
    {
        using (var conn = new NpgsqlConnection(connectionString))
        {
            conn.Open();
            using var schema = new NpgsqlCommand("CREATE SCHEMA IF NOT EXISTS ct", conn);
            schema.ExecuteNonQuery();
        }

        var result = DeployChanges.To.PostgresqlDatabase(connectionString)
            .JournalToPostgresqlTable("ct", "schema_versions")
            .WithScripts(Migrator.Scripts.Where(s => string.CompareOrdinal(s, before) < 0).Select(s => new SqlScript(Prefix + s, Resource(s))))
            .WithTransactionPerScript()
            .LogToNowhere()
            .Build()
            .PerformUpgrade();
        Assert.True(result.Successful, result.Error?.Message);
    }

    /// <summary>Migrates as the release before the renumbering did: the same scripts up to 0007, the heartbeats under
    /// their old name 0002_relay_heartbeats (DbUp journals scripts by name).</summary>
    internal static void MigrateAsReleased(string connectionString)
    {
        using (var conn = new NpgsqlConnection(connectionString))
        {
            conn.Open();
            using var schema = new NpgsqlCommand("CREATE SCHEMA IF NOT EXISTS ct", conn);
            schema.ExecuteNonQuery();
        }

        var scripts = Migrator.Scripts.Where(s => string.CompareOrdinal(s, "0008") < 0)
            .Select(s => new SqlScript(Prefix + s, Resource(s)))
            .Append(new SqlScript(Prefix + "0002_relay_heartbeats.sql", Resource("0008_relay_heartbeats.sql")))
            .ToList();
        var result = DeployChanges.To.PostgresqlDatabase(connectionString)
            .JournalToPostgresqlTable("ct", "schema_versions")
            .WithScripts(scripts)
            .WithTransactionPerScript()
            .LogToNowhere()
            .Build()
            .PerformUpgrade();
        Assert.True(result.Successful, result.Error?.Message);
    }

    private static string Resource(string name)
    {
        using var stream = typeof(Migrator).Assembly.GetManifestResourceStream(Prefix + name)
            ?? throw new InvalidOperationException($"no embedded migration {name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    internal static async Task ExecAsync(PostgresDatabase db, string sql)
    {
        await using var cmd = db.DataSource.CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<string?> TextAsync(PostgresDatabase db, string sql)
    {
        await using var cmd = db.DataSource.CreateCommand(sql);
        return await cmd.ExecuteScalarAsync() as string;
    }
}
