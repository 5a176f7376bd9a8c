// The console's entry point: sign-in (with the organisation's identity provider when the API
// trusts one, and with an API key for break-glass access), the layout with its sidebar, and
// the hash router.
import { identity, saveIdentity, clearIdentity, setMemoryIdentity, whoami, ApiError } from './api.js';
import { oidcConfig, startSignIn, isCallback, completeSignIn, renew, renewalDelay, issuedAt, endSessionURL } from './oidc.js';
import { h, replace, field, setFieldError, alertBox } from './dom.js';
import { groupsView } from './views/groups.js';
import { groupView } from './views/group.js';
import { usersView } from './views/users.js';
import { userView } from './views/user.js';
import { sessionsView, sessionView } from './views/sessions.js';
import { dashboardView } from './views/dashboard.js';
import { workspacesView, developerKeysView } from './views/workspaces.js';

const root = document.getElementById('app');

const adminRoutes = [
  [/^\/groups$/, groupsView, 'groups'],
  [/^\/groups\/([^/]+)$/, groupView, 'groups'],
  [/^\/users$/, usersView, 'users'],
  [/^\/users\/([^/]+)$/, userView, 'users'],
  [/^\/sessions$/, sessionsView, 'sessions'],
  [/^\/sessions\/([^/]+)$/, sessionView, 'sessions'],
  [/^\/workspaces$/, workspacesView, 'workspaces'],
  [/^\/developer-keys$/, developerKeysView, 'developer-keys'],
];
const userRoutes = [
  [/^\/dashboard$/, dashboardView, 'dashboard'],
  [/^\/sessions\/([^/]+)$/, sessionView, 'dashboard'],
];

let cleanups = [];
let renderSeq = 0;

function runCleanups() {
  for (const fn of cleanups) {
    try { fn(); } catch { /* a cleanup never blocks navigation */ }
  }
  cleanups = [];
}

// The renewal timer of a sign-in through the identity provider.
let renewTimer = 0;

function signOut(message) {
  runCleanups();
  shell = null;
  clearTimeout(renewTimer);
  clearIdentity();
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  renderSignIn(message);
}

window.addEventListener('wsp-unauthorized', () => {
  signOut(identity()?.sso
    ? 'Your sign-in is no longer accepted. Sign in again.'
    : 'Your key is no longer accepted (revoked or expired). Sign in again.');
});

/**
 * Schedules the silent renewal of the signed-in identity's ID token with its refresh token.
 * A renewal the provider refuses signs the person out with a prompt to sign in again.
 */
function scheduleRenewal() {
  clearTimeout(renewTimer);
  const id = identity();
  if (!id?.sso || !id.refreshToken || !id.expiresAt) return;
  renewTimer = setTimeout(async () => {
    const current = identity();
    if (current !== id) return; // signed out or signed in again meanwhile
    try {
      const t = await renew(id.refreshToken);
      if (identity() !== id) return;
      setMemoryIdentity({ ...id, key: t.idToken, refreshToken: t.refreshToken, expiresAt: t.expiresAt, issuedAt: issuedAt(t.idToken) });
      document.body.dataset.renewals = String(Number(document.body.dataset.renewals || 0) + 1);
      scheduleRenewal();
    } catch (err) {
      if (identity() !== id) return;
      signOut(`Your sign-in has ended and could not be renewed (${err.message}). Sign in again.`);
    }
  }, renewalDelay(id.expiresAt, id.issuedAt || 0));
}

/** Finishes a sign-in through the identity provider (the page was opened by its redirect). */
async function finishOIDCSignIn() {
  replace(root, h('div', { class: 'signin' }, h('main', { class: 'card' }, h('p', { 'aria-live': 'polite' }, 'Signing in…'))));
  let t;
  let who;
  try {
    t = await completeSignIn();
    who = await whoami(t.idToken);
  } catch (err) {
    renderSignIn(err instanceof ApiError ? `The API refused the sign-in: ${err.message}` : err.message, 'error');
    return;
  }
  setMemoryIdentity({ key: t.idToken, role: who.role, user_id: who.user_id, username: who.username, sso: true,
    refreshToken: t.refreshToken, expiresAt: t.expiresAt, issuedAt: issuedAt(t.idToken) });
  scheduleRenewal();
  const target = t.hash.length > 2 ? t.hash : who.role === 'admin' ? '#/groups' : '#/dashboard';
  if (location.hash === target) route();
  else location.hash = target;
}

/** The identity provider's part of the sign-in page, added when the API trusts one. */
async function offerOIDC(slot) {
  const cfg = await oidcConfig();
  if (!cfg.enabled) return;
  let host = cfg.issuer;
  try { host = new URL(cfg.issuer).host; } catch { /* shown as configured */ }
  const btn = h('button', { type: 'button', class: 'primary', 'data-action': 'oidc-sign-in', onclick: async () => {
    btn.disabled = true;
    try {
      await startSignIn();
    } catch (err) {
      btn.disabled = false;
      slot.querySelector('.oidc-error')?.replaceChildren(alertBox('error', err.message));
    }
  } }, 'Sign in with your organisation');
  slot.replaceChildren(h('div', { class: 'oidc' },
    btn, h('p', { class: 'muted' }, `Through the identity provider at ${host}.`), h('div', { class: 'oidc-error' }),
    h('p', { class: 'muted' }, 'Break-glass access: sign in with an API key below.')));
  btn.focus();
}

/** The sign-in page: the identity provider when the API trusts one, and an API key. */
function renderSignIn(message, kind = 'info') {
  document.title = 'Sign in · wspolicy console';
  const keyInput = h('input', { type: 'password', name: 'api_key', autocomplete: 'off', spellcheck: 'false', required: true });
  const key = field('API key', keyInput, { help: 'An administrator key or a user key. It is kept in this browser tab only.' });
  const msg = h('div', {});
  if (message) msg.append(alertBox(kind, message));
  const oidcSlot = h('div', {});
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { novalidate: true, 'aria-label': 'Sign in', onsubmit: async (e) => {
    e.preventDefault();
    msg.replaceChildren();
    setFieldError(keyInput, key.error, '');
    const k = keyInput.value.trim();
    if (!k) {
      setFieldError(keyInput, key.error, 'Enter an API key.');
      return;
    }
    submit.disabled = true;
    try {
      const who = await whoami(k);
      saveIdentity({ key: k, role: who.role, user_id: who.user_id, username: who.username });
      // A deep link opened before signing in is kept; the router sends it home if it is not
      // a page of this role.
      const target = location.hash.length > 2 ? location.hash : who.role === 'admin' ? '#/groups' : '#/dashboard';
      if (location.hash === target) route();
      else location.hash = target;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        setFieldError(keyInput, key.error, 'This key is not valid.');
      } else {
        msg.append(alertBox('error', err.message));
      }
    } finally {
      submit.disabled = false;
    }
  } }, msg, key.wrap, submit);
  replace(root, h('div', { class: 'signin' }, h('main', { class: 'card' },
    h('div', { class: 'brand' }, h('img', { src: 'favicon.svg', alt: '' }),
      h('div', {}, h('h1', {}, 'wspolicy console'), h('small', {}, 'Workspace session policies'))),
    oidcSlot,
    form,
    h('p', { class: 'foot' }, 'Administrators sign in with the ADMIN_API_KEY or an admin key; users with the key an administrator issued them.'))));
  keyInput.focus();
  offerOIDC(oidcSlot);
}

function navLink(href, icon, label, section) {
  return h('li', {}, h('a', { href, 'data-section': section },
    h('span', { class: 'nav-icon', 'aria-hidden': 'true' }, icon), label));
}

// The shell (sidebar and main) of the signed-in identity, kept across navigations so that the
// sidebar, and the link focus was on, are not rebuilt: {who, el, main}.
let shell = null;

/** What the sidebar shows of an identity: a renewal of its token leaves it unchanged. */
const whoKey = (id) => JSON.stringify([id.role, id.user_id, id.username, !!id.sso]);

/**
 * Puts up the shell for the identity (building it only when the identity changed), marks the
 * section's link as current, and gives the view a new, empty main: a view of the previous
 * route still loading writes into the old, detached one.
 */
function layout(id, section) {
  const admin = id.role === 'admin';
  if (!shell || shell.who !== whoKey(id) || !root.contains(shell.el)) {
    const links = admin
      ? [navLink('#/groups', '▦', 'Groups', 'groups'),
         navLink('#/users', '◉', 'Users', 'users'),
         navLink('#/sessions', '▶', 'Sessions', 'sessions'),
         navLink('#/workspaces', '▣', 'Workspaces', 'workspaces'),
         navLink('#/developer-keys', '⚿', 'Developer keys', 'developer-keys')]
      : [navLink('#/dashboard', '◧', 'My workspace', 'dashboard')];
    const el = h('div', { class: 'shell' },
      h('aside', { class: 'sidebar' },
        h('div', { class: 'brand' }, h('img', { src: 'favicon.svg', alt: '' }),
          h('div', {}, 'wspolicy', h('small', {}, admin ? 'Administration' : 'User dashboard'))),
        h('nav', { 'aria-label': 'Main' }, h('ul', {}, links)),
        h('div', { class: 'sidebar-foot' },
          h('div', { class: 'who' }, admin ? (id.username ? `${id.username} (admin)` : 'Administrator') : (id.username || id.user_id)),
          h('div', {}, id.sso ? `Signed in with your organisation${admin ? '' : ` · ${id.user_id}`}` : admin ? 'Admin key' : `User key · ${id.user_id}`),
          h('button', { type: 'button', onclick: () => signOutEverywhere(identity() || id) }, 'Sign out'))),
      h('main', { id: 'main', tabindex: '-1' }));
    shell = { who: whoKey(id), el };
    replace(root, el);
  }
  for (const a of shell.el.querySelectorAll('nav a[data-section]')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const main = h('main', { id: 'main', tabindex: '-1' });
  shell.el.querySelector('main').replaceWith(main);
  return main;
}

/**
 * Moves focus to the heading of the view just rendered (its main when it has none), so that
 * a navigation is announced and Tab continues from the new page. A view that put focus into
 * its own content (a search box, say), or a dialog that holds it, keeps it.
 */
function focusView(main) {
  const a = document.activeElement;
  if (a && a !== document.body && !shell?.el.querySelector('.sidebar')?.contains(a)) return;
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  } else {
    main.focus();
  }
}

/** Signs out of the console, and of the provider too when it offers RP-initiated logout. */
async function signOutEverywhere(id) {
  const end = id.sso ? await endSessionURL(id.key) : '';
  signOut('You are signed out.');
  if (end) location.assign(end);
}

/** Renders the page of the current hash. */
async function route() {
  runCleanups();
  const id = identity();
  if (!id) {
    renderSignIn();
    return;
  }
  const path = (location.hash || '').replace(/^#/, '').split('?')[0] || '/';
  const table = id.role === 'admin' ? adminRoutes : userRoutes;
  let match = null;
  for (const [re, view, section] of table) {
    const m = path.match(re);
    if (m) { match = { view, section, params: m.slice(1).map(decodeURIComponent) }; break; }
  }
  if (!match) {
    location.replace('#' + (id.role === 'admin' ? '/groups' : '/dashboard'));
    return;
  }
  const seq = ++renderSeq;
  const main = layout(id, match.section);
  const ctx = {
    id,
    params: match.params,
    main,
    current: () => seq === renderSeq,
    onCleanup: (fn) => cleanups.push(fn),
    rerender: () => { if (seq === renderSeq) route(); },
  };
  try {
    await match.view(ctx);
  } catch (err) {
    if (!ctx.current()) return;
    main.append(alertBox('error', err instanceof ApiError && err.status === 404
      ? `Not found: ${err.message}` : `Something went wrong: ${err.message}`));
  }
  if (ctx.current()) focusView(main);
}

window.addEventListener('hashchange', route);
if (isCallback()) finishOIDCSignIn();
else route();
