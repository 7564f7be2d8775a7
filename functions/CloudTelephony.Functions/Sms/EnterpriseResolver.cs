using System.Globalization;
using Npgsql;

namespace CloudTelephony.Functions.Sms;

/// <summary>Which enterprise an API request acts for, or why none.</summary>
/// <param name="EnterpriseId">The enterprise, or null when <paramref name="Problem"/> says why not.</param>
/// <param name="Field">The request field (header) that was wrong, for the problem details.</param>
/// <param name="Problem">Why no enterprise was found.</param>
/// <param name="Status">HTTP status for the problem (400 bad input, 401/403 for the token filter).</param>
public sealed record EnterpriseResolution(long? EnterpriseId, string? Field = null, string? Problem = null, int Status = 400);

/// <summary>
/// Seam for tenancy: resolves the enterprise an API request acts for. The default implementation
/// (<see cref="HeaderEnterpriseResolver"/>) is a stand-in until token authentication lands; the token filter replaces this
/// registration with one that returns the token's enterprise.
/// </summary>
public interface IEnterpriseResolver
{
    /// <summary>Resolves the enterprise of <paramref name="context"/>.</summary>
    Task<EnterpriseResolution> ResolveAsync(HttpContext context, CancellationToken ct);
}

/// <summary>
/// Stand-in resolver: header <c>X-Enterprise-Id</c> (numeric id of an existing enterprise), else header <c>X-Pbx</c>
/// (the PBX's enterprise), else the <c>default</c> enterprise (single-box installs). Not authentication.
/// </summary>
public sealed class HeaderEnterpriseResolver(NpgsqlDataSource db) : IEnterpriseResolver
{
    /// <summary>Header naming the enterprise id.</summary>
    public const string EnterpriseHeader = "X-Enterprise-Id";

    /// <summary>Header naming a PBX whose enterprise is meant.</summary>
    public const string PbxHeader = "X-Pbx";

    /// <inheritdoc />
    public async Task<EnterpriseResolution> ResolveAsync(HttpContext context, CancellationToken ct)
    {
        var headers = context.Request.Headers;
        if (headers[EnterpriseHeader].ToString() is { Length: > 0 } raw)
        {
            if (!long.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                return new EnterpriseResolution(null, EnterpriseHeader, "must be a numeric enterprise id");
            }

            return await ScalarAsync("SELECT id FROM ct.enterprises WHERE id = @v", id, ct) is { } found
                ? new EnterpriseResolution(found)
                : new EnterpriseResolution(null, EnterpriseHeader, $"no enterprise with id {id}");
        }

        if (headers[PbxHeader].ToString() is { Length: > 0 } pbx)
        {
            return await ScalarAsync("SELECT enterprise_id FROM ct.pbxes WHERE id = @v", pbx, ct) is { } found
                ? new EnterpriseResolution(found)
                : new EnterpriseResolution(null, PbxHeader, $"no PBX '{pbx}'");
        }

        return await ScalarAsync("SELECT id FROM ct.enterprises WHERE name = @v", "default", ct) is { } fallback
            ? new EnterpriseResolution(fallback)
            : new EnterpriseResolution(null, EnterpriseHeader, "required (there is no 'default' enterprise)");
    }

    private async Task<long?> ScalarAsync(string sql, object value, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("v", value);
        return await cmd.ExecuteScalarAsync(ct) is long id ? id : null;
    }
}
