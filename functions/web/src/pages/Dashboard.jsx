import { useEffect, useMemo, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { queryString } from '../api.js';
import { ChartCanvas, STATUS_COLOURS } from '../components/Chart.jsx';
import { ErrorBox, Field, Loading } from '../components/common.jsx';
import { useApp, usePageTitle } from '../context.js';
import { localDateToUtc, utcToLocalDate } from '../format.js';
import { useApi } from '../hooks.js';
import { STATUSES } from './CallLog.jsx';

function Kpi({ id, label, value }) {
  return (
    <div class="kpi" id={id}>
      <span class="kpi-value">{value}</span>
      <span class="kpi-label">{label}</span>
    </div>
  );
}

/**
 * Dashboard (GET /api/dashboard): calls per hour by status, answer rate and median ring time per extension, missed
 * calls not called back yet. Without a range the server picks the 7 days ending with the newest call.
 */
export function Dashboard() {
  const { t, fmt, enterprise } = useApp();
  const location = useLocation();
  const query = location.query;
  const heading = usePageTitle(t('dash.title'));
  const zone = enterprise.timeZone;
  const path = `/api/dashboard${queryString({
    from: query.from ? localDateToUtc(query.from, zone) : undefined,
    to: query.to ? localDateToUtc(query.to, zone, 1) : undefined,
    pbx: query.pbx,
  })}`;
  const dash = useApi(path, { refreshMs: 60_000 });
  const d = dash.data;
  const [draft, setDraft] = useState({ from: query.from ?? '', to: query.to ?? '', pbx: query.pbx ?? '' });
  useEffect(() => {
    if (d && !query.from && !query.to) {
      // show the range the server chose (its "to" is exclusive: the day before is the last one shown)
      setDraft((x) => ({ ...x, from: utcToLocalDate(d.from, zone), to: utcToLocalDate(new Date(new Date(d.to).getTime() - 1).toISOString(), zone) }));
    }
  }, [d?.from, d?.to]);

  const hourChart = useMemo(() => d && ({
    type: 'bar',
    data: {
      labels: d.hours.map((h) => fmt.hour(h.hour)),
      datasets: STATUSES.map((s) => ({
        label: t(`status.${s}`),
        data: d.hours.map((h) => h[s]),
        backgroundColor: STATUS_COLOURS[s],
        stack: 'calls',
      })).filter((ds) => ds.data.some((n) => n > 0)),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: { x: { stacked: true, ticks: { autoSkip: true, maxRotation: 0 } }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { position: 'bottom' } },
    },
  }), [d, fmt, t]);

  const extChart = useMemo(() => d && ({
    type: 'bar',
    data: {
      labels: d.extensions.map((x) => x.extension),
      datasets: [
        { label: t('dash.answerRate'), data: d.extensions.map((x) => Math.round(x.answerRate * 100)), backgroundColor: '#2f7d32', yAxisID: 'rate' },
        { label: t('dash.medianRing'), data: d.extensions.map((x) => x.medianRingSeconds), backgroundColor: '#1565c0', yAxisID: 'ring' },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        rate: { type: 'linear', position: 'left', min: 0, max: 100, title: { display: true, text: t('dash.answerRateAxis') } },
        ring: { type: 'linear', position: 'right', beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: t('dash.medianRingAxis') } },
      },
      plugins: { legend: { position: 'bottom' } },
    },
  }), [d, t]);

  const apply = (e) => {
    e.preventDefault();
    location.route(`/dashboard${queryString(draft)}`);
  };

  return (
    <section>
      <h1 tabIndex={-1} ref={heading}>{t('dash.title')}</h1>
      <form class="filters card" onSubmit={apply} aria-label={t('dash.range')}>
        <Field id="dash-from" label={t('calls.filter.from')}>
          <input id="dash-from" type="date" value={draft.from} onInput={(e) => setDraft({ ...draft, from: e.currentTarget.value })} />
        </Field>
        <Field id="dash-to" label={t('calls.filter.to')}>
          <input id="dash-to" type="date" value={draft.to} onInput={(e) => setDraft({ ...draft, to: e.currentTarget.value })} />
        </Field>
        {enterprise.pbxes.length > 1 && (
          <Field id="dash-pbx" label={t('calls.filter.pbx')}>
            <select id="dash-pbx" value={draft.pbx} onChange={(e) => setDraft({ ...draft, pbx: e.currentTarget.value })}>
              <option value="">{t('common.all')}</option>
              {enterprise.pbxes.map((p) => <option value={p.id}>{p.name ?? p.id}</option>)}
            </select>
          </Field>
        )}
        <div class="filter-actions">
          <button type="submit" class="button button-primary" id="dash-apply">{t('calls.filter.apply')}</button>
        </div>
      </form>
      <ErrorBox error={dash.error} />
      <Loading when={dash.loading && !d} />
      {d && (
        <>
          <p class="muted" id="dash-range">{t('dash.rangeText', { from: fmt.dateTime(d.from), to: fmt.dateTime(d.to), zone: d.timeZone })}</p>
          <div class="kpis">
            <Kpi id="kpi-calls" label={t('dash.calls')} value={fmt.number(d.totals.calls)} />
            <Kpi id="kpi-answered" label={t('dash.answered')} value={fmt.number(d.totals.answered)} />
            <Kpi id="kpi-missed" label={t('dash.missed')} value={fmt.number(d.totals.missed)} />
            <Kpi id="kpi-rate" label={t('dash.answerRate')} value={fmt.percent(d.totals.answerRate)} />
            <Kpi id="kpi-not-called-back" label={t('dash.notCalledBack')} value={fmt.number(d.totals.missedNotCalledBack)} />
          </div>

          <section class="card" aria-labelledby="hours-heading">
            <h2 id="hours-heading">{t('dash.perHour')}</h2>
            <ChartCanvas id="chart-hours" config={hourChart} label={t('dash.perHourChart', { calls: fmt.number(d.totals.calls) })} />
            <details>
              <summary>{t('dash.asTable')}</summary>
              <div class="table-wrap">
                <table class="table" id="hours-table">
                  <thead>
                    <tr><th scope="col">{t('dash.hour')}</th>{STATUSES.map((s) => <th scope="col">{t(`status.${s}`)}</th>)}</tr>
                  </thead>
                  <tbody>
                    {d.hours.filter((h) => h.total > 0).map((h) => (
                      <tr><th scope="row">{fmt.hour(h.hour)}</th>{STATUSES.map((s) => <td class="num">{h[s]}</td>)}</tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </details>
          </section>

          <section class="card" aria-labelledby="ext-heading">
            <h2 id="ext-heading">{t('dash.perExtension')}</h2>
            {d.extensions.length > 0 && <ChartCanvas id="chart-extensions" config={extChart} label={t('dash.perExtensionChart')} />}
            <div class="table-wrap">
              <table class="table" id="extensions-table">
                <thead>
                  <tr>
                    <th scope="col">{t('dash.extension')}</th>
                    <th scope="col">{t('dash.offered')}</th>
                    <th scope="col">{t('dash.answeredByIt')}</th>
                    <th scope="col">{t('dash.answeredElsewhere')}</th>
                    <th scope="col">{t('dash.missed')}</th>
                    <th scope="col">{t('dash.answerRate')}</th>
                    <th scope="col">{t('dash.medianRing')}</th>
                  </tr>
                </thead>
                <tbody>
                  {d.extensions.map((x) => (
                    <tr data-extension={x.extension}>
                      <th scope="row"><a href={`/calls${queryString({ ext: x.extension })}`}>{x.extension}</a> {x.userName && <span class="muted">{x.userName}</span>}</th>
                      <td class="num">{x.offered}</td>
                      <td class="num">{x.answered}</td>
                      <td class="num">{x.answeredElsewhere}</td>
                      <td class="num">{x.missed}</td>
                      <td class="num">{fmt.percent(x.answerRate)}</td>
                      <td class="num">{fmt.seconds(x.medianRingSeconds)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>

          <section class="card" aria-labelledby="missed-heading">
            <h2 id="missed-heading">{t('dash.missedNotCalledBack')}</h2>
            <p class="muted">{t('dash.calledBackRule')}</p>
            {d.missedNotCalledBack.length === 0 ? <p id="missed-none">{t('dash.allCalledBack')}</p> : (
              <div class="table-wrap">
                <table class="table" id="missed-table">
                  <thead>
                    <tr>
                      <th scope="col">{t('dash.caller')}</th>
                      <th scope="col">{t('dash.missedCalls')}</th>
                      <th scope="col">{t('dash.lastMissed')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.missedNotCalledBack.map((m) => (
                      <tr data-number={m.number}>
                        <th scope="row"><span class="number">{m.number}</span> {m.contactName && <strong>{m.contactName}</strong>}</th>
                        <td class="num"><a href={`/calls${queryString({ q: m.caller ?? m.number, status: 'missed' })}`}>{m.missedCalls}</a></td>
                        <td><a href={`/calls/${m.lastCallId}`}>{fmt.dateTime(m.lastMissedAt)}</a></td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        </>
      )}
    </section>
  );
}
