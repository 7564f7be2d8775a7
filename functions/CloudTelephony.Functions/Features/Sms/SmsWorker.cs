using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Outbox;
using Npgsql;

namespace CloudTelephony.Functions.Sms;

/// <summary>The SMS outbox (<c>ct.sms_out</c>) as an <see cref="IOutboxDispatcher"/>: one id per dispatch
/// (<see cref="SmsDispatcher.DispatchAsync"/> claims the row), the sweep sends what is due and reports stuck rows.</summary>
public sealed class SmsOutbox(SmsDispatcher dispatcher, ILogger<SmsOutbox> logger) : IOutboxDispatcher
{
    /// <inheritdoc />
    public string Outbox => SmsRules.Outbox;

    /// <inheritdoc />
    public async Task DispatchAsync(IReadOnlyList<long> ids, CancellationToken ct)
    {
        foreach (var id in ids)
        {
            try
            {
                await dispatcher.DispatchAsync(id, ct);
            }
            catch (NpgsqlException ex)
            {
                logger.LogWarning(LogEvents.SmsDispatchFailed, "sms {Id}: dispatch failed ({Error}); the sweep will send it", id, ex.Message);
            }
        }
    }

    /// <inheritdoc />
    public async Task SweepAsync(CancellationToken ct)
    {
        var r = await dispatcher.SweepAsync(ct);
        if (r.Due + r.Stuck > 0)
        {
            logger.LogInformation("sms sweep: {Due} due, {Sent} sent, {Retry} to retry, {Failed} failed, {Stuck} stuck", r.Due, r.Sent, r.Retry, r.Failed, r.Stuck);
        }
    }
}

/// <summary>
/// The SMS outbox's <see cref="OutboxPump"/>: new SMS ids are handed to it right after their row is committed and sent
/// two at a time; standalone it also runs the sweep on <see cref="SmsOptions.SweepCron"/> (the <c>SmsSweep</c> timer
/// function does that under the Functions host).
/// </summary>
public sealed class SmsQueue(SmsOutbox outbox, OutboxPumpOptions options, TimeProvider clock, ILogger<OutboxPump> logger)
    : OutboxPump(outbox, options, clock, logger);
