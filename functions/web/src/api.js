// The one way the pages talk to the functions app: JSON over fetch, the crm token from the browser session (never
// localStorage), the X-CT-Client header (required for an App Service sign-in), RFC 9457 problem details as ApiError.

const TOKEN_KEY = 'ct.token';

/** The crm token of this browser tab's session, or null (App Service sign-in or signed out). */
export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Keeps (or forgets, with null) the token for this tab's session only. */
export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** A failed API call: status 0 = the server could not be reached; problem = the server's problem details, if any. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }

  /** Field errors of a validation problem: { field: [messages] }. */
  get fieldErrors() {
    return this.problem?.errors ?? {};
  }
}

let unauthorizedHandler = null;

/** Called with the ApiError when a signed-in call answers 401 (token revoked, sign-in expired). */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

/** Headers of every API call. */
export function authHeaders() {
  const headers = { 'X-CT-Client': 'web' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

/**
 * Calls the API. Returns the parsed JSON (null for 204), or the Response itself with { raw: true }.
 * Throws ApiError for non-2xx answers and network failures, and passes AbortError through.
 */
export async function api(path, { method = 'GET', body, signal, raw = false, quiet401 = false } = {}) {
  const headers = { ...authHeaders(), Accept: raw ? '*/*' : 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    if (e?.name === 'AbortError') throw e;
    throw new ApiError(0, null);
  }

  if (!response.ok) {
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      problem = null;
    }
    const error = new ApiError(response.status, problem);
    if (response.status === 401 && !quiet401 && unauthorizedHandler) unauthorizedHandler(error);
    throw error;
  }

  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

/** A query string ("?a=1&b=2") of the non-empty values, or "". */
export function queryString(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Downloads an authenticated GET as a file (fetch → blob → a temporary link): CSV exports. */
export async function download(path, fallbackName) {
  const response = await api(path, { raw: true });
  const disposition = response.headers.get('Content-Disposition') ?? '';
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  const name = match ? decodeURIComponent(match[1]) : fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}
