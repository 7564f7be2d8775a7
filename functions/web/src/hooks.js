import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';

/**
 * Loads `path` (null = nothing to load) and reloads it when `path` changes or every `refreshMs` (0 = never).
 * Returns { data, error, loading, reload }. A refresh keeps the previous data on screen while it loads.
 */
export function useApi(path, { refreshMs = 0 } = {}) {
  const [state, setState] = useState({ data: null, error: null, loading: !!path });
  const generation = useRef(0);

  const load = useCallback(async (signal) => {
    if (!path) return;
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await api(path, { signal });
      if (mine === generation.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (error?.name === 'AbortError') return;
      if (mine === generation.current) setState((s) => ({ data: s.data, error, loading: false }));
    }
  }, [path]);

  useEffect(() => {
    const controller = new AbortController();
    setState({ data: null, error: null, loading: !!path });
    load(controller.signal);
    let timer = 0;
    if (refreshMs > 0) timer = setInterval(() => load(controller.signal), refreshMs);
    return () => {
      controller.abort();
      clearInterval(timer);
    };
  }, [load, refreshMs]);

  return { ...state, reload: () => load() };
}
