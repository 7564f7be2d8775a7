using System.Text.Json;
using CloudTelephony.Telephony;
using CloudTelephony.Telephony.Routing;
using Npgsql;
using NpgsqlTypes;

namespace CloudTelephony.Storage;

/// <summary>A frame to store with what parsing it said (null error = parsed).</summary>
/// <param name="Session">Relay session id.</param>
/// <param name="Seq">Frame number within the session.</param>
/// <param name="ReceivedAt">Relay receive time (UTC).</param>
/// <param name="Text">The frame verbatim.</param>
/// <param name="ParseError">Why it did not parse, or null.</param>
public readonly record struct StoredFrame(string Session, long Seq, DateTimeOffset ReceivedAt, string Text, string? ParseError);

/// <summary>
/// Writes one PBX's stream inside an ingest transaction: frames (idempotent on pbx, session, seq) and completed calls
/// with their legs and events (upsert on pbx, call_key); the correlation state is <see cref="StreamStore"/>'s.
/// Every method works in the caller's transaction; batches are single round trips with <c>unnest</c> arrays.
/// </summary>
public static class FrameStore
{
    /// <summary>Inserts frames of <paramref name="pbx"/>; a (pbx, session, seq) already stored is left as it is.</summary>
    /// <returns>How many frames were new.</returns>
    public static async Task<int> InsertFramesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, IReadOnlyList<StoredFrame> frames, CancellationToken ct)
        => (await InsertFramesCountingAsync(conn, tx, pbx, frames, ct)).Inserted;

    /// <summary>Inserts frames of <paramref name="pbx"/> like <see cref="InsertFramesAsync"/> and counts what was new.</summary>
    /// <returns>How many frames were new, and how many of those carry a parse error (a redelivered frame counts in neither).</returns>
    public static async Task<(int Inserted, int ParseErrors)> InsertFramesCountingAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, string pbx, IReadOnlyList<StoredFrame> frames, CancellationToken ct)
    {
        if (frames.Count == 0)
        {
            return (0, 0);
        }

        const string sql = """
            WITH inserted AS (
                INSERT INTO ct.frames (pbx, session, seq, received_at, text, parse_error)
                SELECT @pbx, f.session, f.seq, f.received_at, f.text, f.parse_error
                  FROM unnest(@session, @seq, @received_at, @text, @parse_error) AS f(session, seq, received_at, text, parse_error)
                ON CONFLICT (pbx, session, seq) DO NOTHING
                RETURNING parse_error)
            SELECT count(*)::int, count(parse_error)::int FROM inserted
            """;
        var n = frames.Count;
        var session = new string[n];
        var seq = new long[n];
        var at = new DateTime[n];
        var text = new string[n];
        var error = new string?[n];
        for (var i = 0; i < n; i++)
        {
            var f = frames[i];
            session[i] = f.Session;
            seq[i] = f.Seq;
            at[i] = f.ReceivedAt.UtcDateTime;
            text[i] = f.Text;
            error[i] = f.ParseError;
        }

        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("pbx", pbx);
        cmd.Parameters.AddWithValue("session", session);
        cmd.Parameters.AddWithValue("seq", seq);
        cmd.Parameters.Add(new NpgsqlParameter("received_at", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = at });
        cmd.Parameters.AddWithValue("text", text);
        cmd.Parameters.Add(new NpgsqlParameter("parse_error", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = error });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return (reader.GetInt32(0), reader.GetInt32(1));
    }

    /// <summary>
    /// Upserts completed calls on (pbx, call_key) and replaces their participants and events, in three statements
    /// whatever the number of calls.
    /// </summary>
    public static async Task UpsertCallsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyList<Call> calls, CancellationToken ct)
    {
        if (calls.Count == 0)
        {
            return;
        }

        // ON CONFLICT cannot touch one row twice in a statement: keep the last record of a key.
        calls = calls.GroupBy(c => (c.Pbx, c.CallKey)).Select(g => g.Last()).ToList();
        var ids = await UpsertCallRowsAsync(conn, tx, calls, ct);
        await ReplaceLegsAndEventsAsync(conn, tx, calls, ids, ct);
    }

    private static async Task<long[]> UpsertCallRowsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyList<Call> calls, CancellationToken ct)
    {
        const string sql = """
            INSERT INTO ct.calls (pbx, call_key, direction, status, missed_reason, caller, caller_name, called, answered_by, extensions,
                                  trunk, started_at, answered_at, ended_at, ring_seconds, talk_seconds, transfers, ivr_digits, remote_e164)
            SELECT c.pbx, c.call_key, c.direction, c.status, c.missed_reason, c.caller, c.caller_name, c.called, c.answered_by,
                   ARRAY(SELECT jsonb_array_elements_text(c.extensions::jsonb)),
                   c.trunk, c.started_at, c.answered_at, c.ended_at, c.ring_seconds, c.talk_seconds, c.transfers::jsonb, c.ivr_digits, c.remote_e164
              FROM unnest(@pbx, @call_key, @direction, @status, @missed_reason, @caller, @caller_name, @called, @answered_by, @extensions,
                          @trunk, @started_at, @answered_at, @ended_at, @ring_seconds, @talk_seconds, @transfers, @ivr_digits, @remote_e164, @ord)
                   AS c(pbx, call_key, direction, status, missed_reason, caller, caller_name, called, answered_by, extensions,
                        trunk, started_at, answered_at, ended_at, ring_seconds, talk_seconds, transfers, ivr_digits, remote_e164, ord)
             ORDER BY c.ord
            ON CONFLICT (pbx, call_key) DO UPDATE SET
                direction = EXCLUDED.direction, status = EXCLUDED.status, missed_reason = EXCLUDED.missed_reason,
                caller = EXCLUDED.caller, caller_name = EXCLUDED.caller_name, called = EXCLUDED.called, answered_by = EXCLUDED.answered_by,
                extensions = EXCLUDED.extensions, trunk = EXCLUDED.trunk, started_at = EXCLUDED.started_at,
                answered_at = EXCLUDED.answered_at, ended_at = EXCLUDED.ended_at, ring_seconds = EXCLUDED.ring_seconds,
                talk_seconds = EXCLUDED.talk_seconds, transfers = EXCLUDED.transfers, ivr_digits = EXCLUDED.ivr_digits,
                remote_e164 = EXCLUDED.remote_e164, stored_at = now()
            RETURNING id, pbx, call_key
            """;
        var n = calls.Count;
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("pbx", calls.Select(c => c.Pbx).ToArray());
        cmd.Parameters.AddWithValue("call_key", calls.Select(c => c.CallKey).ToArray());
        cmd.Parameters.AddWithValue("direction", calls.Select(c => CallNames.Of(c.Direction)).ToArray());
        cmd.Parameters.AddWithValue("status", calls.Select(c => CallNames.Of(c.Status)).ToArray());
        AddTexts(cmd, "missed_reason", calls.Select(c => c.MissedReason));
        AddTexts(cmd, "caller", calls.Select(c => c.Caller));
        AddTexts(cmd, "caller_name", calls.Select(c => c.CallerName));
        AddTexts(cmd, "called", calls.Select(c => c.Called));
        AddTexts(cmd, "answered_by", calls.Select(c => c.AnsweredBy));
        cmd.Parameters.AddWithValue("extensions", calls.Select(c => JsonSerializer.Serialize(c.Extensions, StorageJson.Default.IReadOnlyListString)).ToArray());
        AddTexts(cmd, "trunk", calls.Select(c => c.Trunk));
        AddTimes(cmd, "started_at", calls.Select(c => (DateTimeOffset?)c.StartedAt));
        AddTimes(cmd, "answered_at", calls.Select(c => c.AnsweredAt));
        AddTimes(cmd, "ended_at", calls.Select(c => (DateTimeOffset?)c.EndedAt));
        cmd.Parameters.AddWithValue("ring_seconds", calls.Select(c => (decimal)c.RingSeconds).ToArray());
        cmd.Parameters.AddWithValue("talk_seconds", calls.Select(c => (decimal)c.TalkSeconds).ToArray());
        cmd.Parameters.AddWithValue("transfers", calls.Select(c => JsonSerializer.Serialize(c.Transfers, StorageJson.Default.IReadOnlyListCallTransfer)).ToArray());
        AddTexts(cmd, "ivr_digits", calls.Select(c => c.IvrDigits));
        var regions = await RegionsAsync(conn, tx, calls.Select(c => c.Pbx).Distinct().ToArray(), ct);
        AddTexts(cmd, "remote_e164", calls.Select(c => PhoneNormalizer.ToE164(RemoteNumber(c), regions.GetValueOrDefault(c.Pbx, DefaultRegion))));
        cmd.Parameters.AddWithValue("ord", Enumerable.Range(0, n).ToArray());

        var byKey = new Dictionary<(string, string), long>(n);
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                byKey[(reader.GetString(1), reader.GetString(2))] = reader.GetInt64(0);
            }
        }

        return calls.Select(c => byKey[(c.Pbx, c.CallKey)]).ToArray();
    }

    /// <summary>Region for national numbers when an enterprise has no settings row (the column's default).</summary>
    public const string DefaultRegion = "PL";

    /// <summary>The external party's number as the PBX wrote it: the caller of an inbound call, the called number of an
    /// outbound one; null for internal calls. Stored in E.164 as <c>calls.remote_e164</c> for Smart Redirect lookups.</summary>
    public static string? RemoteNumber(Call c) => c.Direction switch
    {
        CallDirection.Inbound => c.Caller,
        CallDirection.Outbound => c.Called,
        _ => null,
    };

    /// <summary>Default region of each PBX's enterprise (absent when the enterprise has no settings row).</summary>
    private static async Task<Dictionary<string, string>> RegionsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string[] pbxes, CancellationToken ct)
    {
        const string sql = """
            SELECT p.id, s.default_region FROM ct.pbxes p JOIN ct.enterprise_settings s ON s.enterprise_id = p.enterprise_id
             WHERE p.id = ANY(@pbx)
            """;
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("pbx", pbxes);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            map[r.GetString(0)] = r.GetString(1);
        }

        return map;
    }

    private static async Task ReplaceLegsAndEventsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyList<Call> calls, long[] ids, CancellationToken ct)
    {
        const string sql = """
            DELETE FROM ct.call_participants WHERE call_id = ANY(@ids);
            DELETE FROM ct.call_events WHERE call_id = ANY(@ids);
            INSERT INTO ct.call_participants (call_id, ordinal, endpoint, role, rang_at, answered_at, ended_at, outcome)
            SELECT * FROM unnest(@p_call, @p_ord, @p_endpoint, @p_role, @p_rang, @p_answered, @p_ended, @p_outcome);
            INSERT INTO ct.call_events (call_id, ordinal, at, kind, endpoint, detail, session, seq)
            SELECT * FROM unnest(@e_call, @e_ord, @e_at, @e_kind, @e_endpoint, @e_detail, @e_session, @e_seq);
            """;
        var legs = calls.SelectMany((c, i) => c.Participants.Select((p, k) => (Call: ids[i], Ord: k, P: p))).ToList();
        var events = calls.SelectMany((c, i) => c.Events.Select((e, k) => (Call: ids[i], Ord: k, E: e))).ToList();

        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("ids", ids);
        cmd.Parameters.AddWithValue("p_call", legs.Select(l => l.Call).ToArray());
        cmd.Parameters.AddWithValue("p_ord", legs.Select(l => l.Ord).ToArray());
        cmd.Parameters.AddWithValue("p_endpoint", legs.Select(l => l.P.Endpoint).ToArray());
        cmd.Parameters.AddWithValue("p_role", legs.Select(l => l.P.Role).ToArray());
        AddTimes(cmd, "p_rang", legs.Select(l => l.P.RangAt));
        AddTimes(cmd, "p_answered", legs.Select(l => l.P.AnsweredAt));
        AddTimes(cmd, "p_ended", legs.Select(l => l.P.EndedAt));
        AddTexts(cmd, "p_outcome", legs.Select(l => l.P.Outcome));
        cmd.Parameters.AddWithValue("e_call", events.Select(e => e.Call).ToArray());
        cmd.Parameters.AddWithValue("e_ord", events.Select(e => e.Ord).ToArray());
        AddTimes(cmd, "e_at", events.Select(e => (DateTimeOffset?)e.E.At));
        cmd.Parameters.AddWithValue("e_kind", events.Select(e => e.E.Kind).ToArray());
        AddTexts(cmd, "e_endpoint", events.Select(e => e.E.Endpoint));
        AddTexts(cmd, "e_detail", events.Select(e => e.E.Detail));
        cmd.Parameters.AddWithValue("e_session", events.Select(e => e.E.Session).ToArray());
        cmd.Parameters.AddWithValue("e_seq", events.Select(e => e.E.Seq).ToArray());
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static void AddTexts(NpgsqlCommand cmd, string name, IEnumerable<string?> values)
        => cmd.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = values.ToArray() });

    private static void AddTimes(NpgsqlCommand cmd, string name, IEnumerable<DateTimeOffset?> values)
        => cmd.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Array | NpgsqlDbType.TimestampTz)
        {
            Value = values.Select(v => v is { } t ? (object)t.UtcDateTime : DBNull.Value).ToArray(),
        });
}
