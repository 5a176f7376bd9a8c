// The API client: every call carries the key the user signed in with, held in sessionStorage
// only (it is gone when the browser tab is closed).

const STORE = 'wspolicy.console';

// The API lives next to the console: /console/ → /v1 (keeping any stage prefix in front).
export const apiBase = location.pathname.replace(/\/console(\/.*)?$/, '') + '/v1';
// Calls with an ID token of the identity provider go to /sso/v1, the same routes behind the
// AWS HTTP API's JWT authorizer (docs/sign-in.md); API keys go to /v1.
const ssoBase = apiBase.replace(/\/v1$/, '/sso/v1');
const isJWT = (k) => /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/.test(k || '');

/** An error answer of the API: {"error": {"code", "message", "field"}} with its status. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail.message || `HTTP ${status}`);
    this.status = status;
    this.code = detail.code || `http_${status}`;
    this.field = detail.field || '';
  }
}

// A sign-in through the identity provider is kept in memory only (issue 19).
let memoryIdentity = null;

/** Keeps an identity signed in with the identity provider (its ID token as key) in memory. */
export function setMemoryIdentity(id) { memoryIdentity = id; }

/** The signed-in identity: {key, role, user_id, username, sso} or null. */
export function identity() {
  if (memoryIdentity) return memoryIdentity;
  try {
    const v = JSON.parse(sessionStorage.getItem(STORE) || 'null');
    return v && typeof v.key === 'string' ? v : null;
  } catch {
    return null;
  }
}

export function saveIdentity(id) { sessionStorage.setItem(STORE, JSON.stringify(id)); }
export function clearIdentity() { memoryIdentity = null; sessionStorage.removeItem(STORE); }

/**
 * Calls the API. opts: body (sent as JSON), version (sent as If-Match), key (overrides the
 * stored key, for sign-in). Resolves to the parsed JSON (null for 204), rejects with ApiError.
 */
export async function api(method, path, opts = {}) {
  const key = opts.key ?? identity()?.key;
  const headers = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.version) headers['If-Match'] = `"${opts.version}"`;
  let res;
  try {
    res = await fetch((isJWT(key) ? ssoBase : apiBase) + path, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError(0, { code: 'network', message: `The API did not answer (${e.message}).` });
  }
  if (res.status === 204) return null;
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data?.error || { message: `HTTP ${res.status} ${res.statusText}` });
    if (res.status === 401 && !opts.key) window.dispatchEvent(new CustomEvent('wsp-unauthorized', { detail: err }));
    throw err;
  }
  return data;
}

export const get = (path) => api('GET', path);

/** Encodes one path segment. */
export const seg = (s) => encodeURIComponent(s);

/**
 * Finds out who a key belongs to (GET /v1/me, and the user's name for a user key).
 * Resolves to {role, user_id, username} or rejects with ApiError.
 */
export async function whoami(key) {
  const me = await api('GET', '/me', { key });
  const role = me.role === 'admin' ? 'admin' : 'user';
  const uid = me.user_id || '';
  let username = '';
  if (uid) {
    try { username = (await api('GET', `/users/${seg(uid)}`, { key })).username; } catch { /* optional */ }
  }
  return { role, user_id: uid, username };
}

let catalogCache = null;

/** The settings catalog, read once per page load: a Map from name to entry. */
export async function catalog() {
  if (!catalogCache) {
    catalogCache = get('/settings').then((d) => new Map((d.settings || []).map((s) => [s.name, s])))
      .catch((e) => { catalogCache = null; throw e; });
  }
  return catalogCache;
}

let limitsCache = null;

/**
 * The limits on groups and users the service enforces (GET /v1/limits), read once per page
 * load: {group_name_max_chars, group_description_max_chars, group_priority_min,
 * group_priority_max, group_priority_default, all_users_priority, username_max_chars, …}.
 */
export async function limits() {
  if (!limitsCache) {
    limitsCache = get('/limits').catch((e) => { limitsCache = null; throw e; });
  }
  return limitsCache;
}
