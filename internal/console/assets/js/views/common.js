// Pieces several views share: page headers, error display, group forms, session tables.
import { api, get, seg, limits } from '../api.js';
import { h, add, field, setFieldError, alertBox, badge, table, modal, confirmDialog, toast } from '../dom.js';
import { timeEl, shortTimeEl, breakableId, clock, hours, utc } from '../format.js';
import { fetchPreview, previewBlock, staleText } from './preview.js';

/** A page header with breadcrumbs, title, subtitle and actions. */
export function pageHead(title, { crumbs, sub, actions } = {}) {
  return h('div', { class: 'page-head' },
    h('div', {},
      crumbs ? h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, crumbs.flatMap((c, i) => [
        i ? ' / ' : null, c.href ? h('a', { href: c.href }, c.label) : c.label])) : null,
      h('h1', { tabindex: '-1' }, title),
      sub ? h('div', { class: 'sub' }, sub) : null),
    actions ? h('div', { class: 'btn-row' }, actions) : null);
}

/**
 * A guard for a place that is loaded again and again (filters, actions): begin() starts a load
 * and returns a function that stays true while that load is the latest one and the view is
 * still current, so an earlier load answering late never overwrites a later one.
 */
export function latestOnly(ctx) {
  let loads = 0;
  return {
    begin() {
      const seq = ++loads;
      return () => seq === loads && ctx.current();
    },
  };
}

/** Shows an API error inside el (replacing what was there). */
export function showError(el, err, prefix = '') {
  el.replaceChildren(alertBox('error', prefix, err.message || String(err)));
}

/**
 * The fields of a group (name, priority, description) with inline errors, bounded by lim (the
 * API's limits, GET /v1/limits). Returns {el, values(), showError(err)}: showError puts an API
 * error next to its field.
 */
export function groupFields(g = {}, others = [], lim) {
  const name = field('Name', h('input', { type: 'text', name: 'name', value: g.name || '', maxlength: String(lim.group_name_max_chars), autocomplete: 'off' }));
  const prio = field('Priority', h('input', { type: 'number', name: 'priority', value: g.priority ?? '', min: String(lim.group_priority_min), max: String(lim.group_priority_max), step: '1', placeholder: String(lim.group_priority_default) }),
    { help: `${lim.group_priority_min} to ${lim.group_priority_max}. Lower number = higher precedence. All Users is ${lim.all_users_priority}.` });
  const desc = field('Description', h('input', { type: 'text', name: 'description', value: g.description || '', maxlength: String(lim.group_description_max_chars), autocomplete: 'off' }));
  const general = h('div', {});
  const advice = h('div', { 'data-advice': '' });
  const all = [name, prio, desc];
  const showAdvice = () => {
    const items = groupAdvice(g, { name: name.input.value.trim(), priority: Number(prio.input.value.trim() || (g.group_id ? g.priority : lim.group_priority_default)) }, others, lim);
    advice.replaceChildren(items.length ? alertBox('warn', h('ul', {}, items.map(([code, text]) => h('li', { 'data-code': code }, text)))) : '');
  };
  name.input.addEventListener('input', showAdvice);
  prio.input.addEventListener('input', showAdvice);
  showAdvice();
  return {
    el: h('div', {}, general, name.wrap, prio.wrap, advice, desc.wrap),
    values() {
      const v = { name: name.input.value.trim(), description: desc.input.value };
      const p = prio.input.value.trim();
      if (p !== '') v.priority = Number(p);
      return v;
    },
    clear() {
      general.replaceChildren();
      for (const f of all) setFieldError(f.input, f.error, '');
    },
    showError(err) {
      const f = { name, priority: prio, description: desc }[err.field];
      if (f) setFieldError(f.input, f.error, err.message);
      else general.replaceChildren(alertBox('error', err.message));
    },
  };
}

/**
 * What to tell an administrator about a group's name and priority before they save it (the API
 * answers the same advice after the write): a priority another group has, All Users taking
 * precedence over groups (or over this one), All Users renamed. g is the group as it is ({} for
 * a new one), next the values typed, others every group, lim the API's limits. Returns
 * [code, text] pairs.
 */
export function groupAdvice(g, next, others, lim) {
  const out = [];
  const p = next.priority;
  if (!Number.isInteger(p) || p < lim.group_priority_min || p > lim.group_priority_max) return out;
  const rest = others.filter((o) => o.group_id !== g.group_id);
  const names = (gs) => gs.slice(0, 4).map((o) => o.name).join(', ') + (gs.length > 4 ? ` and ${gs.length - 4} more` : '');
  const tied = rest.filter((o) => o.priority === p);
  const isAll = g.group_id === 'all-users';
  if (tied.length && p !== g.priority) {
    out.push(['group_priority_tie', `Priority ${p} is also the priority of ${names(tied)}. For a user in both, the group with the smaller id wins each setting both set: give each group a priority of its own.`]);
  }
  if (isAll && p < g.priority) {
    const over = rest.filter((o) => o.priority > p && o.priority <= g.priority);
    if (over.length) out.push(['all_users_precedence', `All Users would take precedence over ${over.length} group${over.length > 1 ? 's' : ''} (${names(over)}): every user would get All Users' value of each setting it sets, whatever those groups say.`]);
  }
  const allUsers = rest.find((o) => o.group_id === 'all-users');
  if (!isAll && allUsers && p > allUsers.priority && !(g.group_id && g.priority > allUsers.priority)) {
    out.push(['overridden_by_all_users', `Priority ${p} is a larger number than All Users' ${allUsers.priority}: All Users' values win over this group's for every setting both set. Use a priority below ${allUsers.priority} for this group to take precedence.`]);
  }
  if (isAll && next.name && next.name !== g.name) {
    out.push(['all_users_renamed', `All Users stays the built-in group every user belongs to, whatever its name (id all-users); it cannot be deleted.`]);
  }
  return out;
}

/** Shows the advice the API answered a group write with, if any. */
async function showGroupWarnings(saved) {
  const ws = saved?.warnings || [];
  if (!ws.length) return;
  await modal(`Saved ${saved.name}: please check`, h('div', {},
    h('p', {}, 'The group was saved. The server advises:'),
    h('ul', { class: 'advice' }, ws.map((w) => h('li', { 'data-code': w.code }, w.message)))), [{ label: 'OK', value: '', class: 'primary' }]);
}

/** The groups, for the advice of the group dialogs (none when they cannot be read). */
async function allGroups() {
  try { return (await get('/groups')).groups || []; } catch { return []; }
}

/** The dialog that creates a group; resolves to the created group or null. */
export async function createGroupDialog() {
  const [others, lim] = await Promise.all([allGroups(), limits()]);
  const f = groupFields({}, others, lim);
  let created = null;
  await modal('New group', f.el, [
    { label: 'Cancel', value: '' },
    { label: 'Create group', class: 'primary', value: 'ok', run: async () => {
      f.clear();
      const v = f.values();
      if (!v.name) { f.showError({ field: 'name', message: 'Give the group a name.' }); return false; }
      try {
        created = await api('POST', '/groups', { body: v });
        return true;
      } catch (err) {
        f.showError(err);
        return false;
      }
    } },
  ]);
  await showGroupWarnings(created);
  return created;
}

/**
 * The dialog that edits a group (rename, re-prioritise, describe); resolves to the new group or
 * null. A new priority is previewed first: the first Save shows what it would do to the members
 * and their running sessions, the second saves it with the version that preview was computed
 * against (a 412 shows a fresh preview).
 */
export async function editGroupDialog(g) {
  const [others, lim] = await Promise.all([allGroups(), limits()]);
  const f = groupFields(g, others, lim);
  const previewSlot = h('div', {});
  const prioInput = f.el.querySelector('input[name="priority"]');
  let previewed = null; // {priority, version}
  prioInput.addEventListener('input', () => { previewed = null; previewSlot.replaceChildren(); });
  const showPreview = async (priority, notice) => {
    const change = { kind: 'priority', priority };
    const p = await fetchPreview(g.group_id, change);
    previewed = { priority, version: p.version };
    previewSlot.replaceChildren(notice || '', previewBlock(g.group_id, change, p),
      h('p', { class: 'help' }, 'This is what the new priority would do. Save again to save it.'));
  };
  let updated = null;
  await modal(`Edit ${g.name}`, h('div', {}, f.el, previewSlot), [
    { label: 'Cancel', value: '' },
    { label: 'Save', class: 'primary', value: 'ok', run: async () => {
      f.clear();
      const v = f.values();
      const body = {};
      if (v.name !== g.name) body.name = v.name;
      if (v.priority !== undefined && v.priority !== g.priority) body.priority = v.priority;
      if (v.description !== g.description) body.description = v.description;
      if (!Object.keys(body).length) return true;
      const reprioritise = body.priority !== undefined && Number.isInteger(body.priority) && body.priority >= lim.group_priority_min && body.priority <= lim.group_priority_max;
      try {
        if (reprioritise && previewed?.priority !== body.priority) {
          await showPreview(body.priority);
          return false;
        }
        updated = await api('PATCH', `/groups/${seg(g.group_id)}`, { body, version: reprioritise ? previewed.version : g.version });
        return true;
      } catch (err) {
        if (err.status === 412 && reprioritise) {
          const was = previewed.version;
          try {
            await showPreview(body.priority, alertBox('warn', h('strong', {}, staleText(was)),
              ' Below is a fresh preview against the group as it is now: check it, then Save again.'));
          } catch (err2) { f.showError(err2); }
        } else if (err.status === 412) {
          f.showError({ message: 'Someone changed this group after you opened it. Nothing was saved: close this dialog, reload, and edit again.' });
        } else {
          f.showError(err);
        }
        return false;
      }
    } },
  ]);
  await showGroupWarnings(updated);
  return updated;
}

/** Asks, then deletes a group; resolves true when deleted. */
export async function deleteGroup(g) {
  const ok = await confirmDialog(`Delete ${g.name}?`,
    `The group and its ${g.member_count ?? 0} memberships are removed; its members then get these settings from their other groups or the defaults.`,
    'Delete group');
  if (!ok) return false;
  try {
    await api('DELETE', `/groups/${seg(g.group_id)}`, { version: g.version });
    toast(`Deleted ${g.name}`);
    return true;
  } catch (err) {
    await modal('Could not delete the group', h('p', {}, err.status === 412
      ? 'The group changed after this page loaded. Reload and try again.' : err.message), [{ label: 'Close', value: '' }]);
    return false;
  }
}

/** A status badge of a session. */
export const statusBadge = (s) => badge(s, s);

/**
 * A live countdown to a time (RFC 3339). The element updates every second until the page
 * changes (ctx.onCleanup clears its timer).
 */
export function countdown(ctx, until, label) {
  const end = new Date(until).getTime();
  const el = h('span', { class: 'countdown', role: 'timer', 'aria-label': label, 'aria-live': 'off', title: `Ends ${utc(until)}` });
  const tick = () => {
    const left = end - Date.now();
    el.textContent = left > 0 ? clock(left) : 'time is up';
    el.classList.toggle('soon', left < 5 * 60 * 1000);
  };
  tick();
  const timer = setInterval(tick, 1000);
  ctx.onCleanup(() => clearInterval(timer));
  return el;
}

/** Which actions a session in a state allows, for a caller with the given permissions. */
export function sessionActions(s, allow) {
  const live = s.status !== 'deleted';
  return {
    pause: live && s.container && s.status === 'running' && allow.pause,
    stop: live && s.container && (s.status === 'running' || s.status === 'paused') && allow.stop,
    resume: s.status === 'paused' || s.status === 'stopped',
    delete: live && allow.delete,
  };
}

/** Runs a session action and reports its outcome; resolves true when it succeeded. */
export async function runSessionAction(s, action) {
  if (action === 'delete') {
    const ok = await confirmDialog('Delete this session?', `Session ${s.session_id} (${s.image_id}) is ended and its workspace destroyed.`, 'Delete session');
    if (!ok) return false;
  }
  try {
    if (action === 'delete') await api('DELETE', `/sessions/${seg(s.session_id)}`);
    else await api('POST', `/sessions/${seg(s.session_id)}/${action}`, { body: {} });
    toast(`Session ${action === 'stop' ? 'stopped' : action === 'delete' ? 'deleted' : action + 'd'}`);
    return true;
  } catch (err) {
    await modal(`Could not ${action} the session`, h('p', {}, err.message), [{ label: 'Close', value: '' }]);
    return false;
  }
}

/** The action buttons of a session. */
export function sessionButtons(s, allow, after) {
  const acts = sessionActions(s, allow);
  const label = (a) => `${a[0].toUpperCase()}${a.slice(1)}`;
  return h('div', { class: 'btn-row' }, ['pause', 'stop', 'resume', 'delete'].filter((a) => acts[a]).map((a) =>
    h('button', { type: 'button', class: `small${a === 'delete' ? ' danger' : ''}`, 'aria-label': `${label(a)} session ${s.session_id}`,
      onclick: async () => { if (await runSessionAction(s, a)) after(); } }, label(a))));
}

/** When a session ends: its time limit (a live countdown) or its keepalive expiry, and what then. */
function sessionEnds(ctx, s) {
  if (s.status === 'deleted') return h('span', { class: 'muted' }, '—');
  if (s.time_limit_expires_at) {
    return h('div', {}, countdown(ctx, s.time_limit_expires_at, `Time left for session ${s.session_id}`),
      h('div', { class: 'value-hint' }, 'time limit'));
  }
  return h('div', {}, shortTimeEl(s.expires_at), h('div', { class: 'value-hint' }, s.expiration_action ? `then ${s.expiration_action}` : ''));
}

/** A table of sessions; opts.users maps user ids to usernames, opts.allow the permissions. */
export function sessionsTable(ctx, sessions, { users, allow, after, showUser = true } = {}) {
  const cols = [
    { label: 'Session' }, showUser ? { label: 'User' } : null, { label: 'Image', class: 'wrap' }, { label: 'Status' },
    { label: 'Started' }, { label: 'Ends' }, { label: 'Actions', class: 'actions' },
  ].filter(Boolean);
  const rows = sessions.map((s) => [
    h('a', { href: `#/sessions/${encodeURIComponent(s.session_id)}`, class: 'mono' }, s.session_id),
    showUser ? (users?.get(s.user_id) ? h('a', { href: `#/users/${encodeURIComponent(s.user_id)}` }, users.get(s.user_id)) : h('span', { class: 'mono' }, s.user_id)) : null,
    h('div', {}, breakableId(s.image_id), h('div', { class: 'value-hint' }, s.container ? 'container' : 'non-container')),
    h('div', {}, statusBadge(s.status), s.status !== 'deleted' && s.connected === false ? h('div', { class: 'value-hint' }, 'disconnected') : null,
      s.expiration_reason ? h('div', { class: 'value-hint' }, s.expiration_reason) : null),
    shortTimeEl(s.created_at),
    sessionEnds(ctx, s),
    sessionButtons(s, allow || { pause: true, stop: true, delete: true }, after),
  ].filter((c) => c !== null));
  return h('div', { class: 'table-wrap sessions' },
    table(cols, rows, { empty: 'No sessions.', label: 'Sessions', rowAttrs: (i) => ({ 'data-session': sessions[i].session_id }) }));
}

/** Reads the sessions of a listing, following next_page_token up to max pages. */
export async function listSessions(query, maxPages = 5) {
  const out = [];
  let token = '';
  for (let i = 0; i < maxPages; i++) {
    const q = new URLSearchParams(query);
    if (token) q.set('page_token', token);
    const d = await get(`/sessions?${q}`);
    out.push(...(d.sessions || []));
    token = d.next_page_token || '';
    if (!token) break;
  }
  return { sessions: out, more: !!token };
}

/** The usage card body of a user: a bar of used/remaining hours, the window and the source. */
export async function usagePanel(ctx, userID, { self = false } = {}) {
  const body = h('div', {});
  const u = await get(`/users/${seg(userID)}/usage`);
  const limit = u.limit || {};
  const src = u.source;
  const srcEl = !src || src === 'default'
    ? h('span', {}, 'default (no group sets usage_limit)')
    : h('span', {}, h('a', { href: `#/groups/${encodeURIComponent(src.group_id)}` }, src.name), ` (priority ${src.priority})`);
  if (!limit.type) {
    add(body, h('p', {}, h('strong', {}, 'No usage limit. '), h('span', { class: 'muted' }, 'Sessions are not metered.')),
      h('dl', { class: 'facts' }, h('dt', {}, 'Limit from'), h('dd', {}, srcEl),
        u.own ? [h('dt', {}, 'Open sessions'), h('dd', { 'data-fact': 'own-open' }, String(u.own.open_sessions))] : null));
    return body;
  }
  const total = limit.hours;
  const shared = limit.type === 'per_group';
  const asOf = new Date(u.as_of || Date.now()).getTime();
  const open = u.open_sessions || 0;
  const own = u.own || null;
  const usedEl = h('span', { class: 'big' });
  const remEl = h('span', {});
  const fill = h('div', { class: 'bar-fill' });
  const bar = h('div', { class: 'bar', role: 'meter', 'aria-label': shared ? 'Shared usage' : 'Usage', 'aria-valuemin': '0', 'aria-valuemax': String(total) }, fill);
  const ownOpenEl = h('span', {}, own && own.hours_open !== null && own.hours_open !== undefined ? hours(own.hours_open) : '—');
  const update = () => {
    // Open sessions keep charging between reads: extrapolate from as_of.
    const since = Math.max(0, Date.now() - asOf) / 3600000;
    const used = Math.min(total, (u.hours_used || 0) + open * since);
    const rem = Math.max(0, total - used);
    usedEl.textContent = `${hours(used)} used${shared ? ' by the group' : ''}`;
    remEl.textContent = `${hours(rem)} remaining of ${hours(total)}`;
    const pct = total > 0 ? Math.min(100, (used / total) * 100) : 100;
    fill.style.width = `${pct}%`;
    fill.classList.toggle('high', pct >= 80 && pct < 100);
    fill.classList.toggle('full', pct >= 100);
    bar.setAttribute('aria-valuenow', String(Math.round(used * 1000) / 1000));
    bar.setAttribute('aria-valuetext', `${hours(used)} used, ${hours(rem)} remaining`);
  };
  update();
  if (open > 0) {
    const t = setInterval(update, 1000);
    ctx.onCleanup(() => clearInterval(t));
  }
  const groupName = src && src !== 'default' ? src.name : 'the group';
  const ownFacts = own ? [
    h('dt', {}, self ? 'Your open sessions' : 'Open sessions'), h('dd', { 'data-fact': 'own-open' }, String(own.open_sessions)),
    own.hours_open !== null ? [h('dt', {}, 'Their time this window'), h('dd', { 'data-fact': 'own-hours-open' }, ownOpenEl)] : null,
    shared ? [h('dt', {}, 'Ended sessions'), h('dd', { class: 'muted' }, 'counted in the shared figure only')] : null,
  ] : null;
  add(body,
    u.exhausted ? alertBox('error', h('strong', {}, 'Usage limit reached. '), 'New sessions are refused until the window rolls over', u.window_end ? ` at ${utc(u.window_end)}.` : '.') : null,
    shared ? h('h3', { class: 'usage-head' }, `Shared budget of ${groupName}`) : null,
    h('div', { class: 'usage-figures' }, usedEl, remEl),
    bar,
    h('dl', { class: 'facts' },
      h('dt', {}, 'Limit'), h('dd', {}, `${total} h ${shared ? 'shared by everyone whose limit comes from the group' : 'per user'}, ${limit.interval}`),
      h('dt', {}, 'Window'), h('dd', {}, u.window_start ? utc(u.window_start) : '—', ' → ', u.window_end ? utc(u.window_end) : 'forever'),
      h('dt', {}, 'Limit from'), h('dd', {}, srcEl),
      shared ? [h('dt', {}, 'Open sessions (all members)'), h('dd', { 'data-fact': 'group-open' }, String(open))] : null,
      u.exhausts_at ? [h('dt', {}, 'Runs out'), h('dd', {}, timeEl(u.exhausts_at))] : null,
      shared ? null : ownFacts),
    shared && own ? [h('h3', { class: 'usage-head' }, self ? 'You' : 'This user'), h('dl', { class: 'facts', 'aria-label': 'Own usage' }, ownFacts)] : null);
  return body;
}
