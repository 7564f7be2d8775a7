using System.ComponentModel;
using System.Globalization;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using Microsoft.AspNetCore.Mvc;

namespace CloudTelephony.Functions.Dashboard;

/// <summary>Totals of the dashboard's range.</summary>
/// <param name="Calls">Calls that started in the range.</param>
/// <param name="Answered">Of which answered.</param>
/// <param name="Missed">Of which missed.</param>
/// <param name="AnswerRate">Answered / calls, 0–1 (0 when there were none).</param>
/// <param name="MissedNotCalledBack">Missed calls that no outbound call to the caller followed.</param>
public sealed record DashboardTotals(long Calls, long Answered, long Missed, double AnswerRate, long MissedNotCalledBack);

/// <summary><c>GET /api/dashboard</c> answer.</summary>
/// <param name="From">Range start (UTC, inclusive): a local midnight of <paramref name="TimeZone"/> unless given.</param>
/// <param name="To">Range end (UTC, exclusive).</param>
/// <param name="TimeZone">The enterprise's IANA zone; hours are its local hours.</param>
/// <param name="Pbx">The PBX filter, or null.</param>
/// <param name="Totals">Totals of the range.</param>
/// <param name="Hours">Calls per local hour by status, every hour of the range.</param>
/// <param name="Extensions">Answer rate and median ring time per extension.</param>
/// <param name="MissedNotCalledBack">Callers whose missed calls no outbound call followed, latest first.</param>
public sealed record DashboardDto(
    DateTimeOffset From,
    DateTimeOffset To,
    string TimeZone,
    string? Pbx,
    DashboardTotals Totals,
    IReadOnlyList<HourCounts> Hours,
    IReadOnlyList<ExtensionFigures> Extensions,
    IReadOnlyList<MissedCaller> MissedNotCalledBack);

/// <summary>Query of <c>GET /api/dashboard</c>.</summary>
public sealed class DashboardQuery
{
    /// <summary>Range start.</summary>
    [FromQuery(Name = "from"), Description("Range start (ISO 8601). Default: up to 7 local days ending with the day of the newest call (today when there is none), from the first of those days that has a call.")]
    public string? From { get; init; }

    /// <summary>Range end.</summary>
    [FromQuery(Name = "to"), Description("Range end, exclusive (ISO 8601); at most 62 days after from. Default: from + 7 days, or the local midnight after the newest call.")]
    public string? To { get; init; }

    /// <summary>Only this PBX.</summary>
    [FromQuery(Name = "pbx"), Description("Only calls of this PBX.")]
    public string? Pbx { get; init; }
}

/// <summary>
/// Function <c>Dashboard</c>: the web app's dashboard figures for the token's enterprise — calls per hour by status,
/// answer rate and median ring time per extension, missed calls not yet called back.
/// </summary>
public static class DashboardEndpoints
{
    private static readonly TimeSpan DefaultRange = TimeSpan.FromDays(7);

    /// <summary>Maps <c>GET /api/dashboard</c> (token scope crm).</summary>
    public static void MapDashboardEndpoints(this IEndpointRouteBuilder app)
        => app.MapGet("/api/dashboard", GetAsync).WithName("Dashboard").RequireToken("crm").WithTags("Web app")
            .WithSummary("Dashboard figures")
            .WithDescription("For calls that started in [from, to): calls per local hour (the enterprise's zone) by status, every hour listed; per extension the calls offered (it rang or answered), answered by it, answered elsewhere, missed, the answer rate and the median ring time of the calls it answered; and the callers whose missed inbound calls no outbound call to the same number (from any PBX of the enterprise) followed.")
            .Produces<DashboardDto>().ProducesValidationProblem().ProducesCrmAuthProblems();

    private static async Task<IResult> GetAsync(
        HttpContext http, [AsParameters] DashboardQuery query, DashboardQueries dashboard, EnterpriseQueries enterprises, TimeProvider clock, CancellationToken ct)
    {
        var enterpriseId = http.ApiToken().EnterpriseId;
        var errors = new Dictionary<string, string[]>();
        var from = Time(query.From, "from", errors);
        var to = Time(query.To, "to", errors);
        var pbx = string.IsNullOrWhiteSpace(query.Pbx) ? null : query.Pbx.Trim();
        var zone = (await enterprises.ProfileAsync(enterpriseId, ct))?.TimeZone ?? "UTC";
        if (errors.Count == 0 && (from is null || to is null))
        {
            if (from is { } f)
            {
                to = f + DefaultRange;
            }
            else if (to is { } t)
            {
                from = t - DefaultRange;
            }
            else
            {
                var tz = FindZone(zone);
                var newest = await dashboard.NewestCallAsync(enterpriseId, pbx, ct) ?? clock.GetUtcNow();
                var endLocal = TimeZoneInfo.ConvertTime(newest, tz).Date.AddDays(1);
                to = LocalToUtc(endLocal, tz);
                from = LocalToUtc(endLocal.AddDays(-DefaultRange.TotalDays), tz);
                // no empty days before the first call of the window (a new site, a replayed capture)
                if (await dashboard.OldestCallSinceAsync(enterpriseId, pbx, from.Value, ct) is { } oldest)
                {
                    from = LocalToUtc(TimeZoneInfo.ConvertTime(oldest, tz).Date, tz);
                }
            }
        }

        if (errors.Count == 0 && (to <= from || to - from > DashboardQueries.MaxRange))
        {
            errors["to"] = [$"must be after from and at most {DashboardQueries.MaxRange.TotalDays:0} days after it"];
        }

        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }

        var figures = await dashboard.FiguresAsync(enterpriseId, pbx, from!.Value, to!.Value, zone, ct);
        var calls = figures.Hours.Sum(h => h.Total);
        var answered = figures.Hours.Sum(h => h.Answered);
        var totals = new DashboardTotals(
            calls, answered, figures.Hours.Sum(h => h.Missed), calls == 0 ? 0 : Math.Round((double)answered / calls, 4),
            figures.MissedNotCalledBack.Sum(m => m.MissedCalls));
        return Results.Ok(new DashboardDto(
            from.Value.ToUniversalTime(), to.Value.ToUniversalTime(), zone, pbx, totals, figures.Hours, figures.Extensions, figures.MissedNotCalledBack));
    }

    private static TimeZoneInfo FindZone(string id)
        => TimeZoneInfo.TryFindSystemTimeZoneById(id, out var tz) ? tz : TimeZoneInfo.Utc;

    /// <summary>A local wall time of <paramref name="tz"/> as UTC; a time skipped by a DST change moves an hour on.</summary>
    private static DateTimeOffset LocalToUtc(DateTime local, TimeZoneInfo tz)
    {
        var unspecified = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        if (tz.IsInvalidTime(unspecified))
        {
            unspecified = unspecified.AddHours(1);
        }

        return new DateTimeOffset(TimeZoneInfo.ConvertTimeToUtc(unspecified, tz), TimeSpan.Zero);
    }

    private static DateTimeOffset? Time(string? raw, string name, Dictionary<string, string[]> errors)
    {
        if (string.IsNullOrWhiteSpace(raw))
        {
            return null;
        }

        if (DateTimeOffset.TryParse(raw.Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
        {
            return t;
        }

        errors[name] = ["must be an ISO 8601 time, e.g. 2025-09-03T00:00:00+02:00"];
        return null;
    }
}
