import { useApp } from '../context.js';

/** A readable message for an ApiError (or any error). */
export function errorText(t, error) {
  if (!error) return '';
  if (error.status === 0) return t('error.network');
  if (error.status === 401) return t('error.unauthorized');
  if (error.status === 403) return t('error.forbidden', { detail: error.problem?.detail ?? '' });
  if (error.status === 404) return t('error.notFound');
  if (error.status === 503) return t('error.unavailable');
  const fields = Object.entries(error.fieldErrors ?? {}).map(([k, v]) => `${k}: ${v.join(', ')}`);
  return fields.length > 0 ? fields.join('; ') : (error.problem?.detail || error.problem?.title || error.message);
}

/** An error box, announced to screen readers. */
export function ErrorBox({ error, id }) {
  const { t } = useApp();
  if (!error) return null;
  return <p class="alert alert-error" role="alert" id={id}>{errorText(t, error)}</p>;
}

/** "Loading…", announced politely. */
export function Loading({ when }) {
  const { t } = useApp();
  if (!when) return null;
  return <p class="muted" role="status">{t('common.loading')}</p>;
}

/** A call status as a coloured badge with its translated name. */
export function StatusBadge({ status }) {
  const { t } = useApp();
  return <span class={`badge badge-${status}`}>{t(`status.${status}`)}</span>;
}

/** Previous / next page with "page X of Y". */
export function Pager({ page, pageSize, total, onPage, label }) {
  const { t, fmt } = useApp();
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return (
    <nav class="pager" aria-label={label ?? t('pager.label')}>
      <button type="button" class="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>{t('pager.previous')}</button>
      <span aria-live="polite">{t('pager.position', { page: fmt.number(page), pages: fmt.number(pages) })}</span>
      <button type="button" class="button" disabled={page >= pages} onClick={() => onPage(page + 1)}>{t('pager.next')}</button>
    </nav>
  );
}

/** A labelled form field: label above, input (children), then the field's error. */
export function Field({ id, label, error, hint, children }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children}
      {hint && <small id={`${id}-hint`} class="muted">{hint}</small>}
      {error && <small id={`${id}-error`} class="field-error" role="alert">{error}</small>}
    </div>
  );
}

/** The phone number or name shown for a call's party: the contact's or PBX's name first, then the number. */
export function Party({ number, name }) {
  if (!number && !name) return <span class="muted">—</span>;
  if (!name) return <span class="number">{number}</span>;
  return (
    <span>
      {name} {number && <span class="number muted">{number}</span>}
    </span>
  );
}
