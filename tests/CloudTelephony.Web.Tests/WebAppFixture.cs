using System.Net.Http.Json;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Tests;
using CloudTelephony.Tests;
using OpenQA.Selenium;

namespace CloudTelephony.Web.Tests;

/// <summary>
/// The real functions app on Kestrel over a fresh PostgreSQL database with the real Slican capture
/// (samples/slican-ncp-2025-09-02_04.tsv, 855 frames, its own receive times) ingested through POST /api/frames for
/// enterprise <c>office</c> (Europe/Warsaw), and one headless Chromium.
/// </summary>
public sealed class WebAppFixture : IAsyncLifetime
{
    public const string Pbx = "office-slican";

    public FunctionsServer Server { get; } = new(sweepSeconds: 0.5);

    public string Token { get; private set; } = "";

    public HttpClient Api { get; private set; } = null!;

    public Browser Browser { get; private set; } = null!;

    /// <summary>What the API says about the ingested calls (the page must show the same).</summary>
    public CallSummaryDto Summary { get; private set; } = null!;

    /// <summary>Where the tests write the README's screenshots.</summary>
    public static string Screenshots => Path.Combine(TestPaths.RepoRoot, "docs", "screenshots");

    public async Task InitializeAsync()
    {
        await Server.InitializeAsync();
        Token = await Server.CreateTokenAsync("office", "crm", Pbx);
        Api = Server.Client(Token);
        await IngestCaptureAsync(Server, Api, Pbx);
        Summary = (await Api.GetFromJsonAsync($"/api/calls/summary?pbx={Pbx}", ApiJson.Default.CallSummaryDto))!;
        Browser = new Browser();
    }

    public async Task DisposeAsync()
    {
        Browser?.Dispose();
        Api?.Dispose();
        await Server.DisposeAsync();
    }

    /// <summary>The capture's frames as one relay session would deliver them.</summary>
    public static IReadOnlyList<CloudTelephony.Contracts.Envelope> Capture(string pbx)
        => Functions.Tests.Capture.Ctip(pbx, "s1", TestPaths.Sample("slican-ncp-2025-09-02_04.tsv"));

    /// <summary>
    /// Posts the capture in batches with a relay token of the PBX's enterprise (as its relay would) and waits until every
    /// frame is stored and the sweep closed the last calls, reading <c>/api/health</c> as the web app does: with the
    /// enterprise's crm token (<paramref name="crm"/>), the view that shows its PBXes.
    /// </summary>
    public static async Task IngestCaptureAsync(FunctionsServer server, HttpClient crm, string pbx, int batch = 200, TimeSpan? pause = null)
    {
        foreach (var chunk in Capture(pbx).Chunk(batch))
        {
            (await server.PostFramesAsync(chunk)).EnsureSuccessStatusCode();
            if (pause is { } p)
            {
                await Task.Delay(p);
            }
        }

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var health = await crm.GetFromJsonAsync("/api/health", ApiJson.Default.HealthDto);
            var stream = (health!.Pbxes ?? throw new InvalidOperationException("/api/health gave no PBX detail: is the token a crm token?")).Single(p => p.Pbx == pbx);
            if (stream.FramesStored == 855 && stream.OpenCalls == 0)
            {
                return;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"the capture of {pbx} was not stored and closed within 60 s");
    }

    /// <summary>Opens <paramref name="path"/> signed in (through the sign-in form when the session has no token yet).</summary>
    public void Open(string path, string readySelector)
    {
        Browser.Go(Server.BaseUrl.TrimEnd('/') + path);
        var first = Browser.Wait(d => d.FindElements(By.CssSelector($"#token, {readySelector}")).FirstOrDefault(e => e.Displayed), what: readySelector)!;
        if (first.GetAttribute("id") == "token")
        {
            first.SendKeys(Token);
            Browser.Find("#sign-in").Click();
            Browser.Find(readySelector);
        }
    }
}
