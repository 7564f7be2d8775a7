using System.Text.Json;
using CloudTelephony.Tests;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace CloudTelephony.Web.Tests;

/// <summary>
/// Debian's headless Chromium driven by Debian's ChromeDriver (infra/local/chromium.sh installs both; ./ct test runs it),
/// with a fresh profile per instance and the flags a machine without internet needs. <c>CT_CHROMIUM</c> and
/// <c>CT_CHROMEDRIVER</c> override the paths. Nothing is downloaded: Selenium is given both paths.
/// </summary>
public sealed class Browser : IDisposable
{
    private readonly string _profile = Directory.CreateTempSubdirectory("ct-chromium-").FullName;

    public Browser(int width = 1400, int height = 1000)
    {
        var chromium = Environment.GetEnvironmentVariable("CT_CHROMIUM") is { Length: > 0 } c ? c : "/usr/bin/chromium";
        var chromedriver = Environment.GetEnvironmentVariable("CT_CHROMEDRIVER") is { Length: > 0 } d ? d : "/usr/bin/chromedriver";
        if (!File.Exists(chromium) || !File.Exists(chromedriver))
        {
            throw new InvalidOperationException(
                $"no browser: {chromium} or {chromedriver} is missing; run the tests through ./ct test, which installs them (infra/local/chromium.sh ensure)");
        }

        var options = new ChromeOptions { BinaryLocation = chromium };
        options.AddArguments(
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", $"--user-data-dir={_profile}",
            $"--window-size={width},{height}", "--lang=en-GB", "--force-device-scale-factor=1");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(chromedriver)!, Path.GetFileName(chromedriver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        Driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        Driver.Manage().Timeouts().AsynchronousJavaScript = TimeSpan.FromSeconds(30);
    }

    public ChromeDriver Driver { get; }

    /// <summary>Waits up to <paramref name="seconds"/> for <paramref name="condition"/> to give a non-null, non-false value.</summary>
    public T Wait<T>(Func<IWebDriver, T> condition, double seconds = 20, string? what = null)
    {
        var wait = new WebDriverWait(Driver, TimeSpan.FromSeconds(seconds)) { PollingInterval = TimeSpan.FromMilliseconds(100) };
        wait.IgnoreExceptionTypes(typeof(NoSuchElementException), typeof(StaleElementReferenceException));
        try
        {
            return wait.Until(condition);
        }
        catch (WebDriverTimeoutException ex)
        {
            throw new WebDriverTimeoutException($"timed out waiting for {what ?? "the page"} on {Driver.Url}", ex);
        }
    }

    /// <summary>The element matching <paramref name="css"/> once it is displayed.</summary>
    public IWebElement Find(string css, double seconds = 20)
        => Wait(d => d.FindElements(By.CssSelector(css)).FirstOrDefault(e => e.Displayed), seconds, css)!;

    /// <summary>Every element matching <paramref name="css"/> now.</summary>
    public IReadOnlyList<IWebElement> All(string css) => Driver.FindElements(By.CssSelector(css));

    public void Go(string url) => Driver.Navigate().GoToUrl(url);

    /// <summary>Writes a PNG of the window (for README.md) to <paramref name="path"/>, creating the folder.</summary>
    public void Screenshot(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        Driver.GetScreenshot().SaveAsFile(path);
    }

    /// <summary>Resizes the window, e.g. to fit a whole page into a screenshot.</summary>
    public void Resize(int width, int height) => Driver.Manage().Window.Size = new System.Drawing.Size(width, height);

    /// <summary>
    /// Runs axe-core (from functions/web/node_modules, the version package-lock.json pins) in the page and returns the
    /// violations of impact serious or critical, one line each (rule, impact, help, first elements).
    /// </summary>
    public IReadOnlyList<string> SeriousAccessibilityViolations()
    {
        var axe = Path.Combine(TestPaths.RepoRoot, "functions", "web", "node_modules", "axe-core", "axe.min.js");
        if (!File.Exists(axe))
        {
            throw new InvalidOperationException($"{axe} is missing: building the functions project runs npm ci in functions/web");
        }

        Driver.ExecuteScript(File.ReadAllText(axe));
        var json = (string?)Driver.ExecuteAsyncScript("""
            const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ['violations'] })
              .then(r => done(JSON.stringify(r.violations.map(v => ({
                  id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')) })))))
              .catch(e => done(JSON.stringify([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }])));
            """);
        using var doc = JsonDocument.Parse(json ?? "[]");
        return doc.RootElement.EnumerateArray()
            .Where(v => v.GetProperty("impact").GetString() is "serious" or "critical")
            .Select(v => $"{v.GetProperty("id").GetString()} ({v.GetProperty("impact").GetString()}): {v.GetProperty("help").GetString()} at "
                         + string.Join(", ", v.GetProperty("nodes").EnumerateArray().Select(n => n.GetString())))
            .ToList();
    }

    public void Dispose()
    {
        Driver.Quit();
        Driver.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException ex)
        {
            // Chromium may still hold a lock file for a moment; the system cleans its temp folder later
            Console.Error.WriteLine($"browser profile {_profile} not removed: {ex.Message}");
        }
    }
}
