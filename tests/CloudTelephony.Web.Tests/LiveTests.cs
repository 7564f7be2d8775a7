using OpenQA.Selenium;

namespace CloudTelephony.Web.Tests;

/// <summary>The live page open while the real capture is replayed into the functions app: calls appear as they are stored.</summary>
public sealed class LiveTests : IAsyncLifetime
{
    private const string Pbx = "live-slican";
    private readonly Functions.Tests.FunctionsServer _server = new(sweepSeconds: 0.5);
    private Browser _browser = null!;
    private string _token = "";

    public async Task InitializeAsync()
    {
        await _server.InitializeAsync();
        _token = await _server.CreateTokenAsync("front-desk", "crm", Pbx);
        _browser = new Browser();
    }

    public async Task DisposeAsync()
    {
        _browser?.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task The_live_page_receives_the_calls_of_a_replay_as_they_happen()
    {
        _browser.Go($"{_server.BaseUrl.TrimEnd('/')}/live#token={Uri.EscapeDataString(_token)}");
        // this server has no event stream (GET /api/events) yet: the page says so and polls
        _browser.Find("#live-mode[data-mode='poll']");
        Assert.True(_browser.Find("#feed-empty").Displayed);
        Assert.DoesNotContain("token=", _browser.Driver.Url); // the token left the address bar for the session

        using var crm = _server.Client(_token);
        var replay = WebAppFixture.IngestCaptureAsync(_server, crm, Pbx, batch: 20, pause: TimeSpan.FromMilliseconds(100));
        var first = _browser.Find("#live-feed li", seconds: 60);

        Assert.NotNull(first.FindElement(By.CssSelector("a[href^='/calls/']")));
        Assert.NotNull(first.FindElement(By.CssSelector(".badge")));
        Assert.False(replay.IsCompleted, "the page showed a call while the replay was still going");
        await replay;
        _browser.Wait(d => d.FindElements(By.CssSelector("#live-feed li")).Count >= 50, 30, "the replay's calls in the feed");
        Assert.Empty(_browser.SeriousAccessibilityViolations());
    }
}
