using System.Globalization;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using CloudTelephony.Contracts;
using CloudTelephony.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CloudTelephony.Functions.Health;

/// <summary>
/// <c>GET /api/health</c> answer. Anonymous callers get <see cref="Status"/> and <see cref="CheckedAt"/> only; a
/// <c>crm</c> token adds its enterprise's PBXes and relays (and nothing of other enterprises).
/// </summary>
/// <param name="Status"><c>healthy</c>; <c>degraded</c> (HTTP 200: a relay silent for more than 5 minutes, with dead letters or with a
/// full outbox, or a PBX that is not connected — refused login, backing off, stuck connecting); <c>unhealthy</c>
/// (HTTP 503: the database cannot be reached).</param>
/// <param name="CheckedAt">When this was measured (UTC).</param>
/// <param name="Database"><c>reachable</c> or <c>unreachable</c> (token only; never the database's error text).</param>
/// <param name="Pbxes">The enterprise's PBXes (token only).</param>
/// <param name="Relays">Relays that reported one of the enterprise's PBXes (token only).</param>
/// <param name="Problems">Why the status is not healthy, one line each (token only; empty when healthy).</param>
/// <param name="Webhooks">The enterprise's webhooks of the live call events with their delivery state (token only); a
/// disabled one makes the status <c>degraded</c>.</param>
public sealed record HealthDto(
    string Status,
    DateTimeOffset CheckedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Database = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<PbxHealthDto>? Pbxes = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<RelayHealthDto>? Relays = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? Problems = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<Events.WebhookStatusDto>? Webhooks = null);

/// <summary>A PBX in <c>/api/health</c>: its stored stream and its connection as its relay last reported it.</summary>
/// <param name="Pbx">PBX id.</param>
/// <param name="Protocol">ctip, ami or smdr.</param>
/// <param name="TimeZone">The PBX's IANA time zone.</param>
/// <param name="FramesStored">Frames stored so far.</param>
/// <param name="ParseErrors">Of which did not parse.</param>
/// <param name="OpenCalls">Calls still open in the correlator.</param>
/// <param name="LastFrameAt">Receive time of the newest stored frame (UTC), or null.</param>
/// <param name="State">Connection state from the newest heartbeat that reported the PBX (<c>connected</c>,
/// <c>listening</c>, <c>refused: wrong key (NA 11)</c>, <c>backing off: ...</c>), addresses removed; null when no relay
/// reported it.</param>
/// <param name="StateSince">Since when the PBX is in <paramref name="State"/> (UTC).</param>
/// <param name="Relay">The relay that reported it.</param>
/// <param name="Healthy">False when refused, stopped, or not connected (nor listening) for more than a minute.</param>
public sealed record PbxHealthDto(
    string Pbx,
    string Protocol,
    string TimeZone,
    long FramesStored,
    long ParseErrors,
    int OpenCalls,
    DateTimeOffset? LastFrameAt,
    string? State,
    DateTimeOffset? StateSince,
    string? Relay,
    bool Healthy);

/// <summary>A relay in <c>/api/health</c>: its last heartbeat (<c>relay</c>: relayId, version, lastSeenAt, framesSent,
/// outboxDepth, outboxOldestAt, outboxAtCap, pbxes — only the enterprise's PBXes, addresses redacted), how long it has
/// been silent and whether it is fine; <c>relay.deadLetters</c> and <c>relay.deadLetterOldestAt</c> count what it set aside (the shape the web app's health page reads).</summary>
/// <param name="Relay">The stored heartbeat state.</param>
/// <param name="SilentSeconds">Seconds since its last heartbeat arrived.</param>
/// <param name="Healthy">False when silent for more than 5 minutes, its outbox is full, or it holds dead letters
/// (<c>relay.deadLetters</c> &gt; 0: envelopes ingest refused with "do not retry", set aside on the relay host).</param>
public sealed record RelayHealthDto(RelayStatusRow Relay, double SilentSeconds, bool Healthy);

/// <summary>Computes the health of the PBXes and relays of one enterprise (or of all) from the stored streams and heartbeats.</summary>
public sealed partial class HealthReport(HealthQueries streams, HeartbeatStore heartbeats, TimeProvider clock, Npgsql.NpgsqlDataSource? db = null)
{
    /// <summary>A relay whose last heartbeat is older than this is a problem.</summary>
    public static readonly TimeSpan RelaySilenceLimit = TimeSpan.FromMinutes(5);

    /// <summary>A PBX connecting, logging in or backing off for longer than this is a problem.</summary>
    public static readonly TimeSpan PbxSettleTime = TimeSpan.FromMinutes(1);

    /// <summary>The detailed report: status <c>healthy</c> or <c>degraded</c> with its problems.</summary>
    /// <param name="enterpriseId">Only this enterprise's PBXes and the relays that reported them; null = everything
    /// (operators' view, used by the <c>pbx-relays</c> health check).</param>
    /// <param name="ct">Cancellation.</param>
    /// <exception cref="Npgsql.NpgsqlException">The database cannot be reached.</exception>
    public async Task<HealthDto> BuildAsync(long? enterpriseId, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var pbxes = await streams.PbxStreamsAsync(enterpriseId, ct);
        var mine = pbxes.Select(p => p.Pbx).ToHashSet(StringComparer.Ordinal);
        var relays = (await heartbeats.RelaysAsync(ct))
            .Select(r => r with { Pbxes = [.. r.Pbxes.Where(p => enterpriseId is null || mine.Contains(p.Pbx)).Select(p => p with { State = Redact(p.State) })] })
            .Where(r => enterpriseId is null || r.Pbxes.Count > 0)
            .ToList();
        var problems = new List<string>();
        var relayDtos = new List<RelayHealthDto>();
        foreach (var r in relays)
        {
            var silent = now - r.LastSeenAt;
            var healthy = silent <= RelaySilenceLimit && !r.OutboxAtCap && r.DeadLetters == 0;
            if (silent > RelaySilenceLimit)
            {
                problems.Add($"relay {r.RelayId}: no heartbeat for {silent.TotalSeconds:0} s (retired? ./ct admin relay forget --relay {r.RelayId})");
            }
            else if (r.OutboxAtCap)
            {
                problems.Add($"relay {r.RelayId}: outbox full ({r.OutboxDepth} frames)");
            }

            if (r.DeadLetters > 0)
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture,
                    $"relay {r.RelayId}: {r.DeadLetters} envelope(s) refused by ingest and set aside in its dead letters{(r.DeadLetterOldestAt is { } at ? $" (oldest {at.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z)" : "")}; read them with sqlite3 <outbox> \"SELECT message_id, status, reason, at FROM dead_letters\" on the relay host"));
            }

            relayDtos.Add(new RelayHealthDto(r, Math.Round(silent.TotalSeconds, 1), healthy));
        }

        // Each PBX's connection from the newest heartbeat that reported it (a PBX moved to another relay shows the new one).
        var reported = relays
            .Where(r => now - r.LastSeenAt <= RelaySilenceLimit)
            .SelectMany(r => r.Pbxes.Select(p => (Relay: r.RelayId, r.LastSeenAt, Pbx: p)))
            .GroupBy(x => x.Pbx.Pbx, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.MaxBy(x => x.LastSeenAt), StringComparer.Ordinal);
        var pbxDtos = new List<PbxHealthDto>();
        foreach (var p in pbxes)
        {
            var healthy = true;
            string? state = null, relay = null;
            DateTimeOffset? since = null;
            if (reported.TryGetValue(p.Pbx, out var x))
            {
                (state, since, relay) = (x.Pbx.State, x.Pbx.Since, x.Relay);
                healthy = IsHealthy(x.Pbx.State, now - x.Pbx.Since);
                if (!healthy)
                {
                    problems.Add($"pbx {p.Pbx}: {x.Pbx.State} (since {x.Pbx.Since.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z, relay {x.Relay})");
                }
            }

            pbxDtos.Add(new PbxHealthDto(p.Pbx, p.Protocol, p.TimeZone, p.FramesStored, p.ParseErrors, p.OpenCalls, p.LastFrameAt, state, since, relay, healthy));
        }

        var hooks = db is null ? [] : (await EventStore.WebhooksAsync(db, enterpriseId, ct)).Select(Events.WebhookStatusDto.From).ToList();
        foreach (var h in hooks.Where(h => !h.Enabled))
        {
            problems.Add($"webhook {h.Id} ({h.Url}): disabled: {h.DisabledReason} (./ct admin webhook enable --id {h.Id})");
        }

        return new HealthDto(problems.Count == 0 ? "healthy" : "degraded", now, "reachable", pbxDtos, relayDtos, problems, hooks);
    }

    /// <summary>Whether a PBX connection state is fine: connected or listening (SMDR waits for its PBX), or on the way
    /// there for less than <see cref="PbxSettleTime"/>; a refused login or a stopped connector never is.</summary>
    public static bool IsHealthy(string state, TimeSpan inState)
        => state switch
        {
            "connected" or "listening" => true,
            _ when state.StartsWith("refused", StringComparison.Ordinal) || state == "stopped" => false,
            _ => inState <= PbxSettleTime,
        };

    /// <summary>A state line without network addresses (<c>backing off: connection refused (…)</c>): the health report
    /// may leave the site, the PBXes' addresses should not.</summary>
    public static string Redact(string state) => Address().Replace(state, "…");

    [GeneratedRegex(@"\[[0-9A-Fa-f:.]+\](?::\d{1,5})?|\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b|\b[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+:\d{1,5}\b|\blocalhost(?::\d{1,5})?\b")]
    private static partial Regex Address();
}

/// <summary>The <c>pbx-relays</c> health check: <see cref="HealthStatus.Degraded"/> while any relay or PBX has a problem.</summary>
public sealed class PbxRelayHealthCheck(HealthReport report) : IHealthCheck
{
    /// <inheritdoc/>
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var r = await report.BuildAsync(null, cancellationToken);
        return r.Problems is { Count: > 0 } p
            ? HealthCheckResult.Degraded(string.Join("; ", p))
            : HealthCheckResult.Healthy($"{r.Pbxes?.Count ?? 0} PBX(es), {r.Relays?.Count ?? 0} relay(s)");
    }
}
