using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.WebApp;
using CloudTelephony.Tests;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace CloudTelephony.Functions.Tests;

/// <summary>The built web app served by the real functions app: files, client-side routes, security headers.</summary>
public sealed partial class WebAppHostingTests : IAsyncLifetime
{
    private readonly FunctionsServer _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [GeneratedRegex("src=\"(/assets/app-[A-Za-z0-9]+\\.js)\"")]
    private static partial Regex ScriptSrc();

    [Fact]
    public async Task The_root_serves_the_app_with_a_csp_that_allows_no_inline_code_and_no_other_origin()
    {
        var response = await _server.Http.GetAsync("/");
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var csp = response.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Equal(WebAppEndpoints.ContentSecurityPolicy, csp);
        Assert.DoesNotContain("unsafe", csp);
        Assert.Contains("script-src 'self'", csp);
        Assert.Contains("style-src 'self'", csp);
        Assert.Contains("frame-ancestors 'none'", csp);
        Assert.DoesNotContain("http", csp); // no third-party origin, no CDN
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        // nothing the CSP would block: no inline script or style, no style attribute, no external URL
        Assert.DoesNotMatch("<script(?![^>]*\\ssrc=)", html);
        Assert.DoesNotContain("<style", html);
        Assert.DoesNotContain("style=", html);
        Assert.DoesNotContain("http", html);
        Assert.Matches(ScriptSrc(), html);
    }

    [Fact]
    public async Task Hashed_assets_are_served_and_cached_for_a_year_and_the_index_is_revalidated()
    {
        var html = await _server.Http.GetStringAsync("/");
        var script = ScriptSrc().Match(html).Groups[1].Value;

        var js = await _server.Http.GetAsync(script);
        var index = await _server.Http.GetAsync("/index.html");

        Assert.Equal(HttpStatusCode.OK, js.StatusCode);
        Assert.Equal("text/javascript", js.Content.Headers.ContentType?.MediaType);
        Assert.Contains("immutable", js.Headers.CacheControl!.ToString());
        Assert.True(js.Headers.Contains("Content-Security-Policy"));
        Assert.True(index.Headers.CacheControl!.NoCache);
        // the bundle holds the app itself, with no reference to a CDN
        var code = await js.Content.ReadAsStringAsync();
        Assert.Contains("/api/enterprise", code);
        Assert.DoesNotContain("cdn.jsdelivr", code);
        Assert.DoesNotContain("unpkg.com", code);
    }

    [Theory]
    [InlineData("/calls")]
    [InlineData("/calls/42")]
    [InlineData("/dashboard")]
    [InlineData("/sms?status=ERROR")]
    public async Task Client_side_routes_answer_the_index(string path)
    {
        var response = await _server.Http.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("<div id=\"app\">", await response.Content.ReadAsStringAsync());
        Assert.True(response.Headers.Contains("Content-Security-Policy"));
    }

    [Fact]
    public async Task Unknown_api_paths_are_404_problems_other_methods_on_pages_405_and_the_api_is_untouched()
    {
        var api = await _server.Http.GetAsync("/api/no-such-thing");
        var post = await _server.Http.PostAsync("/calls", new StringContent("{}"));
        var health = await _server.Http.GetAsync("/api/health");

        Assert.Equal(HttpStatusCode.NotFound, api.StatusCode);
        Assert.Equal("application/problem+json", api.Content.Headers.ContentType?.MediaType);
        Assert.False(api.Headers.Contains("Content-Security-Policy"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode); // the web app answers GET and HEAD only
        Assert.Equal("application/json", health.Content.Headers.ContentType?.MediaType);
    }
}

/// <summary>Sign-in through App Service authentication (Entra ID) when WebApp:Auth:AppService is on.</summary>
public sealed class AppServiceSignInTests : IAsyncLifetime
{
    private const string Group = "aaaaaaaa-0000-0000-0000-000000000001";

    private readonly FunctionsServer _server = new(0,
        "--Routing:ConfigCacheSeconds=0",
        "--WebApp:Auth:AppService=true",
        $"--WebApp:Auth:Map:0:TenantId={AppServiceHeaders.TenantA}",
        $"--WebApp:Auth:Map:0:Group={Group}",
        "--WebApp:Auth:Map:0:Enterprise=front-desk",
        "--WebApp:Auth:Map:1:TenantId=99999999-0000-0000-0000-000000000000",
        "--WebApp:Auth:Map:1:Enterprise=nobody-made-me");

    public async Task InitializeAsync()
    {
        await _server.InitializeAsync();
        await _server.CreateTokenAsync("front-desk", "crm", "fd-pbx");
        await _server.CreateTokenAsync("elsewhere", "crm", "other-pbx");
    }

    public Task DisposeAsync() => _server.DisposeAsync();

    private async Task<HttpResponseMessage> GetAsync(string path, string tenant, string? group, bool client = true)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        AppServiceHeaders.Add(request, tenant, group, client);
        return await _server.Http.SendAsync(request);
    }

    [Fact]
    public async Task A_mapped_person_acts_for_the_mapped_enterprise()
    {
        var response = await GetAsync("/api/enterprise", AppServiceHeaders.TenantA, Group);
        var me = await response.Content.ReadFromJsonAsync(WebAppJson.Default.EnterpriseDto);
        var config = await _server.Http.GetFromJsonAsync("/api/webapp/config", WebAppJson.Default.WebAppConfigDto);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(("front-desk", "ewa@example.com"), (me!.Name, me.SignedInAs));
        Assert.Equal(["fd-pbx"], me.Pbxes.Select(p => p.Id));
        Assert.Equal(("appservice", "/.auth/login/aad", "/.auth/logout"), (config!.Auth, config.LoginPath, config.LogoutPath));
        Assert.Equal(HttpStatusCode.OK, (await GetAsync("/api/calls", AppServiceHeaders.TenantA, Group)).StatusCode);
    }

    [Fact]
    public async Task A_signed_in_person_gets_their_enterprises_health_detail_as_a_crm_token_does()
    {
        await _server.PostFramesAsync(Capture.Ctip("fd-pbx").Take(5));
        await _server.PostFramesAsync(Capture.Ctip("other-pbx").Take(5));

        var response = await GetAsync("/api/health", AppServiceHeaders.TenantA, Group);
        var health = await response.Content.ReadFromJsonAsync(ApiJson.Default.HealthDto);
        var unmapped = await GetAsync("/api/health", "22222222-0000-0000-0000-000000000000", Group);
        var anonymous = await _server.Http.GetStringAsync("/api/health");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("reachable", health!.Database);
        Assert.Equal(["fd-pbx"], health.Pbxes!.Select(p => p.Pbx)); // not the other enterprise's
        Assert.Equal(5, health.Pbxes![0].FramesStored);
        Assert.Equal(HttpStatusCode.Forbidden, unmapped.StatusCode);
        Assert.Contains("not mapped", await unmapped.Content.ReadAsStringAsync());
        Assert.DoesNotContain("pbxes", anonymous);
    }

    [Theory]
    [InlineData(AppServiceHeaders.TenantA, null, true, "not mapped")] // the rule needs the group
    [InlineData("22222222-0000-0000-0000-000000000000", Group, true, "not mapped")] // another directory
    [InlineData("99999999-0000-0000-0000-000000000000", null, true, "does not exist")] // mapped to a missing enterprise
    [InlineData(AppServiceHeaders.TenantA, Group, false, "X-CT-Client")] // not the web app (a cross-site request)
    public async Task Others_are_refused_with_the_reason(string tenant, string? group, bool client, string reason)
    {
        var response = await GetAsync("/api/calls", tenant, group, client);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains(reason, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Without_the_headers_it_is_401_with_WWW_Authenticate_an_unmapped_person_403_and_a_token_still_works()
    {
        var token = await _server.CreateTokenAsync("elsewhere", "crm");
        using var client = _server.Client(token);

        var anonymous = await _server.Http.GetAsync("/api/calls");
        var refused = await GetAsync("/api/calls", "22222222-0000-0000-0000-000000000000", Group);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("Bearer", anonymous.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode); // signed in, but no rule maps the person
        Assert.Empty(refused.Headers.WwwAuthenticate);
        Assert.Equal("elsewhere", (await client.GetFromJsonAsync("/api/enterprise", WebAppJson.Default.EnterpriseDto))!.Name);
    }

    [Fact]
    public void Trust_without_a_mapping_stops_the_app_at_start_naming_the_key()
    {
        var ex = Assert.Throws<ConfigException>(() => FunctionsApp.Build(["--WebApp:Auth:AppService=true"], "Host=127.0.0.1;Database=unused"));

        Assert.Contains("WebApp:Auth:Map", ex.Message);
    }
}

/// <summary>
/// The function.json routes as the Functions host matches them (ASP.NET Core route templates, host.json routePrefix ""):
/// the host tries routes in registration order, not by precedence, so the WebApp catch-all must itself refuse every
/// path of the API and of the host (admin/, runtime/), and every other route must keep its /api path.
/// </summary>
public sealed class FunctionRouteTests
{
    private static readonly string Root = Path.Combine(TestPaths.RepoRoot, "functions", "CloudTelephony.Functions");

    private static IEnumerable<(string Name, string Route, string[] Methods)> HttpFunctions()
        => Directory.GetDirectories(Root)
            .Where(d => File.Exists(Path.Combine(d, "function.json")))
            .Select(d => (Name: Path.GetFileName(d), Binding: JsonDocument.Parse(File.ReadAllText(Path.Combine(d, "function.json"))).RootElement.GetProperty("bindings")[0]))
            .Where(f => f.Binding.GetProperty("type").GetString() == "httpTrigger")
            .Select(f => (f.Name, f.Binding.GetProperty("route").GetString()!, f.Binding.GetProperty("methods").EnumerateArray().Select(m => m.GetString()!).ToArray()));

    /// <summary>Whether <paramref name="template"/> matches <paramref name="path"/> with the legacy router the host uses.</summary>
    private static async Task<bool> MatchesAsync(string template, string path)
    {
        var services = new ServiceCollection().AddLogging().AddRouting().BuildServiceProvider();
        var resolver = services.GetRequiredService<IInlineConstraintResolver>();
        var matched = false;
        var route = new Route(new RouteHandler(_ => Task.CompletedTask), template, resolver);
        var http = new DefaultHttpContext { RequestServices = services };
        http.Request.Path = path;
        var context = new RouteContext(http);
        await route.RouteAsync(context);
        matched = context.Handler is not null;
        return matched;
    }

    [Fact]
    public void Host_json_has_no_route_prefix_and_every_other_http_function_is_under_api()
    {
        var host = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "host.json"))).RootElement;

        Assert.Equal("", host.GetProperty("extensions").GetProperty("http").GetProperty("routePrefix").GetString());
        foreach (var (name, route, _) in HttpFunctions().Where(f => f.Name != "WebApp"))
        {
            Assert.True(route.StartsWith("api/", StringComparison.Ordinal), $"{name}: route {route} is not under api/");
        }
    }

    [Theory]
    [InlineData("/", true)]
    [InlineData("/calls", true)]
    [InlineData("/calls/42", true)]
    [InlineData("/assets/app-ABC123.js", true)]
    [InlineData("/apis-are-not-the-api", true)]
    [InlineData("/api", false)]
    [InlineData("/api/calls", false)]
    [InlineData("/api/calls/42", false)]
    [InlineData("/api/webapp/config", false)]
    [InlineData("/api/docs", false)]
    [InlineData("/api/numbers/600100200/contact", false)]
    [InlineData("/admin/host/status", false)]
    [InlineData("/runtime/webhooks/blobs", false)]
    public async Task The_web_app_route_takes_every_path_but_the_apis(string path, bool expected)
    {
        var web = HttpFunctions().Single(f => f.Name == "WebApp");

        Assert.Equal(expected, await MatchesAsync(web.Route, path));
        Assert.Equal(["get", "head"], web.Methods);
    }

    [Fact]
    public async Task Every_api_function_still_matches_its_own_path()
    {
        foreach (var (name, route, _) in HttpFunctions().Where(f => f.Name != "WebApp"))
        {
            var path = "/" + Regex.Replace(route, "\\{[^}]+\\}", m => m.Value.Contains("long", StringComparison.Ordinal) ? "7" : "600100200");
            Assert.True(await MatchesAsync(route, path), $"{name}: {route} does not match {path}");
        }
    }
}
