import { render } from 'preact';
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { LocationProvider, Route, Router, useLocation } from 'preact-iso';
import { ApiError, api, getToken, onUnauthorized, setToken } from './api.js';
import { AppContext } from './context.js';
import { makeFormat } from './format.js';
import { LANGUAGES, initialLanguage, saveLanguage, translate } from './i18n.js';
import { CallDetail } from './pages/CallDetail.jsx';
import { CallLog } from './pages/CallLog.jsx';
import { Contacts } from './pages/Contacts.jsx';
import { Dashboard } from './pages/Dashboard.jsx';
import { Health } from './pages/Health.jsx';
import { Live } from './pages/Live.jsx';
import { NotFound } from './pages/NotFound.jsx';
import { SignIn } from './pages/SignIn.jsx';
import { SmsOutbox } from './pages/SmsOutbox.jsx';
import './styles.css';

const NAV = [
  ['/calls', 'nav.calls'],
  ['/live', 'nav.live'],
  ['/dashboard', 'nav.dashboard'],
  ['/health', 'nav.health'],
  ['/contacts', 'nav.contacts'],
  ['/sms', 'nav.sms'],
];

/** A token handed over in the URL fragment (#token=…, printed by ./ct run) goes to the session and out of the URL. */
function takeTokenFromFragment() {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match) return;
  setToken(decodeURIComponent(match[1]));
  history.replaceState(null, '', window.location.pathname + window.location.search);
}

function LanguageSelect({ lang, setLang, t }) {
  return (
    <div class="lang">
      <label for="lang-select" class="visually-hidden">{t('app.language')}</label>
      <select id="lang-select" value={lang} onChange={(e) => setLang(e.currentTarget.value)}>
        {Object.entries(LANGUAGES).map(([code, name]) => <option value={code} lang={code}>{name}</option>)}
      </select>
    </div>
  );
}

function Shell({ children, lang, setLang, t, enterprise, signOut, signedIn }) {
  const { path } = useLocation();
  return (
    <>
      <a class="skip-link" href="#main">{t('app.skip')}</a>
      <header class="topbar">
        <a class="brand" href={signedIn ? '/calls' : '/'}>CloudTelephony</a>
        {signedIn && (
          <nav aria-label={t('nav.label')} class="mainnav">
            <ul>
              {NAV.map(([href, key]) => {
                const current = path === href || path.startsWith(`${href}/`);
                return (
                  <li><a href={href} aria-current={current ? 'page' : undefined} class={current ? 'current' : undefined}>{t(key)}</a></li>
                );
              })}
            </ul>
          </nav>
        )}
        <div class="topbar-end">
          {enterprise && (
            <span class="who" id="enterprise-name">
              {enterprise.signedInAs ? t('app.signedInAs', { name: enterprise.signedInAs, enterprise: enterprise.name }) : enterprise.name}
            </span>
          )}
          <LanguageSelect lang={lang} setLang={setLang} t={t} />
          {signedIn && <button type="button" class="button button-quiet" id="sign-out" onClick={() => signOut()}>{t('app.signOut')}</button>}
        </div>
      </header>
      <main id="main" tabIndex={-1}>{children}</main>
    </>
  );
}

function App() {
  const [lang, setLangState] = useState(initialLanguage);
  const [config, setConfig] = useState(null);
  const [enterprise, setEnterprise] = useState(null);
  const [phase, setPhase] = useState('starting'); // starting | signed-out | signed-in
  const [notice, setNotice] = useState(null); // why the person is on the sign-in page (an ApiError or a message key)

  const t = useCallback((key, vars) => translate(lang, key, vars), [lang]);
  const setLang = (code) => {
    saveLanguage(code);
    setLangState(code);
  };
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);

  const fmt = useMemo(() => makeFormat(lang, enterprise?.timeZone ?? 'UTC'), [lang, enterprise]);

  const signOut = useCallback((reason = null) => {
    setToken(null);
    setEnterprise(null);
    setNotice(reason);
    setPhase('signed-out');
  }, []);

  /** Asks GET /api/enterprise who we are (with the session's token, or the App Service sign-in). */
  const identify = useCallback(async () => {
    try {
      const me = await api('/api/enterprise', { quiet401: true });
      setEnterprise(me);
      setNotice(null);
      setPhase('signed-in');
      return null;
    } catch (error) {
      setToken(null);
      setEnterprise(null);
      setPhase('signed-out');
      return error;
    }
  }, []);

  useEffect(() => {
    takeTokenFromFragment();
    onUnauthorized((error) => signOut(error));
    (async () => {
      let cfg = { auth: 'token' };
      try {
        cfg = await api('/api/webapp/config');
      } catch {
        // an older server without the endpoint: token sign-in
      }
      setConfig(cfg);
      if (getToken() || cfg.auth === 'appservice') {
        const error = await identify();
        // no token and no platform sign-in yet: not an error, just the sign-in page
        if (error && !(cfg.auth === 'appservice' && !getToken() && error.status === 401)) setNotice(error);
      } else {
        setPhase('signed-out');
      }
    })();
  }, []);

  const signIn = async (token) => {
    setToken(token);
    const error = await identify();
    if (error) setNotice(error);
    return error;
  };

  const context = { t, lang, fmt, config, enterprise, signOut };

  if (phase === 'starting') {
    return <p class="boot" role="status">{t('common.loading')}</p>;
  }

  return (
    <AppContext.Provider value={context}>
      <LocationProvider>
        <Shell lang={lang} setLang={setLang} t={t} enterprise={enterprise} signOut={signOut} signedIn={phase === 'signed-in'}>
          {phase === 'signed-in' ? (
            <Router>
              <Route path="/" component={CallLog} />
              <Route path="/calls" component={CallLog} />
              <Route path="/calls/:id" component={CallDetail} />
              <Route path="/live" component={Live} />
              <Route path="/dashboard" component={Dashboard} />
              <Route path="/health" component={Health} />
              <Route path="/contacts" component={Contacts} />
              <Route path="/sms" component={SmsOutbox} />
              <Route default component={NotFound} />
            </Router>
          ) : (
            <SignIn onSignIn={signIn} notice={notice instanceof ApiError || typeof notice === 'string' ? notice : null} />
          )}
        </Shell>
      </LocationProvider>
    </AppContext.Provider>
  );
}

render(<App />, document.getElementById('app'));
