import { useApp, usePageTitle } from '../context.js';

/** Any path the app does not know. */
export function NotFound() {
  const { t } = useApp();
  const heading = usePageTitle(t('notFound.title'));
  return (
    <section>
      <h1 tabIndex={-1} ref={heading}>{t('notFound.title')}</h1>
      <p><a href="/calls">{t('notFound.back')}</a></p>
    </section>
  );
}
