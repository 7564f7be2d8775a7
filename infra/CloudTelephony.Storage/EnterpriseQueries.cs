using Npgsql;

namespace CloudTelephony.Storage;

/// <summary>A PBX of an enterprise as the web app lists it.</summary>
/// <param name="Id">The relay's PBX id.</param>
/// <param name="Protocol"><c>ctip</c>, <c>ami</c> or <c>smdr</c>.</param>
/// <param name="Name">Display name, or null.</param>
/// <param name="TimeZone">IANA zone of the PBX's clock.</param>
public sealed record EnterprisePbx(string Id, string Protocol, string? Name, string TimeZone);

/// <summary>What a signed-in person's enterprise looks like: its name, the zone its times are shown in, its PBXes.</summary>
/// <param name="Id">Enterprise id.</param>
/// <param name="Name">Enterprise name.</param>
/// <param name="TimeZone">IANA time zone (<c>ct.enterprises.time_zone</c>) the web app shows times in.</param>
/// <param name="DefaultRegion">ISO 3166 region for national numbers (<c>PL</c> unless set).</param>
/// <param name="Pbxes">Its PBXes, ordered by id.</param>
public sealed record EnterpriseProfile(long Id, string Name, string TimeZone, string DefaultRegion, IReadOnlyList<EnterprisePbx> Pbxes);

/// <summary>Read side of one enterprise for the web app (<c>GET /api/enterprise</c>).</summary>
public sealed class EnterpriseQueries(NpgsqlDataSource db)
{
    /// <summary>The enterprise with its PBXes, or null when there is no such enterprise.</summary>
    /// <exception cref="NpgsqlException">The database failed.</exception>
    public async Task<EnterpriseProfile?> ProfileAsync(long enterpriseId, CancellationToken ct)
    {
        const string sql = """
            SELECT e.id, e.name, e.time_zone, coalesce(s.default_region, 'PL')
              FROM ct.enterprises e LEFT JOIN ct.enterprise_settings s ON s.enterprise_id = e.id
             WHERE e.id = @e;
            SELECT id, protocol, name, time_zone FROM ct.pbxes WHERE enterprise_id = @e ORDER BY id;
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct))
        {
            return null;
        }

        var (id, name, zone, region) = (r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3));
        await r.NextResultAsync(ct);
        var pbxes = new List<EnterprisePbx>();
        while (await r.ReadAsync(ct))
        {
            pbxes.Add(new EnterprisePbx(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetString(3)));
        }

        return new EnterpriseProfile(id, name, zone, region, pbxes);
    }
}
