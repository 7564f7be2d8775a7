using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;

namespace CloudTelephony.Functions.Enterprises;

/// <summary><c>GET /api/enterprise</c> answer: the enterprise the token (or signed-in person) acts for.</summary>
/// <param name="Id">Enterprise id.</param>
/// <param name="Name">Enterprise name.</param>
/// <param name="TimeZone">IANA time zone the web app shows times in (<c>ct.enterprises.time_zone</c>).</param>
/// <param name="DefaultRegion">ISO 3166 region for national numbers.</param>
/// <param name="Pbxes">Its PBXes.</param>
/// <param name="SignedInAs">The person's name when signed in through App Service authentication; null with a token.</param>
public sealed record EnterpriseDto(long Id, string Name, string TimeZone, string DefaultRegion, IReadOnlyList<EnterprisePbx> Pbxes, string? SignedInAs);

/// <summary>Function <c>Enterprise</c>: who the caller is, for the web app's sign-in and its time zone.</summary>
public static class EnterpriseEndpoints
{
    /// <summary>Maps <c>GET /api/enterprise</c> (token scope crm).</summary>
    public static void MapEnterpriseEndpoints(this IEndpointRouteBuilder app)
        => app.MapGet("/api/enterprise", GetAsync).WithName("Enterprise").RequireToken("crm").WithTags("Web app")
            .WithSummary("The token's enterprise")
            .WithDescription("Name, time zone, default region and PBXes of the enterprise the crm token (or the person signed in through App Service authentication) acts for. The web app signs in with it: 401 for an unknown or revoked token, 403 for another scope.")
            .Produces<EnterpriseDto>().ProducesCrmAuthProblems();

    private static async Task<IResult> GetAsync(HttpContext http, EnterpriseQueries queries, CancellationToken ct)
    {
        var token = http.ApiToken();
        var profile = await queries.ProfileAsync(token.EnterpriseId, ct);
        if (profile is null)
        {
            return Results.Problem(statusCode: 404, title: "enterprise not found", detail: $"enterprise {token.EnterpriseId} no longer exists");
        }

        var person = http.Features.Get<AppServicePrincipal>();
        return Results.Ok(new EnterpriseDto(profile.Id, profile.Name, profile.TimeZone, profile.DefaultRegion, profile.Pbxes, person?.Name));
    }
}
