import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { download, queryString } from '../api.js';
import { ErrorBox, Field, Loading, Pager, Party, StatusBadge, errorText } from '../components/common.jsx';
import { useApp, usePageTitle } from '../context.js';
import { localDateToUtc } from '../format.js';
import { useApi } from '../hooks.js';

export const DIRECTIONS = ['inbound', 'outbound', 'internal'];
export const STATUSES = ['answered', 'missed', 'busy', 'failed', 'voicemail', 'unknown'];
const FILTERS = ['from', 'to', 'direction', 'status', 'ext', 'q', 'pbx'];
const PAGE_SIZES = [25, 50, 100, 200];

/** The API's filter parameters from the page's own (from/to are local dates of the enterprise's zone, "to" inclusive). */
export function apiFilter(query, zone) {
  return {
    pbx: query.pbx,
    direction: query.direction,
    status: query.status,
    ext: query.ext,
    q: query.q,
    from: query.from ? localDateToUtc(query.from, zone) : undefined,
    to: query.to ? localDateToUtc(query.to, zone, 1) : undefined,
  };
}

/** A column header that sorts the whole filter on the server (GET /api/calls orderBy + sort). */
function SortHeader({ column, label, orderBy, sort, onSort }) {
  const { t } = useApp();
  const active = orderBy === column;
  const ariaSort = active ? (sort === 'asc' ? 'ascending' : 'descending') : 'none';
  const next = active && sort === 'desc' ? 'asc' : 'desc';
  return (
    <th scope="col" aria-sort={ariaSort}>
      <button type="button" class="sort" data-sort={column} onClick={() => onSort(column, next)}
        title={t(next === 'asc' ? 'calls.sortAsc' : 'calls.sortDesc', { column: label })}>
        {label}
        <span aria-hidden="true" class="sort-mark">{active ? (sort === 'asc' ? ' ▲' : ' ▼') : ''}</span>
      </button>
    </th>
  );
}

/** Call log: the /api/calls filters, server-side sort and paging, totals by status, CSV export of the whole filter. */
export function CallLog() {
  const { t, fmt, enterprise } = useApp();
  const location = useLocation();
  const query = location.query;
  const heading = usePageTitle(t('calls.title'));
  const [draft, setDraft] = useState(() => Object.fromEntries(FILTERS.map((k) => [k, query[k] ?? ''])));
  const [exportState, setExportState] = useState({ busy: false, error: null, done: null });
  useEffect(() => setDraft(Object.fromEntries(FILTERS.map((k) => [k, query[k] ?? '']))), [location.url]);

  const page = Number(query.page ?? 1) || 1;
  const pageSize = Number(query.pageSize ?? 50) || 50;
  const orderBy = query.orderBy ?? 'startedAt';
  const sort = query.sort ?? 'desc';
  const filter = apiFilter(query, enterprise.timeZone);
  const list = useApi(`/api/calls${queryString({ ...filter, page, pageSize, orderBy: orderBy === 'startedAt' ? undefined : orderBy, sort })}`);
  const summary = useApi(`/api/calls/summary${queryString(filter)}`);

  const go = (changes) => {
    const next = { ...query, ...changes };
    location.route(`/calls${queryString(next)}`);
  };
  const apply = (e) => {
    e.preventDefault();
    go({ ...draft, page: undefined });
  };
  const reset = () => location.route('/calls');
  const exportCsv = async () => {
    setExportState({ busy: true, error: null, done: null });
    try {
      const name = await download(`/api/calls.csv${queryString({ ...filter, sort: orderBy === 'startedAt' ? sort : undefined, bom: 'true' })}`, 'calls.csv');
      setExportState({ busy: false, error: null, done: name });
    } catch (error) {
      setExportState({ busy: false, error, done: null });
    }
  };

  const byStatus = {};
  const byDirection = {};
  for (const c of summary.data?.counts ?? []) {
    byStatus[c.status] = (byStatus[c.status] ?? 0) + c.count;
    byDirection[c.direction] = (byDirection[c.direction] ?? 0) + c.count;
  }
  const set = (key) => (e) => setDraft({ ...draft, [key]: e.currentTarget.value });
  const columns = [
    ['startedAt', t('calls.col.started')],
    ['direction', t('calls.col.direction')],
    ['status', t('calls.col.status')],
    ['caller', t('calls.col.caller')],
    ['called', t('calls.col.called')],
  ];

  return (
    <section>
      <h1 tabIndex={-1} ref={heading}>{t('calls.title')}</h1>
      <form class="filters card" onSubmit={apply} aria-label={t('calls.filters')} role="search">
        <Field id="filter-from" label={t('calls.filter.from')}>
          <input id="filter-from" type="date" value={draft.from} onInput={set('from')} />
        </Field>
        <Field id="filter-to" label={t('calls.filter.to')}>
          <input id="filter-to" type="date" value={draft.to} onInput={set('to')} />
        </Field>
        <Field id="filter-direction" label={t('calls.filter.direction')}>
          <select id="filter-direction" value={draft.direction} onChange={set('direction')}>
            <option value="">{t('common.all')}</option>
            {DIRECTIONS.map((d) => <option value={d}>{t(`direction.${d}`)}</option>)}
          </select>
        </Field>
        <Field id="filter-status" label={t('calls.filter.status')}>
          <select id="filter-status" value={draft.status} onChange={set('status')}>
            <option value="">{t('common.all')}</option>
            {STATUSES.map((s) => <option value={s}>{t(`status.${s}`)}</option>)}
          </select>
        </Field>
        <Field id="filter-ext" label={t('calls.filter.ext')}>
          <input id="filter-ext" type="text" inputMode="numeric" size={6} value={draft.ext} onInput={set('ext')} />
        </Field>
        <Field id="filter-q" label={t('calls.filter.q')}>
          <input id="filter-q" type="search" value={draft.q} onInput={set('q')} />
        </Field>
        {enterprise.pbxes.length > 1 && (
          <Field id="filter-pbx" label={t('calls.filter.pbx')}>
            <select id="filter-pbx" value={draft.pbx} onChange={set('pbx')}>
              <option value="">{t('common.all')}</option>
              {enterprise.pbxes.map((p) => <option value={p.id}>{p.name ?? p.id}</option>)}
            </select>
          </Field>
        )}
        <div class="filter-actions">
          <button type="submit" class="button button-primary" id="filter-apply">{t('calls.filter.apply')}</button>
          <button type="button" class="button" id="filter-reset" onClick={reset}>{t('calls.filter.reset')}</button>
        </div>
      </form>

      <div class="toolbar">
        <p id="calls-total" data-total={list.data?.total ?? ''} aria-live="polite">
          {list.data ? t('calls.total', { count: fmt.number(list.data.total) }) : ' '}
        </p>
        <ul class="chips" aria-label={t('calls.byStatus')} id="status-counts">
          {STATUSES.filter((s) => byStatus[s]).map((s) => (
            <li data-status-count={s}><StatusBadge status={s} /> <span class="count">{byStatus[s]}</span></li>
          ))}
          {DIRECTIONS.filter((d) => byDirection[d]).map((d) => (
            <li data-direction-count={d} class="muted">{t(`direction.${d}`)} <span class="count">{byDirection[d]}</span></li>
          ))}
        </ul>
        <div class="toolbar-end">
          <button type="button" class="button" id="export-csv" onClick={exportCsv} disabled={exportState.busy}>
            {exportState.busy ? t('calls.exporting') : t('calls.export')}
          </button>
          <span role="status" class="muted">{exportState.done ? t('calls.exported', { name: exportState.done }) : ''}</span>
          {exportState.error && <span role="alert" class="field-error">{errorText(t, exportState.error)}</span>}
        </div>
      </div>

      <ErrorBox error={list.error} />
      <Loading when={list.loading && !list.data} />
      {list.data && (
        <div class="table-wrap">
          <table id="calls-table" class="table">
            <caption class="visually-hidden">{t('calls.caption', { zone: enterprise.timeZone })}</caption>
            <thead>
              <tr>
                {columns.map(([column, label]) => (
                  <SortHeader column={column} label={label} orderBy={orderBy} sort={sort} onSort={(c, s) => go({ orderBy: c, sort: s, page: undefined })} />
                ))}
                <th scope="col">{t('calls.col.answeredBy')}</th>
                <SortHeader column="ringSeconds" label={t('calls.col.ring')} orderBy={orderBy} sort={sort} onSort={(c, s) => go({ orderBy: c, sort: s, page: undefined })} />
                <SortHeader column="talkSeconds" label={t('calls.col.talk')} orderBy={orderBy} sort={sort} onSort={(c, s) => go({ orderBy: c, sort: s, page: undefined })} />
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((c) => (
                <tr data-call-id={c.id} data-status={c.status}>
                  <td><a href={`/calls/${c.id}`}>{fmt.dateTime(c.startedAt)}</a></td>
                  <td>{t(`direction.${c.direction}`)}</td>
                  <td><StatusBadge status={c.status} /></td>
                  <td><Party number={c.caller} name={c.direction === 'inbound' ? (c.contactName ?? c.callerName) : c.callerName} /></td>
                  <td><Party number={c.called} name={c.direction === 'outbound' ? c.contactName : null} /></td>
                  <td>{c.answeredBy ?? <span class="muted">—</span>}</td>
                  <td class="num">{fmt.seconds(c.ringSeconds)}</td>
                  <td class="num">{fmt.duration(c.talkSeconds)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {list.data.items.length === 0 && <p class="empty">{t('calls.none')}</p>}
        </div>
      )}
      {list.data && (
        <div class="pager-row">
          <Pager page={page} pageSize={pageSize} total={list.data.total} onPage={(p) => go({ page: p })} />
          <div class="field inline">
            <label for="page-size">{t('pager.size')}</label>
            <select id="page-size" value={pageSize} onChange={(e) => go({ pageSize: e.currentTarget.value, page: undefined })}>
              {PAGE_SIZES.map((n) => <option value={n}>{n}</option>)}
            </select>
          </div>
        </div>
      )}
    </section>
  );
}
