import { createContext } from 'preact';
import { useContext, useEffect, useRef } from 'preact/hooks';

/**
 * What every page needs: t(key, vars) and lang (i18n.js), fmt (format.js, in the enterprise's zone), the enterprise
 * (GET /api/enterprise), config (GET /api/webapp/config) and signOut(message).
 */
export const AppContext = createContext(null);

/** The app context. */
export function useApp() {
  return useContext(AppContext);
}

/**
 * The page's title: sets document.title and moves the keyboard focus to the heading when the page opens, so screen
 * readers announce the new page after client-side navigation.
 */
export function usePageTitle(title) {
  const heading = useRef(null);
  useEffect(() => {
    document.title = `${title} · CloudTelephony`;
  }, [title]);
  useEffect(() => {
    heading.current?.focus({ preventScroll: false });
  }, []);
  return heading;
}
