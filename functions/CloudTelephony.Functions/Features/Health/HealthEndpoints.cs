using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace CloudTelephony.Functions.Health;

/// <summary>
/// Health (Microsoft.Extensions.Diagnostics.HealthChecks): <c>GET /api/health/live</c> (liveness: the process answers,
/// no database), <c>GET /api/health/ready</c> (readiness: the PostgreSQL check of AspNetCore.HealthChecks.NpgSql), and
/// <c>GET /api/health</c> (both plus every relay and PBX: <c>healthy</c>, <c>degraded</c> or <c>unhealthy</c>; detail
/// only for a <c>crm</c> token or a person signed in through App Service authentication, limited to that enterprise).
/// </summary>
public static class HealthEndpoints
{
    /// <summary>Liveness route.</summary>
    public const string LivePath = "/api/health/live";

    /// <summary>Readiness route.</summary>
    public const string ReadyPath = "/api/health/ready";

    /// <summary>Tag of the checks readiness runs (the database).</summary>
    public const string ReadyTag = "ready";

    /// <summary>Registers the health checks: <c>database</c> (PostgreSQL, <c>SELECT 1</c> through the app's data source,
    /// tag <see cref="ReadyTag"/>) and <c>pbx-relays</c> (<see cref="PbxRelayHealthCheck"/>).</summary>
    public static IServiceCollection AddAppHealthChecks(this IServiceCollection services)
    {
        services.AddSingleton<HealthReport>();
        services.AddHealthChecks()
            .AddNpgSql(sp => sp.GetRequiredService<NpgsqlDataSource>(), name: "database", tags: [ReadyTag], timeout: TimeSpan.FromSeconds(5))
            .AddCheck<PbxRelayHealthCheck>("pbx-relays");
        return services;
    }

    /// <summary>Maps the endpoints (the custom handler's own probe, <c>GET /</c>, is answered by the web app).</summary>
    public static void MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet(LivePath, (TimeProvider clock) => Results.Json(new HealthDto("healthy", clock.GetUtcNow()), ApiJson.Default.HealthDto))
            .WithName("HealthLive").WithTags("Health")
            .WithSummary("Liveness: the process answers")
            .WithDescription("No token, no database: 200 {\"status\":\"healthy\"} while the process runs (a liveness probe).")
            .Produces<HealthDto>();
        app.MapGet(ReadyPath, ReadyAsync)
            .WithName("HealthReady").WithTags("Health")
            .WithSummary("Readiness: the database answers")
            .WithDescription("No token. The PostgreSQL health check (AspNetCore.HealthChecks.NpgSql): 200 healthy, or 503 unhealthy with Retry-After.")
            .Produces<HealthDto>().Produces<HealthDto>(StatusCodes.Status503ServiceUnavailable);
        app.MapGet("/api/health", CheckAsync).WithName("Health").WithTags("Health")
            .WithSummary("Health of the app, its database, relays and PBX streams")
            .WithDescription("Anonymous: the status only. With a crm token (or signed in to the web app through App Service authentication): that enterprise's PBXes (stream counters, connection state) and relays, and the problems. "
                             + "200 healthy or degraded (a PBX refused or not connected, a relay silent for 5 minutes, an outbox at its cap, a relay with dead letters); 503 unhealthy when the database is unreachable.")
            .Produces<HealthDto>().Produces<HealthDto>(StatusCodes.Status503ServiceUnavailable)
            .ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden);
    }

    private static async Task<IResult> ReadyAsync(HttpContext http, HealthCheckService checks, TimeProvider clock, CancellationToken ct)
    {
        var report = await checks.CheckHealthAsync(c => c.Tags.Contains(ReadyTag), ct);
        if (report.Status == HealthStatus.Unhealthy)
        {
            return Unavailable(http, clock, detail: false);
        }

        return Results.Json(new HealthDto(Name(report.Status), clock.GetUtcNow()), ApiJson.Default.HealthDto);
    }

    private static string Name(HealthStatus s) => s switch
    {
        HealthStatus.Healthy => "healthy",
        HealthStatus.Degraded => "degraded",
        _ => "unhealthy",
    };

    /// <remarks>
    /// HTTP 503 only when the database is unreachable (the app cannot do its work); a silent relay, a full outbox or
    /// a refused PBX make the status <c>degraded</c> with HTTP 200 — monitoring reads the body's status.
    /// </remarks>
    private static async Task<IResult> CheckAsync(HttpContext http, HealthCheckService checks, HealthReport report, TenantCache tenants, TimeProvider clock, CancellationToken ct)
    {
        long? enterprise = null;
        if (TokenAuth.ReadToken(http.Request) is { } secret)
        {
            // A token is optional here, but one that is sent must be valid: detail is for its enterprise only.
            ApiTokenCheck check;
            try
            {
                check = await CheckTokenAsync(http, tenants, secret, ct);
            }
            catch (Exception ex) when (ProblemExceptionHandler.IsDatabaseUnavailable(ex))
            {
                return Unavailable(http, clock, detail: true);
            }

            if (check.Refusal is { } refusal)
            {
                return refusal;
            }

            enterprise = check.EnterpriseId;
        }
        else if (http.RequestServices.GetService<AppServiceIdentity>() is { Enabled: true } identity && identity.Principal(http.Request) is not null)
        {
            // A person signed in through App Service authentication (the web app's Health page) sees what a crm token of
            // their enterprise sees; one no rule maps, or a request without the web app's header, gets 403 with the reason.
            string? refused = null;
            ApiToken? person;
            try
            {
                person = await identity.ResolveAsync(http.Request, r => refused = r, ct);
            }
            catch (Exception ex) when (ProblemExceptionHandler.IsDatabaseUnavailable(ex))
            {
                return Unavailable(http, clock, detail: true);
            }

            if (person is null)
            {
                return Results.Problem(statusCode: 403, title: "forbidden", detail: refused ?? "signed in, but not mapped to an enterprise");
            }

            var settings = (await tenants.ContextAsync(person.EnterpriseId, null, ct)).Settings;
            if (!settings.Allows(http.Connection.RemoteIpAddress))
            {
                return Results.Problem(statusCode: 403, title: "forbidden", detail: $"address {http.Connection.RemoteIpAddress} is not in the enterprise's IP allowlist");
            }

            enterprise = person.EnterpriseId;
        }

        var overall = await checks.CheckHealthAsync(ct);
        if (overall.Entries.TryGetValue("database", out var db) && db.Status == HealthStatus.Unhealthy)
        {
            return Unavailable(http, clock, detail: enterprise is not null);
        }

        if (enterprise is not { } id)
        {
            return Results.Json(new HealthDto(Name(overall.Status), clock.GetUtcNow()), ApiJson.Default.HealthDto);
        }

        try
        {
            return Results.Json(await report.BuildAsync(id, ct), ApiJson.Default.HealthDto);
        }
        catch (Exception ex) when (ProblemExceptionHandler.IsDatabaseUnavailable(ex))
        {
            return Unavailable(http, clock, detail: true);
        }
    }

    private static IResult Unavailable(HttpContext http, TimeProvider clock, bool detail)
    {
        http.Response.Headers.RetryAfter = ProblemExceptionHandler.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var dto = detail
            ? new HealthDto("unhealthy", clock.GetUtcNow(), "unreachable", [], [], ["database: unreachable"])
            : new HealthDto("unhealthy", clock.GetUtcNow());
        return Results.Json(dto, ApiJson.Default.HealthDto, statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    private sealed record ApiTokenCheck(long EnterpriseId, IResult? Refusal);

    private static async Task<ApiTokenCheck> CheckTokenAsync(HttpContext http, TenantCache tenants, string secret, CancellationToken ct)
    {
        var token = await tenants.TokenAsync(secret, ct);
        if (token is null)
        {
            return new(0, Results.Problem(statusCode: 401, title: "unauthorized", detail: "unknown or revoked token (leave it out for the status only)"));
        }

        if (token.Scope != "crm")
        {
            return new(0, Results.Problem(statusCode: 403, title: "forbidden", detail: $"this token has scope '{token.Scope}'; health detail needs 'crm'"));
        }

        var settings = (await tenants.ContextAsync(token.EnterpriseId, null, ct)).Settings;
        return settings.Allows(http.Connection.RemoteIpAddress)
            ? new(token.EnterpriseId, null)
            : new(0, Results.Problem(statusCode: 403, title: "forbidden", detail: $"address {http.Connection.RemoteIpAddress} is not in the enterprise's IP allowlist"));
    }
}
