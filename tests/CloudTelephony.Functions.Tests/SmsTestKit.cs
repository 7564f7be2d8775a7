using System.Net.Http.Json;
using System.Collections.Concurrent;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Sms;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace CloudTelephony.Functions.Tests;

/// <summary>A clock the test sets; timers (Polly delays) still run on real time.</summary>
public sealed class ManualClock(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now.ToUniversalTime();
}

/// <summary>What the fake provider answers to one request.</summary>
public enum FakeAnswer
{
    Ok,
    TooMany,
    ServerError,
    Timeout,
    Garbage,
    AuthError,
}

/// <summary>A real Kestrel server playing SMSAPI (<c>POST /sms.do</c>) and a webhook (<c>POST /hook</c>).</summary>
public sealed class FakeSmsProvider : IAsyncLifetime
{
    private readonly ConcurrentQueue<FakeAnswer> _script = new();
    private WebApplication _app = null!;
    private int _ids;

    public ConcurrentBag<(string Path, Dictionary<string, string> Form, string Body, Dictionary<string, string> Headers)> Requests { get; } = [];

    public string BaseUrl { get; private set; } = "";

    /// <summary>Answers to give, in order; <see cref="FakeAnswer.Ok"/> once the script is used up.</summary>
    public void Script(params FakeAnswer[] answers)
    {
        foreach (var a in answers)
        {
            _script.Enqueue(a);
        }
    }

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.MapPost("/sms.do", ctx => AnswerAsync(ctx, smsapi: true));
        _app.MapPost("/hook", ctx => AnswerAsync(ctx, smsapi: false));
        await _app.StartAsync();
        BaseUrl = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task AnswerAsync(HttpContext ctx, bool smsapi)
    {
        var form = new Dictionary<string, string>();
        var body = "";
        if (ctx.Request.HasFormContentType)
        {
            foreach (var (k, v) in await ctx.Request.ReadFormAsync())
            {
                form[k] = v.ToString();
            }
        }
        else
        {
            body = await new StreamReader(ctx.Request.Body).ReadToEndAsync();
        }

        var headers = ctx.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        Requests.Add((ctx.Request.Path, form, body, headers));
        var answer = _script.TryDequeue(out var a) ? a : FakeAnswer.Ok;
        switch (answer)
        {
            case FakeAnswer.TooMany:
                ctx.Response.StatusCode = 429;
                await ctx.Response.WriteAsync("slow down");
                return;
            case FakeAnswer.ServerError:
                ctx.Response.StatusCode = 500;
                await ctx.Response.WriteAsync(smsapi ? "{\"error\":201,\"message\":\"Internal system error\"}" : "boom");
                return;
            case FakeAnswer.Timeout:
                await Task.Delay(TimeSpan.FromSeconds(5), ctx.RequestAborted).ContinueWith(_ => { });
                return;
            case FakeAnswer.Garbage:
                ctx.Response.ContentType = "text/html";
                await ctx.Response.WriteAsync("<html><body>502 Bad Gateway (proxy)</body></html>");
                return;
            case FakeAnswer.AuthError:
                ctx.Response.ContentType = "application/json";
                await ctx.Response.WriteAsync(smsapi ? "{\"error\":101,\"message\":\"Authorization failed\"}" : "{}");
                if (!smsapi)
                {
                    ctx.Response.StatusCode = 401;
                }

                return;
            default:
                var id = Interlocked.Increment(ref _ids);
                ctx.Response.ContentType = "application/json";
                await ctx.Response.WriteAsync(smsapi
                    ? $"{{\"count\":1,\"list\":[{{\"id\":\"SMSAPI{id}\",\"points\":0.16,\"number\":\"{form.GetValueOrDefault("to")}\",\"date_sent\":1756800000,\"submitted_number\":\"{form.GetValueOrDefault("to")}\",\"status\":\"QUEUE\",\"error\":null,\"idx\":\"{form.GetValueOrDefault("idx")}\"}}]}}"
                    : $"{{\"messageId\":\"hook-{id}\"}}");
                return;
        }
    }
}

/// <summary>SMS services over a real database, built the way the app builds them, without the hosted worker.</summary>
public static class SmsKit
{
    public static ServiceProvider Services(NpgsqlDataSource db, TimeProvider clock, IDictionary<string, string?> settings)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection()
            .AddLogging(b => b.SetMinimumLevel(LogLevel.Warning))
            .AddSingleton(db)
            .AddSingleton(clock)
            .AddSms(config, sweepInProcess: false);
        return services.BuildServiceProvider();
    }

    public static async Task<long> InsertAsync(NpgsqlDataSource db, string to = "+48600100200", string text = "Oddzwonimy", DateTimeOffset? due = null, string status = "NEW", DateTimeOffset? sendingAt = null)
    {
        await using var cmd = db.CreateCommand("""
            INSERT INTO ct.sms_out (enterprise_id, to_number, text, status, next_attempt_at, sending_at)
            VALUES ((SELECT id FROM ct.enterprises WHERE name = 'default'), @to, @text, @status, @due, @sending)
            RETURNING id
            """);
        cmd.Parameters.AddWithValue("to", to);
        cmd.Parameters.AddWithValue("text", text);
        cmd.Parameters.AddWithValue("status", status);
        cmd.Parameters.AddWithValue("due", due ?? DateTimeOffset.UnixEpoch);
        cmd.Parameters.AddWithValue("sending", (object?)sendingAt ?? DBNull.Value);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    public static async Task<SmsRow> RowAsync(NpgsqlDataSource db, long id)
    {
        await using var cmd = db.CreateCommand("""
            SELECT status, attempts, next_attempt_at, last_error, provider, provider_code, provider_message_id, sent_at, origin_user, to_number
              FROM ct.sms_out WHERE id = @id
            """);
        cmd.Parameters.AddWithValue("id", id);
        await using var r = await cmd.ExecuteReaderAsync();
        Assert.True(await r.ReadAsync(), $"sms {id} exists");
        string? S(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        return new SmsRow(r.GetString(0), r.GetInt32(1), r.GetFieldValue<DateTimeOffset>(2), S(3), S(4), S(5), S(6),
            r.IsDBNull(7) ? null : r.GetFieldValue<DateTimeOffset>(7), S(8), r.GetString(9));
    }
}

public sealed record SmsRow(string Status, int Attempts, DateTimeOffset NextAttemptAt, string? LastError, string? Provider, string? ProviderCode,
    string? ProviderMessageId, DateTimeOffset? SentAt, string? OriginUser, string To);

/// <summary>The real functions app on Kestrel with SMS settings and a manual clock; no in-process dispatch or sweep unless asked.</summary>
public sealed class SmsAppServer(ManualClock clock, IDictionary<string, string?> settings, string? connectionString = null) : IAsyncLifetime
{
    private WebApplication _app = null!;

    public PostgresDatabase Db { get; } = new();

    public HttpClient Http { get; private set; } = null!;

    public IServiceProvider Services => _app.Services;

    public async Task InitializeAsync()
    {
        await Db.InitializeAsync();
        var args = new List<string> { "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", "--Ingest:SweepSeconds=0", "--Sms:SweepCron=" };
        if (!settings.ContainsKey("Sms:DispatchInProcess"))
        {
            args.Add("--Sms:DispatchInProcess=false");
        }

        args.AddRange(settings.Select(kv => $"--{kv.Key}={kv.Value}"));
        _app = FunctionsApp.Build([.. args], connectionString ?? Db.ConnectionString, s => s.AddSingleton<TimeProvider>(clock));
        await _app.StartAsync();
        var url = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        // SmsKit files rows under the 'default' enterprise: the API client speaks for it with a crm token, the relay with a relay token.
        Http = TestTokens.Client(url, (await Db.CreateTokenAsync("default", "crm")).Token);
        Relay = TestTokens.Client(url, await Db.RelayTokenAsync());
    }

    /// <summary>A client with a relay token of the 'default' enterprise (frames of PBXes filed there).</summary>
    public HttpClient Relay { get; private set; } = null!;

    /// <summary>POSTs <paramref name="batch"/> to <c>/api/frames</c> as a relay of the 'default' enterprise.</summary>
    public Task<HttpResponseMessage> PostFramesAsync(IEnumerable<CloudTelephony.Contracts.Envelope> batch)
        => Relay.PostAsJsonAsync(CloudTelephony.Contracts.Routes.IngestPath, batch.ToArray(), CloudTelephony.Contracts.ContractsJson.Default.EnvelopeArray);

    public async Task DisposeAsync()
    {
        Http.Dispose();
        Relay.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await Db.DisposeAsync();
    }

    public async Task<long> ExecAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var cmd = Db.DataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }

        return Convert.ToInt64(await cmd.ExecuteScalarAsync() ?? 0L);
    }
}
