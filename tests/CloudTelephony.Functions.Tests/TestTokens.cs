using System.Net.Http.Headers;
using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;

namespace CloudTelephony.Functions.Tests;

/// <summary>Enterprises and API tokens for tests, made through the same stores the admin commands use.</summary>
public static class TestTokens
{
    /// <summary>
    /// Creates (or reuses) enterprise <paramref name="enterprise"/>, files <paramref name="pbxes"/> under it (registering
    /// unknown ones as ctip) and returns a new token of <paramref name="scope"/> with its id.
    /// </summary>
    public static async Task<(long Id, string Token, long EnterpriseId)> CreateTokenAsync(this PostgresDatabase db, string enterprise, string scope, params string[] pbxes)
    {
        var store = new RoutingStore(db.DataSource);
        var id = await store.FindEnterpriseAsync(enterprise, default) ?? await store.AddEnterpriseAsync(enterprise, "Europe/Warsaw", default);
        foreach (var pbx in pbxes)
        {
            Assert.True(await store.AssignPbxAsync(pbx, id, null, "ctip", default), $"PBX {pbx} assigned");
        }

        var token = await new TokenStore(db.DataSource).CreateAsync(id, scope, default);
        return (token.Id, token.Token, id);
    }

    /// <summary>
    /// A relay-scope token of <paramref name="enterprise"/> (created if missing), what a relay sends on
    /// <c>POST /api/frames</c> and <c>/api/heartbeat</c>; PBX ids it registers are filed under that enterprise.
    /// </summary>
    public static async Task<string> RelayTokenAsync(this PostgresDatabase db, string enterprise = "default")
        => (await db.CreateTokenAsync(enterprise, "relay")).Token;

    /// <summary>The name of the enterprise <paramref name="pbx"/> is filed under, or null when it is not registered.</summary>
    public static async Task<string?> EnterpriseOfAsync(this PostgresDatabase db, string pbx)
    {
        await using var cmd = db.DataSource.CreateCommand("SELECT e.name FROM ct.pbxes p JOIN ct.enterprises e ON e.id = p.enterprise_id WHERE p.id = @p");
        cmd.Parameters.AddWithValue("p", pbx);
        return await cmd.ExecuteScalarAsync() as string;
    }

    /// <summary>A client of <paramref name="baseUrl"/> that sends <paramref name="token"/> as <c>Authorization: Bearer</c>.</summary>
    public static HttpClient Client(string baseUrl, string token)
        => new() { BaseAddress = new Uri(baseUrl), DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", token) } };
}
