import { useState } from 'preact/hooks';
import { useApp, usePageTitle } from '../context.js';

/** Why a sign-in failed, in words a receptionist understands. */
function signInError(t, error) {
  if (!error) return null;
  if (typeof error === 'string') return t(error);
  if (error.status === 0) return t('signIn.error.network');
  if (error.status === 401) return t('signIn.error.unknown');
  if (error.status === 403) return t('signIn.error.forbidden', { detail: error.problem?.detail ?? '' });
  return t('signIn.error.other', { detail: error.problem?.detail ?? error.message });
}

/** Sign-in: a crm token (kept in this tab's session only), or App Service authentication (Entra ID) when configured. */
export function SignIn({ onSignIn, notice }) {
  const { t, config } = useApp();
  const heading = usePageTitle(t('signIn.title'));
  const [token, setTokenValue] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const shown = error ?? notice;

  const submit = async (e) => {
    e.preventDefault();
    if (!token.trim()) {
      setError('signIn.error.empty');
      return;
    }
    setBusy(true);
    setError(null);
    const failure = await onSignIn(token.trim());
    setBusy(false);
    if (failure) setError(failure);
  };

  const back = encodeURIComponent(window.location.pathname + window.location.search);
  return (
    <section class="signin card">
      <h1 tabIndex={-1} ref={heading}>{t('signIn.title')}</h1>
      <p>{t('signIn.intro')}</p>
      {shown && <p class="alert alert-error" role="alert" id="signin-error">{signInError(t, shown)}</p>}
      {config?.auth === 'appservice' && (
        <p>
          <a class="button button-primary" id="sign-in-entra" href={`${config.loginPath}?post_login_redirect_uri=${back}`}>{t('signIn.entra')}</a>
        </p>
      )}
      <form onSubmit={submit} noValidate>
        <div class="field">
          <label for="token">{t('signIn.token')}</label>
          <input id="token" name="token" type="password" autocomplete="off" spellcheck={false} value={token}
            aria-describedby="token-hint" onInput={(e) => setTokenValue(e.currentTarget.value)} />
          <small id="token-hint" class="muted">{t('signIn.tokenHint')}</small>
        </div>
        <button class="button button-primary" id="sign-in" type="submit" disabled={busy}>{busy ? t('signIn.checking') : t('signIn.submit')}</button>
      </form>
    </section>
  );
}
