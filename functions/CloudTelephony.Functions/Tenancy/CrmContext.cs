using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Sms;

namespace CloudTelephony.Functions.Tenancy;

/// <summary>What the CRM endpoints need of the request's token: its enterprise's settings, and the shared OpenAPI errors.</summary>
public static class CrmContext
{
    /// <summary>The token's enterprise's default region (<c>PL</c> unless set) for numbers without a country code.</summary>
    public static async Task<string> RegionAsync(HttpContext http, CancellationToken ct)
    {
        var config = http.RequestServices.GetRequiredService<TenantCache>();
        return (await config.ContextAsync(http.ApiToken().EnterpriseId, null, ct)).Settings.DefaultRegion;
    }

    /// <summary>Documents the token filter's answers: 401 (missing, unknown or revoked token), 403 (wrong scope or address).</summary>
    public static RouteHandlerBuilder ProducesCrmAuthProblems(this RouteHandlerBuilder builder)
        => builder.ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden);
}
