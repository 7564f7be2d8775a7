using Scalar.AspNetCore;

namespace CloudTelephony.Functions.Hosting;

/// <summary>
/// The API reference page at <c>GET /api/docs</c> (function <c>ApiDocs</c>): Scalar.AspNetCore rendering
/// <see cref="OpenApiSetup.Path"/>. Its scripts come from the package itself (<c>/api/docs/scalar.js</c>), never a CDN;
/// the page sends a Content-Security-Policy that admits only this origin and the per-request nonce of its script tags.
/// Scalar's web fonts, telemetry and request proxy (all third-party hosts) are off.
/// </summary>
public static class ApiDocs
{
    /// <summary>Where the page is served.</summary>
    public const string Path = "/api/docs";

    /// <summary>Maps the page and its assets.</summary>
    public static void MapApiDocs(this WebApplication app)
    {
        app.Use(async (http, next) =>
        {
            if (http.Request.Path.StartsWithSegments(Path, StringComparison.OrdinalIgnoreCase))
            {
                http.Response.OnStarting(() =>
                {
                    var nonce = http.Items[ScalarOptions.NonceHttpContextItemKey] as string;
                    var scripts = nonce is null ? "'self'" : $"'self' 'nonce-{nonce}'";
                    http.Response.Headers.ContentSecurityPolicy =
                        $"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
                        "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";
                    http.Response.Headers.XContentTypeOptions = "nosniff";
                    return Task.CompletedTask;
                });
            }

            await next(http);
        });
        app.MapScalarApiReference(Path, o => o
                .WithTitle("CloudTelephony API")
                .WithOpenApiRoutePattern(OpenApiSetup.Path)
                .WithNonce()
                .DisableDefaultFonts()
                .DisableTelemetry()
                .DisableAgent()
                .DisableMcp())
            .ExcludeFromDescription().AllowAnyQuery();
    }
}
