using System.Diagnostics;
using CloudTelephony.Functions.Routing;
using Npgsql;

namespace CloudTelephony.Functions.Tests;

/// <summary>
/// The Smart Redirect budget on the server (issue 18 item 11): a step that hangs — the token lookup, the settings, the
/// database lookups — answers <c>{"Name":null,"DialPlan":null}</c> at the budget instead of waiting for it, and past
/// <c>Routing:MaxConcurrentRequests</c> a request is answered at once. Real Kestrel and PostgreSQL, the hang made with a
/// real table lock (behaviour, not speed: each answer must arrive while the lock is still held).
/// </summary>
public sealed class RoutingBudgetTests : IAsyncLifetime
{
    private const int LockHeldMs = 10_000;

    private readonly RoutingFixture _f = RoutingFixture.With("--Routing:MaxConcurrentRequests=1");

    public Task InitializeAsync() => _f.InitializeAsync();

    public Task DisposeAsync() => _f.DisposeAsync();

    /// <summary>Holds an ACCESS EXCLUSIVE lock on <paramref name="tables"/> until disposed (every read of them waits).</summary>
    private async Task<IAsyncDisposable> LockAsync(params string[] tables)
    {
        var conn = await _f.Server.Db.DataSource.OpenConnectionAsync();
        var tx = await conn.BeginTransactionAsync();
        await using (var cmd = new NpgsqlCommand($"LOCK TABLE {string.Join(", ", tables)} IN ACCESS EXCLUSIVE MODE", conn, tx))
        {
            await cmd.ExecuteNonQueryAsync();
        }

        return new Held(conn, tx);
    }

    private sealed class Held(NpgsqlConnection conn, NpgsqlTransaction tx) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await tx.RollbackAsync();
            await conn.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_token_lookup_that_hangs_is_answered_null_at_the_budget_not_after_it()
    {
        await _f.AdminAsync("smart", "set", "--enterprise", "acme", "--mode", "routing+name", "--strategy", "last_call");
        var sw = Stopwatch.StartNew();
        (int Status, string Body, double Ms) answer;
        await using (await LockAsync("ct.api_tokens"))
        {
            answer = await _f.AskAsync(_f.AcmeToken, RoutingFixture.Body("693109180"));
            Assert.True(sw.ElapsedMilliseconds < LockHeldMs / 2, $"answered after {sw.ElapsedMilliseconds} ms: it waited for the database");
        }

        Assert.Equal(200, answer.Status);
        Assert.Equal("""{"Name":null,"DialPlan":null}""", answer.Body);
        // the lock gone, the same question gets its real answer (the hung lookup was cancelled, its slot is free again)
        await WaitForSlotAsync();
        Assert.Equal("""{"Name":"Jan Kowalski","DialPlan":"mngr8_1_1"}""", (await _f.AskAsync(_f.AcmeToken, RoutingFixture.Body("693109180"))).Body);
    }

    [Fact]
    public async Task Lookups_that_hang_under_a_long_budget_are_answered_at_that_budget_and_logged_as_timeouts()
    {
        await _f.AdminAsync("smart", "set", "--enterprise", "acme", "--mode", "routing+name", "--strategy", "last_call", "--budget-ms", "1500");
        (int Status, string Body, double Ms) answer;
        var sw = Stopwatch.StartNew();
        await using (await LockAsync("ct.calls", "ct.contacts"))
        {
            answer = await _f.AskAsync(_f.AcmeToken, RoutingFixture.Body("693109180"));
            Assert.True(sw.ElapsedMilliseconds < LockHeldMs / 2, $"answered after {sw.ElapsedMilliseconds} ms: it waited for the database");
        }

        Assert.Equal("""{"Name":null,"DialPlan":null}""", answer.Body);
        Assert.True(answer.Ms >= 1400, $"answered after {answer.Ms:F0} ms: the enterprise's budget of 1500 ms is what it waits"); // not the 300 ms default
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await _f.Server.Db.ScalarAsync("SELECT count(*) FROM ct.routing_decisions WHERE outcome = 'timeout'") == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Equal(1, await _f.Server.Db.ScalarAsync("SELECT count(*) FROM ct.routing_decisions WHERE outcome = 'timeout'"));
    }

    [Fact]
    public async Task Past_the_concurrency_limit_a_request_is_answered_null_at_once_while_the_first_still_runs()
    {
        await _f.AdminAsync("smart", "set", "--enterprise", "acme", "--mode", "routing+name", "--strategy", "last_call", "--budget-ms", "5000");
        var budget = _f.Server.Services.GetRequiredService<RoutingBudget>();
        await using (await LockAsync("ct.calls", "ct.contacts"))
        {
            var first = _f.AskAsync(_f.AcmeToken, RoutingFixture.Body("693109180")); // holds the one slot up to its 5 s budget
            while (budget.InProgress == 0 && !first.IsCompleted)
            {
                await Task.Delay(20);
            }

            var second = await _f.AskAsync(_f.AcmeToken, RoutingFixture.Body("693109180"));

            Assert.False(first.IsCompleted, "the first request is still waiting for its lookups");
            Assert.Equal((200, """{"Name":null,"DialPlan":null}"""), (second.Status, second.Body));
            Assert.Equal(1, budget.Shed);
        }
    }

    private async Task WaitForSlotAsync()
    {
        var budget = _f.Server.Services.GetRequiredService<RoutingBudget>();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (budget.InProgress > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
    }
}
