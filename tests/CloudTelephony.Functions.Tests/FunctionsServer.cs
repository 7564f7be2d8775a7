using System.Net.Http.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace CloudTelephony.Functions.Tests;

/// <summary>The real functions app on Kestrel (127.0.0.1, a free port) over a fresh PostgreSQL database.</summary>
/// <param name="sweepSeconds">In-process call sweep period (0 = off).</param>
/// <param name="extraArgs">More configuration, e.g. <c>--Routing:RateLimitPerSecond=1</c>.</param>
public sealed class FunctionsServer(double sweepSeconds = 0, params string[] extraArgs) : IAsyncLifetime
{
    private WebApplication _app = null!;

    public PostgresDatabase Db { get; } = new();

    public HttpClient Http { get; private set; } = null!;

    public IServiceProvider Services => _app.Services;

    /// <summary>Last-moment service changes (extra call-change handlers, a fake clock …).</summary>
    public Action<IServiceCollection>? Configure { get; init; }

    public string BaseUrl { get; private set; } = "";

    public async Task InitializeAsync()
    {
        await Db.InitializeAsync();
        // The in-process call sweep runs on wall time; tests that do not exercise it turn it off so their results
        // cannot depend on how fast the machine is.
        string[] args =
        [
            "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning",
            $"--Ingest:SweepSeconds={sweepSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}", "--Ingest:IdleSeconds=0.5",
            .. extraArgs,
        ];
        _app = FunctionsApp.Build(args, Db.ConnectionString, Configure);
        await _app.StartAsync();
        BaseUrl = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Http = new HttpClient { BaseAddress = new Uri(BaseUrl) };
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await Db.DisposeAsync();
    }

    /// <summary>
    /// Creates (or reuses) an enterprise with <paramref name="pbxes"/> filed under it and returns a new token of
    /// <paramref name="scope"/> for it.
    /// </summary>
    public async Task<string> CreateTokenAsync(string enterpriseName, string scope, params string[] pbxes)
        => (await Db.CreateTokenAsync(enterpriseName, scope, pbxes)).Token;

    /// <summary>A client of this server that sends <paramref name="token"/> as a bearer token (the caller disposes it).</summary>
    public HttpClient Client(string token) => TestTokens.Client(BaseUrl, token);

    public Task<HttpResponseMessage> PostFramesAsync(IEnumerable<Envelope> batch)
        => Http.PostAsJsonAsync(Routes.IngestPath, batch.ToArray(), ContractsJson.Default.EnvelopeArray);
}
