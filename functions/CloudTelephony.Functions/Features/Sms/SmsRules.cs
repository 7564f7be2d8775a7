using CloudTelephony.Functions.Ingest;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;
using Npgsql;

namespace CloudTelephony.Functions.Sms;

/// <summary>
/// Turns stored calls into SMS for the enterprise's rules (<c>ct.sms_rules</c>), inside the transaction that stores the
/// calls, so a call and the SMS it triggers are committed together or not at all.
/// <para>A rule matches an <b>inbound</b> call whose caller is known when</para>
/// <list type="bullet">
/// <item>the call <b>landed</b> on the rule's extension: the extension rang during the call (it is in
/// <see cref="Call.Extensions"/>, which includes the extension that answered) — for CTIP this is how the Slican collector's
/// <c>ivr_map</c> inferred the IVR choice, from where the IVR routed the call; or</item>
/// <item>the caller's IVR digits (<see cref="Call.IvrDigits"/>, AMI) start with the rule's digits (<c>2</c> matches
/// <c>2</c> and <c>21</c>);</item>
/// <item>and <c>only_if</c> holds: <c>answered</c> = status answered; <c>missed</c> = status missed, busy or voicemail
/// (nobody took the call); <c>any</c> = every status.</item>
/// </list>
/// <para>The SMS goes to the caller only when the caller's number is a mobile number (libphonenumber type MOBILE or
/// FIXED_LINE_OR_MOBILE, national numbers read in the enterprise's default region); at most once per (rule, call) (unique key,
/// so ingesting the same frames again adds nothing); not when the same rule already texted the same number for a call
/// that ended within <c>quiet_seconds</c> of this one; and, inside the enterprise's night hours, the row is created NEW
/// but due at the end of the night. Calls older than <see cref="SmsOptions.RuleMaxAgeMinutes"/> are ignored.</para>
/// <para>It is the first <see cref="ICallChangeHandler"/> of the correlate-and-store path (SQL in
/// <see cref="SmsRuleStore"/>): its rows are handed to the dispatcher after the commit through <see cref="SmsQueue"/>.</para>
/// </summary>
public sealed class SmsRules(SmsOptions options, TimeProvider clock, ILogger<SmsRules> logger) : ICallChangeHandler
{
    /// <summary>The outbox the rule hits are written to (<c>ct.sms_out</c>), for <see cref="IOutboxHandOff"/>.</summary>
    public const string Outbox = "sms";

    /// <summary>Applies the rules to the calls the transaction completed; restores (history) are left alone.</summary>
    public async Task HandleAsync(CallChangeContext context, CancellationToken ct)
    {
        if (context.Origin == CorrelationOrigin.Restore || context.Completed.Count == 0)
        {
            return;
        }

        foreach (var id in await ApplyAsync(context.Connection, context.Transaction, context.Pbx, context.Completed, ct))
        {
            context.Created(Outbox, id);
        }
    }

    /// <summary>Evaluates the rules of <paramref name="pbx"/>'s enterprise for calls just upserted in <paramref name="tx"/>.</summary>
    /// <returns>Ids of the SMS rows created (to dispatch once the transaction has committed).</returns>
    /// <exception cref="NpgsqlException">The database failed (the caller's transaction fails with it).</exception>
    public async Task<IReadOnlyList<long>> ApplyAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, IReadOnlyList<Call> calls, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var candidates = calls
            .Where(c => c.Direction == CallDirection.Inbound && !string.IsNullOrEmpty(c.Caller) && c.Pbx == pbx)
            .Where(c => options.RuleMaxAgeMinutes <= 0 || now - c.EndedAt <= TimeSpan.FromMinutes(options.RuleMaxAgeMinutes))
            .GroupBy(c => c.CallKey).Select(g => g.Last())
            .OrderBy(c => c.EndedAt).ThenBy(c => c.CallKey, StringComparer.Ordinal)
            .ToList();
        if (candidates.Count == 0)
        {
            return [];
        }

        var rules = await SmsRuleStore.RulesAsync(conn, tx, pbx, ct);
        if (rules.Count == 0)
        {
            return [];
        }

        var hits = new List<(Call Call, SmsRule Rule, string To)>();
        foreach (var call in candidates)
        {
            foreach (var rule in rules.Where(r => Matches(r, call)))
            {
                if (SmsNumbers.Normalize(call.Caller, rule.Region) is not { } number)
                {
                    logger.LogDebug("rule {Rule}: caller {Caller} of call {Key} is not a valid number", rule.Id, call.Caller, call.CallKey);
                }
                else if (!number.Mobile)
                {
                    logger.LogDebug("rule {Rule}: caller {Caller} of call {Key} is not a mobile number", rule.Id, number.E164, call.CallKey);
                }
                else
                {
                    hits.Add((call, rule, number.E164));
                }
            }
        }

        if (hits.Count == 0)
        {
            return [];
        }

        var callIds = await SmsRuleStore.CallIdsAsync(conn, tx, pbx, hits.Select(h => h.Call.CallKey).Distinct().ToArray(), ct);
        await SmsRuleStore.LockRulesAsync(conn, tx, hits.Select(h => h.Rule.Id), ct);
        var created = new List<long>();
        foreach (var (call, rule, to) in hits)
        {
            var dueAt = NightHours.NotBefore(now, rule.NightStart, rule.NightEnd, rule.TimeZone);
            if (await SmsRuleStore.InsertHitAsync(conn, tx, rule, callIds[call.CallKey], to, call.EndedAt, dueAt, ct) is { } id)
            {
                created.Add(id);
                logger.LogInformation("rule {Rule} fired for call {Key} of {Pbx}: sms {Id} to {To}, due {Due:O}", rule.Id, call.CallKey, pbx, id, to, dueAt);
            }
        }

        return created;
    }

    private static bool Matches(SmsRule rule, Call call)
    {
        var when = rule.OnlyIf switch
        {
            "answered" => call.Status == CallStatus.Answered,
            "missed" => call.Status is CallStatus.Missed or CallStatus.Busy or CallStatus.Voicemail,
            _ => true,
        };
        var lands = rule.LandingExt is { } ext
            ? call.Extensions.Contains(ext, StringComparer.Ordinal)
            : rule.IvrDigits is { } digits && call.IvrDigits is { } pressed && pressed.StartsWith(digits, StringComparison.Ordinal);
        return when && lands;
    }
}

/// <summary>The enterprise's night hours: a local-time window (may wrap midnight) in which rule SMS wait.</summary>
public static class NightHours
{
    /// <summary>
    /// When an SMS created at <paramref name="now"/> may be sent: <paramref name="now"/> outside the night, else the
    /// night's end (local <paramref name="end"/> in <paramref name="timeZone"/>, as UTC).
    /// </summary>
    public static DateTimeOffset NotBefore(DateTimeOffset now, TimeOnly? start, TimeOnly? end, string timeZone)
    {
        if (start is not { } s || end is not { } e || s == e)
        {
            return now;
        }

        var zone = TimeZoneInfo.TryFindSystemTimeZoneById(timeZone, out var z) ? z : TimeZoneInfo.Utc;
        var local = TimeZoneInfo.ConvertTime(now, zone);
        var t = TimeOnly.FromDateTime(local.DateTime);
        var wraps = s > e;
        var night = wraps ? t >= s || t < e : t >= s && t < e;
        if (!night)
        {
            return now;
        }

        var day = DateOnly.FromDateTime(local.DateTime);
        if (wraps && t >= s)
        {
            day = day.AddDays(1); // evening part: the night ends tomorrow morning
        }

        var morning = day.ToDateTime(e);
        if (zone.IsInvalidTime(morning))
        {
            morning = morning.AddHours(1); // the clock jumps over the end of the night (DST): take the next valid hour
        }

        return new DateTimeOffset(morning, zone.GetUtcOffset(morning)).ToUniversalTime();
    }
}
