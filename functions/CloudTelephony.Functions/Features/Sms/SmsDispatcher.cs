using CloudTelephony.Functions.Hosting;
using Npgsql;
using Polly;
using Polly.Retry;

namespace CloudTelephony.Functions.Sms;

/// <summary>How one dispatch ended.</summary>
public enum DispatchOutcome
{
    /// <summary>Not claimed: unknown id, already SENDING/SENT/ERROR, not due yet, or another dispatcher holds it.</summary>
    NotClaimed,

    /// <summary>The provider accepted it: SENT.</summary>
    Sent,

    /// <summary>Transient failure: back to NEW, due again after the backoff.</summary>
    Retry,

    /// <summary>Permanent failure, or transient failures up to <see cref="SmsOptions.MaxAttempts"/>: ERROR.</summary>
    Failed,
}

/// <summary>Counts of one sweep.</summary>
/// <param name="Due">Due NEW rows found.</param>
/// <param name="Sent">Of which were sent.</param>
/// <param name="Retry">Of which go back to NEW for a later attempt.</param>
/// <param name="Failed">Of which ended in ERROR.</param>
/// <param name="Stuck">SENDING rows older than <see cref="SmsOptions.StuckMinutes"/>, reported and set to ERROR.</param>
public sealed record SmsSweepResult(int Due, int Sent, int Retry, int Failed, int Stuck);

/// <summary>
/// Sends queued SMS (<c>ct.sms_out</c>). <see cref="DispatchAsync"/> claims the row in a short transaction of its own
/// (NEW and due → SENDING, <c>FOR UPDATE SKIP LOCKED</c>), so two dispatchers racing for one id send it once: the loser
/// finds the row locked or no longer NEW. The provider is called outside any transaction, with immediate Polly retries on
/// transient failures; the row then ends SENT, back to NEW with a backoff (transient, attempts left) or ERROR.
/// A process that dies between claim and result leaves the row SENDING: the sweep reports it and sets ERROR
/// (code <c>stuck</c>) instead of sending again, because the provider may have accepted it (no duplicate SMS).
/// </summary>
public sealed class SmsDispatcher(NpgsqlDataSource db, ISmsProvider provider, SmsOptions options, TimeProvider clock, ILogger<SmsDispatcher> logger)
{
    /// <summary>Claims and sends one SMS.</summary>
    /// <exception cref="NpgsqlException">The database failed (the row is unchanged if the claim failed, or stays SENDING
    /// if the result could not be stored: the sweep reports it).</exception>
    public async Task<DispatchOutcome> DispatchAsync(long id, CancellationToken ct)
    {
        var claimed = await ClaimAsync(id, ct);
        if (claimed is not { } row)
        {
            logger.LogDebug("sms {Id} not claimed (not due, not NEW, or taken by another dispatcher)", id);
            return DispatchOutcome.NotClaimed;
        }

        var budget = Math.Min(1 + Math.Max(0, options.RetriesPerDispatch), options.MaxAttempts - row.Attempts);
        var calls = 0;
        SmsSendResult result;
        if (budget <= 0)
        {
            result = SmsSendResult.Permanent("max-attempts", $"no attempts left ({row.Attempts} of {options.MaxAttempts} made)");
        }
        else
        {
            var message = new SmsMessage(id, row.To, row.Text);
            result = await RetryPipeline(budget).ExecuteAsync(async token =>
            {
                calls++;
                var r = await provider.SendAsync(message, token);
                if (r.Kind == SmsSendKind.Transient && calls < budget)
                {
                    logger.LogInformation("sms {Id}: transient failure {Code} ({Reason}); retrying", id, r.Code, r.Reason);
                }

                return r;
            }, ct);
        }

        var attempts = row.Attempts + calls;
        var now = clock.GetUtcNow();
        switch (result.Kind)
        {
            case SmsSendKind.Sent:
                await FinishAsync(id, "SENT", attempts, now, result, ct);
                AppTelemetry.SmsFinished(sent: true, provider.Name);
                logger.LogInformation("sms {Id} sent via {Provider} as {MessageId} after {Attempts} attempt(s)", id, provider.Name, result.MessageId, attempts);
                return DispatchOutcome.Sent;
            case SmsSendKind.Transient when attempts < options.MaxAttempts:
                var rounds = Math.Max(0, (attempts - 1) / Math.Max(1, 1 + options.RetriesPerDispatch));
                var delay = Math.Min(options.MaxBackoffSeconds, options.BackoffSeconds * Math.Pow(2, rounds));
                await FinishAsync(id, "NEW", attempts, now.AddSeconds(delay), result, ct);
                logger.LogWarning("sms {Id}: {Code} ({Reason}); attempt {Attempts} of {Max}, next in {Delay:F0} s",
                    id, result.Code, result.Reason, attempts, options.MaxAttempts, delay);
                return DispatchOutcome.Retry;
            default:
                await FinishAsync(id, "ERROR", attempts, now, result, ct);
                AppTelemetry.SmsFinished(sent: false, provider.Name);
                logger.LogWarning("sms {Id} failed for good after {Attempts} attempt(s): {Code} {Reason}", id, attempts, result.Code, result.Reason);
                return DispatchOutcome.Failed;
        }
    }

    /// <summary>
    /// Reports SENDING rows older than <see cref="SmsOptions.StuckMinutes"/> (set to ERROR, code <c>stuck</c>), then
    /// dispatches up to <see cref="SmsOptions.SweepBatch"/> due NEW rows (never dispatched because the queue message was
    /// lost, or waiting for a retry, or for the end of night hours), two at a time.
    /// </summary>
    /// <exception cref="NpgsqlException">The database failed.</exception>
    public async Task<SmsSweepResult> SweepAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        const string stuckSql = """
            UPDATE ct.sms_out
               SET status = 'ERROR', provider_code = 'stuck',
                   last_error = 'SENDING since ' || to_char(sending_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                                || ': the dispatcher stopped mid-send; outcome unknown, not retried to avoid a duplicate SMS'
             WHERE status = 'SENDING' AND sending_at < @before
            RETURNING id
            """;
        var stuck = new List<long>();
        await using (var cmd = db.CreateCommand(stuckSql))
        {
            cmd.Parameters.AddWithValue("before", now.AddMinutes(-options.StuckMinutes));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                stuck.Add(reader.GetInt64(0));
            }
        }

        foreach (var id in stuck)
        {
            logger.LogWarning("sms {Id} was SENDING for more than {Minutes} min: set to ERROR (stuck, outcome unknown)", id, options.StuckMinutes);
        }

        const string dueSql = "SELECT id FROM ct.sms_out WHERE status = 'NEW' AND next_attempt_at <= @now ORDER BY next_attempt_at, id LIMIT @limit";
        var due = new List<long>();
        await using (var cmd = db.CreateCommand(dueSql))
        {
            cmd.Parameters.AddWithValue("now", now);
            cmd.Parameters.AddWithValue("limit", options.SweepBatch);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                due.Add(reader.GetInt64(0));
            }
        }

        int sent = 0, retry = 0, failed = 0;
        await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = 2, CancellationToken = ct }, async (id, token) =>
        {
            switch (await DispatchAsync(id, token))
            {
                case DispatchOutcome.Sent: Interlocked.Increment(ref sent); break;
                case DispatchOutcome.Retry: Interlocked.Increment(ref retry); break;
                case DispatchOutcome.Failed: Interlocked.Increment(ref failed); break;
            }
        });

        return new SmsSweepResult(due.Count, sent, retry, failed, stuck.Count);
    }

    /// <summary>Immediate retries of transient failures within one dispatch: <paramref name="calls"/> provider requests at most.</summary>
    private ResiliencePipeline<SmsSendResult> RetryPipeline(int calls) => calls <= 1
        ? ResiliencePipeline<SmsSendResult>.Empty
        : new ResiliencePipelineBuilder<SmsSendResult>()
            .AddRetry(new RetryStrategyOptions<SmsSendResult>
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result?.Kind == SmsSendKind.Transient),
                MaxRetryAttempts = calls - 1,
                Delay = TimeSpan.FromSeconds(options.RetryDelaySeconds),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
            })
            .Build();

    private async Task<(string To, string Text, int Attempts)?> ClaimAsync(long id, CancellationToken ct)
    {
        const string sql = """
            UPDATE ct.sms_out SET status = 'SENDING', sending_at = @now
             WHERE id = (SELECT id FROM ct.sms_out
                          WHERE id = @id AND status = 'NEW' AND next_attempt_at <= @now
                          FOR UPDATE SKIP LOCKED)
            RETURNING to_number, text, attempts
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("now", clock.GetUtcNow());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.GetString(0), reader.GetString(1), reader.GetInt32(2)) : null;
    }

    private async Task FinishAsync(long id, string status, int attempts, DateTimeOffset at, SmsSendResult result, CancellationToken ct)
    {
        const string sql = """
            UPDATE ct.sms_out
               SET status = @status, attempts = @attempts, provider = @provider, provider_code = @code, last_error = @error,
                   provider_message_id = CASE WHEN @status = 'SENT' THEN @message_id ELSE provider_message_id END,
                   sent_at = CASE WHEN @status = 'SENT' THEN @at ELSE sent_at END,
                   next_attempt_at = CASE WHEN @status = 'NEW' THEN @at ELSE next_attempt_at END
             WHERE id = @id AND status = 'SENDING'
            """;
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("status", status);
        cmd.Parameters.AddWithValue("attempts", attempts);
        cmd.Parameters.AddWithValue("provider", provider.Name);
        cmd.Parameters.AddWithValue("code", (object?)result.Code ?? DBNull.Value);
        cmd.Parameters.AddWithValue("error", (object?)result.Reason ?? DBNull.Value);
        cmd.Parameters.AddWithValue("message_id", (object?)result.MessageId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("at", at);
        // Not cancelled with the caller: the provider has answered, the outcome must be stored.
        await cmd.ExecuteNonQueryAsync(CancellationToken.None);
    }
}
