// Times are shown in the enterprise's time zone (GET /api/enterprise → timeZone), whatever the browser's zone is.
// Date inputs are local dates of that zone; they become UTC instants for the API here.

const LOCALES = { en: 'en-GB', pl: 'pl-PL' };

/** The Intl locale of a UI language. */
export function locale(lang) {
  return LOCALES[lang] ?? 'en-GB';
}

/** Offset (ms) of `zone` from UTC at instant `ms`: local wall time minus UTC. */
function zoneOffset(zone, ms) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(ms));
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return wall - Math.floor(ms / 1000) * 1000;
}

/** The UTC instant (ISO 8601) of local midnight starting `date` ("YYYY-MM-DD") in `zone`, plus `days`. */
export function localDateToUtc(date, zone, days = 0) {
  const [y, m, d] = date.split('-').map(Number);
  const wall = Date.UTC(y, m - 1, d + days);
  // two passes: the offset at the first guess may differ from the offset at the answer (DST change that day)
  let guess = wall - zoneOffset(zone, wall);
  guess = wall - zoneOffset(zone, guess);
  return new Date(guess).toISOString();
}

/** The local date ("YYYY-MM-DD") of an instant in `zone`. */
export function utcToLocalDate(iso, zone) {
  const ms = new Date(iso).getTime();
  return new Date(ms + zoneOffset(zone, ms)).toISOString().slice(0, 10);
}

/** Formatters for one language and zone. */
export function makeFormat(lang, zone) {
  const loc = locale(lang);
  const dateTime = new Intl.DateTimeFormat(loc, { timeZone: zone, dateStyle: 'short', timeStyle: 'medium' });
  const date = new Intl.DateTimeFormat(loc, { timeZone: zone, dateStyle: 'medium' });
  const time = new Intl.DateTimeFormat(loc, { timeZone: zone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  const timeMs = new Intl.DateTimeFormat(loc, {
    timeZone: zone, hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 1, hourCycle: 'h23',
  });
  const hour = new Intl.DateTimeFormat(loc, { timeZone: zone, day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const seconds = new Intl.NumberFormat(loc, { maximumFractionDigits: 1, minimumFractionDigits: 0 });
  const number = new Intl.NumberFormat(loc);
  const percent = new Intl.NumberFormat(loc, { style: 'percent', maximumFractionDigits: 0 });
  const when = (fmt) => (iso) => (iso ? fmt.format(new Date(iso)) : '—');
  return {
    zone,
    dateTime: when(dateTime),
    date: when(date),
    time: when(time),
    timeMs: when(timeMs),
    hour: when(hour),
    /** Seconds as "14.8 s" (ring times). */
    seconds: (s) => (s === null || s === undefined ? '—' : `${seconds.format(s)} s`),
    /** Seconds as "1:55" or "1:02:03" (talk times). */
    duration: (s) => {
      if (s === null || s === undefined) return '—';
      const total = Math.round(s);
      const h = Math.floor(total / 3600);
      const m = Math.floor((total % 3600) / 60);
      const sec = String(total % 60).padStart(2, '0');
      return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
    },
    number: (n) => number.format(n ?? 0),
    percent: (r) => (r === null || r === undefined ? '—' : percent.format(r)),
  };
}
