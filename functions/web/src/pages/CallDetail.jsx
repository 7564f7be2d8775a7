import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api.js';
import { ContactEditor } from '../components/ContactEditor.jsx';
import { ErrorBox, Loading, StatusBadge, errorText } from '../components/common.jsx';
import { useApp, usePageTitle } from '../context.js';
import { useApi } from '../hooks.js';

const SMS_MAX = 640;

/** The external party of a call (the one a person would call back or text): inbound caller, outbound called. */
export function remoteNumber(call) {
  if (call.direction === 'inbound') return call.caller;
  if (call.direction === 'outbound') return call.called;
  return null;
}

/** Who rang when, who answered, transfers, IVR digits and hang-ups, in time order, from the legs and the call record. */
function timeline(detail) {
  const { call, participants } = detail;
  const items = [{ at: call.startedAt, key: 'timeline.started', vars: { caller: call.caller ?? '?', called: call.called ?? '?' } }];
  for (const p of participants) {
    if (p.role === 'caller') continue;
    if (p.rangAt) items.push({ at: p.rangAt, key: p.role === 'transfer' ? 'timeline.transferRang' : 'timeline.rang', vars: { who: p.endpoint } });
    if (p.answeredAt) items.push({ at: p.answeredAt, key: 'timeline.answered', vars: { who: p.endpoint }, strong: true });
    if (p.endedAt && !p.answeredAt) items.push({ at: p.endedAt, key: 'timeline.stopped', vars: { who: p.endpoint, outcome: p.outcome ?? '' } });
  }
  for (const x of call.transfers) {
    items.push({ at: x.at, key: x.answered ? 'timeline.transfer' : 'timeline.transferUnanswered', vars: { from: x.from, to: x.to } });
  }
  if (call.ivrDigits) items.push({ at: call.startedAt, key: 'timeline.ivr', vars: { digits: call.ivrDigits } });
  items.push({ at: call.endedAt, key: 'timeline.ended', vars: {} });
  return items.sort((a, b) => new Date(a.at) - new Date(b.at));
}

function ContactCard({ number }) {
  const { t } = useApp();
  const [state, setState] = useState({ loading: true, contact: null, error: null });
  const [editing, setEditing] = useState(false);
  const load = async () => {
    try {
      const contact = await api(`/api/contacts/${encodeURIComponent(number)}`);
      setState({ loading: false, contact, error: null });
    } catch (error) {
      setState({ loading: false, contact: null, error: error instanceof ApiError && error.status === 404 ? null : error });
    }
  };
  useEffect(() => {
    load();
  }, [number]);

  return (
    <section class="card" aria-labelledby="contact-heading" id="contact-card">
      <h2 id="contact-heading">{t('contact.title')}</h2>
      <ErrorBox error={state.error} />
      <Loading when={state.loading} />
      {!state.loading && !editing && state.contact && (
        <div>
          <p class="contact-name" id="contact-name">{state.contact.name}</p>
          {state.contact.company && <p>{state.contact.company}</p>}
          <ul class="plain">
            {state.contact.devices.map((d) => <li><span class="number">{d.number}</span> {d.label && <span class="muted">({d.label})</span>}</li>)}
          </ul>
          <button type="button" class="button" id="contact-edit" onClick={() => setEditing(true)}>{t('contact.edit')}</button>
        </div>
      )}
      {!state.loading && !editing && !state.contact && !state.error && (
        <div>
          <p class="muted">{t('contact.none', { number })}</p>
          <button type="button" class="button" id="contact-add" onClick={() => setEditing(true)}>{t('contact.add')}</button>
        </div>
      )}
      {editing && (
        <ContactEditor contact={state.contact} initialNumber={number}
          onSaved={(contact) => {
            setEditing(false);
            setState({ loading: false, contact, error: null });
          }}
          onCancel={() => setEditing(false)} />
      )}
    </section>
  );
}

function SmsSection({ detail, onSent }) {
  const { t, fmt } = useApp();
  const remote = remoteNumber(detail.call);
  const [to, setTo] = useState(remote ?? '');
  const [text, setText] = useState('');
  const [state, setState] = useState({ busy: false, error: null, sent: null });
  const send = async (e) => {
    e.preventDefault();
    setState({ busy: true, error: null, sent: null });
    try {
      const sent = await api('/api/sms', { method: 'POST', body: { to, text, callId: detail.call.id } });
      setText('');
      setState({ busy: false, error: null, sent });
      onSent();
    } catch (error) {
      setState({ busy: false, error, sent: null });
    }
  };
  const fields = state.error?.fieldErrors ?? {};

  return (
    <section class="card" aria-labelledby="sms-heading">
      <h2 id="sms-heading">{t('sms.history')}</h2>
      {detail.sms.length === 0 ? <p class="muted" id="sms-none">{t('sms.noneForCall')}</p> : (
        <div class="table-wrap">
          <table class="table" id="sms-history">
            <thead>
              <tr>
                <th scope="col">{t('sms.col.created')}</th>
                <th scope="col">{t('sms.col.to')}</th>
                <th scope="col">{t('sms.col.text')}</th>
                <th scope="col">{t('sms.col.status')}</th>
              </tr>
            </thead>
            <tbody>
              {detail.sms.map((s) => (
                <tr data-sms-id={s.id} data-sms-status={s.status}>
                  <td>{fmt.dateTime(s.createdAt)}</td>
                  <td class="number">{s.to}</td>
                  <td class="sms-text">{s.text}</td>
                  <td>
                    <span class={`badge badge-sms-${s.status.toLowerCase()}`}>{t(`sms.status.${s.status}`)}</span>
                    {s.lastError && <small class="field-error"> {s.lastError}</small>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form class="sms-form" onSubmit={send} noValidate>
        <h3>{t('sms.send')}</h3>
        <div class="field">
          <label for="sms-to">{t('sms.to')}</label>
          <input id="sms-to" type="tel" value={to} onInput={(e) => setTo(e.currentTarget.value)} aria-invalid={fields.to ? 'true' : undefined} />
          {fields.to && <small class="field-error" role="alert">{fields.to.join(', ')}</small>}
        </div>
        <div class="field">
          <label for="sms-text">{t('sms.text')}</label>
          <textarea id="sms-text" rows={3} maxLength={SMS_MAX} value={text} aria-describedby="sms-count"
            onInput={(e) => setText(e.currentTarget.value)} aria-invalid={fields.text ? 'true' : undefined} />
          <small id="sms-count" class="muted">{t('sms.count', { n: text.length })}</small>
          {fields.text && <small class="field-error" role="alert">{fields.text.join(', ')}</small>}
        </div>
        {state.error && Object.keys(fields).length === 0 && <p class="alert alert-error" role="alert">{errorText(t, state.error)}</p>}
        <button type="submit" class="button button-primary" id="sms-send" disabled={state.busy}>{t('sms.sendButton')}</button>
        <span role="status" class="muted">{state.sent ? t('sms.queued', { id: state.sent.id }) : ''}</span>
      </form>
    </section>
  );
}

/** Call detail: the record, its timeline, legs, events with raw frames, SMS history with "send SMS", the contact card. */
export function CallDetail({ id }) {
  const { t, fmt } = useApp();
  const detail = useApi(`/api/calls/${encodeURIComponent(id)}`);
  const [polls, setPolls] = useState(0);
  const call = detail.data?.call;
  const heading = usePageTitle(call ? t('call.title', { when: fmt.dateTime(call.startedAt) }) : t('call.titleLoading'));

  // after sending, follow the SMS status (NEW → SENDING → SENT/ERROR) for up to 30 s
  useEffect(() => {
    if (polls <= 0) return undefined;
    const timer = setTimeout(() => {
      detail.reload();
      setPolls((n) => n - 1);
    }, 2000);
    return () => clearTimeout(timer);
  }, [polls]);
  useEffect(() => {
    if (polls > 0 && detail.data && !detail.data.sms.some((s) => s.status === 'NEW' || s.status === 'SENDING')) setPolls(0);
  }, [detail.data]);

  if (detail.error) {
    return (
      <section>
        <h1 tabIndex={-1} ref={heading}>{t('call.titleLoading')}</h1>
        <ErrorBox error={detail.error} />
        <p><a href="/calls">{t('call.back')}</a></p>
      </section>
    );
  }
  if (!call) return <Loading when />;

  const remote = remoteNumber(call);
  const items = timeline(detail.data);
  const start = new Date(call.startedAt).getTime();
  return (
    <section>
      <p class="crumbs"><a href="/calls">{t('call.back')}</a></p>
      <h1 tabIndex={-1} ref={heading}>{t('call.title', { when: fmt.dateTime(call.startedAt) })}</h1>
      <div class="grid">
        <section class="card" aria-labelledby="summary-heading">
          <h2 id="summary-heading">{t('call.summary')}</h2>
          <dl class="facts">
            <dt>{t('calls.col.status')}</dt><dd id="call-status"><StatusBadge status={call.status} />{call.missedReason && <span class="muted"> ({call.missedReason})</span>}</dd>
            <dt>{t('calls.col.direction')}</dt><dd>{t(`direction.${call.direction}`)}</dd>
            <dt>{t('calls.col.caller')}</dt><dd><span class="number">{call.caller ?? '—'}</span> {call.callerName && <span>({call.callerName})</span>} {call.contactName && <strong>{call.contactName}</strong>}</dd>
            <dt>{t('calls.col.called')}</dt><dd class="number">{call.called ?? '—'}</dd>
            <dt>{t('call.extensions')}</dt>
            <dd>
              <ul class="inline-list" id="call-extensions" aria-label={t('call.extensions')}>
                {call.extensions.map((x) => <li class={x === call.answeredBy ? 'answered' : undefined}>{x}</li>)}
              </ul>
              {call.extensions.length === 0 && <span class="muted">—</span>}
            </dd>
            <dt>{t('calls.col.answeredBy')}</dt><dd id="call-answered-by">{call.answeredBy ?? '—'}</dd>
            <dt>{t('call.startedAt')}</dt><dd>{fmt.dateTime(call.startedAt)}</dd>
            <dt>{t('call.answeredAt')}</dt><dd>{call.answeredAt ? fmt.dateTime(call.answeredAt) : '—'}</dd>
            <dt>{t('call.endedAt')}</dt><dd>{fmt.dateTime(call.endedAt)}</dd>
            <dt>{t('calls.col.ring')}</dt><dd>{fmt.seconds(call.ringSeconds)}</dd>
            <dt>{t('calls.col.talk')}</dt><dd>{fmt.duration(call.talkSeconds)}</dd>
            {call.trunk && <><dt>{t('call.trunk')}</dt><dd>{call.trunk}</dd></>}
            {call.ivrDigits && <><dt>{t('call.ivr')}</dt><dd>{call.ivrDigits}</dd></>}
            <dt>{t('call.pbx')}</dt><dd>{call.pbx} <span class="muted">({call.callKey})</span></dd>
          </dl>
        </section>
        {remote ? <ContactCard number={remote} /> : (
          <section class="card"><h2>{t('contact.title')}</h2><p class="muted">{t('call.internal')}</p></section>
        )}
      </div>

      <section class="card" aria-labelledby="timeline-heading">
        <h2 id="timeline-heading">{t('call.timeline')}</h2>
        <ol class="timeline" id="call-timeline">
          {items.map((i) => (
            <li class={i.strong ? 'strong' : undefined}>
              <time dateTime={i.at}>{fmt.timeMs(i.at)}</time>
              <span class="offset muted">+{fmt.seconds((new Date(i.at).getTime() - start) / 1000)}</span>
              <span>{t(i.key, { ...i.vars, outcome: i.vars.outcome ? t(`outcome.${i.vars.outcome}`) : '' })}</span>
            </li>
          ))}
        </ol>
      </section>

      <section class="card" aria-labelledby="legs-heading">
        <h2 id="legs-heading">{t('call.legs')}</h2>
        <div class="table-wrap">
          <table class="table" id="call-legs">
            <thead>
              <tr>
                <th scope="col">{t('call.leg.endpoint')}</th>
                <th scope="col">{t('call.leg.role')}</th>
                <th scope="col">{t('call.leg.rang')}</th>
                <th scope="col">{t('call.leg.answered')}</th>
                <th scope="col">{t('call.leg.ended')}</th>
                <th scope="col">{t('call.leg.outcome')}</th>
              </tr>
            </thead>
            <tbody>
              {detail.data.participants.map((p) => (
                <tr data-leg={p.endpoint} data-outcome={p.outcome ?? ''}>
                  <th scope="row">{p.endpoint}</th>
                  <td>{t(`role.${p.role}`)}</td>
                  <td>{fmt.timeMs(p.rangAt)}</td>
                  <td>{fmt.timeMs(p.answeredAt)}</td>
                  <td>{fmt.timeMs(p.endedAt)}</td>
                  <td>{p.outcome ? t(`outcome.${p.outcome}`) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <SmsSection detail={detail.data} onSent={() => {
        detail.reload();
        setPolls(15);
      }} />

      <section class="card" aria-labelledby="events-heading">
        <h2 id="events-heading">{t('call.events')}</h2>
        <div class="table-wrap">
          <table class="table" id="call-events">
            <thead>
              <tr>
                <th scope="col">{t('call.event.at')}</th>
                <th scope="col">{t('call.event.kind')}</th>
                <th scope="col">{t('call.event.endpoint')}</th>
                <th scope="col">{t('call.event.detail')}</th>
                <th scope="col">{t('call.event.frame')}</th>
              </tr>
            </thead>
            <tbody>
              {detail.data.events.map((e) => (
                <tr>
                  <td><time dateTime={e.at}>{fmt.timeMs(e.at)}</time></td>
                  <td>{e.kind}</td>
                  <td>{e.endpoint ?? '—'}</td>
                  <td>{e.detail ?? ''}</td>
                  <td><code class="frame">{e.frame ?? t('call.frameArchived')}</code></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <details class="raw">
          <summary>{t('call.rawFrames', { n: detail.data.events.length })}</summary>
          <pre id="raw-frames">{detail.data.events.map((e) => `${e.session}:${e.seq}\t${e.frame ?? ''}`).join('\n')}</pre>
        </details>
      </section>
    </section>
  );
}
