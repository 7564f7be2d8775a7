using CloudTelephony.Functions.Routing;
using CloudTelephony.Storage;


namespace CloudTelephony.Functions.Tenancy;

/// <summary>Endpoint metadata: the endpoint needs a token of <paramref name="Scope"/> (for the OpenAPI document).</summary>
public sealed record TokenScope(string Scope);

/// <summary>Endpoint metadata: the token may come as the query parameter <c>access_token</c> too (only <c>GET /api/events</c>:
/// the browser's EventSource cannot send headers).</summary>
public sealed class QueryTokenAllowed;

/// <summary>The token a request was authorised with (set by <see cref="TokenAuth.RequireToken{TBuilder}"/>).</summary>
public sealed record TokenFeature(ApiToken Token);

/// <summary>
/// Token authorisation for endpoints: the token comes from header <c>Token</c> (the Smart Redirect contract) or
/// <c>Authorization: Bearer &lt;token&gt;</c>; missing, unknown or revoked → 401, wrong scope → 403, a client address
/// outside the enterprise's IP allowlist → 403; too many failed authentications from the client address → 429. Scope <c>routing</c> answers JSON <c>{"error": "..."}</c> (the Smart
/// Redirect contract); every other scope answers RFC 9457 problem details.
/// Apply to any endpoint with <c>.RequireToken("crm")</c>.
/// </summary>
public static class TokenAuth
{
    /// <summary>The Smart Redirect token header.</summary>
    public const string HeaderName = "Token";

    /// <summary>Value of <c>WWW-Authenticate</c> on a 401 (RFC 6750): the bearer scheme of this API.</summary>
    public const string Realm = "CloudTelephony";

    /// <summary>
    /// Requires a valid token with <paramref name="scope"/> whose enterprise allows the client address. Unknown and
    /// revoked tokens count against the client address (<see cref="AuthFailureLimiter"/>): past the limit the address gets
    /// 429 before any lookup. A 401 carries <c>WWW-Authenticate: Bearer</c>. A <c>crm</c> request without a token may
    /// instead carry a person signed in through App Service authentication (<see cref="AppServiceIdentity"/>, only with
    /// <c>WebApp:Auth:AppService</c> on); a signed-in person no rule maps to an enterprise gets 403.
    /// </summary>
    public static TBuilder RequireToken<TBuilder>(this TBuilder builder, string scope)
        where TBuilder : IEndpointConventionBuilder
        => builder.WithMetadata(new TokenScope(scope)).AddEndpointFilter(async (ctx, next) =>
        {
            var http = ctx.HttpContext;
            var secret = ReadToken(http.Request)
                ?? (http.GetEndpoint()?.Metadata.GetMetadata<QueryTokenAllowed>() is not null && http.Request.Query["access_token"].ToString() is { Length: > 0 } q ? q.Trim() : null);
            var address = http.Connection.RemoteIpAddress;
            var limiter = http.RequestServices.GetRequiredService<AuthFailureLimiter>();
            if (!limiter.MayTry(address, secret))
            {
                http.Response.Headers.RetryAfter = limiter.RetryAfter;
                return Deny(scope, 429, $"too many failed authentications from {AuthFailureLimiter.Key(address)}; retry after {limiter.RetryAfterSeconds} s");
            }

            var config = http.RequestServices.GetRequiredService<TenantCache>();
            ApiToken? token;
            if (secret is null)
            {
                // No token: a person signed in through App Service authentication (only when WebApp:Auth:AppService is on).
                string? refused = null;
                token = scope == "crm" && http.RequestServices.GetService<AppServiceIdentity>() is { Enabled: true } identity
                    ? await identity.ResolveAsync(http.Request, r => refused = r, http.RequestAborted)
                    : null;
                if (token is null)
                {
                    if (refused is not null)
                    {
                        return Deny(scope, 403, refused);
                    }

                    http.Response.Headers.WWWAuthenticate = $"Bearer realm=\"{Realm}\"";
                    return Deny(scope, 401, $"missing token: send header '{HeaderName}' or 'Authorization: Bearer <token>'");
                }
            }
            else
            {
                token = await config.TokenAsync(secret, http.RequestAborted);
                if (token is null)
                {
                    limiter.Failed(address);
                    http.Response.Headers.WWWAuthenticate = $"Bearer realm=\"{Realm}\", error=\"invalid_token\", error_description=\"unknown or revoked token\"";
                    return Deny(scope, 401, "unknown or revoked token");
                }

                limiter.Succeeded(secret);
            }

            if (token.Scope != scope)
            {
                return Deny(scope, 403, $"this token has scope '{token.Scope}'; this endpoint needs '{scope}'");
            }

            var settings = (await config.ContextAsync(token.EnterpriseId, null, http.RequestAborted)).Settings;
            if (!settings.Allows(address))
            {
                return Deny(scope, 403, $"address {address} is not in the enterprise's IP allowlist");
            }

            http.Features.Set(new TokenFeature(token));
            return await next(ctx);
        });

    /// <summary>The token the request was authorised with.</summary>
    /// <exception cref="InvalidOperationException">The endpoint has no <see cref="RequireToken{TBuilder}"/>.</exception>
    public static ApiToken ApiToken(this HttpContext http)
        => http.Features.Get<TokenFeature>()?.Token ?? throw new InvalidOperationException("endpoint has no RequireToken filter");

    /// <summary>The raw token of a request (header <c>Token</c>, else a bearer token), or null.</summary>
    public static string? ReadToken(HttpRequest request)
    {
        if (request.Headers[HeaderName].ToString() is { Length: > 0 } t)
        {
            return t.Trim();
        }

        var auth = request.Headers.Authorization.ToString();
        return auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && auth.Length > 7 ? auth[7..].Trim() : null;
    }

    /// <summary>A refusal: <c>{"error": message}</c> for the routing contract, problem details otherwise.</summary>
    private static IResult Deny(string scope, int status, string message)
        => scope == "routing"
            ? Error(status, message)
            : Results.Problem(statusCode: status, title: status switch { 401 => "unauthorized", 429 => "too many requests", _ => "forbidden" }, detail: message);

    /// <summary>A JSON error answer <c>{"error": message}</c>.</summary>
    public static IResult Error(int status, string message)
        => Results.Json(new ErrorDto(message), RoutingJson.Default.ErrorDto, statusCode: status);
}
