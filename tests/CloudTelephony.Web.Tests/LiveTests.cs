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
    public async Task The_live_page_shows_a_call_ringing_and_answered_during_a_replay_and_lets_it_leave_when_it_completes()
    {
        _browser.Go($"{_server.BaseUrl.TrimEnd('/')}/live#token={Uri.EscapeDataString(_token)}");
        // the server streams live events (GET /api/events, after the state of GET /api/calls/active)
        _browser.Find("#live-mode[data-mode='stream']");
        Assert.True(_browser.Find("#feed-empty").Displayed);
        Assert.True(_browser.Find("#active-none").Displayed);
        Assert.DoesNotContain("token=", _browser.Driver.Url); // the token left the address bar for the session

        using var crm = _server.Client(_token);
        var replay = WebAppFixture.IngestCaptureAsync(_server, crm, Pbx, batch: 20, pause: TimeSpan.FromMilliseconds(150));
        var talking = _browser.Find("#active-calls tbody tr[data-state='talking']", seconds: 60);
        var key = talking.GetAttribute("data-call");
        Assert.False(string.IsNullOrEmpty(key));
        Assert.NotEqual("—", talking.FindElements(By.CssSelector("td"))[4].Text); // who talks
        _browser.Find("#live-feed li[data-kind='call.ringing']");
        _browser.Find("#live-feed li[data-kind='call.answered']");
        Assert.False(replay.IsCompleted, "the page showed a call in progress while the replay was still going");
        await replay;

        // the call completes: it leaves the calls in progress and its record shows in the feed with its link
        _browser.Wait(d => d.FindElements(By.CssSelector($"#active-calls tbody tr[data-call='{key}']")).Count == 0, 60, $"call {key} to leave the calls in progress");
        Assert.NotNull(_browser.Find("#live-feed li[data-kind='call.completed'] a[href^='/calls/']", seconds: 30));
        Assert.Empty(_browser.SeriousAccessibilityViolations());
    }
}
