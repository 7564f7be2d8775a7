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
        foreach (var relay in _relays.Values)
        {
            relay.Dispose();
        }

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

    /// <summary>What the database holds of <paramref name="pbx"/>'s stream, or null (the tests' wait loops read it
    /// directly: <c>/api/health</c> gives stream detail only to a crm token of the PBX's enterprise).</summary>
    public async Task<Storage.PbxStreamStatus?> StreamAsync(string pbx)
        => (await new Storage.HealthQueries(Db.DataSource).PbxStreamsAsync(default)).SingleOrDefault(p => p.Pbx == pbx);

    /// <summary><c>GET /api/health</c>, with <paramref name="token"/> as a bearer token when given.</summary>
    public async Task<Health.HealthDto> HealthAsync(string? token = null)
    {
        using var client = token is null ? new HttpClient { BaseAddress = new Uri(BaseUrl) } : Client(token);
        return (await client.GetFromJsonAsync("/api/health", ApiJson.Default.HealthDto))!;
    }


    /// <summary>
    /// A client with a relay token of <paramref name="enterprise"/> (one per enterprise, made on first use), as a relay
    /// posts frames and heartbeats.
    /// </summary>
    public async Task<HttpClient> RelayAsync(string enterprise = "default")
    {
        if (!_relays.TryGetValue(enterprise, out var client))
        {
            client = Client(await Db.RelayTokenAsync(enterprise));
            _relays[enterprise] = client;
        }

        return client;
    }

    /// <summary>POSTs <paramref name="batch"/> to <c>/api/frames</c> with a relay token of the enterprise of its first PBX
    /// (<c>default</c> when that PBX is not registered yet: the relay token then registers it there).</summary>
    public async Task<HttpResponseMessage> PostFramesAsync(IEnumerable<Envelope> batch)
    {
        var frames = batch.ToArray();
        var enterprise = frames.Length == 0 ? null : await Db.EnterpriseOfAsync(frames[0].Pbx);
        var relay = await RelayAsync(enterprise ?? "default");
        return await relay.PostAsJsonAsync(Routes.IngestPath, frames, ContractsJson.Default.EnvelopeArray);
    }

    private readonly Dictionary<string, HttpClient> _relays = new(StringComparer.Ordinal);
}
