import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { useApp } from '../context.js';
import { errorText } from './common.jsx';

let editorSeq = 0;

/**
 * Creates (contact = null) or edits a contact: name, company and its numbers with labels. POST /api/contacts or
 * PUT /api/contacts/{id} (the numbers given replace the stored ones). Field errors of the API show beside the field.
 */
export function ContactEditor({ contact, initialNumber, onSaved, onCancel }) {
  const { t } = useApp();
  const [prefix] = useState(() => `contact-${++editorSeq}`);
  const [name, setName] = useState(contact?.name ?? '');
  const [company, setCompany] = useState(contact?.company ?? '');
  const [devices, setDevices] = useState(() => contact?.devices?.map((d) => ({ number: d.raw || d.number, label: d.label ?? '' }))
    ?? [{ number: initialNumber ?? '', label: '' }]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const fields = error?.fieldErrors ?? {};

  const save = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const body = {
      name: name.trim(),
      company: company.trim() || null,
      devices: devices.filter((d) => d.number.trim()).map((d) => ({ number: d.number.trim(), label: d.label.trim() || null })),
    };
    try {
      const saved = contact
        ? await api(`/api/contacts/${contact.id}`, { method: 'PUT', body })
        : await api('/api/contacts', { method: 'POST', body });
      setBusy(false);
      onSaved(saved);
    } catch (failure) {
      setBusy(false);
      setError(failure);
    }
  };

  const setDevice = (i, key) => (e) => setDevices(devices.map((d, j) => (j === i ? { ...d, [key]: e.currentTarget.value } : d)));
  const fieldError = (key) => fields[key]?.join(', ');

  return (
    <form class="contact-editor" onSubmit={save} noValidate aria-label={contact ? t('contact.editTitle') : t('contact.newTitle')}>
      <div class="field">
        <label for={`${prefix}-name`}>{t('contact.name')}</label>
        <input id={`${prefix}-name`} value={name} required maxLength={200} aria-invalid={fieldError('name') ? 'true' : undefined}
          onInput={(e) => setName(e.currentTarget.value)} />
        {fieldError('name') && <small class="field-error" role="alert">{fieldError('name')}</small>}
      </div>
      <div class="field">
        <label for={`${prefix}-company`}>{t('contact.company')}</label>
        <input id={`${prefix}-company`} value={company} maxLength={200} onInput={(e) => setCompany(e.currentTarget.value)} />
        {fieldError('company') && <small class="field-error" role="alert">{fieldError('company')}</small>}
      </div>
      <fieldset>
        <legend>{t('contact.numbers')}</legend>
        {devices.map((d, i) => (
          <div class="device-row">
            <div class="field">
              <label for={`${prefix}-number-${i}`}>{t('contact.number')}</label>
              <input id={`${prefix}-number-${i}`} type="tel" value={d.number} onInput={setDevice(i, 'number')}
                aria-invalid={fieldError(`devices[${i}].number`) ? 'true' : undefined} />
              {fieldError(`devices[${i}].number`) && <small class="field-error" role="alert">{fieldError(`devices[${i}].number`)}</small>}
            </div>
            <div class="field">
              <label for={`${prefix}-label-${i}`}>{t('contact.label')}</label>
              <input id={`${prefix}-label-${i}`} value={d.label} maxLength={50} onInput={setDevice(i, 'label')} />
            </div>
            <button type="button" class="button button-quiet" onClick={() => setDevices(devices.filter((_, j) => j !== i))}>
              {t('contact.removeNumber')}<span class="visually-hidden"> {d.number}</span>
            </button>
          </div>
        ))}
        <button type="button" class="button" onClick={() => setDevices([...devices, { number: '', label: '' }])}>{t('contact.addNumber')}</button>
      </fieldset>
      {error && Object.keys(fields).length === 0 && <p class="alert alert-error" role="alert">{errorText(t, error)}</p>}
      <div class="actions">
        <button type="submit" class="button button-primary" disabled={busy}>{t('common.save')}</button>
        {onCancel && <button type="button" class="button" onClick={onCancel}>{t('common.cancel')}</button>}
      </div>
    </form>
  );
}
