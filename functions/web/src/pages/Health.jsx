import { ApiError } from '../api.js';
import { ErrorBox, Loading } from '../components/common.jsx';
import { useApp, usePageTitle } from '../context.js';
import { useApi } from '../hooks.js';

/** The connection state of a PBX as its relays last reported it ("connected", "refused: …", …), newest first. */
function connectionStates(relays, pbx) {
  return relays.flatMap((r) => (r.relay?.pbxes ?? []).filter((p) => p.pbx === pbx).map((p) => ({ ...p, relayId: r.relay.relayId })))
    .sort((a, b) => new Date(b.since) - new Date(a.since));
}

function stateClass(state) {
  if (!state) return 'badge-unknown';
  return state === 'connected' ? 'badge-answered' : state.startsWith('refused') || state.startsWith('backing') ? 'badge-missed' : 'badge-busy';
}

/**
 * Health: every PBX (frames stored, parse errors, open calls, last frame, connection state from the relays'
 * heartbeats), every relay (last heartbeat, outbox depth, oldest waiting frame) and the Smart Redirect figures of the
 * last hour. Refreshed every 10 s. GET /api/health is read with the signed-in crm token (api.js sends it on every call),
 * the view a token-scoped health endpoint gives an enterprise; the PBXes are also narrowed to the enterprise's own.
 * Fields read: status, database, checkedAt, problems[], pbxes[].{pbx, protocol, framesStored, parseErrors, openCalls,
 * lastFrameAt}, relays[].{healthy, silentSeconds, relay.{relayId, version, lastSeenAt, outboxDepth, outboxOldestAt,
 * outboxAtCap, framesSent, deadLetters, deadLetterOldestAt, pbxes[].{pbx, state, since}}}, webhooks[].{id, url, enabled, disabledReason, delivered, lastError} — whoever changes that JSON updates this page (and Live.jsx).
 */
export function Health() {
  const { t, fmt, enterprise } = useApp();
  const heading = usePageTitle(t('health.title'));
  const health = useApi('/api/health', { refreshMs: 10_000 });
  const routing = useApi('/api/routing/stats', { refreshMs: 30_000 });
  // 503 (database down) still carries the health document
  const h = health.data ?? (health.error instanceof ApiError ? health.error.problem : null);
  const mine = new Set(enterprise.pbxes.map((p) => p.id));
  const pbxes = (h?.pbxes ?? []).filter((p) => mine.has(p.pbx));
  const relays = (h?.relays ?? []).filter((r) => (r.relay?.pbxes ?? []).length === 0 || r.relay.pbxes.some((p) => mine.has(p.pbx)));
  const r = routing.data;

  return (
    <section>
      <h1 tabIndex={-1} ref={heading}>{t('health.title')}</h1>
      <Loading when={health.loading && !h} />
      {health.error && !h?.status && <ErrorBox error={health.error} />}
      {h?.status && (
        <p class={`alert ${h.status === 'healthy' ? 'alert-ok' : 'alert-error'}`} id="health-status" data-status={h.status} role="status">
          {h.status === 'healthy' ? t('health.healthy') : t('health.unhealthy')} · {t('health.database', { state: h.database })} · {t('health.checked', { at: fmt.dateTime(h.checkedAt) })}
        </p>
      )}
      {(h?.problems ?? []).length > 0 && (
        <ul class="problems" aria-label={t('health.problems')}>{h.problems.map((p) => <li>{p}</li>)}</ul>
      )}

      <section class="card" aria-labelledby="pbx-heading">
        <h2 id="pbx-heading">{t('health.pbxes')}</h2>
        <div class="table-wrap">
          <table class="table" id="pbx-table">
            <thead>
              <tr>
                <th scope="col">{t('health.pbx')}</th>
                <th scope="col">{t('health.connection')}</th>
                <th scope="col">{t('health.lastFrame')}</th>
                <th scope="col">{t('health.frames')}</th>
                <th scope="col">{t('health.parseErrors')}</th>
                <th scope="col">{t('health.openCalls')}</th>
              </tr>
            </thead>
            <tbody>
              {pbxes.map((p) => {
                const states = connectionStates(relays, p.pbx);
                return (
                  <tr data-pbx={p.pbx}>
                    <th scope="row">{p.pbx} <span class="muted">{p.protocol}</span></th>
                    <td>
                      {states.length === 0 ? <span class="muted">{t('health.noHeartbeat')}</span> : states.map((s) => (
                        <div><span class={`badge ${stateClass(s.state)}`}>{s.state}</span> <span class="muted">{t('health.since', { at: fmt.dateTime(s.since), relay: s.relayId })}</span></div>
                      ))}
                    </td>
                    <td>{fmt.dateTime(p.lastFrameAt)}</td>
                    <td class="num">{fmt.number(p.framesStored)}</td>
                    <td class="num">{p.parseErrors > 0 ? <strong class="field-error">{fmt.number(p.parseErrors)}</strong> : '0'}</td>
                    <td class="num">{fmt.number(p.openCalls)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {h && pbxes.length === 0 && <p class="empty">{t('health.noPbx')}</p>}
        </div>
      </section>

      <section class="card" aria-labelledby="relay-heading">
        <h2 id="relay-heading">{t('health.relays')}</h2>
        <div class="table-wrap">
          <table class="table" id="relay-table">
            <thead>
              <tr>
                <th scope="col">{t('health.relay')}</th>
                <th scope="col">{t('health.state')}</th>
                <th scope="col">{t('health.lastHeartbeat')}</th>
                <th scope="col">{t('health.outboxDepth')}</th>
                <th scope="col">{t('health.outboxOldest')}</th>
                <th scope="col">{t('health.sent')}</th>
                <th scope="col">{t('health.deadLetters')}</th>
              </tr>
            </thead>
            <tbody>
              {relays.map((x) => (
                <tr data-relay={x.relay.relayId}>
                  <th scope="row">{x.relay.relayId} <span class="muted">{x.relay.version}</span></th>
                  <td><span class={`badge ${x.healthy ? 'badge-answered' : 'badge-missed'}`}>{x.healthy ? t('health.ok') : x.relay.outboxAtCap ? t('health.outboxFull') : (x.relay.deadLetters ?? 0) > 0 && x.silentSeconds <= 300 ? t('health.hasDeadLetters') : t('health.silent')}</span></td>
                  <td>{fmt.dateTime(x.relay.lastSeenAt)} <span class="muted">({t('health.ago', { s: fmt.number(Math.round(x.silentSeconds)) })})</span></td>
                  <td class="num">{fmt.number(x.relay.outboxDepth)}</td>
                  <td>{fmt.dateTime(x.relay.outboxOldestAt)}</td>
                  <td class="num">{fmt.number(x.relay.framesSent)}</td>
                  <td class="num" data-dead-letters={x.relay.deadLetters ?? 0}>{fmt.number(x.relay.deadLetters ?? 0)}{x.relay.deadLetterOldestAt && <span class="muted"> ({t('health.deadLetterOldest', { at: fmt.dateTime(x.relay.deadLetterOldestAt) })})</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {h && relays.length === 0 && <p class="empty">{t('health.noRelay')}</p>}
        </div>
      </section>

      {(h?.webhooks ?? []).length > 0 && (
        <section class="card" aria-labelledby="webhook-heading">
          <h2 id="webhook-heading">{t('health.webhooks')}</h2>
          <div class="table-wrap">
            <table class="table" id="webhook-table">
              <thead>
                <tr>
                  <th scope="col">{t('health.webhook')}</th>
                  <th scope="col">{t('health.state')}</th>
                  <th scope="col">{t('health.delivered')}</th>
                  <th scope="col">{t('health.lastError')}</th>
                </tr>
              </thead>
              <tbody>
                {h.webhooks.map((w) => (
                  <tr data-webhook={w.id}>
                    <th scope="row">{w.url}</th>
                    <td><span class={`badge ${w.enabled ? 'badge-answered' : 'badge-missed'}`}>{w.enabled ? t('health.ok') : t('health.disabled')}</span> {w.disabledReason ?? ''}</td>
                    <td class="num">{fmt.number(w.delivered)}</td>
                    <td>{w.lastError ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}

      <section class="card" aria-labelledby="routing-heading">
        <h2 id="routing-heading">{t('health.routing')}</h2>
        <ErrorBox error={routing.error} />
        {r && (
          <>
            <p class="muted">{t('health.routingSince', { at: fmt.dateTime(r.since) })}</p>
            <dl class="facts" id="routing-stats">
              <dt>{t('health.routingTotal')}</dt><dd>{fmt.number(r.total)}</dd>
              {Object.entries(r.byOutcome).map(([k, v]) => <><dt>{t(`routing.${k}`)}</dt><dd>{fmt.number(v)}</dd></>)}
              <dt>{t('health.latency')}</dt><dd>p50 {fmt.number(r.p50Ms)} ms · p95 {fmt.number(r.p95Ms)} ms · p99 {fmt.number(r.p99Ms)} ms</dd>
              <dt>{t('health.errorRate')}</dt><dd>{fmt.percent(r.errorRate)}</dd>
            </dl>
          </>
        )}
      </section>
    </section>
  );
}
