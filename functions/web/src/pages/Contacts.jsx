import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { api, queryString } from '../api.js';
import { ContactEditor } from '../components/ContactEditor.jsx';
import { ErrorBox, Loading, Pager, errorText } from '../components/common.jsx';
import { useApp, usePageTitle } from '../context.js';
import { useApi } from '../hooks.js';

const PAGE_SIZE = 50;

/** Contacts: search by name, company or number; create, edit (numbers with labels), delete. */
export function Contacts() {
  const { t, fmt } = useApp();
  const location = useLocation();
  const query = location.query;
  const heading = usePageTitle(t('contacts.title'));
  const page = Number(query.page ?? 1) || 1;
  const list = useApi(`/api/contacts${queryString({ search: query.search, page, pageSize: PAGE_SIZE })}`);
  const [search, setSearch] = useState(query.search ?? '');
  const [editing, setEditing] = useState(null); // a contact id, 'new' or null
  const [confirming, setConfirming] = useState(null);
  const [message, setMessage] = useState(null);
  const [error, setError] = useState(null);

  const go = (changes) => location.route(`/contacts${queryString({ ...query, ...changes })}`);
  const remove = async (contact) => {
    if (confirming !== contact.id) {
      setConfirming(contact.id);
      return;
    }
    setConfirming(null);
    try {
      await api(`/api/contacts/${contact.id}`, { method: 'DELETE' });
      setMessage(t('contacts.deleted', { name: contact.name }));
      list.reload();
    } catch (e) {
      setError(e);
    }
  };

  return (
    <section>
      <h1 tabIndex={-1} ref={heading}>{t('contacts.title')}</h1>
      <form class="filters card" role="search" onSubmit={(e) => { e.preventDefault(); go({ search, page: undefined }); }}>
        <div class="field">
          <label for="contacts-search">{t('contacts.search')}</label>
          <input id="contacts-search" type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        </div>
        <div class="filter-actions">
          <button type="submit" class="button button-primary">{t('contacts.searchButton')}</button>
          <button type="button" class="button" id="contact-new" onClick={() => setEditing('new')}>{t('contacts.new')}</button>
        </div>
      </form>
      <p role="status" class="muted">{message ?? ''}</p>
      {error && <p class="alert alert-error" role="alert">{errorText(t, error)}</p>}
      {editing === 'new' && (
        <section class="card" aria-labelledby="new-contact-heading">
          <h2 id="new-contact-heading">{t('contact.newTitle')}</h2>
          <ContactEditor contact={null} onSaved={(c) => { setEditing(null); setMessage(t('contacts.saved', { name: c.name })); list.reload(); }}
            onCancel={() => setEditing(null)} />
        </section>
      )}
      <ErrorBox error={list.error} />
      <Loading when={list.loading && !list.data} />
      {list.data && (
        <>
          <p id="contacts-total">{t('contacts.total', { count: fmt.number(list.data.total) })}</p>
          <ul class="contact-list" id="contacts-list">
            {list.data.items.map((c) => (
              <li class="card" data-contact-id={c.id}>
                {editing === c.id ? (
                  <ContactEditor contact={c} onSaved={(saved) => { setEditing(null); setMessage(t('contacts.saved', { name: saved.name })); list.reload(); }}
                    onCancel={() => setEditing(null)} />
                ) : (
                  <div class="contact-row">
                    <div>
                      <p class="contact-name">{c.name}</p>
                      {c.company && <p class="muted">{c.company}</p>}
                      <ul class="plain">
                        {c.devices.map((d) => (
                          <li>
                            <a class="number" href={`/calls${queryString({ q: d.number })}`} aria-label={t('contacts.callsOf', { number: d.number })}>{d.number}</a>
                            {d.label && <span class="muted"> ({d.label})</span>}
                          </li>
                        ))}
                      </ul>
                    </div>
                    <div class="actions">
                      <button type="button" class="button" onClick={() => setEditing(c.id)}>{t('contact.edit')}<span class="visually-hidden"> {c.name}</span></button>
                      <button type="button" class="button button-danger" onClick={() => remove(c)}>
                        {confirming === c.id ? t('contacts.confirmDelete') : t('contacts.delete')}<span class="visually-hidden"> {c.name}</span>
                      </button>
                    </div>
                  </div>
                )}
              </li>
            ))}
          </ul>
          {list.data.items.length === 0 && <p class="empty">{t('contacts.none')}</p>}
          <Pager page={page} pageSize={PAGE_SIZE} total={list.data.total} onPage={(p) => go({ page: p })} />
        </>
      )}
    </section>
  );
}
