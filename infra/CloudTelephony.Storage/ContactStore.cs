using Npgsql;
using NpgsqlTypes;

namespace CloudTelephony.Storage;

/// <summary>A phone number of a contact.</summary>
/// <param name="Id">Device id (<c>DELETE /api/contacts/{id}/devices/{deviceId}</c>).</param>
/// <param name="Number">E.164.</param>
/// <param name="Raw">As it was entered or imported.</param>
/// <param name="Label">Optional label (mobile, office, …).</param>
public sealed record ContactDevice(long Id, string Number, string Raw, string? Label);

/// <summary>A contact of an enterprise with its numbers.</summary>
public sealed record Contact(long Id, string Name, string? Company, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, IReadOnlyList<ContactDevice> Devices);

/// <summary>A number to store: E.164, as entered, optional label.</summary>
public sealed record NewContactDevice(string Number, string Raw, string? Label);

/// <summary>A page of contacts with the total that match.</summary>
public sealed record ContactPage(IReadOnlyList<Contact> Items, long Total, int Page, int PageSize);

/// <summary>
/// Contacts and their numbers (<c>ct.contacts</c>, <c>ct.contact_devices</c>), always within one enterprise: every method
/// takes the enterprise id, and a contact of another enterprise is treated as missing.
/// </summary>
public sealed class ContactStore(NpgsqlDataSource db)
{
    private const string ContactColumns = "k.id, k.name, k.company, k.created_at, k.updated_at";

    /// <summary>The enterprise's contact with number <paramref name="e164"/> (the oldest contact wins), or null.</summary>
    public async Task<Contact?> FindByNumberAsync(long enterpriseId, string e164, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT " + ContactColumns + """
             FROM ct.contacts k
             WHERE k.enterprise_id = @e
               AND EXISTS (SELECT 1 FROM ct.contact_devices d WHERE d.contact_id = k.id AND d.enterprise_id = @e AND d.number_e164 = @n)
             ORDER BY k.id LIMIT 1
            """);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("n", e164);
        return (await ReadAsync(cmd, ct)).Items.FirstOrDefault();
    }

    /// <summary>One contact, or null when there is none with that id in the enterprise.</summary>
    public async Task<Contact?> GetAsync(long enterpriseId, long id, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT " + ContactColumns + " FROM ct.contacts k WHERE k.enterprise_id = @e AND k.id = @id");
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("id", id);
        return (await ReadAsync(cmd, ct)).Items.FirstOrDefault();
    }

    /// <summary>
    /// The enterprise's contacts by name: all of them, or those whose name or company contains <paramref name="search"/>
    /// (any case), or one of whose numbers contains its digits or equals <paramref name="searchE164"/>.
    /// </summary>
    /// <param name="enterpriseId">The enterprise.</param>
    /// <param name="search">Search text, or null for every contact.</param>
    /// <param name="searchE164">The search text as an E.164 number, or null.</param>
    /// <param name="page">1-based page.</param>
    /// <param name="pageSize">Rows per page.</param>
    /// <param name="ct">Cancellation.</param>
    public async Task<ContactPage> SearchAsync(long enterpriseId, string? search, string? searchE164, int page, int pageSize, CancellationToken ct)
    {
        var digits = search is null ? null : new string(search.Where(char.IsAsciiDigit).ToArray());
        await using var cmd = db.CreateCommand("SELECT " + ContactColumns + ", count(*) OVER ()" + """
             FROM ct.contacts k
             WHERE k.enterprise_id = @e
               AND (@q::text IS NULL
                    OR strpos(lower(k.name), lower(@q)) > 0
                    OR strpos(lower(coalesce(k.company, '')), lower(@q)) > 0
                    OR EXISTS (SELECT 1 FROM ct.contact_devices d
                                WHERE d.contact_id = k.id AND d.enterprise_id = @e
                                  AND ((length(@digits) >= 3 AND strpos(d.number_e164, @digits) > 0) OR d.number_e164 = @q_e164)))
             ORDER BY lower(k.name), k.id
             LIMIT @limit OFFSET @offset
            """);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.Add(new NpgsqlParameter("q", NpgsqlDbType.Text) { Value = (object?)search ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("digits", NpgsqlDbType.Text) { Value = (object?)digits ?? "" });
        cmd.Parameters.Add(new NpgsqlParameter("q_e164", NpgsqlDbType.Text) { Value = (object?)searchE164 ?? DBNull.Value });
        cmd.Parameters.AddWithValue("limit", pageSize);
        cmd.Parameters.AddWithValue("offset", (long)(page - 1) * pageSize);
        var (items, total) = await ReadAsync(cmd, ct, withTotal: true);
        if (items.Count == 0 && page > 1)
        {
            total = (await SearchAsync(enterpriseId, search, searchE164, 1, 1, ct)).Total;
        }

        return new ContactPage(items, total, page, pageSize);
    }

    /// <summary>Creates a contact with its numbers (duplicates dropped) in one transaction; returns it.</summary>
    public async Task<Contact> CreateAsync(long enterpriseId, string name, string? company, IReadOnlyList<NewContactDevice> devices, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        long id;
        await using (var cmd = new NpgsqlCommand("INSERT INTO ct.contacts (enterprise_id, name, company) VALUES (@e, @n, @c) RETURNING id", conn, tx))
        {
            cmd.Parameters.AddWithValue("e", enterpriseId);
            cmd.Parameters.AddWithValue("n", name);
            cmd.Parameters.Add(new NpgsqlParameter("c", NpgsqlDbType.Text) { Value = (object?)company ?? DBNull.Value });
            id = (long)(await cmd.ExecuteScalarAsync(ct))!;
        }

        await InsertDevicesAsync(conn, tx, enterpriseId, id, devices, ct);
        await tx.CommitAsync(ct);
        return (await GetAsync(enterpriseId, id, ct))!;
    }

    /// <summary>
    /// Replaces name and company (and, when <paramref name="devices"/> is not null, the numbers); returns the contact, or
    /// null when there is no such contact in the enterprise.
    /// </summary>
    public async Task<Contact?> UpdateAsync(long enterpriseId, long id, string name, string? company, IReadOnlyList<NewContactDevice>? devices, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var cmd = new NpgsqlCommand("UPDATE ct.contacts SET name = @n, company = @c, updated_at = now() WHERE enterprise_id = @e AND id = @id", conn, tx))
        {
            cmd.Parameters.AddWithValue("e", enterpriseId);
            cmd.Parameters.AddWithValue("id", id);
            cmd.Parameters.AddWithValue("n", name);
            cmd.Parameters.Add(new NpgsqlParameter("c", NpgsqlDbType.Text) { Value = (object?)company ?? DBNull.Value });
            if (await cmd.ExecuteNonQueryAsync(ct) == 0)
            {
                return null;
            }
        }

        if (devices is not null)
        {
            await using (var delete = new NpgsqlCommand("DELETE FROM ct.contact_devices WHERE enterprise_id = @e AND contact_id = @id AND NOT (number_e164 = ANY(@keep))", conn, tx))
            {
                delete.Parameters.AddWithValue("e", enterpriseId);
                delete.Parameters.AddWithValue("id", id);
                delete.Parameters.AddWithValue("keep", devices.Select(d => d.Number).ToArray());
                await delete.ExecuteNonQueryAsync(ct);
            }

            await InsertDevicesAsync(conn, tx, enterpriseId, id, devices, ct);
        }

        await tx.CommitAsync(ct);
        return await GetAsync(enterpriseId, id, ct);
    }

    /// <summary>Deletes a contact and its numbers; false when there is no such contact in the enterprise.</summary>
    public async Task<bool> DeleteAsync(long enterpriseId, long id, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("DELETE FROM ct.contacts WHERE enterprise_id = @e AND id = @id");
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("id", id);
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    /// <summary>
    /// Adds a number to a contact (a number it already has gets the new raw form and label); returns the device and
    /// whether it was new, or null when there is no such contact in the enterprise.
    /// </summary>
    public async Task<(ContactDevice Device, bool Created)?> AddDeviceAsync(long enterpriseId, long contactId, NewContactDevice device, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            INSERT INTO ct.contact_devices (contact_id, enterprise_id, number_e164, raw, label)
            SELECT k.id, k.enterprise_id, @n, @raw, @label FROM ct.contacts k WHERE k.enterprise_id = @e AND k.id = @id
            ON CONFLICT (contact_id, number_e164) DO UPDATE SET raw = EXCLUDED.raw, label = EXCLUDED.label
            RETURNING id, number_e164, raw, label, (xmax = 0);
            UPDATE ct.contacts SET updated_at = now() WHERE enterprise_id = @e AND id = @id;
            """);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("id", contactId);
        cmd.Parameters.AddWithValue("n", device.Number);
        cmd.Parameters.AddWithValue("raw", device.Raw);
        cmd.Parameters.Add(new NpgsqlParameter("label", NpgsqlDbType.Text) { Value = (object?)device.Label ?? DBNull.Value });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct))
        {
            return null;
        }

        return (new ContactDevice(r.GetInt64(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3)), r.GetBoolean(4));
    }

    /// <summary>Removes a number from a contact; false when the contact (in the enterprise) has no such device.</summary>
    public async Task<bool> DeleteDeviceAsync(long enterpriseId, long contactId, long deviceId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("DELETE FROM ct.contact_devices WHERE enterprise_id = @e AND contact_id = @c AND id = @d");
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("c", contactId);
        cmd.Parameters.AddWithValue("d", deviceId);
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    private static async Task InsertDevicesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long enterpriseId, long contactId, IReadOnlyList<NewContactDevice> devices, CancellationToken ct)
    {
        if (devices.Count == 0)
        {
            return;
        }

        await using var cmd = new NpgsqlCommand("""
            INSERT INTO ct.contact_devices (contact_id, enterprise_id, number_e164, raw, label)
            SELECT @c, @e, d.number, d.raw, d.label FROM unnest(@number, @raw, @label) AS d(number, raw, label)
            ON CONFLICT (contact_id, number_e164) DO UPDATE SET raw = EXCLUDED.raw, label = EXCLUDED.label
            """, conn, tx);
        var unique = devices.DistinctBy(d => d.Number).ToList();
        cmd.Parameters.AddWithValue("c", contactId);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("number", unique.Select(d => d.Number).ToArray());
        cmd.Parameters.AddWithValue("raw", unique.Select(d => d.Raw).ToArray());
        cmd.Parameters.Add(new NpgsqlParameter("label", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = unique.Select(d => d.Label).ToArray() });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private async Task<(List<Contact> Items, long Total)> ReadAsync(NpgsqlCommand cmd, CancellationToken ct, bool withTotal = false)
    {
        var rows = new List<(long Id, string Name, string? Company, DateTimeOffset Created, DateTimeOffset Updated)>();
        long total = 0;
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                rows.Add((r.GetInt64(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetFieldValue<DateTimeOffset>(3), r.GetFieldValue<DateTimeOffset>(4)));
                if (withTotal)
                {
                    total = r.GetInt64(5);
                }
            }
        }

        var devices = new Dictionary<long, List<ContactDevice>>();
        if (rows.Count > 0)
        {
            await using var d = db.CreateCommand("SELECT contact_id, id, number_e164, raw, label FROM ct.contact_devices WHERE contact_id = ANY(@ids) ORDER BY contact_id, id");
            d.Parameters.AddWithValue("ids", rows.Select(x => x.Id).ToArray());
            await using var r = await d.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var list = devices.TryGetValue(r.GetInt64(0), out var l) ? l : devices[r.GetInt64(0)] = [];
                list.Add(new ContactDevice(r.GetInt64(1), r.GetString(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4)));
            }
        }

        return (rows.Select(x => new Contact(x.Id, x.Name, x.Company, x.Created, x.Updated, devices.GetValueOrDefault(x.Id) ?? [])).ToList(), total);
    }
}
