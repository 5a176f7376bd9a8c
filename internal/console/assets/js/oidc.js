// Sign-in with the organisation's identity provider (issue 19): OpenID Connect authorization
// code with PKCE, as a public client (no secret in the page). The PKCE verifier and state live
// in sessionStorage only across the redirect to the provider and back; the ID and refresh
// tokens are kept in memory only (a reload or a new tab signs in again). Before the ID token
// expires the console renews it with the refresh token (renew); when that fails it asks the
// person to sign in again.
import { apiBase } from './api.js';

const PENDING = 'wspolicy.oidc.pending';

let configCache = null;

/** The API's OIDC configuration ({enabled, issuer, client_id, scopes}); {enabled:false} on error. */
export function oidcConfig() {
  if (!configCache) {
    configCache = fetch(apiBase + '/auth/oidc', { cache: 'no-store', credentials: 'omit' })
      .then((r) => (r.ok ? r.json() : { enabled: false }))
      .catch(() => ({ enabled: false }));
  }
  return configCache;
}

/**
 * The provider's endpoints: from the API's configuration when it could discover them (some
 * providers do not serve their discovery document cross-origin), else from the document.
 */
async function discovery(issuer) {
  const cfg = await oidcConfig();
  if (cfg.authorization_endpoint && cfg.token_endpoint) return cfg;
  const res = await fetch(issuer.replace(/\/$/, '') + '/.well-known/openid-configuration', { credentials: 'omit' });
  if (!res.ok) throw new Error(`The identity provider's configuration could not be read (HTTP ${res.status}).`);
  return res.json();
}

function b64url(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function random(n) {
  const a = new Uint8Array(n);
  crypto.getRandomValues(a);
  return b64url(a);
}

/** The page the provider sends the code back to: this console, without query or hash. */
function redirectURI() { return location.origin + location.pathname; }

/** Sends the browser to the provider's sign-in page. */
export async function startSignIn() {
  const cfg = await oidcConfig();
  const d = await discovery(cfg.issuer);
  const verifier = random(32);
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const state = random(16);
  const nonce = random(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, nonce, hash: location.hash }));
  const q = new URLSearchParams({
    client_id: cfg.client_id, response_type: 'code', scope: cfg.scopes || 'openid',
    redirect_uri: redirectURI(), state, nonce, code_challenge: challenge, code_challenge_method: 'S256',
  });
  location.assign(`${d.authorization_endpoint}?${q}`);
}

/** True when the page was opened by the provider's redirect (?code=…&state=…). */
export function isCallback() {
  const q = new URLSearchParams(location.search);
  return q.has('state') && (q.has('code') || q.has('error'));
}

/** The claims of a JWT, without verifying it (the API verifies; the page only reads exp). */
function claimsOf(jwt) {
  const b = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b), (c) => c.charCodeAt(0))));
}

async function tokenRequest(endpoint, form) {
  let res;
  try {
    res = await fetch(endpoint, {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, credentials: 'omit',
      cache: 'no-store', body: new URLSearchParams(form),
    });
  } catch (e) {
    throw new Error(`The identity provider did not answer (${e.message}).`);
  }
  const tr = await res.json().catch(() => ({}));
  if (!res.ok || !tr.id_token) throw new Error(`The identity provider did not issue a token (${tr.error || res.status}).`);
  return tr;
}

/**
 * Renews a sign-in with its refresh token (the refresh_token grant of the public client).
 * Resolves to {idToken, refreshToken, expiresAt}; rejects when the provider refuses (the
 * refresh token expired or was revoked): the person must sign in again.
 */
export async function renew(refreshToken) {
  const cfg = await oidcConfig();
  const d = await discovery(cfg.issuer);
  const tr = await tokenRequest(d.token_endpoint, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: cfg.client_id });
  return { idToken: tr.id_token, refreshToken: tr.refresh_token || refreshToken, expiresAt: (claimsOf(tr.id_token).exp || 0) * 1000 };
}

/**
 * When to renew a token that expires at expiresAt (ms), issued issuedAt: a third of its
 * lifetime (at most a minute) before it expires, and not sooner than in two seconds.
 */
export function renewalDelay(expiresAt, issuedAt, now = Date.now()) {
  const lifetime = Math.max(0, expiresAt - issuedAt);
  return Math.max(2000, expiresAt - now - Math.min(60000, lifetime / 3));
}

/** The issue time (ms) of a JWT. */
export function issuedAt(jwt) {
  try { return (claimsOf(jwt).iat || 0) * 1000; } catch { return 0; }
}

/**
 * Where to send the browser to end the session at the provider too (RP-initiated logout),
 * or '' when the provider offers no end_session_endpoint (the development provider keeps no
 * session: signing out of the console is enough).
 */
export async function endSessionURL(idToken) {
  try {
    const cfg = await oidcConfig();
    const d = await discovery(cfg.issuer);
    if (!d.end_session_endpoint) return '';
    const q = new URLSearchParams({ client_id: cfg.client_id, id_token_hint: idToken, post_logout_redirect_uri: redirectURI() });
    return `${d.end_session_endpoint}?${q}`;
  } catch {
    return '';
  }
}

/**
 * Finishes a sign-in: checks the state, exchanges the code (with the PKCE verifier) for tokens
 * and returns {idToken, refreshToken, expiresAt, hash}. The query is removed from the address
 * bar.
 */
export async function completeSignIn() {
  const q = new URLSearchParams(location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', location.pathname);
  if (q.has('error')) throw new Error(`The identity provider refused the sign-in: ${q.get('error_description') || q.get('error')}.`);
  if (!pending || pending.state !== q.get('state')) throw new Error('This sign-in was not started here (state mismatch). Sign in again.');
  const cfg = await oidcConfig();
  const d = await discovery(cfg.issuer);
  const tr = await tokenRequest(d.token_endpoint, {
    grant_type: 'authorization_code', code: q.get('code'), client_id: cfg.client_id,
    redirect_uri: redirectURI(), code_verifier: pending.verifier,
  });
  let claims;
  try { claims = claimsOf(tr.id_token); } catch { throw new Error('The identity provider sent a token the console cannot read.'); }
  if (claims.nonce !== pending.nonce) throw new Error('The token does not answer this sign-in (nonce mismatch).');
  return { idToken: tr.id_token, refreshToken: tr.refresh_token || '', expiresAt: (claims.exp || 0) * 1000, hash: pending.hash || '' };
}
