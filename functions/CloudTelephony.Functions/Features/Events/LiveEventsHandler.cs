using System.Text.Json;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;
using CloudTelephony.Telephony.Routing;

namespace CloudTelephony.Functions.Events;

/// <summary>
/// The second call-change handler (after the SMS rules): inside the ingest transaction it keeps the calls in progress
/// (<c>ct.live_calls</c>) and writes the CloudEvents of the changes into the outbox <c>ct.call_events_out</c>. A batch
/// that rolls back writes nothing; a replayed batch emits no change (the engine's watermarks), and an event id already
/// written is skipped (ON CONFLICT), so nothing goes out twice. The rows created go to <see cref="EventDispatcher"/>
/// after the commit. Archive restores (history) make no events.
/// </summary>
public sealed class LiveEventsHandler(EventOptions options) : ICallChangeHandler
{
    /// <summary>The outbox name (<see cref="CallChangeContext.Created"/>).</summary>
    public const string Outbox = "call-events";

    /// <inheritdoc />
    public async Task HandleAsync(CallChangeContext context, CancellationToken ct)
    {
        if (!options.Enabled || context.Origin is CorrelationOrigin.Restore or CorrelationOrigin.Import || context.Changes.Count == 0)
        {
            return;
        }

        var conn = context.Connection;
        var tx = context.Transaction;
        if (await EventStore.EnterpriseOfAsync(conn, tx, context.Pbx, ct) is not { } enterprise)
        {
            return;
        }

        var keys = context.Changes.Select(c => c.CallKey).Distinct(StringComparer.Ordinal).ToList();
        var live = new Dictionary<string, LiveCall>(StringComparer.Ordinal);
        foreach (var (key, state) in await EventStore.LiveCallsAsync(conn, tx, context.Pbx, keys, ct))
        {
            live[key] = JsonSerializer.Deserialize(state, EventJson.Default.LiveCall)!;
        }

        // caller names of calls that ring now and have none yet: one query for the batch
        var numbers = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var c in context.Changes)
        {
            if (c.Kind is Telephony.Streams.CallChangeKind.Ringing or Telephony.Streams.CallChangeKind.Opened
                && (live.TryGetValue(c.CallKey, out var known) ? known.Caller ?? c.Caller : c.Caller) is { } caller && !numbers.ContainsKey(caller))
            {
                numbers[caller] = PhoneNormalizer.ToE164(caller, enterprise.Region);
            }
        }

        var names = await EventStore.ContactNamesAsync(conn, tx, enterprise.Id, numbers.Values.OfType<string>().Distinct().ToList(), ct);
        var stored = context.Completed.Count == 0
            ? []
            : (await CallQueries.ByKeysAsync(conn, tx, context.Pbx, context.Completed.Select(c => c.CallKey).Distinct().ToList(), ct))
                .ToDictionary(s => s.Call.CallKey, StringComparer.Ordinal);
        var gone = new HashSet<string>(StringComparer.Ordinal);
        var touched = new HashSet<string>(keys, StringComparer.Ordinal);
        var events = CallEventBuilder.Apply(context.Changes, enterprise, live, gone,
            caller => caller is not null && numbers.GetValueOrDefault(caller) is { } e164 ? names.GetValueOrDefault(e164) : null,
            call => stored.TryGetValue(call.CallKey, out var s) ? CallDto.From(s) : CallDto.From(new StoredCall(0, call)));

        foreach (var id in await EventStore.InsertAsync(conn, tx, events.Select(e => e.Row).ToList(), ct))
        {
            context.Created(Outbox, id);
        }

        var upserts = live.Values.Where(l => touched.Contains(l.CallKey))
            .Select(l => new LiveCallRow(l.Pbx, l.CallKey, JsonSerializer.Serialize(l, EventJson.Default.LiveCall), l.StartedAt, l.EndedAt))
            .ToList();
        await EventStore.SaveLiveCallsAsync(conn, tx, context.Pbx, upserts, [.. gone], ct);
    }
}
