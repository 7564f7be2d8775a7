using System.Text.Json;
using System.Text.Json.Serialization;
using CloudTelephony.Functions.Dashboard;
using CloudTelephony.Functions.Enterprises;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using Microsoft.Extensions.FileProviders;

namespace CloudTelephony.Functions.WebApp;

/// <summary>Settings section <c>WebApp</c>.</summary>
public sealed class WebAppOptions
{
    /// <summary>Configuration section.</summary>
    public const string Section = "WebApp";

    /// <summary>Folder of the built web app (index.html, assets/); default <c>wwwroot</c> beside the handler, where the
    /// build (functions/web, npm) puts it.</summary>
    public string? Root { get; set; }
}

/// <summary><c>GET /api/webapp/config</c> answer: how the web app signs people in.</summary>
/// <param name="Auth"><c>token</c> (a crm token typed in, kept in the browser session) or <c>appservice</c> (App
/// Service authentication with Entra ID; a crm token still works).</param>
/// <param name="LoginPath">Where to send a person to sign in (appservice), else null.</param>
/// <param name="LogoutPath">Where to send a person to sign out (appservice), else null.</param>
/// <param name="ClientHeader">The header the web app sends with every API call.</param>
public sealed record WebAppConfigDto(string Auth, string? LoginPath, string? LogoutPath, string ClientHeader);

/// <summary>JSON metadata of the web app's own endpoints and of the aggregates it reads (dashboard, enterprise, SMS outbox).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(WebAppConfigDto))]
[JsonSerializable(typeof(EnterpriseDto))]
[JsonSerializable(typeof(DashboardDto))]
[JsonSerializable(typeof(SmsOutboxPageDto))]
[JsonSerializable(typeof(SmsRetryDto))]
public sealed partial class WebAppJson : JsonSerializerContext;

/// <summary>
/// The web app for people (function <c>WebApp</c>, route <c>{*path}</c> minus <c>api/</c>): the single-page app built
/// from <c>functions/web</c> served from <see cref="WebAppOptions.Root"/> at <c>/</c>, every other non-API GET answered
/// with its <c>index.html</c> (client-side routes such as <c>/calls/42</c>), security headers on all of it (a CSP
/// without inline script or style, no third-party origin), and <c>GET /api/webapp/config</c>.
/// </summary>
public static class WebAppEndpoints
{
    /// <summary>The Content-Security-Policy of every web app answer: only this origin, no inline script or style, no frames.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; " +
        "manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    /// <summary>Registers the web app's settings, the App Service sign-in and the queries of the pages' aggregates.</summary>
    /// <exception cref="ConfigException">Bad <c>WebApp:Auth</c> settings.</exception>
    public static IServiceCollection AddWebApp(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(configuration.GetSection(WebAppOptions.Section).Get<WebAppOptions>() ?? new WebAppOptions());
        services.AddSingleton((configuration.GetSection(AppServiceAuthOptions.Section).Get<AppServiceAuthOptions>() ?? new AppServiceAuthOptions()).Validate());
        services.AddSingleton<AppServiceIdentity>();
        services.AddSingleton<EnterpriseQueries>();
        services.AddSingleton<DashboardQueries>();
        services.AddSingleton<SmsOutboxQueries>();
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(WebAppJson.Default));
        return services;
    }

    /// <summary>The folder the built web app is served from.</summary>
    public static string RootPath(WebAppOptions options) => options.Root is { Length: > 0 } root
        ? Path.GetFullPath(root)
        : Path.Combine(AppContext.BaseDirectory, "wwwroot");

    /// <summary>Security headers on every non-API GET, then the built files (hashed <c>assets/</c> cached for a year,
    /// everything else revalidated).</summary>
    public static WebApplication UseWebApp(this WebApplication app)
    {
        app.Use((context, next) =>
        {
            if (!IsApi(context.Request.Path) && (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method)))
            {
                AddSecurityHeaders(context.Response.Headers);
            }

            return next(context);
        });
        var root = RootPath(app.Services.GetRequiredService<WebAppOptions>());
        if (Directory.Exists(root))
        {
            app.UseStaticFiles(new StaticFileOptions
            {
                FileProvider = new PhysicalFileProvider(root),
                OnPrepareResponse = f => f.Context.Response.Headers.CacheControl =
                    f.Context.Request.Path.StartsWithSegments("/assets") ? "public, max-age=31536000, immutable" : "no-cache",
            });
        }
        else
        {
            app.Logger.LogWarning("web app: {Root} does not exist (build functions/web); / answers 503", root);
        }

        return app;
    }

    /// <summary>Maps <c>GET /api/webapp/config</c> and the fallback that answers client-side routes with index.html.</summary>
    public static void MapWebApp(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/webapp/config", (AppServiceIdentity identity) => Results.Ok(identity.Enabled
                ? new WebAppConfigDto("appservice", identity.Options.LoginPath, identity.Options.LogoutPath, AppServiceAuthOptions.ClientHeader)
                : new WebAppConfigDto("token", null, null, AppServiceAuthOptions.ClientHeader)))
            .WithName("WebAppConfig").WithTags("Web app")
            .WithSummary("How the web app signs people in")
            .WithDescription("Anonymous. auth = token (a crm token typed in, kept in the browser session only) or appservice (App Service authentication with Entra ID, see README).")
            .Produces<WebAppConfigDto>();

        // {*path:nonfile}: paths whose last segment has no dot; files are the static file middleware's. GET and HEAD
        // only: a fallback for every method would be the candidate the router picks when an API endpoint's content type
        // check refuses a request (a POST /api/frames that is not JSON must stay 415). Any query: an unknown /api path is
        // a 404, not a 400 for its parameters (StrictQuery).
        app.MapFallback(Index).WithMetadata(new HttpMethodMetadata([HttpMethods.Get, HttpMethods.Head]))
            .ExcludeFromDescription().AllowAnyQuery();
    }

    private static IResult Index(HttpContext context, WebAppOptions options)
    {
        var path = context.Request.Path;
        if (IsApi(path))
        {
            return Results.Problem(statusCode: 404, title: "not found", detail: $"no API endpoint {path}: see /api/openapi.json");
        }

        var index = Path.Combine(RootPath(options), "index.html");
        if (!File.Exists(index))
        {
            return Results.Text("CloudTelephony functions handler (the web app is not built: see functions/web)", statusCode: 503);
        }

        context.Response.Headers.CacheControl = "no-cache";
        return Results.File(index, "text/html; charset=utf-8");
    }

    private static bool IsApi(PathString path) => path.StartsWithSegments("/api");

    private static void AddSecurityHeaders(IHeaderDictionary headers)
    {
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers["Cross-Origin-Opener-Policy"] = "same-origin";
        headers["Cross-Origin-Resource-Policy"] = "same-origin";
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()";
    }
}
