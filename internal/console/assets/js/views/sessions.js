// Sessions: the admin list with filters and actions, and one session's page with its timeline.
import { get, seg } from '../api.js';
import { h, add, replace, card, badge, alertBox, field } from '../dom.js';
import { timeEl, utc, humanSeconds } from '../format.js';
import { pageHead, sessionsTable, statusBadge, sessionButtons, countdown, latestOnly } from './common.js';

const STATUSES = ['running', 'paused', 'stopped', 'deleted'];

const failed = (err) => alertBox('error', err.message);

export async function sessionsView(ctx) {
  document.title = 'Sessions · wspolicy console';
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const { users } = await get('/users');
  if (!ctx.current()) return;
  const names = new Map(users.map((u) => [u.user_id, u.username]));
  const userSel = h('select', { name: 'user_id' }, h('option', { value: '' }, 'All users'),
    users.map((u) => h('option', { value: u.user_id, selected: q.get('user_id') === u.user_id }, u.username)));
  const statusSel = h('select', { name: 'status' }, h('option', { value: '' }, 'Any status'),
    STATUSES.map((s) => h('option', { value: s, selected: q.get('status') === s }, s)));
  const sizeSel = h('select', { name: 'limit' }, [25, 50, 100].map((n) => h('option', { value: String(n), selected: n === 50 }, `${n} per page`)));
  const fu = field('User', userSel);
  const fs = field('Status', statusSel);
  const fz = field('Page size', sizeSel);
  // aria-busy is true while a load is in flight; only the latest load may fill the list, so
  // an earlier filter's answer arriving late never replaces a later one's.
  const slot = h('div', { 'data-session-list': '', 'aria-busy': 'true' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of sessions' });
  const loads = latestOnly(ctx);
  // tokens[i] is the page_token of page i+1 (page 1 has none); the server pages, the console
  // only keeps the way back.
  let tokens = [''];
  let page = 0;
  // A page of the server may hold fewer sessions than asked (a filtered or table-wide listing
  // reads items that are not all shown): follow its token, asking for what is missing, until
  // the console's page is full or the listing ends (at most 25 requests; never more than asked).
  const fetchPage = async (size, token) => {
    const got = [];
    for (let i = 0; i < 25; i++) {
      const q = new URLSearchParams({ limit: String(size - got.length) });
      if (userSel.value) q.set('user_id', userSel.value);
      if (statusSel.value) q.set('status', statusSel.value);
      if (token) q.set('page_token', token);
      const d = await get(`/sessions?${q}`);
      got.push(...(d.sessions || []));
      token = d.next_page_token || '';
      if (!token || got.length >= size) break;
    }
    return { sessions: got, next: token };
  };
  const load = async () => {
    const latest = loads.begin();
    slot.setAttribute('aria-busy', 'true');
    slot.replaceChildren(h('div', { class: 'empty' }, 'Loading…'));
    try {
      const d = await fetchPage(Number(sizeSel.value), tokens[page]);
      if (!latest()) return;
      const shown = d.sessions.slice().sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
      const next = d.next;
      tokens = tokens.slice(0, page + 1);
      if (next) tokens.push(next);
      replace(slot, sessionsTable(ctx, shown, { users: names, after: load }));
      pager.replaceChildren(
        h('button', { type: 'button', class: 'small', disabled: page === 0, onclick: () => { page--; load(); } }, '← Previous'),
        h('span', { class: 'muted', 'data-page': String(page + 1) }, `Page ${page + 1}${shown.length ? ` · ${shown.length} session${shown.length > 1 ? 's' : ''}, newest first` : ''}`),
        h('button', { type: 'button', class: 'small', disabled: !next, onclick: () => { page++; load(); } }, 'Next →'));
    } catch (err) {
      if (!latest()) return;
      slot.replaceChildren(failed(err));
    }
    slot.setAttribute('aria-busy', 'false');
  };
  const restart = () => { tokens = ['']; page = 0; load(); };
  const form = h('form', { class: 'filters', 'aria-label': 'Filter sessions', onsubmit: (e) => { e.preventDefault(); restart(); } },
    fu.wrap, fs.wrap, fz.wrap, h('div', { class: 'field' }, h('button', { type: 'submit', class: 'primary' }, 'Apply filters')));
  userSel.addEventListener('change', restart);
  statusSel.addEventListener('change', restart);
  sizeSel.addEventListener('change', restart);
  add(ctx.main,
    pageHead('Sessions', { sub: 'Every workspace session; an administrator may pause, stop, resume or delete any of them.' }),
    card('Sessions', { flush: true, label: 'Sessions', hint: 'times in UTC' }, form, slot, pager));
  await load();
}

const EVENT_LABELS = {
  created: 'Created', keepalive_expired: 'Keepalive expired', paused: 'Paused', stopped: 'Stopped', resumed: 'Resumed',
  disconnected: 'Disconnected (idle)', time_limit_warning: 'Time limit warning', time_limit_reached: 'Time limit reached',
  usage_limit_reached: 'Usage limit reached', deleted: 'Deleted',
};

export async function sessionView(ctx) {
  const sid = ctx.params[0];
  const admin = ctx.id.role === 'admin';
  let s;
  try {
    s = await get(`/sessions/${seg(sid)}`);
  } catch (err) {
    add(ctx.main, pageHead('Session', { crumbs: [admin ? { label: 'Sessions', href: '#/sessions' } : { label: 'My workspace', href: '#/dashboard' }] }), failed(err));
    return;
  }
  if (!ctx.current()) return;
  document.title = `Session ${sid} · wspolicy console`;
  let allow = { pause: true, stop: true, delete: true };
  let username = ctx.id.user_id === s.user_id ? ctx.id.username : '';
  if (admin) {
    try { username = (await get(`/users/${seg(s.user_id)}`)).username; } catch { /* a deleted user: the id only */ }
  } else {
    const eff = await get(`/users/${seg(s.user_id)}/effective-settings`);
    const v = (n) => eff.settings?.[n]?.value === true;
    allow = { pause: v('allow_kasm_pause'), stop: v('allow_kasm_stop'), delete: v('allow_kasm_delete') };
  }
  const facts = h('dl', { class: 'facts' },
    h('dt', {}, 'Status'), h('dd', {}, statusBadge(s.status), s.expiration_reason ? ` (${s.expiration_reason})` : ''),
    h('dt', {}, 'User'), h('dd', {}, admin ? h('a', { href: `#/users/${encodeURIComponent(s.user_id)}` }, username || s.user_id) : (username || s.user_id),
      username ? h('span', { class: 'mono muted' }, ` ${s.user_id}`) : null),
    h('dt', {}, 'Image'), h('dd', {}, s.image_id, s.container ? ' (container)' : ' (non-container)'),
    h('dt', {}, 'Connected'), h('dd', {}, s.connected ? 'yes' : 'no'),
    h('dt', {}, 'Created'), h('dd', {}, timeEl(s.created_at)),
    h('dt', {}, 'Last keepalive'), h('dd', {}, timeEl(s.last_keepalive_at)),
    h('dt', {}, 'Expires'), h('dd', {}, s.time_limit_expires_at
      ? 'at its time limit (keepalive expiry does not apply)'
      : [timeEl(s.expires_at), s.expiration_action ? ` · then ${s.expiration_action}` : '']),
    h('dt', {}, 'Keepalive interval'), h('dd', {}, s.keepalive_interval ? `${s.keepalive_interval} s (${humanSeconds(s.keepalive_interval)})` : '—'),
    h('dt', {}, 'Time limit'), h('dd', {}, s.time_limit_expires_at
      ? [s.status === 'deleted' ? '' : countdown(ctx, s.time_limit_expires_at, `Time left for session ${s.session_id}`), ` ends ${utc(s.time_limit_expires_at)}`]
      : 'none'));
  const json = (title, v) => (v ? h('details', {}, h('summary', {}, title), h('pre', { class: 'json' }, JSON.stringify(v, null, 2))) : null);
  const timeline = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  add(ctx.main, 
    pageHead(`Session ${s.session_id}`, {
      crumbs: [admin ? { label: 'Sessions', href: '#/sessions' } : { label: 'My workspace', href: '#/dashboard' }, { label: s.session_id }],
      sub: h('span', {}, statusBadge(s.status), ' ', s.image_id),
      actions: sessionButtons(s, allow, () => ctx.rerender()),
    }),
    h('div', { class: 'grid-2' },
      card('Details', { label: 'Details' }, facts, json('Client settings', s.client_settings), json('Launch configuration', s.launch)),
      card('Event history', { label: 'Event history' }, timeline)));
  try {
    const d = await get(`/sessions/${seg(sid)}/events`);
    const events = (d.events || []).slice().sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
    timeline.replaceChildren(events.length ? h('ol', { class: 'timeline', 'aria-label': 'Session events' }, events.map((e) => h('li', { 'data-type': e.type },
      h('div', { class: 'ev-head' }, h('span', { class: 'ev-type' }, EVENT_LABELS[e.type] || e.type),
        e.status_before !== e.status_after && e.status_after ? h('span', {}, badge(e.status_before || '—'), ' → ', statusBadge(e.status_after)) : null),
      h('div', { class: 'ev-meta' }, timeEl(e.at), ` · by ${username && e.actor === `user:${s.user_id}` ? username : e.actor}`, e.reason ? ` · ${e.reason}` : ''),
      e.detail ? json('Detail', e.detail) : null))) : h('p', { class: 'muted' }, 'No events.'));
  } catch (err) {
    timeline.replaceChildren(failed(err));
  }
}
