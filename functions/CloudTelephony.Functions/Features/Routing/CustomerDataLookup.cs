using System.Diagnostics;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using CloudTelephony.Telephony.Routing;
using Microsoft.Extensions.Caching.Hybrid;

namespace CloudTelephony.Functions.Routing;

/// <summary>A Smart Redirect question as the Asterisk macro asks it (already validated).</summary>
/// <param name="UniqueId">Asterisk's UniqueId of the call (logged only).</param>
/// <param name="Phone">The caller as the PBX sees it.</param>
/// <param name="TrunkId">The trunk (line) the call came in on.</param>
/// <param name="LoadDialPlan">Whether a DialPlan is wanted.</param>
public sealed record CustomerDataQuery(string? UniqueId, string Phone, string? TrunkId, bool LoadDialPlan);

/// <summary>The answer with why it is what it is.</summary>
/// <param name="Name">Caller-ID name or null.</param>
/// <param name="DialPlan">Dialplan context or null.</param>
/// <param name="Outcome"><c>routed</c>, <c>name</c>, <c>unknown</c>, <c>off</c>, <c>timeout</c>, <c>error</c>.</param>
/// <param name="Strategy">The strategy that chose the extension (or the last one tried), or null.</param>
/// <param name="Reason">Human-readable steps, <c>; </c>-separated.</param>
/// <param name="PhoneE164">The caller in E.164, or null when not a valid number.</param>
/// <param name="LatencyMs">Time spent answering.</param>
/// <param name="Mode">The enterprise's mode when it was decided.</param>
public sealed record CustomerDataDecision(string? Name, string? DialPlan, string Outcome, string? Strategy, string Reason, string? PhoneE164, double LatencyMs, string Mode);

/// <summary>
/// The Smart Redirect decision: caller's name (contacts, else CRM) and, on smart-enabled trunks in mode routing+name,
/// the DialPlan of the extension the enterprise's strategy (then fallback) picks. Name and DialPlan are looked up in
/// parallel under the enterprise's budget; when it runs out the answer is what is known by then (a cached name) with
/// DialPlan null. Names, CRM customers and chosen extensions are kept in memory (HybridCache) for the configured TTLs.
/// </summary>
public sealed class CustomerDataLookup(RoutingStore store, TenantCache config, HybridCache cache, IEnumerable<ICrmAdapter> crms, RoutingOptions options)
{
    private readonly Dictionary<string, ICrmAdapter> _crms = crms.ToDictionary(c => c.Kind, StringComparer.OrdinalIgnoreCase);

    private readonly HybridCacheEntryOptions _nameEntry = Entry(options.NameCacheSeconds);

    private readonly HybridCacheEntryOptions _extEntry = Entry(options.ExtensionCacheSeconds);

    /// <summary>Decides for one call of <paramref name="enterpriseId"/>; never throws for CRM or lookup failures and
    /// never takes (much) longer than the budget.</summary>
    /// <param name="enterpriseId">The token's enterprise.</param>
    /// <param name="q">The question.</param>
    /// <param name="requestAborted">Cancelled when the caller went away or the budget answered for this request.</param>
    /// <param name="clock">The request's budget clock (<see cref="RoutingBudget"/>): its start counts, and it learns the
    /// enterprise's budget here; null = start now (tools, tests).</param>
    public async Task<CustomerDataDecision> DecideAsync(long enterpriseId, CustomerDataQuery q, CancellationToken requestAborted, RoutingBudget.Clock? clock = null)
    {
        var started = clock?.Started ?? Stopwatch.GetTimestamp();
        var ctx = await config.ContextAsync(enterpriseId, q.TrunkId, requestAborted);
        var s = ctx.Settings;
        clock?.SetBudget(s.BudgetMs);
        var e164 = PhoneNormalizer.ToE164(q.Phone, s.DefaultRegion);
        if (s.Mode == SmartMode.Off)
        {
            return Done(null, null, "off", null, "smart mode is off", e164, started, s.Mode);
        }

        if (e164 is null)
        {
            return Done(null, null, "unknown", null, $"'{q.Phone}' is not a valid phone number in region {s.DefaultRegion}", e164, started, s.Mode);
        }

        var steps = new List<string>();
        var wantRoute = s.Mode == SmartMode.RoutingAndName && q.LoadDialPlan && ctx.TrunkEnabled && !string.IsNullOrEmpty(q.TrunkId);
        if (s.Mode != SmartMode.RoutingAndName)
        {
            steps.Add("mode name-only: no DialPlan");
        }
        else if (!q.LoadDialPlan)
        {
            steps.Add("LoadDialPlan false: no DialPlan");
        }
        else if (!wantRoute)
        {
            steps.Add($"trunk '{q.TrunkId}' is not smart-enabled: no DialPlan");
        }

        var left = TimeSpan.FromMilliseconds(s.BudgetMs) - Stopwatch.GetElapsedTime(started);
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        budget.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
        var nameTask = NameAsync(enterpriseId, s, e164, budget.Token);
        var routeTask = wantRoute ? RouteAsync(enterpriseId, s, e164, q.TrunkId!, budget.Token) : Task.FromResult<RouteResult?>(null);
        if (clock is not null)
        {
            // what is known the moment it is known: the budget's backstop answers it if this method cannot in time
            _ = nameTask.ContinueWith(static (t, c) => ((RoutingBudget.Clock)c!).KnowName(t.Result.Name), clock,
                CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            _ = routeTask.ContinueWith(static (t, c) => ((RoutingBudget.Clock)c!).KnowDialPlan(t.Result?.DialPlan), clock,
                CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        var timedOut = false;
        try
        {
            await Task.WhenAll(nameTask, routeTask).WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, requestAborted);
        }
        catch (TimeoutException)
        {
            timedOut = true;
        }
        catch (Exception) when (!requestAborted.IsCancellationRequested)
        {
            // failures are read off each task below
        }

        // The budget's own timer may cancel a lookup a moment before WaitAsync gives up: that is running out too.
        timedOut |= budget.IsCancellationRequested && !requestAborted.IsCancellationRequested;
        budget.Cancel();
        string? name = null;
        var failed = false;
        if (nameTask.IsCompletedSuccessfully)
        {
            (name, var how) = nameTask.Result;
            steps.Insert(0, how);
        }
        else if (nameTask.IsFaulted)
        {
            failed = true;
            steps.Insert(0, "name: " + Message(nameTask.Exception));
        }
        else
        {
            steps.Insert(0, "name: not found within the budget");
        }

        RouteResult? route = null;
        if (routeTask.IsCompletedSuccessfully)
        {
            route = routeTask.Result;
            if (route is not null)
            {
                steps.AddRange(route.Steps);
                failed |= route.Failed;
            }
        }
        else if (routeTask.IsFaulted)
        {
            failed = true;
            steps.Add("route: " + Message(routeTask.Exception));
        }
        else if (wantRoute)
        {
            steps.Add("route: not decided within the budget");
        }

        // What was decided in time is answered (a DialPlan found before the name lookup ran out still routes).
        var dialPlan = route?.DialPlan;
        var outcome = dialPlan is not null ? "routed" : timedOut ? "timeout" : failed ? "error" : name is not null ? "name" : "unknown";
        if (timedOut)
        {
            steps.Add($"budget of {s.BudgetMs} ms ran out: answered what was known");
        }

        return Done(name, dialPlan, outcome, route?.Strategy, string.Join("; ", steps), e164, started, s.Mode);
    }

    private async Task<(string? Name, string How)> NameAsync(long enterpriseId, RoutingSettings s, string e164, CancellationToken ct)
    {
        var name = await Cached(_nameEntry, options.NameCacheSeconds, $"name:{enterpriseId}:{e164}", async c =>
        {
            var contact = await store.ContactNameAsync(enterpriseId, e164, c);
            if (contact is not null)
            {
                return new CachedName(SmartRedirect.CallerIdName(contact), "contacts");
            }

            var customer = await CustomerAsync(enterpriseId, s, e164, c);
            return customer is null ? new CachedName(null, null) : new CachedName(SmartRedirect.CallerIdName(customer.Name), "CRM");
        }, ct);
        return (name.Name, name.Name is null ? $"name: {e164} is in no contact{(s.CrmKind is null ? "" : " nor in the CRM")}" : $"name from {name.Source}");
    }

    private async Task<RouteResult?> RouteAsync(long enterpriseId, RoutingSettings s, string e164, string trunk, CancellationToken ct)
    {
        var steps = new List<string>();
        var failed = false;
        RoutingStrategy? last = null;
        foreach (var strategy in s.Fallback is { } f && f != s.Strategy ? new[] { s.Strategy, f } : [s.Strategy])
        {
            last = strategy;
            var label = (strategy == s.Strategy ? "" : "fallback ") + SmartRedirect.Name(strategy);
            RoutedExtension? ext;
            try
            {
                ext = await ExtensionAsync(enterpriseId, s, e164, strategy, ct);
            }
            catch (Exception ex) when (ex is CrmException or HttpRequestException && !ct.IsCancellationRequested)
            {
                failed = true;
                steps.Add($"{label}: {ex.Message}");
                continue;
            }

            if (ext is null)
            {
                steps.Add(strategy == RoutingStrategy.Crm
                    ? $"{label}: no CRM manager mapped to an extension for {e164}"
                    : $"{label}: no answered call with {e164} in the last {s.LookbackDays} days");
                continue;
            }

            if (string.IsNullOrEmpty(ext.InternalId))
            {
                steps.Add($"{label}: extension {ext.Ext} has no internal id");
                continue;
            }

            steps.Add($"{label}: extension {ext.Ext} (internal id {ext.InternalId})");
            return new RouteResult(SmartRedirect.DialPlan(ext.InternalId, trunk), SmartRedirect.Name(strategy), steps, failed);
        }

        return new RouteResult(null, last is { } l ? SmartRedirect.Name(l) : null, steps, failed);
    }

    private Task<RoutedExtension?> ExtensionAsync(long enterpriseId, RoutingSettings s, string e164, RoutingStrategy strategy, CancellationToken ct)
        => Cached<RoutedExtension?>(_extEntry, options.ExtensionCacheSeconds, $"ext:{enterpriseId}:{SmartRedirect.Name(strategy)}:{s.LookbackDays}:{e164}", async c =>
        {
            if (strategy != RoutingStrategy.Crm)
            {
                return await store.CallExtensionAsync(enterpriseId, e164, strategy, s.LookbackDays, c);
            }

            var customer = await CustomerAsync(enterpriseId, s, e164, c);
            return customer?.ManagerId is { } manager ? await store.ManagerExtensionAsync(enterpriseId, manager, c) : null;
        }, ct);

    private async Task<CrmCustomer?> CustomerAsync(long enterpriseId, RoutingSettings s, string e164, CancellationToken ct)
    {
        if (s.CrmKind is null)
        {
            return null;
        }

        if (!_crms.TryGetValue(s.CrmKind, out var crm))
        {
            throw new CrmException($"no adapter for CRM '{s.CrmKind}'");
        }

        return await Cached<CrmCustomer?>(_nameEntry, options.NameCacheSeconds, $"crm:{enterpriseId}:{e164}", c => crm.FindCustomerAsync(s, e164, c), ct);
    }

    /// <summary>Through the cache when its TTL is set; a factory that throws caches nothing.</summary>
    private async Task<T> Cached<T>(HybridCacheEntryOptions entry, int seconds, string key, Func<CancellationToken, Task<T>> load, CancellationToken ct)
        => seconds == 0 ? await load(ct) : await cache.GetOrCreateAsync(key, load, static async (l, c) => await l(c), entry, cancellationToken: ct);

    private static HybridCacheEntryOptions Entry(int seconds) => new()
    {
        Expiration = TimeSpan.FromSeconds(Math.Max(1, seconds)),
        LocalCacheExpiration = TimeSpan.FromSeconds(Math.Max(1, seconds)),
    };

    private static string Message(AggregateException? ex) => ex?.InnerException switch
    {
        CrmException c => c.Message,
        OperationCanceledException => "cancelled when the budget ran out",
        { } e => $"{e.GetType().Name}: {e.Message}",
        null => "failed",
    };

    private static CustomerDataDecision Done(string? name, string? dialPlan, string outcome, string? strategy, string reason, string? e164, long started, SmartMode mode)
        => new(name, dialPlan, outcome, strategy, reason, e164, Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 3), SmartRedirect.Name(mode));

    private sealed record RouteResult(string? DialPlan, string? Strategy, List<string> Steps, bool Failed);
}

/// <summary>A cached caller name and where it came from (null name = nobody knows the number).</summary>
[System.ComponentModel.ImmutableObject(true)]
public sealed record CachedName(string? Name, string? Source);
