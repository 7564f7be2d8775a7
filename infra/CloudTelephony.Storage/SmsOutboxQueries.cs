using Npgsql;

namespace CloudTelephony.Storage;

/// <summary>One row of the SMS outbox (<c>ct.sms_out</c>) as the web app lists it. Times UTC.</summary>
/// <param name="Id">The sms id.</param>
/// <param name="To">Recipient, E.164.</param>
/// <param name="Text">Message text.</param>
/// <param name="Status"><c>NEW</c>, <c>SENDING</c>, <c>SENT</c> or <c>ERROR</c>.</param>
/// <param name="Attempts">Provider requests made.</param>
/// <param name="NextAttemptAt">When a NEW row is due.</param>
/// <param name="LastError">Reason of the last failure, or null.</param>
/// <param name="Provider">Provider of the last attempt.</param>
/// <param name="ProviderCode">The provider's error code of the last failure.</param>
/// <param name="ProviderMessageId">The provider's id once SENT.</param>
/// <param name="OriginRuleId">The SMS rule that created it, or null.</param>
/// <param name="OriginUser">The API user (X-User-Id) that created it, or null.</param>
/// <param name="CallId">The call it is about, or null.</param>
/// <param name="CreatedAt">When it was queued.</param>
/// <param name="SentAt">When the provider accepted it.</param>
public sealed record SmsOutboxRow(
    long Id,
    string To,
    string Text,
    string Status,
    int Attempts,
    DateTimeOffset NextAttemptAt,
    string? LastError,
    string? Provider,
    string? ProviderCode,
    string? ProviderMessageId,
    long? OriginRuleId,
    string? OriginUser,
    long? CallId,
    DateTimeOffset CreatedAt,
    DateTimeOffset? SentAt);

/// <summary>A page of the outbox with the total and the counts of every status (for the whole enterprise).</summary>
/// <param name="Items">The rows, newest first.</param>
/// <param name="Total">Rows matching the filter.</param>
/// <param name="Page">1-based page.</param>
/// <param name="PageSize">Rows per page.</param>
/// <param name="ByStatus">Rows per status over the enterprise's whole outbox (filter ignored).</param>
public sealed record SmsOutboxPage(IReadOnlyList<SmsOutboxRow> Items, long Total, int Page, int PageSize, IReadOnlyDictionary<string, long> ByStatus);

/// <summary>What a retry request did.</summary>
public enum SmsRetryOutcome
{
    /// <summary>No such SMS in the enterprise.</summary>
    NotFound,

    /// <summary>The SMS is not in ERROR (only failed SMS are retried).</summary>
    NotFailed,

    /// <summary>Back to NEW, due now, with a fresh attempt budget.</summary>
    Requeued,
}

/// <summary>The SMS outbox for people: list with filters, retry of failed SMS. Every query is limited to one enterprise.</summary>
public sealed class SmsOutboxQueries(NpgsqlDataSource db)
{
    /// <summary>The statuses an outbox row can have.</summary>
    public static readonly IReadOnlyList<string> Statuses = ["NEW", "SENDING", "SENT", "ERROR"];

    /// <summary>One page of the enterprise's outbox, newest first.</summary>
    /// <param name="enterpriseId">The enterprise.</param>
    /// <param name="status">Only this status (one of <see cref="Statuses"/>), or null.</param>
    /// <param name="number">Only SMS to this E.164 number, or null.</param>
    /// <param name="page">1-based page.</param>
    /// <param name="pageSize">Rows per page (1–500).</param>
    /// <param name="ct">Cancellation.</param>
    /// <exception cref="NpgsqlException">The database failed.</exception>
    public async Task<SmsOutboxPage> ListAsync(long enterpriseId, string? status, string? number, int page, int pageSize, CancellationToken ct)
    {
        const string sql = """
            SELECT id, to_number, text, status, attempts, next_attempt_at, last_error, provider, provider_code, provider_message_id,
                   origin_rule_id, origin_user, call_id, created_at, sent_at
              FROM ct.sms_out
             WHERE enterprise_id = @e AND (@status::text IS NULL OR status = @status) AND (@to::text IS NULL OR to_number = @to)
             ORDER BY created_at DESC, id DESC
             LIMIT @limit OFFSET @offset;
            SELECT status, count(*) FROM ct.sms_out WHERE enterprise_id = @e GROUP BY status;
            SELECT count(*) FROM ct.sms_out
             WHERE enterprise_id = @e AND (@status::text IS NULL OR status = @status) AND (@to::text IS NULL OR to_number = @to);
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.Add(new NpgsqlParameter("status", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)status ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("to", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)number ?? DBNull.Value });
        cmd.Parameters.AddWithValue("limit", pageSize);
        cmd.Parameters.AddWithValue("offset", (long)(page - 1) * pageSize);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        var items = new List<SmsOutboxRow>();
        while (await r.ReadAsync(ct))
        {
            string? S(int i) => r.IsDBNull(i) ? null : r.GetString(i);
            long? L(int i) => r.IsDBNull(i) ? null : r.GetInt64(i);
            items.Add(new SmsOutboxRow(
                r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt32(4), Utc(r, 5), S(6), S(7), S(8), S(9), L(10), S(11), L(12),
                Utc(r, 13), r.IsDBNull(14) ? null : Utc(r, 14)));
        }

        await r.NextResultAsync(ct);
        var byStatus = Statuses.ToDictionary(s => s, _ => 0L);
        while (await r.ReadAsync(ct))
        {
            byStatus[r.GetString(0)] = r.GetInt64(1);
        }

        await r.NextResultAsync(ct);
        await r.ReadAsync(ct);
        return new SmsOutboxPage(items, r.GetInt64(0), page, pageSize, byStatus);
    }

    /// <summary>
    /// Puts a failed (ERROR) SMS back to NEW, due now, with its attempt count reset so the dispatcher has a full budget
    /// again; its last error stays for the record until the next attempt replaces it.
    /// </summary>
    /// <exception cref="NpgsqlException">The database failed.</exception>
    public async Task<SmsRetryOutcome> RetryAsync(long enterpriseId, long id, DateTimeOffset now, CancellationToken ct)
    {
        const string sql = """
            WITH target AS (SELECT id, status FROM ct.sms_out WHERE id = @id AND enterprise_id = @e FOR UPDATE),
                 moved AS (
                     UPDATE ct.sms_out s SET status = 'NEW', attempts = 0, next_attempt_at = @now, sending_at = NULL
                       FROM target WHERE s.id = target.id AND target.status = 'ERROR'
                     RETURNING s.id)
            SELECT (SELECT status FROM target), (SELECT count(*) FROM moved)
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("e", enterpriseId);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("now", now.UtcDateTime);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        if (r.IsDBNull(0))
        {
            return SmsRetryOutcome.NotFound;
        }

        return r.GetInt64(1) == 1 ? SmsRetryOutcome.Requeued : SmsRetryOutcome.NotFailed;
    }

    private static DateTimeOffset Utc(NpgsqlDataReader r, int i) => new(DateTime.SpecifyKind(r.GetDateTime(i), DateTimeKind.Utc));
}
