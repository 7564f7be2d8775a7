using System.Net.Http.Json;
using CloudTelephony.Contracts;

namespace CloudTelephony.Web.Tests;

/// <summary>The Health page shows a relay's dead letters (issue 18): the relay's badge says so, the column counts them
/// with the oldest's time, and the problem line is listed — in headless Chromium against the real app. Its own fixture,
/// so the other pages' tests (and the README screenshots) keep a relay-free health.</summary>
public sealed class HealthDeadLetterTests(WebAppFixture app) : IClassFixture<WebAppFixture>
{
    [Fact]
    public async Task A_relay_with_dead_letters_shows_them_on_the_health_page()
    {
        var beat = new RelayHeartbeat(RelayHeartbeat.KindValue, "site-dl", "1.0.0", DateTimeOffset.UtcNow,
            [new PbxHeartbeat(WebAppFixture.Pbx, "connected", DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow, 855)],
            855, 0, null, false, DeadLetters: 3, DeadLetterOldestAt: DateTimeOffset.UtcNow.AddMinutes(-2));
        (await (await app.Server.RelayAsync("office")).PostAsJsonAsync(Routes.HeartbeatPath, beat, ContractsJson.Default.RelayHeartbeat)).EnsureSuccessStatusCode();

        app.Open("/health", "#relay-table tr[data-relay='site-dl']");
        var row = app.Browser.Find("#relay-table tr[data-relay='site-dl']");

        Assert.Equal("3", row.FindElement(OpenQA.Selenium.By.CssSelector("td[data-dead-letters]")).GetAttribute("data-dead-letters"));
        Assert.StartsWith("3", row.FindElement(OpenQA.Selenium.By.CssSelector("td[data-dead-letters]")).Text, StringComparison.Ordinal);
        Assert.Contains("Dead letters", row.Text, StringComparison.Ordinal);
        Assert.Contains(app.Browser.All(".problems li"), li => li.Text.Contains("relay site-dl: 3 envelope(s) refused by ingest", StringComparison.Ordinal));
    }
}
