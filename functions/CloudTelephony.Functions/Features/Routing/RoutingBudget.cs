using System.Diagnostics;
using CloudTelephony.Functions.Hosting;

namespace CloudTelephony.Functions.Routing;

/// <summary>
/// The Smart Redirect budget on the server, whatever the load: the outermost filter of <c>GetCustomerData</c>. It starts
/// the request's clock before anything is awaited (token and settings cache, body, database, CRM), answers
/// what is known by then — the name if found, else <c>{"Name": null, "DialPlan": null}</c> — at the enterprise's budget
/// (+ <see cref="BackstopMs"/>) if the work has not answered by then (the work is
/// cancelled: every awaited step sees <see cref="HttpContext.RequestAborted"/>), and admits at most
/// <see cref="RoutingOptions.MaxConcurrentRequests"/> requests at once: one more is answered the same null answer at
/// once, without a database round trip (the dialplan then routes the call as it would without Smart Redirect).
/// </summary>
public sealed class RoutingBudget
{
    /// <summary>The budget until the enterprise's own is known (the default of <c>smart set --budget-ms</c>).</summary>
    public const int DefaultBudgetMs = 300;

    /// <summary>How long after the budget this filter answers for a lookup that did not: the lookup itself answers at
    /// the budget with what it knows by then (a cached name); this is the backstop when it cannot (a hung token or
    /// settings read, a starved thread pool). Milliseconds.</summary>
    public const int BackstopMs = 10;

    private const string ItemKey = "ct.routing.budget";

    private static readonly CustomerDataResponse Nothing = new(null, null);

    private readonly SemaphoreSlim _slots;
    private readonly int _max;
    private readonly ILogger<RoutingBudget> _logger;
    private long _shed;
    private long _cut;
    private long _lastShedLog;

    /// <summary>Creates the gate with <see cref="RoutingOptions.MaxConcurrentRequests"/> slots.</summary>
    public RoutingBudget(RoutingOptions options, ILogger<RoutingBudget> logger)
    {
        _max = options.MaxConcurrentRequests;
        _slots = new SemaphoreSlim(_max, _max);
        _logger = logger;
    }

    /// <summary>Requests answered at once because <see cref="RoutingOptions.MaxConcurrentRequests"/> were in progress (since start).</summary>
    public long Shed => Interlocked.Read(ref _shed);

    /// <summary>Requests answered null at the budget while their lookup was still running (since start).</summary>
    public long Cut => Interlocked.Read(ref _cut);

    /// <summary>Requests in progress now (their lookups included, also those already answered at the budget).</summary>
    public int InProgress => _max - _slots.CurrentCount;

    /// <summary>The budget clock of a request this filter admitted, or null.</summary>
    public static Clock? Of(HttpContext http) => http.Items.TryGetValue(ItemKey, out var c) ? c as Clock : null;

    /// <summary>The endpoint filter (register it before <c>RequireToken</c>, so it is the outermost).</summary>
    public static ValueTask<object?> FilterAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
        => context.HttpContext.RequestServices.GetRequiredService<RoutingBudget>().RunAsync(context, next);

    private async ValueTask<object?> RunAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var clock = new Clock(Stopwatch.GetTimestamp());
        if (!_slots.Wait(0))
        {
            var shed = Interlocked.Increment(ref _shed);
            AppTelemetry.RoutingAnswered("busy", 0);
            var now = Environment.TickCount64;
            var last = Interlocked.Read(ref _lastShedLog);
            if (now - last > 10_000 && Interlocked.CompareExchange(ref _lastShedLog, now, last) == last)
            {
                _logger.LogWarning(LogEvents.RoutingShed, "Smart Redirect: {Max} requests in progress (Routing:MaxConcurrentRequests); answered DialPlan null at once ({Shed} so far)", _max, shed);
            }

            return Results.Json(Nothing, RoutingJson.Default.CustomerDataResponse);
        }

        var original = http.RequestAborted;
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(original);
        cancel.CancelAfter(TimeSpan.FromMilliseconds(Storage.RoutingSettingsUpdate.MaxBudgetMs * 2)); // never held longer, whatever hangs
        http.RequestAborted = cancel.Token;
        http.Items[ItemKey] = clock;
        Task<object?> work;
        try
        {
            work = next(context).AsTask();
        }
        catch
        {
            _slots.Release();
            cancel.Dispose();
            throw;
        }

        // The slot is freed when the work really ends, not when the answer goes out: hung work keeps counting.
        _ = work.ContinueWith(
            static (t, state) =>
            {
                var (slots, cts) = ((SemaphoreSlim, CancellationTokenSource))state!;
                slots.Release();
                cts.Dispose();
                _ = t.Exception; // observed: its failure was answered (or logged) by then
            },
            (_slots, cancel),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        while (!work.IsCompleted)
        {
            var remaining = clock.Remaining;
            if (remaining <= TimeSpan.Zero)
            {
                break;
            }

            using var wait = new CancellationTokenSource();
            var changed = clock.Changed;
            var first = await Task.WhenAny(work, Task.Delay(remaining, wait.Token), changed).ConfigureAwait(false);
            await wait.CancelAsync().ConfigureAwait(false);
            if (first == work)
            {
                break;
            }
        }

        if (work.IsCompleted || !clock.TryAnswer())
        {
            http.RequestAborted = original;
            return await work.ConfigureAwait(false);
        }

        // Out of budget: answer now, and stop the work (it logs its decision as a timeout when it unwinds).
        Interlocked.Increment(ref _cut);
        http.RequestAborted = original;
        AppTelemetry.RoutingAnswered("timeout", clock.ElapsedMs);
        try
        {
            await cancel.CancelAsync().ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            // the work ended (and disposed it) in the meantime
        }

        return Results.Json(clock.Known, RoutingJson.Default.CustomerDataResponse);
    }

    /// <summary>One request's budget: started when the filter admitted it; the deadline is <see cref="DefaultBudgetMs"/>
    /// until <see cref="SetBudget"/> gives the enterprise's. Whoever answers first (the work or the filter at the
    /// deadline) wins <see cref="TryAnswer"/>.</summary>
    public sealed class Clock(long started)
    {
        private long _deadline = started + (long)((DefaultBudgetMs + BackstopMs) / 1000.0 * Stopwatch.Frequency);
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _answered;

        /// <summary><see cref="Stopwatch"/> timestamp of the start.</summary>
        public long Started { get; } = started;

        /// <summary>Milliseconds since the start.</summary>
        public double ElapsedMs => Stopwatch.GetElapsedTime(Started).TotalMilliseconds;

        /// <summary>Time left until the deadline (negative once it passed).</summary>
        public TimeSpan Remaining => TimeSpan.FromSeconds((Interlocked.Read(ref _deadline) - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency);

        /// <summary>Completes when the deadline moves.</summary>
        internal Task Changed => Volatile.Read(ref _changed).Task;

        /// <summary>The enterprise's budget (milliseconds from the start); the deadline is that plus <see cref="BackstopMs"/>.</summary>
        public void SetBudget(int budgetMs)
        {
            Interlocked.Exchange(ref _deadline, Started + (long)((budgetMs + BackstopMs) / 1000.0 * Stopwatch.Frequency));
            Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }

        /// <summary>What the lookup knew so far (a name found, a DialPlan decided): what the budget answers.</summary>
        public CustomerDataResponse Known => Volatile.Read(ref _known);

        private CustomerDataResponse _known = Nothing;

        /// <summary>Records the caller's name as soon as it is known.</summary>
        public void KnowName(string? name) => Volatile.Write(ref _known, Known with { Name = name });

        /// <summary>Records the DialPlan as soon as it is decided.</summary>
        public void KnowDialPlan(string? dialPlan) => Volatile.Write(ref _known, Known with { DialPlan = dialPlan });

        /// <summary>True for the first caller: it answers the request; false when the other side already did (the work's
        /// own answer then goes nowhere).</summary>
        public bool TryAnswer() => Interlocked.Exchange(ref _answered, 1) == 0;
    }
}
