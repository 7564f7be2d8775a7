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
/// <param name="Query">Substring of the caller or called number, of the caller's name or of the name of the enterprise's
/// contact with the call's remote number (any case).</param>
/// <param name="EnterpriseId">Only calls of this enterprise's PBXes; null = every enterprise (operator commands only —
/// the API always sets it from the token).</param>
/// <param name="QueryE164">The query as an E.164 number (normalised with the enterprise's region), also matched against
/// the call's remote number; null when the query is not a number.</param>
/// <param name="UpdatedSince">Only calls stored or updated at or after this time (<c>calls.stored_at</c>).</param>
public sealed record CallFilter(
    string? Pbx = null,
    string? Direction = null,
    string? Status = null,
    string? Extension = null,
    DateTimeOffset? From = null,
    DateTimeOffset? To = null,
    string? Query = null,
    long? EnterpriseId = null,
    string? QueryE164 = null,
    DateTimeOffset? UpdatedSince = null);

/// <summary>A stored call, as listed.</summary>
/// <param name="Id">Database id (use with <c>GET /api/calls/{id}</c>).</param>
/// <param name="Call">The call record (participants and events empty in lists).</param>
/// <param name="ContactName">Name of the enterprise's contact with the call's remote number (the oldest contact wins), or null.</param>
/// <param name="RemoteE164">The call's external party in E.164 (<c>calls.remote_e164</c>: the caller of an inbound call,
/// the called number of an outbound one), null for internal calls and numbers that do not normalise.</param>
/// <param name="StoredAt">When the call was last stored or updated (UTC, <c>calls.stored_at</c>).</param>
/// <param name="WrittenXid">The transaction that last wrote it (<c>calls.written_xid</c>; the sync order).</param>
public sealed record StoredCall(long Id, Call Call, string? ContactName = null, string? RemoteE164 = null, DateTimeOffset? StoredAt = null, long WrittenXid = 0)
{
    /// <summary>The id, the call and the contact name (the shape callers had before the other fields came).</summary>
    public void Deconstruct(out long id, out Call call, out string? contactName) => (id, call, contactName) = (Id, Call, ContactName);
}

/// <summary>A page of calls with the total that match the filter.</summary>
public sealed record CallPage(IReadOnlyList<StoredCall> Items, long Total, int Page, int PageSize);

/// <summary>Orders of a call listing.</summary>
public enum CallOrder
{
    /// <summary>By start time, newest first (then id, descending).</summary>
    StartedDesc,

    /// <summary>By start time, oldest first (then id).</summary>
    StartedAsc,

    /// <summary>In the order the calls were written (inserted or updated), oldest change first: the sync order. Only calls
    /// whose transaction is older than every transaction still running are listed, so none can appear behind a reader.</summary>
    Written,
}

/// <summary>Where a keyset page starts: after the call with this sort key and id.</summary>
/// <param name="Order">The listing's order.</param>
/// <param name="Key">Start time in microseconds since 1970 (UTC) for the start-time orders; the writing transaction's id for <see cref="CallOrder.Written"/>.</param>
/// <param name="Id">The call id (ties of <paramref name="Key"/>); 0 = before every call with this key.</param>
public sealed record CallKey(CallOrder Order, long Key, long Id)
{
    /// <summary>The key of a listed call in <paramref name="order"/>.</summary>
    public static CallKey Of(StoredCall call, CallOrder order)
        => new(order, order == CallOrder.Written ? call.WrittenXid : Micros(call.Call.StartedAt), call.Id);

    /// <summary>Microseconds since 1970 of <paramref name="t"/> (PostgreSQL's precision).</summary>
    public static long Micros(DateTimeOffset t) => (t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;
}

/// <summary>A keyset page of calls.</summary>
/// <param name="Items">The calls, in the page's order.</param>
/// <param name="Total">Calls matching the filter (ignoring the cursor).</param>
/// <param name="Next">Where the next page starts; null after the last page of a start-time order. Always set for
/// <see cref="CallOrder.Written"/>: past the last page it is where the next poll continues.</param>
public sealed record CallSlice(IReadOnlyList<StoredCall> Items, long Total, CallKey? Next);

/// <summary>An event of a stored call with the frame it came from.</summary>
/// <param name="Event">The event.</param>
/// <param name="Frame">The frame text verbatim (null if the frame row is gone, e.g. archived).</param>
public sealed record StoredCallEvent(CallEvent Event, string? Frame);

/// <summary>An SMS sent (or queued) about a call.</summary>
/// <param name="Id">The sms id (<c>GET /api/sms/{id}</c>).</param>
/// <param name="To">Recipient, E.164.</param>
/// <param name="Text">Message text.</param>
/// <param name="Status"><c>NEW</c>, <c>SENDING</c>, <c>SENT</c> or <c>ERROR</c>.</param>
/// <param name="Attempts">Provider requests made.</param>
/// <param name="LastError">Reason of the last failure.</param>
/// <param name="OriginRuleId">The rule that created it, or null.</param>
/// <param name="OriginUser">The API user that created it, or null.</param>
/// <param name="CreatedAt">When it was queued.</param>
/// <param name="SentAt">When the provider accepted it.</param>
public sealed record CallSms(
    long Id, string To, string Text, string Status, int Attempts, string? LastError, long? OriginRuleId, string? OriginUser,
    DateTimeOffset CreatedAt, DateTimeOffset? SentAt);

/// <summary>One call with its legs, its events (each with its raw frame) and the SMS sent about it.</summary>
/// <param name="Id">Database id.</param>
/// <param name="Call">The call with its participants and events.</param>
/// <param name="Events">Its events, each with the frame it came from.</param>
/// <param name="ContactName">Name of the enterprise's contact with the call's remote number, or null.</param>
/// <param name="Sms">SMS sent (or queued) about the call.</param>
/// <param name="Stored">The call as a list shows it (with its remote number and stored time).</param>
public sealed record CallDetail(long Id, Call Call, IReadOnlyList<StoredCallEvent> Events, string? ContactName = null, IReadOnlyList<CallSms>? Sms = null, StoredCall? Stored = null);

/// <summary>Calls counted by direction and status.</summary>
public sealed record CallCount(string Direction, string Status, long Count);

/// <summary>
/// The column an offset-paged <see cref="CallQueries.ListAsync"/> sorts by (<c>orderBy</c> of <c>GET /api/calls</c>; ties
/// are broken by start time, newest first). Not a keyset order: the start-time and write orders with cursors are
/// <see cref="CallOrder"/>.
/// </summary>
public enum CallSortColumn
{
    /// <summary>Start time (the default).</summary>
    StartedAt,

    /// <summary>Ring time in seconds.</summary>
    RingSeconds,

    /// <summary>Talk time in seconds.</summary>
    TalkSeconds,

    /// <summary>Caller number (text order, empty last).</summary>
    Caller,

    /// <summary>Called number (text order, empty last).</summary>
    Called,

    /// <summary>Status name.</summary>
    Status,

    /// <summary>Direction name.</summary>
    Direction,
}

/// <summary>Read side of calls: list with filters and paging, one call with legs and events, counts.</summary>
public sealed class CallQueries(NpgsqlDataSource db)
{
    private const string Columns = """
        c.id, c.pbx, c.call_key, c.direction, c.status, c.missed_reason, c.caller, c.called, c.answered_by, c.extensions,
        c.trunk, c.started_at, c.answered_at, c.ended_at, c.ring_seconds, c.talk_seconds, c.transfers::text, c.ivr_digits,
        c.caller_name,
        (SELECT k.name FROM ct.contact_devices d JOIN ct.contacts k ON k.id = d.contact_id
          WHERE d.enterprise_id = p.enterprise_id AND d.number_e164 = c.remote_e164 ORDER BY k.id LIMIT 1),
        c.remote_e164, c.stored_at, c.written_xid::text
        """;

    /// <summary>Columns read by <see cref="ReadCall"/>.</summary>
    private const int ColumnCount = 23;

    private const string From = " FROM ct.calls c JOIN ct.pbxes p ON p.id = c.pbx ";

    private const string Newest = " ORDER BY c.started_at DESC, c.id DESC";

    private const string Oldest = " ORDER BY c.started_at, c.id";

    private const string Where = """
        WHERE (@enterprise::bigint IS NULL OR p.enterprise_id = @enterprise)
          AND (@pbx::text IS NULL OR c.pbx = @pbx)
          AND (@direction::text IS NULL OR c.direction = @direction)
          AND (@status::text IS NULL OR c.status = @status)
          AND (@ext::text IS NULL OR c.answered_by = @ext OR @ext = ANY(c.extensions))
          AND (@from::timestamptz IS NULL OR c.started_at >= @from)
          AND (@to::timestamptz IS NULL OR c.started_at < @to)
          AND (@updated_since::timestamptz IS NULL OR c.stored_at >= @updated_since)
          AND (@q::text IS NULL OR strpos(c.caller, @q) > 0 OR strpos(c.called, @q) > 0
               OR strpos(lower(c.caller_name), lower(@q)) > 0
               OR (@q_e164::text IS NOT NULL AND c.remote_e164 = @q_e164)
               OR EXISTS (SELECT 1 FROM ct.contact_devices d JOIN ct.contacts k ON k.id = d.contact_id
                           WHERE d.enterprise_id = p.enterprise_id AND d.number_e164 = c.remote_e164
                             AND strpos(lower(k.name), lower(@q)) > 0))
        """;

    /// <summary>One offset page of the calls matching <paramref name="filter"/> sorted by <paramref name="orderBy"/>
    /// (start time by default), largest first unless <paramref name="oldestFirst"/>.</summary>
    /// <param name="filter">Filters.</param>
    /// <param name="page">1-based page number.</param>
    /// <param name="pageSize">Rows per page (1–1000).</param>
    /// <param name="ct">Cancellation.</param>
    /// <param name="oldestFirst">Sort ascending instead of descending.</param>
    /// <param name="orderBy">The column to sort by (start time by default).</param>
    public async Task<CallPage> ListAsync(CallFilter filter, int page, int pageSize, CancellationToken ct, bool oldestFirst = false, CallSortColumn orderBy = CallSortColumn.StartedAt)
    {
        const string select = "SELECT " + Columns + ", count(*) OVER ()" + From + Where;
        const string paging = " LIMIT @limit OFFSET @offset";
        await using var cmd = db.CreateCommand(select + OrderClause(orderBy, oldestFirst) + paging);
        AddFilter(cmd, filter);
        cmd.Parameters.AddWithValue("limit", pageSize);
        cmd.Parameters.AddWithValue("offset", (long)(page - 1) * pageSize);
        var items = new List<StoredCall>();
        long total = 0;
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(ReadCall(reader));
            total = reader.GetInt64(ColumnCount);
        }

        if (items.Count == 0 && page > 1)
        {
            total = await CountAsync(filter, ct);
        }

        return new CallPage(items, total, page, pageSize);
    }

    /// <summary>Every call matching <paramref name="filter"/>, newest first (or oldest first), read as a stream (for
    /// exports: no paging, constant memory).</summary>
    public IAsyncEnumerable<StoredCall> StreamAsync(CallFilter filter, CancellationToken ct, bool oldestFirst = false)
        => StreamAsync(filter, oldestFirst ? CallOrder.StartedAsc : CallOrder.StartedDesc, ct);

    /// <summary>Every call matching <paramref name="filter"/> in <paramref name="order"/>, read as a stream.</summary>
    public async IAsyncEnumerable<StoredCall> StreamAsync(
        CallFilter filter, CallOrder order, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var sql = "SELECT " + Columns + From + Where + (order switch
        {
            CallOrder.StartedAsc => Oldest,
            CallOrder.Written => " AND c.written_xid < pg_snapshot_xmin(pg_current_snapshot())" + ByWrite,
            _ => Newest,
        });
        await using var cmd = db.CreateCommand(sql);
        AddFilter(cmd, filter);
        await using var reader = await cmd.ExecuteReaderAsync(System.Data.CommandBehavior.SequentialAccess, ct);
        while (await reader.ReadAsync(ct))
        {
            yield return ReadCall(reader);
        }
    }

    private const string ByWrite = " ORDER BY c.written_xid, c.id";

    /// <summary>
    /// One keyset page: up to <paramref name="pageSize"/> calls matching <paramref name="filter"/> that come after
    /// <paramref name="after"/> (null = from the start) in <paramref name="order"/>. Calls inserted between pages never
    /// shift a page (nothing is skipped or repeated), unlike offset paging; in <see cref="CallOrder.Written"/> a call
    /// whose transaction is still running when a page is read comes on a later page.
    /// </summary>
    public async Task<CallSlice> ListAfterAsync(CallFilter filter, CallOrder order, CallKey? after, int pageSize, CancellationToken ct)
    {
        var keyset = after is null ? "" : order switch
        {
            CallOrder.StartedDesc => " AND (c.started_at, c.id) < (@k_time, @k_id)",
            CallOrder.StartedAsc => " AND (c.started_at, c.id) > (@k_time, @k_id)",
            _ => " AND (c.written_xid, c.id) > (@k_xid::text::xid8, @k_id)",
        };
        var horizon = order == CallOrder.Written ? " AND c.written_xid < h.x" : "";
        var sort = order switch { CallOrder.StartedAsc => Oldest, CallOrder.Written => ByWrite, _ => Newest };
        // The horizon is read in the same statement as the rows (one snapshot), and a row comes back even for an empty page.
        var sql = "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x) SELECT r.*, h.x::text FROM h LEFT JOIN LATERAL (SELECT "
                  + Columns + From + Where + keyset + horizon + sort + " LIMIT @limit) r ON true;"
                  + "SELECT count(*)" + From + Where;
        await using var cmd = db.CreateCommand(sql);
        AddFilter(cmd, filter);
        cmd.Parameters.AddWithValue("limit", pageSize);
        if (after is not null)
        {
            cmd.Parameters.AddWithValue("k_time", DateTimeOffset.UnixEpoch.AddTicks(after.Key * 10).UtcDateTime);
            cmd.Parameters.AddWithValue("k_xid", after.Key.ToString(System.Globalization.CultureInfo.InvariantCulture));
            cmd.Parameters.AddWithValue("k_id", after.Id);
        }

        var items = new List<StoredCall>();
        long x = 0;
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            x = long.Parse(reader.GetString(ColumnCount), System.Globalization.CultureInfo.InvariantCulture);
            if (!reader.IsDBNull(0))
            {
                items.Add(ReadCall(reader));
            }
        }

        await reader.NextResultAsync(ct);
        await reader.ReadAsync(ct);
        var total = reader.GetInt64(0);
        CallKey? next = items.Count == pageSize ? CallKey.Of(items[^1], order) : null;
        if (next is null && order == CallOrder.Written)
        {
            // everything below the horizon was handed out: the next poll starts at the horizon (never behind the cursor)
            next = after is not null && after.Key >= x ? after : new CallKey(order, x, 0);
        }

        return new CallSlice(items, total, next);
    }

    /// <summary>How many calls match <paramref name="filter"/>.</summary>
    public async Task<long> CountAsync(CallFilter filter, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT count(*)" + From + Where);
        AddFilter(cmd, filter);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Counts by direction and status of the calls matching <paramref name="filter"/>.</summary>
    public async Task<IReadOnlyList<CallCount>> SummaryAsync(CallFilter filter, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            "SELECT c.direction, c.status, count(*)" + From + Where + " GROUP BY 1, 2 ORDER BY 1, 2");
        AddFilter(cmd, filter);
        var rows = new List<CallCount>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            rows.Add(new CallCount(reader.GetString(0), reader.GetString(1), reader.GetInt64(2)));
        }

        return rows;
    }

    /// <summary>
    /// One call with its participants, events (with raw frames) and SMS, or null when there is no such id — or it belongs
    /// to another enterprise than <paramref name="enterpriseId"/> (null = any enterprise).
    /// </summary>
    public async Task<CallDetail?> GetAsync(long id, CancellationToken ct, long? enterpriseId = null)
    {
        const string visible = " EXISTS (SELECT 1 FROM ct.calls v JOIN ct.pbxes vp ON vp.id = v.pbx" +
                               " WHERE v.id = @id AND (@enterprise::bigint IS NULL OR vp.enterprise_id = @enterprise))\n";
        const string sql = "SELECT " + Columns + From + "WHERE c.id = @id AND (@enterprise::bigint IS NULL OR p.enterprise_id = @enterprise);" + """
            SELECT endpoint, role, rang_at, answered_at, ended_at, outcome
              FROM ct.call_participants WHERE call_id = @id AND
            """ + visible + """
             ORDER BY ordinal;
            SELECT e.at, e.kind, e.endpoint, e.detail, e.session, e.seq, f.text
              FROM ct.call_events e
              JOIN ct.calls c ON c.id = e.call_id
              LEFT JOIN ct.frames f ON f.pbx = c.pbx AND f.session = e.session AND f.seq = e.seq
             WHERE e.call_id = @id AND
            """ + visible + """
             ORDER BY e.ordinal;
            SELECT s.id, s.to_number, s.text, s.status, s.attempts, s.last_error, s.origin_rule_id, s.origin_user, s.created_at, s.sent_at
              FROM ct.sms_out s JOIN ct.calls c ON c.id = s.call_id JOIN ct.pbxes p ON p.id = c.pbx
             WHERE s.call_id = @id AND s.enterprise_id = p.enterprise_id AND
            """ + visible + """
             ORDER BY s.id;
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.Add(new NpgsqlParameter("enterprise", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)enterpriseId ?? DBNull.Value });
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

        await reader.NextResultAsync(ct);
        var sms = new List<CallSms>();
        while (await reader.ReadAsync(ct))
        {
            sms.Add(new CallSms(
                reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt32(4), Text(reader, 5),
                reader.IsDBNull(6) ? null : reader.GetInt64(6), Text(reader, 7), Time(reader, 8)!.Value, Time(reader, 9)));
        }

        var call = stored.Call with { Participants = legs, Events = events.Select(e => e.Event).ToList() };
        return new CallDetail(id, call, events, stored.ContactName, sms, stored with { Call = call });
    }

    /// <summary>The calls of <paramref name="pbx"/> with these keys as a listing shows them (id, contact name, remote number,
    /// stored time), read inside the caller's transaction (the live events' <c>call.completed</c>, right after the upsert).</summary>
    public static async Task<List<StoredCall>> ByKeysAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, IReadOnlyList<string> keys, CancellationToken ct)
    {
        const string sql = "SELECT " + Columns + From + "WHERE c.pbx = @pbx AND c.call_key = ANY(@keys)";
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("pbx", pbx);
        cmd.Parameters.AddWithValue("keys", keys.ToArray());
        var calls = new List<StoredCall>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            calls.Add(ReadCall(reader));
        }

        return calls;
    }

    /// <summary>One of a fixed set of ORDER BY clauses (never built from input).</summary>
    private static string OrderClause(CallSortColumn orderBy, bool ascending)
    {
        if (orderBy == CallSortColumn.StartedAt)
        {
            return ascending ? Oldest : Newest;
        }

        var column = orderBy switch
        {
            CallSortColumn.RingSeconds => "c.ring_seconds",
            CallSortColumn.TalkSeconds => "c.talk_seconds",
            CallSortColumn.Caller => "c.caller",
            CallSortColumn.Called => "c.called",
            CallSortColumn.Status => "c.status",
            CallSortColumn.Direction => "c.direction",
            _ => throw new ArgumentOutOfRangeException(nameof(orderBy), orderBy, "unknown call order"),
        };
        return " ORDER BY " + column + (ascending ? " ASC NULLS LAST" : " DESC NULLS LAST") + ", c.started_at DESC, c.id DESC";
    }

    private static void AddFilter(NpgsqlCommand cmd, CallFilter f)
    {
        cmd.Parameters.Add(new NpgsqlParameter("enterprise", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)f.EnterpriseId ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("q_e164", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)f.QueryE164 ?? DBNull.Value });
        cmd.Parameters.AddWithValue("pbx", (object?)f.Pbx ?? DBNull.Value);
        cmd.Parameters.AddWithValue("direction", (object?)f.Direction ?? DBNull.Value);
        cmd.Parameters.AddWithValue("status", (object?)f.Status ?? DBNull.Value);
        cmd.Parameters.AddWithValue("ext", (object?)f.Extension ?? DBNull.Value);
        cmd.Parameters.AddWithValue("from", f.From is { } from ? from.UtcDateTime : DBNull.Value);
        cmd.Parameters.AddWithValue("to", f.To is { } to ? to.UtcDateTime : DBNull.Value);
        cmd.Parameters.AddWithValue("q", (object?)f.Query ?? DBNull.Value);
        cmd.Parameters.AddWithValue("updated_since", f.UpdatedSince is { } since ? since.UtcDateTime : DBNull.Value);
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
    }, Text(r, 19), Text(r, 20), Time(r, 21), long.Parse(r.GetString(22), System.Globalization.CultureInfo.InvariantCulture));

    private static string? Text(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static DateTimeOffset? Time(NpgsqlDataReader r, int i)
        => r.IsDBNull(i) ? null : new DateTimeOffset(DateTime.SpecifyKind(r.GetDateTime(i), DateTimeKind.Utc));
}
