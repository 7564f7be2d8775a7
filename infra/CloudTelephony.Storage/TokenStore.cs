using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace CloudTelephony.Storage;

/// <summary>A valid (not revoked) API token: which enterprise it speaks for and what it may do.</summary>
/// <param name="Id">Token id (for <c>admin token revoke --id</c>).</param>
/// <param name="EnterpriseId">The enterprise.</param>
/// <param name="Scope"><c>routing</c>, <c>crm</c> or <c>relay</c>.</param>
[System.ComponentModel.ImmutableObject(true)]
public sealed record ApiToken(long Id, long EnterpriseId, string Scope);

/// <summary>A token as <c>admin token list</c> shows it (never its secret, which is not stored).</summary>
/// <param name="Id">Token id.</param>
/// <param name="Enterprise">Enterprise name.</param>
/// <param name="Scope"><c>routing</c>, <c>crm</c> or <c>relay</c>.</param>
/// <param name="CreatedAt">When it was created (UTC).</param>
/// <param name="RevokedAt">When it was revoked (UTC), or null while it is valid.</param>
public sealed record TokenInfo(long Id, string Enterprise, string Scope, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt);

/// <summary>A token just created: the secret is in <paramref name="Token"/> and nowhere else (only its hash is stored).</summary>
public sealed record IssuedToken(long Id, string Token);

/// <summary>
/// API tokens (<c>ct.api_tokens</c>): random secrets shown once, stored as SHA-256 hashes, each bound to one
/// enterprise and one scope; revoked tokens are refused.
/// </summary>
public sealed class TokenStore(NpgsqlDataSource db)
{
    /// <summary>The scopes a token can have.</summary>
    public static readonly IReadOnlyList<string> Scopes = ["routing", "crm", "relay"];

    /// <summary>A new secret: <c>ct_</c> and 32 random bytes in base64url (256 bits from <see cref="RandomNumberGenerator"/>).</summary>
    public static string NewSecret() => "ct_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>SHA-256 of the token's UTF-8 bytes, as stored.</summary>
    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>Creates a token for <paramref name="enterpriseId"/> with <paramref name="scope"/>.</summary>
    /// <exception cref="ArgumentException">Unknown scope.</exception>
    public async Task<IssuedToken> CreateAsync(long enterpriseId, string scope, CancellationToken ct)
    {
        if (!Scopes.Contains(scope))
        {
            throw new ArgumentException($"scope must be one of {string.Join(", ", Scopes)}", nameof(scope));
        }

        var secret = NewSecret();
        await using var cmd = db.CreateCommand("INSERT INTO ct.api_tokens (enterprise_id, token_sha256, scope) VALUES (@e, @h, @s) RETURNING id");
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("h", Hash(secret));
        cmd.Parameters.AddWithValue("s", scope);
        var id = (long)(await cmd.ExecuteScalarAsync(ct))!;
        return new IssuedToken(id, secret);
    }

    /// <summary>Revokes token <paramref name="id"/>; false when there is no such token or it was already revoked.</summary>
    public async Task<bool> RevokeAsync(long id, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("UPDATE ct.api_tokens SET revoked_at = now() WHERE id = @id AND revoked_at IS NULL");
        cmd.Parameters.AddWithValue("id", id);
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    /// <summary>Every token (or those of <paramref name="enterpriseId"/>), oldest first.</summary>
    public async Task<IReadOnlyList<TokenInfo>> ListAsync(long? enterpriseId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            SELECT t.id, e.name, t.scope, t.created_at, t.revoked_at FROM ct.api_tokens t JOIN ct.enterprises e ON e.id = t.enterprise_id
             WHERE @e::bigint IS NULL OR t.enterprise_id = @e ORDER BY t.id
            """);
        cmd.Parameters.Add(new NpgsqlParameter("e", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)enterpriseId ?? DBNull.Value });
        var list = new List<TokenInfo>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(new TokenInfo(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetFieldValue<DateTimeOffset>(3),
                r.IsDBNull(4) ? null : r.GetFieldValue<DateTimeOffset>(4)));
        }

        return list;
    }

    /// <summary>The token's enterprise and scope, or null when it is unknown or revoked.</summary>
    public async Task<ApiToken?> FindAsync(string token, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(token))
        {
            return null;
        }

        await using var cmd = db.CreateCommand("SELECT id, enterprise_id, scope FROM ct.api_tokens WHERE token_sha256 = @h AND revoked_at IS NULL");
        cmd.Parameters.AddWithValue("h", Hash(token));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? new ApiToken(r.GetInt64(0), r.GetInt64(1), r.GetString(2)) : null;
    }
}
