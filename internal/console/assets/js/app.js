// The console's entry point: sign-in, the layout with its sidebar, and the hash router.
import { identity, saveIdentity, clearIdentity, whoami, ApiError } from './api.js';
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

function signOut(message) {
  runCleanups();
  clearIdentity();
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  renderSignIn(message);
}

window.addEventListener('wsp-unauthorized', () => {
  signOut('Your key is no longer accepted (revoked or expired). Sign in again.');
});

/** The sign-in page: an API key, and a user id when the server cannot tell whose key it is. */
function renderSignIn(message) {
  document.title = 'Sign in · wspolicy console';
  const keyInput = h('input', { type: 'password', name: 'api_key', autocomplete: 'off', spellcheck: 'false', required: true });
  const key = field('API key', keyInput, { help: 'An administrator key or a user key. It is kept in this browser tab only.' });
  const userInput = h('input', { type: 'text', name: 'user_id', autocomplete: 'off', spellcheck: 'false' });
  const user = field('User ID', userInput, { help: 'This server cannot tell which user a key belongs to. Enter the user id your key was issued for.' });
  user.wrap.hidden = true;
  const msg = h('div', {});
  if (message) msg.append(alertBox('info', message));
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { novalidate: true, 'aria-label': 'Sign in', onsubmit: async (e) => {
    e.preventDefault();
    msg.replaceChildren();
    setFieldError(keyInput, key.error, '');
    setFieldError(userInput, user.error, '');
    const k = keyInput.value.trim();
    if (!k) {
      setFieldError(keyInput, key.error, 'Enter an API key.');
      return;
    }
    submit.disabled = true;
    try {
      const who = await whoami(k, user.wrap.hidden ? '' : userInput.value.trim());
      saveIdentity({ key: k, role: who.role, user_id: who.user_id, username: who.username });
      // A deep link opened before signing in is kept; the router sends it home if it is not
      // a page of this role.
      const target = location.hash.length > 2 ? location.hash : who.role === 'admin' ? '#/groups' : '#/dashboard';
      if (location.hash === target) route();
      else location.hash = target;
    } catch (err) {
      if (err.needUserID) {
        user.wrap.hidden = false;
        if (user.wrap.dataset.shown) setFieldError(userInput, user.error, 'Enter your user id.');
        user.wrap.dataset.shown = '1';
        userInput.focus();
      } else if (err instanceof ApiError && err.field === 'user_id') {
        setFieldError(userInput, user.error, err.message);
      } else if (err instanceof ApiError && err.status === 401) {
        setFieldError(keyInput, key.error, 'This key is not valid.');
      } else {
        msg.append(alertBox('error', err.message));
      }
    } finally {
      submit.disabled = false;
    }
  } }, msg, key.wrap, user.wrap, submit);
  replace(root, h('div', { class: 'signin' }, h('main', { class: 'card' },
    h('div', { class: 'brand' }, h('img', { src: 'favicon.svg', alt: '' }),
      h('div', {}, h('h1', {}, 'wspolicy console'), h('small', {}, 'Workspace session policies'))),
    form,
    h('p', { class: 'foot' }, 'Administrators sign in with the ADMIN_API_KEY or an admin key; users with the key an administrator issued them.'))));
  keyInput.focus();
}

function navLink(href, icon, label, active) {
  return h('li', {}, h('a', { href, 'aria-current': active ? 'page' : null },
    h('span', { class: 'nav-icon', 'aria-hidden': 'true' }, icon), label));
}

function layout(id, section) {
  const admin = id.role === 'admin';
  const links = admin
    ? [navLink('#/groups', '▦', 'Groups', section === 'groups'),
       navLink('#/users', '◉', 'Users', section === 'users'),
       navLink('#/sessions', '▶', 'Sessions', section === 'sessions'),
       navLink('#/workspaces', '▣', 'Workspaces', section === 'workspaces'),
       navLink('#/developer-keys', '⚿', 'Developer keys', section === 'developer-keys')]
    : [navLink('#/dashboard', '◧', 'My workspace', section === 'dashboard')];
  const main = h('main', { id: 'main', tabindex: '-1' });
  replace(root, h('div', { class: 'shell' },
    h('aside', { class: 'sidebar' },
      h('div', { class: 'brand' }, h('img', { src: 'favicon.svg', alt: '' }),
        h('div', {}, 'wspolicy', h('small', {}, admin ? 'Administration' : 'User dashboard'))),
      h('nav', { 'aria-label': 'Main' }, h('ul', {}, links)),
      h('div', { class: 'sidebar-foot' },
        h('div', { class: 'who' }, admin ? (id.username ? `${id.username} (admin)` : 'Administrator') : (id.username || id.user_id)),
        h('div', {}, admin ? 'Admin key' : `User key · ${id.user_id}`),
        h('button', { type: 'button', onclick: () => signOut('You are signed out.') }, 'Sign out'))),
    main));
  return main;
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
}

window.addEventListener('hashchange', route);
route();
