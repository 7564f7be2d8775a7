import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { api, queryString } from '../api.js';
import { ErrorBox, Loading, Pager, errorText } from '../components/common.jsx';
import { useApp, usePageTitle } from '../context.js';
import { useApi } from '../hooks.js';

const STATES = ['NEW', 'SENDING', 'SENT', 'ERROR'];
const PAGE_SIZE = 50;

/** SMS outbox (GET /api/sms): status, attempts, errors with the provider's code; failed SMS can be sent again. */
export function SmsOutbox() {
  const { t, fmt } = useApp();
  const location = useLocation();
  const query = location.query;
  const heading = usePageTitle(t('outbox.title'));
  const page = Number(query.page ?? 1) || 1;
  const list = useApi(`/api/sms${queryString({ status: query.status, page, pageSize: PAGE_SIZE })}`, { refreshMs: 15_000 });
  const [message, setMessage] = useState(null);
  const [error, setError] = useState(null);
  const go = (changes) => location.route(`/sms${queryString({ ...query, ...changes })}`);

  const retry = async (sms) => {
    setError(null);
    try {
      await api(`/api/sms/${sms.id}/retry`, { method: 'POST' });
      setMessage(t('outbox.retried', { id: sms.id }));
      list.reload();
    } catch (e) {
      setError(e);
    }
  };

  const counts = list.data?.byStatus ?? {};
  return (
    <section>
      <h1 tabIndex={-1} ref={heading}>{t('outbox.title')}</h1>
      <nav aria-label={t('outbox.filter')} class="tabs">
        <ul>
          <li><a href="/sms" aria-current={!query.status ? 'page' : undefined}>{t('common.all')}</a></li>
          {STATES.map((s) => (
            <li>
              <a href={`/sms?status=${s}`} aria-current={query.status === s ? 'page' : undefined} data-sms-count={s}>
                {t(`sms.status.${s}`)} <span class="count">{counts[s] ?? 0}</span>
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <p role="status" class="muted">{message ?? ''}</p>
      {error && <p class="alert alert-error" role="alert">{errorText(t, error)}</p>}
      <ErrorBox error={list.error} />
      <Loading when={list.loading && !list.data} />
      {list.data && (
        <>
          <div class="table-wrap">
            <table class="table" id="outbox-table">
              <thead>
                <tr>
                  <th scope="col">{t('sms.col.created')}</th>
                  <th scope="col">{t('sms.col.to')}</th>
                  <th scope="col">{t('sms.col.text')}</th>
                  <th scope="col">{t('sms.col.status')}</th>
                  <th scope="col">{t('outbox.attempts')}</th>
                  <th scope="col">{t('outbox.error')}</th>
                  <th scope="col">{t('outbox.origin')}</th>
                  <th scope="col"><span class="visually-hidden">{t('outbox.actions')}</span></th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((s) => (
                  <tr data-sms-id={s.id} data-sms-status={s.status}>
                    <td>{fmt.dateTime(s.createdAt)}{s.sentAt && <div class="muted small">{t('outbox.sentAt', { at: fmt.dateTime(s.sentAt) })}</div>}</td>
                    <td class="number">{s.to}</td>
                    <td class="sms-text">{s.text}</td>
                    <td><span class={`badge badge-sms-${s.status.toLowerCase()}`}>{t(`sms.status.${s.status}`)}</span></td>
                    <td class="num">{s.attempts}</td>
                    <td>{s.lastError ? <span>{s.lastError}{s.providerCode && <span class="muted"> ({s.providerCode})</span>}</span> : ''}</td>
                    <td>
                      {s.originRuleId && <span>{t('outbox.rule', { id: s.originRuleId })} </span>}
                      {s.originUser && <span>{t('outbox.user', { user: s.originUser })} </span>}
                      {s.callId && <a href={`/calls/${s.callId}`}>{t('outbox.call', { id: s.callId })}</a>}
                    </td>
                    <td>
                      {s.status === 'ERROR' && (
                        <button type="button" class="button" onClick={() => retry(s)}>{t('outbox.retry')}<span class="visually-hidden"> {s.to}</span></button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {list.data.items.length === 0 && <p class="empty">{t('outbox.none')}</p>}
          <Pager page={page} pageSize={PAGE_SIZE} total={list.data.total} onPage={(p) => go({ page: p })} />
        </>
      )}
    </section>
  );
}
