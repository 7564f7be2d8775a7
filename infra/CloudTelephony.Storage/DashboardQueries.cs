using Npgsql;

namespace CloudTelephony.Storage;

/// <summary>Calls that started in one hour of the enterprise's local time, by status.</summary>
/// <param name="Hour">Start of the local hour, as a UTC instant.</param>
/// <param name="Answered">Calls with status <c>answered</c>.</param>
/// <param name="Missed">Status <c>missed</c>.</param>
/// <param name="Busy">Status <c>busy</c>.</param>
/// <param name="Failed">Status <c>failed</c>.</param>
/// <param name="Voicemail">Status <c>voicemail</c>.</param>
/// <param name="Unknown">Status <c>unknown</c>.</param>
public sealed record HourCounts(DateTimeOffset Hour, long Answered, long Missed, long Busy, long Failed, long Voicemail, long Unknown)
{
    /// <summary>All calls of the hour.</summary>
    public long Total => Answered + Missed + Busy + Failed + Voicemail + Unknown;
}

/// <summary>How one extension handled the calls offered to it.</summary>
/// <param name="Extension">The extension number.</param>
/// <param name="UserName">Its user's name from <c>ct.extensions</c>, or null.</param>
/// <param name="Offered">Calls on which it rang (or that it answered).</param>
/// <param name="Answered">Of which it answered itself.</param>
/// <param name="AnsweredElsewhere">Of which another extension answered (ring groups, pickups).</param>
/// <param name="Missed">Of which nobody answered (status <c>missed</c>).</param>
/// <param name="AnswerRate"><paramref name="Answered"/> / <paramref name="Offered"/>, 0–1.</param>
/// <param name="MedianRingSeconds">Median ring time (seconds) of the calls it answered: how long callers waited for it; null when it answered none.</param>
public sealed record ExtensionFigures(
    string Extension, string? UserName, long Offered, long Answered, long AnsweredElsewhere, long Missed, double AnswerRate, double? MedianRingSeconds);

/// <summary>A number whose missed inbound calls were not followed by an outbound call to it.</summary>
/// <param name="Number">The caller in E.164 when it normalises, else as the PBX sent it.</param>
/// <param name="Caller">The caller as the PBX sent it on the latest missed call.</param>
/// <param name="ContactName">The enterprise's contact with that number, or null.</param>
/// <param name="MissedCalls">Missed calls from it in the range that no outbound call followed.</param>
/// <param name="LastMissedAt">Start of the latest of them (UTC).</param>
/// <param name="LastCallId">Id of the latest of them (<c>GET /api/calls/{id}</c>).</param>
public sealed record MissedCaller(string Number, string? Caller, string? ContactName, long MissedCalls, DateTimeOffset LastMissedAt, long LastCallId);

/// <summary>Dashboard figures of one enterprise over a time range.</summary>
/// <param name="Hours">Every local hour of the range (zeros included), oldest first.</param>
/// <param name="Extensions">Every extension that was offered a call, by extension.</param>
/// <param name="MissedNotCalledBack">Callers still waiting for a call back, latest first (at most 500).</param>
public sealed record DashboardFigures(IReadOnlyList<HourCounts> Hours, IReadOnlyList<ExtensionFigures> Extensions, IReadOnlyList<MissedCaller> MissedNotCalledBack);

/// <summary>
/// The aggregates of the web app's dashboard, all scoped to one enterprise: calls per local hour by status, answer
/// rate and median ring time per extension, and missed calls not yet called back (a missed inbound call counts as
/// called back once an outbound call to the same number, from any PBX of the enterprise, started after it).
/// </summary>
public sealed class DashboardQueries(NpgsqlDataSource db)
{
    /// <summary>Longest range <see cref="FiguresAsync"/> accepts (hours are listed one by one).</summary>
    public static readonly TimeSpan MaxRange = TimeSpan.FromDays(62);

    private const string From = "FROM ct.calls c JOIN ct.pbxes p ON p.id = c.pbx";

    private const string Where = """
        WHERE p.enterprise_id = @e AND (@pbx::text IS NULL OR c.pbx = @pbx) AND c.started_at >= @from AND c.started_at < @to
        """;

    private const string Scope = From + "\n" + Where;

    /// <summary>The figures of calls that started in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    /// <param name="enterpriseId">The enterprise.</param>
    /// <param name="pbx">Only this PBX, or null for all of the enterprise's.</param>
    /// <param name="from">Range start (inclusive).</param>
    /// <param name="to">Range end (exclusive); at most <see cref="MaxRange"/> after <paramref name="from"/>.</param>
    /// <param name="timeZone">IANA zone whose local hours the calls are counted in (the enterprise's).</param>
    /// <param name="ct">Cancellation.</param>
    /// <exception cref="ArgumentException">The range is empty or longer than <see cref="MaxRange"/>.</exception>
    /// <exception cref="NpgsqlException">The database failed (or does not know <paramref name="timeZone"/>).</exception>
    public async Task<DashboardFigures> FiguresAsync(long enterpriseId, string? pbx, DateTimeOffset from, DateTimeOffset to, string timeZone, CancellationToken ct)
    {
        if (to <= from || to - from > MaxRange)
        {
            throw new ArgumentException($"the range must be more than 0 and at most {MaxRange.TotalDays} days", nameof(to));
        }

        const string sql = """
            WITH hours AS (
                SELECT generate_series(date_trunc('hour', @from::timestamptz, @zone), @to::timestamptz - interval '1 microsecond', interval '1 hour') AS h
            ), hit AS (
                SELECT date_trunc('hour', c.started_at, @zone) AS h, c.status
            """ + "\n" + Scope + """

            )
            SELECT hours.h,
                   count(*) FILTER (WHERE hit.status = 'answered'), count(*) FILTER (WHERE hit.status = 'missed'),
                   count(*) FILTER (WHERE hit.status = 'busy'), count(*) FILTER (WHERE hit.status = 'failed'),
                   count(*) FILTER (WHERE hit.status = 'voicemail'), count(*) FILTER (WHERE hit.status = 'unknown')
              FROM hours LEFT JOIN hit ON hit.h = hours.h
             GROUP BY hours.h ORDER BY hours.h;

            SELECT x.ext, min(u.user_name), count(*),
                   count(*) FILTER (WHERE c.answered_by = x.ext),
                   count(*) FILTER (WHERE c.answered_by IS NOT NULL AND c.answered_by <> x.ext),
                   count(*) FILTER (WHERE c.status = 'missed'),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY c.ring_seconds::float8) FILTER (WHERE c.answered_by = x.ext)
            """ + "\n" + From + """

            CROSS JOIN LATERAL (SELECT DISTINCT v FROM unnest(array_append(c.extensions, c.answered_by)) AS a(v) WHERE v IS NOT NULL) AS x(ext)
            LEFT JOIN ct.extensions u ON u.enterprise_id = p.enterprise_id AND u.ext = x.ext
            """ + "\n" + Where + """

             GROUP BY x.ext ORDER BY length(x.ext), x.ext;

            SELECT coalesce(c.remote_e164, c.caller) AS number,
                   (array_agg(c.caller ORDER BY c.started_at DESC))[1],
                   (SELECT k.name FROM ct.contact_devices d JOIN ct.contacts k ON k.id = d.contact_id
                     WHERE d.enterprise_id = @e AND d.number_e164 = min(c.remote_e164) ORDER BY k.id LIMIT 1),
                   count(*), max(c.started_at), (array_agg(c.id ORDER BY c.started_at DESC, c.id DESC))[1]
            """ + "\n" + Scope + """

               AND c.direction = 'inbound' AND c.status = 'missed' AND coalesce(c.remote_e164, c.caller) IS NOT NULL
               AND NOT EXISTS (
                   SELECT 1 FROM ct.calls o JOIN ct.pbxes op ON op.id = o.pbx
                    WHERE op.enterprise_id = @e AND o.direction = 'outbound' AND o.started_at > c.started_at
                      AND (o.remote_e164 = c.remote_e164 OR (c.remote_e164 IS NULL AND o.called = c.caller)))
             GROUP BY 1 ORDER BY max(c.started_at) DESC LIMIT 500;
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.Add(new NpgsqlParameter("pbx", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)pbx ?? DBNull.Value });
        cmd.Parameters.AddWithValue("from", from.UtcDateTime);
        cmd.Parameters.AddWithValue("to", to.UtcDateTime);
        cmd.Parameters.AddWithValue("zone", timeZone);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        var hours = new List<HourCounts>();
        while (await r.ReadAsync(ct))
        {
            hours.Add(new HourCounts(Utc(r, 0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5), r.GetInt64(6)));
        }

        await r.NextResultAsync(ct);
        var extensions = new List<ExtensionFigures>();
        while (await r.ReadAsync(ct))
        {
            var offered = r.GetInt64(2);
            var answered = r.GetInt64(3);
            extensions.Add(new ExtensionFigures(
                r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), offered, answered, r.GetInt64(4), r.GetInt64(5),
                offered == 0 ? 0 : Math.Round((double)answered / offered, 4), r.IsDBNull(6) ? null : Math.Round(r.GetDouble(6), 3)));
        }

        await r.NextResultAsync(ct);
        var missed = new List<MissedCaller>();
        while (await r.ReadAsync(ct))
        {
            missed.Add(new MissedCaller(
                r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetInt64(3), Utc(r, 4), r.GetInt64(5)));
        }

        return new DashboardFigures(hours, extensions, missed);
    }

    /// <summary>Start time (UTC) of the enterprise's newest call (of <paramref name="pbx"/> when given), or null when it has none.</summary>
    public async Task<DateTimeOffset?> NewestCallAsync(long enterpriseId, string? pbx, CancellationToken ct)
        => await EdgeAsync("max(c.started_at)", enterpriseId, pbx, DateTimeOffset.MinValue, ct);

    /// <summary>Start time (UTC) of the enterprise's oldest call that started at or after <paramref name="since"/>, or null.</summary>
    public async Task<DateTimeOffset?> OldestCallSinceAsync(long enterpriseId, string? pbx, DateTimeOffset since, CancellationToken ct)
        => await EdgeAsync("min(c.started_at)", enterpriseId, pbx, since, ct);

    private async Task<DateTimeOffset?> EdgeAsync(string aggregate, long enterpriseId, string? pbx, DateTimeOffset since, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT " + aggregate + """
             FROM ct.calls c JOIN ct.pbxes p ON p.id = c.pbx
             WHERE p.enterprise_id = @e AND (@pbx::text IS NULL OR c.pbx = @pbx) AND c.started_at >= @since
            """);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.Add(new NpgsqlParameter("pbx", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)pbx ?? DBNull.Value });
        cmd.Parameters.AddWithValue("since", since == DateTimeOffset.MinValue ? DateTime.MinValue.ToUniversalTime() : since.UtcDateTime);
        return await cmd.ExecuteScalarAsync(ct) is DateTime t ? new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc)) : null;
    }

    private static DateTimeOffset Utc(NpgsqlDataReader r, int i) => new(DateTime.SpecifyKind(r.GetDateTime(i), DateTimeKind.Utc));
}
