using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Tests;

namespace CloudTelephony.Functions.Tests;

/// <summary>
/// The OpenAPI document of the running app, checked with the tools an integrator uses: <c>redocly lint</c> with its
/// recommended rules (0 errors, 0 warnings), and a client generated with openapi-typescript that must type-check
/// (<c>tests/openapi/client-check.ts</c>: numbers are numbers, paging parameters integers, enums kept, every endpoint's
/// schema present). The npm tools are pinned in <c>tests/openapi/package.json</c>; <c>./ct test</c> installs them
/// (infra/local/openapi-tools.sh) and sets <c>CT_OPENAPI_TOOLS</c> to their bin folder.
/// </summary>
public sealed class OpenApiClientTests(SeededCallsServer seeded) : IClassFixture<SeededCallsServer>
{
    private static string Tools => Environment.GetEnvironmentVariable("CT_OPENAPI_TOOLS") is { Length: > 0 } t
        ? t
        : throw new InvalidOperationException("CT_OPENAPI_TOOLS is not set: run the tests through ./ct test, which installs the OpenAPI tools (infra/local/openapi-tools.sh)");

    [Fact]
    public async Task Redocly_lint_with_the_recommended_rules_finds_no_error_and_no_warning()
    {
        var dir = await WriteDocumentAsync();

        var (code, output) = await RunAsync("redocly", dir, "lint", "openapi.json", "--format", "json");

        var json = output[output.IndexOf('{', StringComparison.Ordinal)..];
        using var report = JsonDocument.Parse(json[..(json.LastIndexOf('}') + 1)]);
        var totals = report.RootElement.GetProperty("totals");
        var problems = report.RootElement.GetProperty("problems").EnumerateArray()
            .Select(p => $"{p.GetProperty("severity").GetString()} {p.GetProperty("ruleId").GetString()}: {p.GetProperty("message").GetString()}");
        Assert.True(totals.GetProperty("errors").GetInt32() == 0 && totals.GetProperty("warnings").GetInt32() == 0,
            "redocly lint:\n" + string.Join('\n', problems));
        Assert.Equal(0, code);
    }

    [Fact]
    public async Task A_client_generated_with_openapi_typescript_type_checks_against_the_expected_types()
    {
        var dir = await WriteDocumentAsync();
        var source = Path.Combine(TestPaths.RepoRoot, "tests", "openapi");
        File.Copy(Path.Combine(source, "client-check.ts"), Path.Combine(dir, "client-check.ts"));
        File.Copy(Path.Combine(source, "tsconfig.json"), Path.Combine(dir, "tsconfig.json"));

        var generate = await RunAsync("openapi-typescript", dir, "openapi.json", "-o", "api.d.ts");
        Assert.True(generate.Code == 0, "openapi-typescript:\n" + generate.Output);
        var types = await File.ReadAllTextAsync(Path.Combine(dir, "api.d.ts"));
        Assert.DoesNotContain("number | string", types);
        Assert.DoesNotContain("string | number", types);

        var check = await RunAsync("tsc", dir, "-p", "tsconfig.json");
        Assert.True(check.Code == 0, "tsc on the generated client:\n" + check.Output);
    }

    [Fact]
    public async Task The_api_reference_page_serves_its_own_scripts_under_a_nonce_content_security_policy()
    {
        var page = await seeded.Server.Http.GetAsync("/api/docs");
        var html = await page.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var csp = page.Headers.GetValues("Content-Security-Policy").Single();
        var nonce = Regex.Match(csp, "'nonce-([^']+)'").Groups[1].Value;
        Assert.NotEmpty(nonce);
        Assert.Contains("default-src 'self'", csp);
        var scripts = Regex.Matches(html, "<script[^>]*>").Select(m => m.Value).ToList();
        Assert.NotEmpty(scripts);
        Assert.All(scripts, s => Assert.Contains($"nonce=\"{nonce}\"", s));
        Assert.DoesNotMatch("(src|href)=\"(https?:)?//", html); // nothing from a CDN
        foreach (var src in Regex.Matches(html, "<script[^>]*src=\"([^\"]+)\"").Select(m => m.Groups[1].Value))
        {
            var asset = await seeded.Server.Http.GetAsync(new Uri(new Uri(seeded.Server.BaseUrl + "/api/docs/"), src));
            Assert.True(asset.IsSuccessStatusCode, $"{src}: {(int)asset.StatusCode}");
            Assert.True((await asset.Content.ReadAsByteArrayAsync()).Length > 1000, $"{src} is the bundled script");
        }

        Assert.Contains(OpenApiSetup.Path.TrimStart('/'), html); // resolved against the page's origin by scalar.aspnetcore.js
    }

    private async Task<string> WriteDocumentAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ct-openapi-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var document = await seeded.Server.Http.GetStringAsync("/api/openapi.json");
        await File.WriteAllTextAsync(Path.Combine(dir, "openapi.json"), document);
        return dir;
    }

    private static async Task<(int Code, string Output)> RunAsync(string tool, string dir, params string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(Tools, tool))
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["NO_COLOR"] = "1", ["REDOCLY_TELEMETRY"] = "off", ["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true" },
        };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
