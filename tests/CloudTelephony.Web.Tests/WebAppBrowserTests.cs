using System.Globalization;
using System.Net.Http.Json;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Tests;
using OpenQA.Selenium;

namespace CloudTelephony.Web.Tests;

/// <summary>The web app in headless Chromium against the real functions app with the real Slican capture stored.</summary>
public sealed class WebAppBrowserTests(WebAppFixture app) : IClassFixture<WebAppFixture>
{
    private Browser B => app.Browser;

    /// <summary>The 2025-09-03 09:07:42 (Warsaw) ring-group call of the capture: 693109180 → DID 618386710.</summary>
    private async Task<CallDto> RingGroupCallAsync()
    {
        var page = await app.Api.GetFromJsonAsync("/api/calls?q=693109180&pageSize=100", ApiJson.Default.CallPageDto);
        return Assert.Single(page!.Items, c => c.StartedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) == "2025-09-03 07:07:42");
    }

    private long Count(string css) => long.Parse(B.Find(css).Text, CultureInfo.InvariantCulture);

    [Fact]
    public void The_call_log_shows_the_captures_calls_with_the_counts_per_status()
    {
        app.Open("/calls", "#calls-table");
        B.Wait(d => d.FindElement(By.Id("calls-total")).GetAttribute("data-total") == "80", what: "80 calls");

        // the capture's worked figures (./ct correlate on it gives the same 80 calls) ...
        Assert.Equal(80, app.Summary.Total);
        var byStatus = app.Summary.Counts.GroupBy(c => c.Status).ToDictionary(g => g.Key, g => g.Sum(c => c.Count));
        Assert.Equal(new Dictionary<string, long> { ["answered"] = 60, ["missed"] = 16, ["busy"] = 1, ["failed"] = 2, ["unknown"] = 1 }, byStatus);
        // ... are what the page shows, status by status
        foreach (var (status, count) in byStatus)
        {
            Assert.Equal(count, Count($"[data-status-count='{status}'] .count"));
        }

        Assert.Empty(B.All("[data-status-count='voicemail']"));
        Assert.Equal(50, B.All("#calls-table tbody tr").Count); // first page of 50
        // newest first, in the enterprise's zone: the capture ends on 2025-09-04 in Warsaw
        Assert.StartsWith("04/09/2025", B.All("#calls-table tbody tr td a")[0].Text);
        B.Screenshot(Path.Combine(WebAppFixture.Screenshots, "call-log.png"));
    }

    [Fact]
    public void A_filter_narrows_the_log_and_the_totals()
    {
        app.Open("/calls", "#calls-table");
        B.Find("#filter-status option[value='missed']").Click();
        B.Find("#filter-direction option[value='inbound']").Click();
        B.Find("#filter-apply").Click();

        B.Wait(d => d.FindElement(By.Id("calls-total")).GetAttribute("data-total") == "6", what: "the missed inbound calls");
        var rows = B.All("#calls-table tbody tr");
        Assert.Equal(6, rows.Count);
        Assert.All(rows, r => Assert.Equal("missed", r.GetAttribute("data-status")));
        Assert.Contains("status=missed", B.Driver.Url);
        Assert.Equal(6, Count("[data-status-count='missed'] .count"));
        Assert.Empty(B.All("[data-status-count='answered']"));

        B.Find("#filter-reset").Click();
        B.Wait(d => d.FindElement(By.Id("calls-total")).GetAttribute("data-total") == "80", what: "every call again");
    }

    [Fact]
    public async Task The_ring_group_call_shows_one_call_with_its_six_extensions_and_who_answered()
    {
        var call = await RingGroupCallAsync();
        app.Open("/calls?q=693109180", "#calls-table");
        var link = B.Wait(d => d.FindElements(By.CssSelector("#calls-table tbody a")).FirstOrDefault(a => a.Text.Contains("09:07:42", StringComparison.Ordinal)),
            what: "the 09:07:42 call in the log")!;
        Assert.Equal("03/09/2025, 09:07:42", link.Text); // Warsaw time (07:07:42 UTC)
        link.Click();

        B.Find("#call-extensions li");
        Assert.EndsWith($"/calls/{call.Id}", B.Driver.Url);
        Assert.Equal(["101", "102", "103", "104", "105", "109"], B.All("#call-extensions li").Select(e => e.Text));
        Assert.Equal("101", B.Find("#call-answered-by").Text);
        var legs = B.All("#call-legs tbody tr").Select(r => (Leg: r.GetAttribute("data-leg"), Outcome: r.GetAttribute("data-outcome"))).ToList();
        Assert.Equal(7, legs.Count); // the caller and the six extensions of the group
        Assert.Equal("answered", legs.Single(l => l.Leg == "101").Outcome);
        Assert.Equal(5, legs.Count(l => l.Outcome == "answered-elsewhere"));
        Assert.Contains(B.All("#call-timeline li"), li => li.Text.Contains("101 answers", StringComparison.Ordinal));
        Assert.NotEmpty(B.All("#call-events tbody tr code.frame"));

        B.Resize(1400, 2200);
        B.Screenshot(Path.Combine(WebAppFixture.Screenshots, "call-detail.png"));
        B.Resize(1400, 1000);
    }

    [Fact]
    public async Task Sending_an_sms_from_a_call_puts_it_in_the_calls_history()
    {
        var call = await RingGroupCallAsync();
        app.Open($"/calls/{call.Id}", "#sms-text");
        Assert.Equal("693109180", B.Find("#sms-to").GetAttribute("value")); // the caller, ready to be texted back

        B.Find("#sms-text").SendKeys("Dzień dobry, oddzwonimy jeszcze dziś.");
        B.Find("#sms-send").Click();

        var row = B.Find("#sms-history tr[data-sms-id]");
        Assert.Contains("Dzień dobry, oddzwonimy jeszcze dziś.", row.Text);
        // the test app's SMS provider ("log") accepts it: the page follows it to SENT
        B.Wait(d => d.FindElements(By.CssSelector("#sms-history tr[data-sms-status='SENT']")).Count == 1, 30, "the SMS to be sent");
        var detail = await app.Api.GetFromJsonAsync($"/api/calls/{call.Id}", ApiJson.Default.CallDetailDto);
        Assert.Equal(("+48693109180", "SENT"), (Assert.Single(detail!.Sms).To, detail.Sms[0].Status));
    }

    [Fact]
    public void A_wrong_token_gets_a_clear_message_in_the_chosen_language()
    {
        app.Open("/calls", "#calls-table");
        B.Find("#sign-out").Click();

        B.Find("#token").SendKeys("ct_this-is-not-a-token");
        B.Find("#sign-in").Click();

        var error = B.Find("#signin-error");
        Assert.Contains("This token is not valid: it is unknown or has been revoked", error.Text);
        Assert.Equal("alert", error.GetAttribute("role"));
        try
        {
            B.Find("#lang-select option[value='pl']").Click();
            B.Wait(d => d.FindElement(By.Id("signin-error")).Text.Contains("Ten token jest nieprawidłowy", StringComparison.Ordinal), what: "the Polish message");
            Assert.Equal("pl", B.Find("html").GetAttribute("lang"));
            Assert.Equal("Token CRM", B.Find("label[for='token']").Text);
        }
        finally
        {
            B.Find("#lang-select option[value='en']").Click();
        }

        B.Find("#token").Clear();
        B.Find("#token").SendKeys(app.Token);
        B.Find("#sign-in").Click();
        B.Find("#calls-table");
    }

    [Fact]
    public async Task A_token_of_another_scope_is_told_why_it_cannot_sign_in()
    {
        var routing = await app.Server.CreateTokenAsync("office", "routing");
        app.Open("/calls", "#calls-table");
        B.Find("#sign-out").Click();

        B.Find("#token").SendKeys(routing);
        B.Find("#sign-in").Click();

        Assert.Contains("scope 'routing'", B.Find("#signin-error").Text);
        B.Find("#token").Clear();
        B.Find("#token").SendKeys(app.Token);
        B.Find("#sign-in").Click();
        B.Find("#calls-table");
    }

    [Fact]
    public void The_dashboard_draws_the_captures_figures()
    {
        app.Open("/dashboard", "#extensions-table");

        Assert.Equal("80", B.Find("#kpi-calls .kpi-value").Text);
        Assert.Equal("60", B.Find("#kpi-answered .kpi-value").Text);
        Assert.Equal(["101", "102", "103", "104", "105", "109"], B.All("#extensions-table tbody tr").Select(r => r.GetAttribute("data-extension")));
        Assert.True(B.Find("#chart-hours").Size.Height > 100, "the chart is drawn");
        Assert.NotEmpty(B.All("#missed-table tbody tr"));

        B.Resize(1400, 1700);
        B.Screenshot(Path.Combine(WebAppFixture.Screenshots, "dashboard.png"));
        B.Resize(1400, 1000);
    }

    [Theory]
    [InlineData("/calls", "#calls-table")]
    [InlineData("/calls/{ring-group}", "#call-extensions")]
    [InlineData("/live", "#live-mode[data-mode='stream']")]
    [InlineData("/dashboard", "#extensions-table")]
    [InlineData("/health", "#pbx-table tr[data-pbx]")]
    [InlineData("/contacts", "#contacts-total")]
    [InlineData("/sms", "#outbox-table")]
    [InlineData("/no-such-page", "h1")]
    public async Task Every_page_has_no_serious_accessibility_violations(string path, string ready)
    {
        if (path.Contains("{ring-group}", StringComparison.Ordinal))
        {
            path = path.Replace("{ring-group}", (await RingGroupCallAsync()).Id.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
        }

        app.Open(path, ready);
        B.Wait(d => d.FindElements(By.CssSelector("[role='status']")).All(e => e.Text != "Loading…"), what: "the page to load");

        Assert.Empty(B.SeriousAccessibilityViolations());
    }

    [Fact]
    public void The_accessibility_check_catches_a_violation_when_there_is_one()
    {
        app.Open("/health", "#pbx-table tr[data-pbx]");
        B.Driver.ExecuteScript("const i = document.createElement('img'); i.src = '/favicon.svg'; document.querySelector('main').appendChild(i);");

        Assert.Contains(B.SeriousAccessibilityViolations(), v => v.StartsWith("image-alt (critical)", StringComparison.Ordinal));
        B.Driver.Navigate().Refresh();
    }

    [Fact]
    public void The_sign_in_page_has_no_serious_accessibility_violations_and_works_from_the_keyboard()
    {
        app.Open("/calls", "#calls-table");
        B.Find("#sign-out").Click();
        B.Go(app.Server.BaseUrl.TrimEnd('/') + "/");
        B.Find("#token");

        Assert.Empty(B.SeriousAccessibilityViolations());

        // the page's heading has the focus; Tab reaches the token field, Enter signs in
        B.Wait(d => d.SwitchTo().ActiveElement().TagName == "h1", what: "the heading to have the focus");
        new OpenQA.Selenium.Interactions.Actions(B.Driver).SendKeys(Keys.Tab).Perform();
        Assert.Equal("token", B.Driver.SwitchTo().ActiveElement().GetAttribute("id"));
        new OpenQA.Selenium.Interactions.Actions(B.Driver).SendKeys(app.Token + Keys.Enter).Perform();
        B.Find("#calls-table");
        B.Wait(d => d.SwitchTo().ActiveElement().Text == "Call log", what: "the focus on the call log's heading");
    }
}
