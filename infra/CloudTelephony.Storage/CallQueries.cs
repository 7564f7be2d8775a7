using System.Text.Json;
using CloudTelephony.Telephony;
using Npgsql;

namespace CloudTelephony.Storage;

/// <summary>Filters of <c>GET /api/calls</c>; null = no filter. Times UTC.</summary>
/// <param name="Pbx">Only this PBX.</param>
/// <param name="Direction"><c>inbound</c>, <c>outbound</c>, <c>internal</c>.</param>
/// <param name="Status"><c>answered</c>, <c>missed</c>, <c>busy</c>, <c>failed</c>, <c>voicemail</c>, <c>unknown</c>.</param>
/// <param name="Extension">Calls on which this extension rang or answered.</param>
/// <param name="From">Started at or after.</param>
/// <param name="To">Started before.</param>
/// <param name="Query">Substring of the caller or called number, or of the caller's name (any case).</param>
public sealed record CallFilter(
    string? Pbx = null,
    string? Direction = null,
    string? Status = null,
    string? Extension = null,
    DateTimeOffset? From = null,
    DateTimeOffset? To = null,
    string? Query = null);

/// <summary>A stored call, as listed.</summary>
/// <param name="Id">Database id (use with <c>GET /api/calls/{id}</c>).</param>
/// <param name="Call">The call record (participants and events empty in lists).</param>
public sealed record StoredCall(long Id, Call Call);

/// <summary>A page of calls with the total that match the filter.</summary>
public sealed record CallPage(IReadOnlyList<StoredCall> Items, long Total, int Page, int PageSize);

/// <summary>An event of a stored call with the frame it came from.</summary>
/// <param name="Event">The event.</param>
/// <param name="Frame">The frame text verbatim (null if the frame row is gone, e.g. archived).</param>
public sealed record StoredCallEvent(CallEvent Event, string? Frame);

/// <summary>One call with its legs and its events (each with its raw frame).</summary>
public sealed record CallDetail(long Id, Call Call, IReadOnlyList<StoredCallEvent> Events);

/// <summary>Calls counted by direction and status.</summary>
public sealed record CallCount(string Direction, string Status, long Count);

/// <summary>Read side of calls: list with filters and paging, one call with legs and events, counts.</summary>
public sealed class CallQueries(NpgsqlDataSource db)
{
    private const string Columns = """
        c.id, c.pbx, c.call_key, c.direction, c.status, c.missed_reason, c.caller, c.called, c.answered_by, c.extensions,
        c.trunk, c.started_at, c.answered_at, c.ended_at, c.ring_seconds, c.talk_seconds, c.transfers::text, c.ivr_digits,
        c.caller_name
        """;

    private const string Where = """
        WHERE (@pbx::text IS NULL OR c.pbx = @pbx)
          AND (@direction::text IS NULL OR c.direction = @direction)
          AND (@status::text IS NULL OR c.status = @status)
          AND (@ext::text IS NULL OR c.answered_by = @ext OR @ext = ANY(c.extensions))
          AND (@from::timestamptz IS NULL OR c.started_at >= @from)
          AND (@to::timestamptz IS NULL OR c.started_at < @to)
          AND (@q::text IS NULL OR strpos(c.caller, @q) > 0 OR strpos(c.called, @q) > 0
               OR strpos(lower(c.caller_name), lower(@q)) > 0)
        """;

    /// <summary>Calls matching <paramref name="filter"/>, newest first.</summary>
    /// <param name="filter">Filters.</param>
    /// <param name="page">1-based page number.</param>
    /// <param name="pageSize">Rows per page (1–1000).</param>
    /// <param name="ct">Cancellation.</param>
    public async Task<CallPage> ListAsync(CallFilter filter, int page, int pageSize, CancellationToken ct)
    {
        const string sql = "SELECT " + Columns + ", count(*) OVER () FROM ct.calls c " + Where +
                           " ORDER BY c.started_at DESC, c.id DESC LIMIT @limit OFFSET @offset";
        await using var cmd = db.CreateCommand(sql);
        AddFilter(cmd, filter);
        cmd.Parameters.AddWithValue("limit", pageSize);
        cmd.Parameters.AddWithValue("offset", (long)(page - 1) * pageSize);
        var items = new List<StoredCall>();
        long total = 0;
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(ReadCall(reader));
            total = reader.GetInt64(19);
        }

        if (items.Count == 0 && page > 1)
        {
            total = await CountAsync(filter, ct);
        }

        return new CallPage(items, total, page, pageSize);
    }

    /// <summary>Every call matching <paramref name="filter"/>, newest first, read as a stream (for exports: no paging,
    /// constant memory).</summary>
    public async IAsyncEnumerable<StoredCall> StreamAsync(CallFilter filter, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT " + Columns + " FROM ct.calls c " + Where + " ORDER BY c.started_at DESC, c.id DESC");
        AddFilter(cmd, filter);
        await using var reader = await cmd.ExecuteReaderAsync(System.Data.CommandBehavior.SequentialAccess, ct);
        while (await reader.ReadAsync(ct))
        {
            yield return ReadCall(reader);
        }
    }

    /// <summary>How many calls match <paramref name="filter"/>.</summary>
    public async Task<long> CountAsync(CallFilter filter, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT count(*) FROM ct.calls c " + Where);
        AddFilter(cmd, filter);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Counts by direction and status of the calls matching <paramref name="filter"/>.</summary>
    public async Task<IReadOnlyList<CallCount>> SummaryAsync(CallFilter filter, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            "SELECT c.direction, c.status, count(*) FROM ct.calls c " + Where + " GROUP BY 1, 2 ORDER BY 1, 2");
        AddFilter(cmd, filter);
        var rows = new List<CallCount>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            rows.Add(new CallCount(reader.GetString(0), reader.GetString(1), reader.GetInt64(2)));
        }

        return rows;
    }

    /// <summary>One call with its participants and events (with raw frames), or null when there is no such id.</summary>
    public async Task<CallDetail?> GetAsync(long id, CancellationToken ct)
    {
        const string sql = "SELECT " + Columns + " FROM ct.calls c WHERE c.id = @id;" + """
            SELECT endpoint, role, rang_at, answered_at, ended_at, outcome
              FROM ct.call_participants WHERE call_id = @id ORDER BY ordinal;
            SELECT e.at, e.kind, e.endpoint, e.detail, e.session, e.seq, f.text
              FROM ct.call_events e
              JOIN ct.calls c ON c.id = e.call_id
              LEFT JOIN ct.frames f ON f.pbx = c.pbx AND f.session = e.session AND f.seq = e.seq
             WHERE e.call_id = @id ORDER BY e.ordinal;
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("id", id);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }

        var stored = ReadCall(reader);
        await reader.NextResultAsync(ct);
        var legs = new List<CallParticipant>();
        while (await reader.ReadAsync(ct))
        {
            legs.Add(new CallParticipant(
                reader.GetString(0), reader.GetString(1), Time(reader, 2), Time(reader, 3), Time(reader, 4), Text(reader, 5)));
        }

        await reader.NextResultAsync(ct);
        var events = new List<StoredCallEvent>();
        while (await reader.ReadAsync(ct))
        {
            var e = new CallEvent(Time(reader, 0)!.Value, reader.GetString(1), Text(reader, 2), Text(reader, 3), reader.GetString(4), reader.GetInt64(5));
            events.Add(new StoredCallEvent(e, Text(reader, 6)));
        }

        var call = stored.Call with { Participants = legs, Events = events.Select(e => e.Event).ToList() };
        return new CallDetail(id, call, events);
    }

    private static void AddFilter(NpgsqlCommand cmd, CallFilter f)
    {
        cmd.Parameters.AddWithValue("pbx", (object?)f.Pbx ?? DBNull.Value);
        cmd.Parameters.AddWithValue("direction", (object?)f.Direction ?? DBNull.Value);
        cmd.Parameters.AddWithValue("status", (object?)f.Status ?? DBNull.Value);
        cmd.Parameters.AddWithValue("ext", (object?)f.Extension ?? DBNull.Value);
        cmd.Parameters.AddWithValue("from", f.From is { } from ? from.UtcDateTime : DBNull.Value);
        cmd.Parameters.AddWithValue("to", f.To is { } to ? to.UtcDateTime : DBNull.Value);
        cmd.Parameters.AddWithValue("q", (object?)f.Query ?? DBNull.Value);
    }

    private static StoredCall ReadCall(NpgsqlDataReader r) => new(r.GetInt64(0), new Call
    {
        Pbx = r.GetString(1),
        CallKey = r.GetString(2),
        Direction = Enum.Parse<CallDirection>(r.GetString(3), ignoreCase: true),
        Status = Enum.Parse<CallStatus>(r.GetString(4), ignoreCase: true),
        MissedReason = Text(r, 5),
        Caller = Text(r, 6),
        Called = Text(r, 7),
        AnsweredBy = Text(r, 8),
        Extensions = r.GetFieldValue<string[]>(9),
        Trunk = Text(r, 10),
        StartedAt = Time(r, 11)!.Value,
        AnsweredAt = Time(r, 12),
        EndedAt = Time(r, 13)!.Value,
        RingSeconds = (double)r.GetDecimal(14),
        TalkSeconds = (double)r.GetDecimal(15),
        Transfers = JsonSerializer.Deserialize(r.GetString(16), StorageJson.Default.ListCallTransfer) ?? [],
        IvrDigits = Text(r, 17),
        CallerName = Text(r, 18),
    });

    private static string? Text(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static DateTimeOffset? Time(NpgsqlDataReader r, int i)
        => r.IsDBNull(i) ? null : new DateTimeOffset(DateTime.SpecifyKind(r.GetDateTime(i), DateTimeKind.Utc));
}
