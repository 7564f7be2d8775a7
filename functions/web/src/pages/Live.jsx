import { fetchEventSource } from '@microsoft/fetch-event-source';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, authHeaders } from '../api.js';
import { ErrorBox, StatusBadge } from '../components/common.jsx';
import { useApp, usePageTitle } from '../context.js';

const POLL_MS = 3000;
const FEED_MAX = 100;

class StreamUnavailable extends Error {}

/** The text of a live event (CloudEvents from GET /api/events) for the feed. */
function eventText(t, e) {
  const d = e.data ?? {};
  const who = d.extension ?? d.answeredBy ?? d.endpoint ?? d.to ?? '';
  const caller = d.callerName ?? d.caller ?? '';
  switch (e.type) {
    case 'call.ringing': return t('live.ev.ringing', { ext: who, caller });
    case 'call.answered': return t('live.ev.answered', { ext: who, caller, ring: d.ringSeconds ?? '' });
    case 'call.transferred': return t('live.ev.transferred', { from: d.from ?? '', to: d.to ?? '' });
    case 'call.ended': return t('live.ev.ended', { status: d.status ? t(`status.${d.status}`) : '', caller });
    case 'call.completed': return t('live.ev.completed', { status: d.status ? t(`status.${d.status}`) : '', caller });
    default: return `${e.type} ${e.subject ?? ''}`;
  }
}

/** Who a call in progress is with: the extensions ringing, else who talks. */
function who(c) {
  if (c.state === 'ringing') return (c.ringing ?? []).map((r) => r.extension).join(', ') || '—';
  return c.answeredBy ?? '—';
}

/** The calls in progress as GET /api/calls/active lists them (items, position). */
function ActiveCalls({ calls }) {
  const { t, fmt } = useApp();
  if (calls.length === 0) return <p class="muted" id="active-none">{t('live.noActive')}</p>;
  return (
    <div class="table-wrap">
      <table class="table" id="active-calls">
        <thead>
          <tr>
            <th scope="col">{t('live.col.since')}</th>
            <th scope="col">{t('calls.col.caller')}</th>
            <th scope="col">{t('calls.col.called')}</th>
            <th scope="col">{t('live.col.state')}</th>
            <th scope="col">{t('live.col.who')}</th>
          </tr>
        </thead>
        <tbody>
          {calls.map((c) => (
            <tr key={`${c.pbx}:${c.callKey}`} data-call={c.callKey} data-state={c.state}>
              <td>{fmt.time(c.talkingSince ?? c.startedAt)}</td>
              <td><span class="number">{c.caller ?? '—'}</span> {c.callerName ?? ''}</td>
              <td class="number">{c.called ?? '—'}</td>
              <td>{t(`live.state.${c.state}`)}</td>
              <td class="number">{who(c)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * Live: the calls in progress and a feed of what happens. Reads GET /api/calls/active (who rings, who talks, since
 * when) and follows the server-sent events of GET /api/events from that state's position on (fetch-event-source sends
 * the token as a header and Last-Event-ID when it reconnects); each event refreshes the calls in progress. A server
 * without the event stream is polled instead (GET /api/calls and /api/health every 3 s).
 */
export function Live() {
  const { t, fmt, enterprise } = useApp();
  const heading = usePageTitle(t('live.title'));
  const [mode, setMode] = useState('connecting'); // connecting | stream | poll
  const [feed, setFeed] = useState([]);
  const [active, setActive] = useState(null); // calls from /api/calls/active, or null when the server has none
  const [open, setOpen] = useState(null); // { pbx: openCalls } from /api/health (poll mode)
  const [error, setError] = useState(null);
  const seen = useRef(null);
  const hasActive = useRef(false); // the server answers GET /api/calls/active

  const push = (items) => setFeed((f) => [...items, ...f].slice(0, FEED_MAX));

  useEffect(() => {
    const stop = new AbortController();
    let timer = 0;
    let activeTimer = 0;
    const refreshActive = () => api('/api/calls/active', { signal: stop.signal })
      .then((current) => setActive(Array.isArray(current) ? current : current.items ?? []))
      .catch(() => {});
    const mine = new Set(enterprise.pbxes.map((p) => p.id));

    const poll = async () => {
      try {
        const [page, health, current] = await Promise.all([
          api('/api/calls?pageSize=50', { signal: stop.signal }),
          api('/api/health', { signal: stop.signal }).catch((e) => (e instanceof ApiError && e.problem ? e.problem : null)),
          hasActive.current ? api('/api/calls/active', { signal: stop.signal }).catch(() => null) : null,
        ]);
        setError(null);
        if (health?.pbxes) setOpen(Object.fromEntries(health.pbxes.filter((p) => mine.has(p.pbx)).map((p) => [p.pbx, p.openCalls])));
        if (current) setActive(Array.isArray(current) ? current : current.items ?? []);
        const fresh = [];
        if (seen.current === null) {
          seen.current = new Set(page.items.map((c) => c.id));
        } else {
          for (const c of [...page.items].reverse()) {
            if (seen.current.has(c.id)) continue;
            seen.current.add(c.id);
            fresh.push({ key: `call-${c.id}`, kind: 'call.completed', at: c.endedAt, call: c });
          }
        }
        if (fresh.length) push(fresh.reverse());
      } catch (e) {
        if (e?.name !== 'AbortError') setError(e);
      }
      if (!stop.signal.aborted) timer = setTimeout(poll, POLL_MS);
    };

    let refreshSoon = 0;
    const refreshLater = () => {
      if (!refreshSoon) refreshSoon = setTimeout(() => { refreshSoon = 0; refreshActive(); }, 250);
    };

    (async () => {
      let position = null;
      try {
        const current = await api('/api/calls/active', { signal: stop.signal });
        hasActive.current = true;
        position = current.position ?? null;
        setActive(Array.isArray(current) ? current : current.items ?? []);
      } catch (e) {
        if (e?.name === 'AbortError') return;
        setActive(null);
      }
      try {
        // from the state just read on (lastEventId = its position), so no event falls between the two
        await fetchEventSource(position === null ? '/api/events' : `/api/events?lastEventId=${position}`, {
          headers: authHeaders(),
          signal: stop.signal,
          openWhenHidden: true,
          async onopen(response) {
            const type = response.headers.get('content-type') ?? '';
            if (response.ok && type.startsWith('text/event-stream')) {
              setMode('stream');
              if (hasActive.current && !activeTimer) activeTimer = setInterval(refreshActive, POLL_MS);
              return;
            }
            throw new StreamUnavailable(`HTTP ${response.status}`);
          },
          onmessage(message) {
            if (!message.data || message.event === 'keepalive') return;
            let event;
            try {
              event = JSON.parse(message.data);
            } catch {
              return;
            }
            const key = event.id ?? message.id ?? `${Date.now()}-${Math.random()}`;
            // a completed call is the record as GET /api/calls lists it: shown with its link like a polled one
            push([event.type === 'call.completed' && event.data?.id
              ? { key, kind: event.type, at: event.time, call: event.data }
              : { key, kind: event.type, at: event.time, event }]);
            if (hasActive.current) refreshLater();
          },
          onerror(e) {
            if (e instanceof StreamUnavailable) throw e; // no event stream on this server: poll instead
            return 5000; // the stream dropped: reconnect (Last-Event-ID is sent by the library)
          },
        });
      } catch (e) {
        if (stop.signal.aborted) return;
        setMode('poll');
        poll();
      }
    })();
    return () => {
      stop.abort();
      clearTimeout(timer);
      clearInterval(activeTimer);
      clearTimeout(refreshSoon);
    };
  }, []);

  const openTotal = open ? Object.values(open).reduce((a, b) => a + b, 0) : null;
  return (
    <section>
      <h1 tabIndex={-1} ref={heading}>{t('live.title')}</h1>
      <p class="muted" id="live-mode" data-mode={mode} role="status">
        {mode === 'stream' ? t('live.mode.stream') : mode === 'poll' ? t('live.mode.poll', { s: POLL_MS / 1000 }) : t('live.mode.connecting')}
      </p>
      <ErrorBox error={error} />
      <div class="grid">
        <section class="card" aria-labelledby="active-heading">
          <h2 id="active-heading">{t('live.active')}</h2>
          {active !== null ? <ActiveCalls calls={active} /> : (
            <div id="open-calls">
              <p>{openTotal === null ? t('common.loading') : t('live.openCalls', { n: fmt.number(openTotal) })}</p>
              {open && Object.keys(open).length > 1 && (
                <ul class="plain">{Object.entries(open).map(([pbx, n]) => <li>{pbx}: {fmt.number(n)}</li>)}</ul>
              )}
              <p class="muted small">{t('live.openCallsHint')}</p>
            </div>
          )}
        </section>
        <section class="card" aria-labelledby="feed-heading">
          <h2 id="feed-heading">{t('live.feed')}</h2>
          {feed.length === 0 && <p class="muted" id="feed-empty">{t('live.feedEmpty')}</p>}
          <ol class="feed" id="live-feed" aria-live="polite" aria-relevant="additions">
            {feed.map((item) => (
              <li key={item.key} data-kind={item.kind}>
                <time dateTime={item.at}>{fmt.time(item.at)}</time>{' '}
                {item.call ? (
                  <span>
                    <StatusBadge status={item.call.status} />{' '}
                    <a href={`/calls/${item.call.id}`}>
                      {t('live.completed', {
                        caller: item.call.contactName ?? item.call.callerName ?? item.call.caller ?? '?',
                        called: item.call.called ?? '?',
                        by: item.call.answeredBy ?? '—',
                      })}
                    </a>{' '}
                    <span class="muted">{t('live.durations', { ring: fmt.seconds(item.call.ringSeconds), talk: fmt.duration(item.call.talkSeconds) })}</span>
                  </span>
                ) : <span>{eventText(t, item.event)}</span>}
              </li>
            ))}
          </ol>
        </section>
      </div>
    </section>
  );
}
