using CloudTelephony.Contracts;
using Npgsql;

namespace CloudTelephony.Functions.Ingest;

/// <summary>Settings of ingest access (section <c>Ingest</c>, env <c>Ingest__Name</c>).</summary>
public sealed class IngestAccessOptions
{
    /// <summary>
    /// Whether a relay token may register a PBX id nobody registered yet (filed under the token's enterprise, with the
    /// enterprise's time zone). False: only PBXes filed with <c>admin pbx assign</c> are accepted. Default true.
    /// </summary>
    public bool AutoRegisterPbxes { get; set; } = true;
}

/// <summary>
/// Which PBXes a relay token may feed: those of its own enterprise. A PBX id nobody registered is filed under the
/// token's enterprise before the batch is ingested (unless <see cref="IngestAccessOptions.AutoRegisterPbxes"/> is off);
/// a PBX of another enterprise is refused. The Service Bus path has no token (the send-only SAS rule authenticates
/// relays there) and keeps the ingest pipeline's own registration.
/// </summary>
public sealed class RelayPbxAccess(NpgsqlDataSource db, IngestAccessOptions options)
{
    /// <summary>
    /// Checks (and registers) the PBXes of <paramref name="batch"/> for <paramref name="enterpriseId"/>.
    /// </summary>
    /// <returns>Null when every PBX may be fed, else why not (naming the PBX).</returns>
    /// <exception cref="NpgsqlException">The database failed.</exception>
    public async Task<string?> CheckAsync(long enterpriseId, IReadOnlyList<Envelope> batch, CancellationToken ct)
    {
        var protocols = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var e in batch)
        {
            protocols.TryAdd(e.Pbx, e.Protocol);
        }

        var owners = await OwnersAsync(protocols.Keys.ToArray(), ct);
        var missing = protocols.Keys.Where(p => !owners.ContainsKey(p)).ToArray();
        if (missing.Length > 0)
        {
            if (!options.AutoRegisterPbxes)
            {
                return $"PBX '{missing[0]}' is not registered and Ingest:AutoRegisterPbxes is off: file it first with ./ct admin pbx assign --pbx {missing[0]} --enterprise …";
            }

            await using (var cmd = db.CreateCommand("""
                INSERT INTO ct.pbxes (id, enterprise_id, protocol, time_zone)
                SELECT p.id, e.id, p.protocol, e.time_zone
                  FROM unnest(@ids::text[], @protocols::text[]) AS p(id, protocol) JOIN ct.enterprises e ON e.id = @e
                ON CONFLICT (id) DO NOTHING
                """))
            {
                cmd.Parameters.AddWithValue("ids", missing);
                cmd.Parameters.AddWithValue("protocols", missing.Select(m => protocols[m]).ToArray());
                cmd.Parameters.AddWithValue("e", enterpriseId);
                await cmd.ExecuteNonQueryAsync(ct);
            }

            // another relay may have registered one of them at the same moment: read the owners again
            owners = await OwnersAsync(protocols.Keys.ToArray(), ct);
        }

        foreach (var (pbx, owner) in owners)
        {
            if (owner != enterpriseId)
            {
                return $"PBX '{pbx}' belongs to another enterprise; this relay token may feed only its own enterprise's PBXes";
            }
        }

        return null;
    }

    private async Task<Dictionary<string, long>> OwnersAsync(string[] ids, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT id, enterprise_id FROM ct.pbxes WHERE id = ANY(@ids)");
        cmd.Parameters.AddWithValue("ids", ids);
        var owners = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            owners[r.GetString(0)] = r.GetInt64(1);
        }

        return owners;
    }
}
