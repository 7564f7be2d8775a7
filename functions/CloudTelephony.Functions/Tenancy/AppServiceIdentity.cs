using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Storage;
using Microsoft.Extensions.Caching.Hybrid;

namespace CloudTelephony.Functions.Tenancy;

/// <summary>One rule mapping people signed in through App Service authentication (Entra ID) to an enterprise.</summary>
public sealed class AppServiceEnterpriseMap
{
    /// <summary>The Entra tenant (directory) id the person's account belongs to (claim <c>tid</c>); required.</summary>
    public string TenantId { get; set; } = "";

    /// <summary>Optional: the person must also be a member of this Entra group (object id, claim <c>groups</c>).</summary>
    public string? Group { get; set; }

    /// <summary>Name (or id) of the enterprise (<c>./ct admin enterprise list</c>); required.</summary>
    public string Enterprise { get; set; } = "";
}

/// <summary>
/// Settings section <c>WebApp:Auth</c>: whether the platform's identity headers are trusted. Only turn it on behind App
/// Service authentication, which sets <c>X-MS-CLIENT-PRINCIPAL</c> itself and removes any copy a client sent; anywhere
/// else a client could claim to be anyone.
/// </summary>
public sealed class AppServiceAuthOptions
{
    /// <summary>Configuration section.</summary>
    public const string Section = "WebApp:Auth";

    /// <summary>Trust <c>X-MS-CLIENT-PRINCIPAL</c> (App Service authentication). Off by default.</summary>
    public bool AppService { get; set; }

    /// <summary>Who gets which enterprise; the first matching rule wins.</summary>
    public List<AppServiceEnterpriseMap> Map { get; set; } = [];

    /// <summary>Where the web app sends a person to sign in (App Service's Entra provider).</summary>
    public string LoginPath { get; set; } = "/.auth/login/aad";

    /// <summary>Where the web app sends a person to sign out.</summary>
    public string LogoutPath { get; set; } = "/.auth/logout";

    /// <summary>The request header the web app sends with every call; a platform identity is accepted only with it, so a
    /// page on another site cannot use the person's sign-in cookie (a cross-site request with it needs a CORS preflight,
    /// which this app never grants).</summary>
    public const string ClientHeader = "X-CT-Client";

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ConfigException">Trust is on and a rule is incomplete, or there is no rule.</exception>
    public AppServiceAuthOptions Validate()
    {
        if (!AppService)
        {
            return this;
        }

        if (Map.Count == 0)
        {
            throw new ConfigException("WebApp:Auth:AppService is true but WebApp:Auth:Map is empty: set WebApp__Auth__Map__0__TenantId and WebApp__Auth__Map__0__Enterprise");
        }

        for (var i = 0; i < Map.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(Map[i].TenantId))
            {
                throw new ConfigException($"WebApp:Auth:Map:{i}:TenantId is required (the Entra tenant id of the people to admit)");
            }

            if (string.IsNullOrWhiteSpace(Map[i].Enterprise))
            {
                throw new ConfigException($"WebApp:Auth:Map:{i}:Enterprise is required (the enterprise name those people see)");
            }
        }

        return this;
    }
}

/// <summary>A person as App Service authentication describes them.</summary>
/// <param name="Name">Display name or UPN (<c>X-MS-CLIENT-PRINCIPAL-NAME</c>, else the name claim).</param>
/// <param name="IdentityProvider">e.g. <c>aad</c>.</param>
/// <param name="TenantId">Claim <c>tid</c>, or null.</param>
/// <param name="Groups">Claims <c>groups</c>.</param>
public sealed record AppServicePrincipal(string? Name, string? IdentityProvider, string? TenantId, IReadOnlyList<string> Groups);

/// <summary>The decoded <c>X-MS-CLIENT-PRINCIPAL</c> header (Base64 of <c>{"auth_typ","claims":[{"typ","val"}],"name_typ","role_typ"}</c>).</summary>
public sealed record ClientPrincipalHeader(
    [property: JsonPropertyName("auth_typ")] string? AuthType,
    [property: JsonPropertyName("claims")] IReadOnlyList<ClientPrincipalClaim>? Claims,
    [property: JsonPropertyName("name_typ")] string? NameType);

/// <summary>A claim of <see cref="ClientPrincipalHeader"/>.</summary>
public sealed record ClientPrincipalClaim(
    [property: JsonPropertyName("typ")] string? Type,
    [property: JsonPropertyName("val")] string? Value);

/// <summary>JSON metadata of the platform identity header.</summary>
[JsonSerializable(typeof(ClientPrincipalHeader))]
public sealed partial class AppServiceJson : JsonSerializerContext;

/// <summary>
/// Signs in people through App Service authentication (Entra ID) when <see cref="AppServiceAuthOptions.AppService"/>
/// is on: reads <c>X-MS-CLIENT-PRINCIPAL</c>, maps the person's tenant (and group) to an enterprise and lets them act
/// as a <c>crm</c> token of that enterprise. Off, the headers are ignored whatever they say.
/// </summary>
public sealed class AppServiceIdentity(AppServiceAuthOptions options, RoutingStore store, HybridCache cache)
{
    /// <summary>The header App Service sets with the person's claims.</summary>
    public const string PrincipalHeader = "X-MS-CLIENT-PRINCIPAL";

    private const string TenantClaim = "http://schemas.microsoft.com/identity/claims/tenantid";

    /// <summary>Whether platform identities are trusted.</summary>
    public bool Enabled => options.AppService;

    /// <summary>The settings.</summary>
    public AppServiceAuthOptions Options => options;

    /// <summary>The person of the request, or null when trust is off or there is no (readable) principal header.</summary>
    public AppServicePrincipal? Principal(HttpRequest request)
    {
        if (!Enabled || request.Headers[PrincipalHeader].ToString() is not { Length: > 0 } encoded)
        {
            return null;
        }

        ClientPrincipalHeader? header;
        try
        {
            header = JsonSerializer.Deserialize(Encoding.UTF8.GetString(Convert.FromBase64String(encoded)), AppServiceJson.Default.ClientPrincipalHeader);
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            return null;
        }

        var claims = header?.Claims ?? [];
        string? Claim(params string[] types) => claims.FirstOrDefault(c => types.Contains(c.Type, StringComparer.OrdinalIgnoreCase))?.Value;
        var name = request.Headers["X-MS-CLIENT-PRINCIPAL-NAME"].ToString() is { Length: > 0 } n ? n : Claim(header?.NameType ?? "name", "name", "preferred_username");
        var groups = claims.Where(c => string.Equals(c.Type, "groups", StringComparison.OrdinalIgnoreCase) && c.Value is not null).Select(c => c.Value!).ToList();
        return new AppServicePrincipal(name, header?.AuthType ?? request.Headers["X-MS-CLIENT-PRINCIPAL-IDP"].ToString(), Claim("tid", TenantClaim), groups);
    }

    /// <summary>
    /// The enterprise the request's person may act for, as a <c>crm</c> token with id 0; null when there is no
    /// platform identity (the caller then answers 401). <paramref name="refusal"/> says why a signed-in person is refused
    /// (no mapping, or the client header is missing).
    /// </summary>
    public async Task<ApiToken?> ResolveAsync(HttpRequest request, Action<string> refusal, CancellationToken ct)
    {
        if (Principal(request) is not { } person)
        {
            return null;
        }

        if (request.Headers[AppServiceAuthOptions.ClientHeader].Count == 0)
        {
            refusal($"a signed-in session is accepted only from the web app (header {AppServiceAuthOptions.ClientHeader}); integrations use a crm token");
            return null;
        }

        var rule = options.Map.FirstOrDefault(m =>
            string.Equals(m.TenantId, person.TenantId, StringComparison.OrdinalIgnoreCase)
            && (string.IsNullOrWhiteSpace(m.Group) || person.Groups.Contains(m.Group, StringComparer.OrdinalIgnoreCase)));
        if (rule is null)
        {
            refusal($"{person.Name ?? "this account"} is signed in but not mapped to an enterprise (WebApp:Auth:Map)");
            return null;
        }

        var id = await cache.GetOrCreateAsync("webapp-enterprise:" + rule.Enterprise, (store, rule.Enterprise),
            static async (s, c) => await s.store.FindEnterpriseAsync(s.Enterprise, c) ?? 0L, cancellationToken: ct);
        if (id == 0)
        {
            refusal($"enterprise '{rule.Enterprise}' named by WebApp:Auth:Map does not exist");
            return null;
        }

        request.HttpContext.Features.Set(person);
        return new ApiToken(0, id, "crm");
    }
}
