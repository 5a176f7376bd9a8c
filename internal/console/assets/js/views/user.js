// A user's page for administrators: effective settings with their sources, usage, groups,
// sessions and API keys.
import { api, get, seg, catalog, ApiError } from '../api.js';
import { h, add, card, table, badge, alertBox, field, setFieldError, confirmDialog, modal, toast } from '../dom.js';
import { valueView, timeEl, settingNameEl } from '../format.js';
import { pageHead, usagePanel, sessionsTable, listSessions, latestOnly } from './common.js';
import { previewThenSave } from './preview.js';

export async function userView(ctx) {
  const id = ctx.params[0];
  const [user, eff, cat, { groups }] = await Promise.all([
    get(`/users/${seg(id)}`), get(`/users/${seg(id)}/effective-settings`), catalog(), get('/groups')]);
  if (!ctx.current()) return;
  document.title = `${user.username} · Users · wspolicy console`;
  const usageSlot = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const sessionsSlot = h('div', {});
  add(ctx.main, 
    pageHead(user.username, {
      crumbs: [{ label: 'Users', href: '#/users' }, { label: user.username }],
      sub: h('span', {}, h('span', { class: 'mono' }, user.user_id), ' · created ', timeEl(user.created_at)),
      actions: h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!await confirmDialog(`Delete ${user.username}?`, 'The user, their memberships, keys and storage mappings are removed, and their sessions are ended.', 'Delete user')) return;
        await api('DELETE', `/users/${seg(id)}`);
        location.hash = '#/users';
      } }, 'Delete user'),
    }),
    h('div', { class: 'grid-2' },
      card('Usage', { label: 'Usage' }, usageSlot),
      membershipsCard(ctx, user, groups)),
    card('Sessions', { label: 'Sessions', flush: true }, sessionsSlot),
    effectiveCard(eff, cat),
    await keysCard(ctx, user));
  const loads = latestOnly(ctx);
  const loadSessions = async () => {
    const latest = loads.begin();
    try {
      const { sessions } = await listSessions({ user_id: id });
      if (!latest()) return;
      sessionsSlot.replaceChildren(startSessionForm(user, loadSessions),
        sessionsTable(ctx, sessions.slice().reverse(), { showUser: false, after: () => ctx.rerender() }));
    } catch (err) {
      if (!latest()) return;
      sessionsSlot.replaceChildren(h('div', { class: 'empty' }, err.message));
    }
  };
  await Promise.all([
    usagePanel(ctx, id).then((el) => usageSlot.replaceChildren(el), (err) => usageSlot.replaceChildren(alertBox('error', err.message))),
    loadSessions(),
  ]);
}

/**
 * The user's groups, with add and remove: each previewed first (what the user's effective
 * settings and running sessions would become), then saved with the previewed group version.
 */
function membershipsCard(ctx, user, groups) {
  const byID = new Map(groups.map((g) => [g.group_id, g]));
  const mine = (user.groups || []).map((gid) => byID.get(gid) || { group_id: gid, name: gid, priority: '?' })
    .sort((a, b) => a.priority - b.priority);
  const err = h('p', { class: 'field-error', role: 'alert' });
  const previewSlot = h('div', {});
  const change = (g, kind, confirmLabel, doneText) => {
    err.textContent = '';
    return previewThenSave(previewSlot, {
      gid: g.group_id, change: { kind, user_id: user.user_id }, confirmLabel, danger: kind === 'remove_member',
      save: (version) => api(kind === 'remove_member' ? 'DELETE' : 'PUT', `/groups/${seg(g.group_id)}/members/${seg(user.user_id)}`, { version }),
      done: () => { toast(doneText); ctx.rerender(); },
    });
  };
  const rows = mine.map((g) => [
    h('a', { href: `#/groups/${encodeURIComponent(g.group_id)}` }, g.name),
    badge(String(g.priority), 'prio'),
    g.group_id === 'all-users' ? h('span', { class: 'muted small' }, 'always') : h('button', { type: 'button', class: 'small danger',
      'aria-label': `Remove ${user.username} from ${g.name}`,
      onclick: () => change(g, 'remove_member', `Leave ${g.name}`, `Removed from ${g.name}`) }, 'Remove'),
  ]);
  const inGroups = new Set(user.groups || []);
  const select = h('select', {}, h('option', { value: '' }, 'Choose a group…'),
    groups.filter((g) => !inGroups.has(g.group_id)).map((g) => h('option', { value: g.group_id }, `${g.name} (priority ${g.priority})`)));
  const f = field('Group to join', select);
  const form = h('form', { class: 'inline-fields', 'aria-label': 'Add to group', onsubmit: async (e) => {
    e.preventDefault();
    setFieldError(select, f.error, '');
    if (!select.value) { setFieldError(select, f.error, 'Choose a group.'); return; }
    const g = byID.get(select.value);
    await change(g, 'add_member', `Join ${g.name}`, 'Added to group');
  } }, f.wrap, h('div', { class: 'field' }, h('button', { type: 'submit', class: 'primary' }, 'Preview joining')));
  return card('Groups', { label: 'Groups', hint: 'by precedence' }, form, err, previewSlot,
    table([{ label: 'Group' }, { label: 'Priority' }, { label: '', class: 'actions' }], rows, { label: 'Memberships' }));
}

/** The source of an effective value: the group, the merged groups, or the default. */
export function sourceView(src) {
  const link = (g) => h('a', { href: `#/groups/${encodeURIComponent(g.group_id)}` }, g.name);
  if (src?.kind === 'group' && src.group) {
    return h('span', {}, link(src.group), h('span', { class: 'muted nowrap' }, ` · priority ${src.group.priority}`));
  }
  if (src?.kind === 'groups') {
    if (!src.groups?.length) return h('span', { class: 'muted' }, 'no group (empty merge)');
    return h('span', {}, src.mounts ? 'merged from ' : 'merged: ', src.groups.flatMap((g, i) => [i ? ', ' : null, link(g)]));
  }
  return badge('default');
}

/** Which kind of source a row has for the filter: default, all-users (only) or group. */
function sourceKind(src) {
  if (!src || src.kind === 'default') return 'default';
  const ids = src.kind === 'group' ? [src.group?.group_id] : (src.groups || []).map((g) => g.group_id);
  return ids.length && ids.every((id) => id === 'all-users') ? 'all-users' : 'group';
}

/** The effective settings table, with a filter and the warnings flagged on their rows. */
function effectiveCard(eff, cat) {
  const names = Object.keys(eff.settings || {}).sort();
  const warnings = eff.warnings || [];
  const flags = new Map();
  for (const w of warnings) {
    for (const s of w.settings || []) {
      if (!flags.has(s)) flags.set(s, []);
      flags.get(s).push(w);
    }
  }
  const search = h('input', { type: 'search', placeholder: 'Filter by name, value or group', autocomplete: 'off' });
  const f = field('Filter settings', search);
  f.wrap.classList.add('search');
  const onlySet = h('input', { type: 'checkbox', id: 'only-set' });
  const rows = names.map((name) => {
    const e = eff.settings[name];
    const ws = flags.get(name) || [];
    return [
      h('div', {}, h('div', {}, settingNameEl(name)), h('div', { class: 'setting-desc' }, cat.get(name)?.description || '')),
      valueView(cat.get(name) || { name }, e.value, e.source?.mounts),
      sourceView(e.source),
      h('div', { class: 'chips' }, ws.map((w) => badge(w.code === 'priority_tie' ? '⚠ tie' : '⚠ warning', 'warn'))),
    ];
  });
  const tbl = table([{ label: 'Setting' }, { label: 'Value' }, { label: 'From', class: 'from' }, { label: 'Flags' }], rows, {
    label: 'Effective settings',
    rowAttrs: (i) => ({ 'data-setting': names[i], 'data-source': sourceKind(eff.settings[names[i]].source) }),
  });
  const filter = () => {
    const q = search.value.trim().toLowerCase();
    for (const tr of tbl.querySelectorAll('tbody tr')) {
      const hide = (q && !tr.textContent.toLowerCase().includes(q)) || (onlySet.checked && tr.dataset.source !== 'group');
      tr.hidden = hide;
    }
  };
  search.addEventListener('input', filter);
  onlySet.addEventListener('change', filter);
  const warnBox = warnings.length ? alertBox('warn', h('strong', {}, `${warnings.length} warning${warnings.length > 1 ? 's' : ''}`),
    h('ul', {}, warnings.map((w) => h('li', { 'data-code': w.code }, w.message)))) : null;
  return card('Effective settings', { label: 'Effective settings', hint: 'what this user gets, and from which group', flush: true },
    h('div', { class: 'pad' }, warnBox,
      h('div', { class: 'inline-fields' }, f.wrap, h('div', { class: 'field' }, h('label', { class: 'check', for: 'only-set' }, onlySet, 'Only values from groups other than All Users')))),
    tbl);
}

/** Starts a session for this user (administrators may start one for anyone). */
function startSessionForm(user, after) {
  const image = h('input', { type: 'text', autocomplete: 'off', placeholder: 'default image if empty', spellcheck: 'false' });
  const container = h('input', { type: 'checkbox', id: `container-${user.user_id}`, checked: true });
  const f = field('Image', image);
  return h('form', { class: 'filters', 'aria-label': 'Start a session', onsubmit: async (e) => {
    e.preventDefault();
    setFieldError(image, f.error, '');
    try {
      await api('POST', '/sessions', { body: { user_id: user.user_id, image_id: image.value.trim(), container: container.checked } });
      toast('Session started');
      await after();
    } catch (err) {
      setFieldError(image, f.error, err instanceof ApiError && err.code === 'no_default_image'
        ? `Enter an image: ${user.username} has no default image (set default_image in one of their groups to start without one).` : err.message);
    }
  } }, f.wrap, h('div', { class: 'field' }, h('label', { class: 'check', for: container.id }, container, 'Container-based')),
  h('div', { class: 'field' }, h('button', { type: 'submit', class: 'primary' }, 'Start session')));
}

/** The user's API keys: issue (secret shown once), list, revoke. */
async function keysCard(ctx, user) {
  const slot = h('div', {});
  const render = async () => {
    const { keys } = await get(`/users/${seg(user.user_id)}/keys`);
    const rows = keys.map((k) => [k.name ? h('span', { class: 'strong' }, k.name) : h('span', { class: 'muted' }, 'no name'),
      h('span', { class: 'mono' }, k.key_id), badge(k.role, k.role === 'admin' ? 'warn' : ''), timeEl(k.created_at),
      h('button', { type: 'button', class: 'small danger', 'aria-label': `Revoke key ${k.key_id}`, onclick: async () => {
        if (!await confirmDialog('Revoke this key?', `Key ${k.key_id} stops working within a minute.`, 'Revoke key')) return;
        await api('DELETE', `/users/${seg(user.user_id)}/keys/${seg(k.key_id)}`);
        toast('Key revoked');
        await render();
      } }, 'Revoke')]);
    slot.replaceChildren(table([{ label: 'Name' }, { label: 'Key id' }, { label: 'Role' }, { label: 'Created' }, { label: '', class: 'actions' }], rows,
      { label: 'API keys', empty: 'No keys. Issue one so the user can sign in.' }));
  };
  const nameInput = h('input', { type: 'text', name: 'key_name', maxlength: '64', autocomplete: 'off', placeholder: 'e.g. laptop' });
  const nameField = field('Name of the next key (optional)', nameInput);
  const issue = async (role) => {
    setFieldError(nameInput, nameField.error, '');
    const body = { role };
    if (nameInput.value.trim()) body.name = nameInput.value.trim();
    let k;
    try {
      k = await api('POST', `/users/${seg(user.user_id)}/keys`, { body });
    } catch (err) {
      setFieldError(nameInput, nameField.error, err.message);
      return;
    }
    nameInput.value = '';
    const secret = h('input', { type: 'text', readonly: true, value: k.secret, 'aria-label': 'New key secret' });
    await modal('Key issued', h('div', {},
      h('p', {}, `A ${k.role} key${k.name ? ` named ${k.name}` : ''} for ${user.username}. Copy it now: it is shown only once.`),
      h('div', { class: 'secret' }, secret, h('button', { type: 'button', onclick: async () => {
        secret.select();
        try { await navigator.clipboard.writeText(k.secret); toast('Copied'); } catch { document.execCommand('copy'); }
      } }, 'Copy'))), [{ label: 'Done', value: '', class: 'primary' }]);
    await render();
  };
  await render();
  if (!ctx.current()) return h('div');
  return card('API keys', { label: 'API keys', flush: true },
    h('div', { class: 'filters' }, nameField.wrap,
      h('div', { class: 'field' }, h('div', { class: 'btn-row' },
        h('button', { type: 'button', onclick: () => issue('user') }, 'Issue user key'),
        h('button', { type: 'button', onclick: () => issue('admin') }, 'Issue admin key')))),
    slot);
}
