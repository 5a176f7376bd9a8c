// A group's page: details, the Group Settings panel (add from the catalog, edit, delete, relation
// warnings, conflicts on a stale version), members and the change history.
import { api, get, seg, catalog, limits } from '../api.js';
import { h, add, card, table, badge, alertBox, confirmDialog, toast, field, setFieldError } from '../dom.js';
import { valueView, timeEl, settingNameEl } from '../format.js';
import { pageHead, editGroupDialog, deleteGroup } from './common.js';
import { settingEditor } from './editor.js';
import { fetchPreview, previewBlock, previewThenSave } from './preview.js';

export async function groupView(ctx) {
  const gid = ctx.params[0];
  const [group, gs, cat, lim] = await Promise.all([get(`/groups/${seg(gid)}`), get(`/groups/${seg(gid)}/settings`), catalog(), limits()]);
  if (!ctx.current()) return;
  document.title = `${group.name} · Groups · wspolicy console`;
  const builtin = group.group_id === 'all-users';

  add(ctx.main, 
    pageHead(group.name, {
      crumbs: [{ label: 'Groups', href: '#/groups' }, { label: group.name }],
      sub: h('span', {}, badge(`priority ${group.priority}`, 'prio'), ' ', h('span', { class: 'mono' }, group.group_id),
        group.description ? ` · ${group.description}` : '', builtin ? ' · built-in: every user is a member' : ''),
      actions: [
        h('button', { type: 'button', onclick: async () => { if (await editGroupDialog({ ...group, version: panel.version() })) ctx.rerender(); } }, 'Edit group'),
        builtin ? null : h('button', { type: 'button', class: 'danger', onclick: async () => {
          if (await deleteGroup({ ...group, version: panel.version() })) location.hash = '#/groups';
        } }, 'Delete group'),
      ],
    }));
  const panel = settingsPanel(ctx, group, gs, cat);
  add(ctx.main, panel.el);
  if (!builtin) add(ctx.main, priorityCard(ctx, group, lim));
  const membersSlot = h('div', {});
  const historySlot = h('div', {});
  add(ctx.main, membersSlot, historySlot);
  panel.onChange(() => renderHistory(ctx, group, historySlot, cat));
  await Promise.all([renderMembers(ctx, group, membersSlot), renderHistory(ctx, group, historySlot, cat)]);
}

/** The Group Settings card. */
function settingsPanel(ctx, group, initial, cat) {
  const gid = group.group_id;
  let state = { settings: initial.settings || {}, version: initial.version, warnings: initial.warnings || [] };
  let changed = () => {};
  const conflictSlot = h('div', { class: 'pad' });
  const warningsSlot = h('div', { class: 'pad' });
  const editorSlot = h('div', { class: 'pad' });
  const tableSlot = h('div', {});

  const apply = (res) => {
    state = { settings: res.settings || {}, version: res.version, warnings: res.warnings || [] };
    renderTable();
    renderWarnings();
    changed();
  };

  const reload = async () => {
    apply(await get(`/groups/${seg(gid)}/settings`));
  };

  // The open editor's fresh preview after a reload (a 412 leaves what was typed in the editor).
  let afterReload = () => {};
  const showConflict = (sentVersion) => {
    conflictSlot.replaceChildren(alertBox('warn',
      h('strong', {}, 'This group was changed by someone else. '),
      `Your change was not saved: it was made on version ${sentVersion} of the group, which is no longer current. Reload to see the current settings and a fresh preview of your change against them; what you typed stays in the editor so you can save it again.`,
      h('div', { class: 'btn-row' }, h('button', { type: 'button', class: 'primary', onclick: async () => {
        await reload();
        conflictSlot.replaceChildren(alertBox('info', `Reloaded: the group is now at version ${state.version}. Check the current values and the fresh preview, then save again.`));
        afterReload();
      } }, 'Reload settings'))));
  };

  /** Runs a write; handles 412 and returns true on success. err → onError(err) for the rest. */
  const write = async (fn, onError, version) => {
    const sent = version ?? state.version;
    try {
      apply(await fn(sent));
      conflictSlot.replaceChildren();
      return true;
    } catch (err) {
      if (err.status === 412) showConflict(sent);
      else onError(err);
      return false;
    }
  };

  function renderWarnings() {
    warningsSlot.replaceChildren();
    if (!state.warnings.length) return;
    warningsSlot.append(alertBox('warn', h('strong', {}, 'Relation warnings'), ' (the settings are saved, but probably not what you want):',
      h('ul', {}, state.warnings.map((w) => h('li', { 'data-code': w.code }, w.message)))));
  }

  function renderTable() {
    const names = Object.keys(state.settings).sort();
    const warned = new Set(state.warnings.flatMap((w) => w.settings || []));
    const rows = names.map((name) => {
      const entry = cat.get(name) || { name, type: 'unknown' };
      return [
        h('div', {}, h('div', {}, settingNameEl(name), warned.has(name) ? h('span', {}, ' ', badge('⚠ warning', 'warn')) : null),
          h('div', { class: 'setting-desc' }, entry.description || '')),
        valueView(entry, state.settings[name]),
        h('div', { class: 'btn-row' },
          h('button', { type: 'button', class: 'small', 'aria-label': `Edit ${name}`, onclick: () => openEditor(name, false) }, 'Edit'),
          h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${name}`, onclick: () => removeSetting(name) }, 'Delete')),
      ];
    });
    tableSlot.replaceChildren(table([{ label: 'Setting' }, { label: 'Value' }, { label: 'Actions', class: 'actions' }], rows, {
      label: 'Group settings',
      empty: 'This group sets nothing yet: its members get every setting from their other groups or the defaults. Use "Add setting".',
      rowAttrs: (i) => ({ 'data-setting': names[i] }),
    }));
  }

  async function removeSetting(name) {
    const change = { kind: 'settings', unset: [name] };
    let p;
    try {
      p = await fetchPreview(gid, change);
    } catch (err) {
      conflictSlot.replaceChildren(alertBox('error', err.message));
      return;
    }
    const ok = await confirmDialog(`Delete ${name}?`, h('span', {},
      `${group.name} stops setting ${name}. Its members then get it from their next group that sets it, or the default.`,
      previewBlock(gid, change, p)), 'Delete setting');
    if (!ok) return;
    const done = await write((v) => api('DELETE', `/groups/${seg(gid)}/settings/${seg(name)}`, { version: v }),
      (err) => conflictSlot.replaceChildren(alertBox('error', err.message)), p.version);
    if (done) toast(`Deleted ${name}`);
  }

  function openEditor(name, isNew) {
    const entry = cat.get(name);
    const current = Object.prototype.hasOwnProperty.call(state.settings, name) ? state.settings[name]
      : (entry.all_users_value ?? entry.default);
    const ed = settingEditor(entry, current);
    const general = h('div', {});
    const previewSlot = h('div', { 'aria-live': 'polite' });
    // The preview follows the value as it is typed; Save saves with the version the preview of
    // that very value was computed against (If-Match), previewing first if it is not there yet.
    let previewed = null; // {json, version, at: the panel's version when previewed}
    let pending = null;
    const previewNow = async (value) => {
      const json = JSON.stringify(value);
      if (previewed && previewed.json === json && previewed.at === state.version) return previewed;
      const change = { kind: 'settings', set: { [name]: value } };
      const at = state.version;
      const p = await fetchPreview(gid, change);
      previewed = { json, version: p.version, at };
      previewSlot.replaceChildren(previewBlock(gid, change, p));
      return previewed;
    };
    let timer = 0;
    const schedule = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const r = ed.read();
        if (r.ok) pending = previewNow(r.value).catch(() => { previewSlot.replaceChildren(); });
      }, 300);
    };
    const save = h('button', { type: 'submit', class: 'primary' }, isNew ? 'Add setting' : 'Save');
    const form = h('form', { class: 'editor', novalidate: true, 'aria-label': `Edit ${name}`, onsubmit: async (e) => {
      e.preventDefault();
      general.replaceChildren();
      const r = ed.read();
      if (!r.ok) return;
      save.disabled = true;
      const showErr = (err) => {
        if (err.status === 400 && (!err.field || err.field === name || err.field === 'value')) ed.showError(err.message);
        else general.replaceChildren(alertBox('error', err.message));
      };
      clearTimeout(timer);
      await pending;
      let pv;
      try {
        pv = await previewNow(r.value);
      } catch (err) {
        showErr(err);
        save.disabled = false;
        return;
      }
      if (pv.version !== state.version) {
        // The preview was computed on a newer version than the one this page shows.
        showConflict(state.version);
        save.disabled = false;
        return;
      }
      const ok = await write((v) => api('PUT', `/groups/${seg(gid)}/settings/${seg(name)}`, { body: { value: r.value }, version: v }),
        showErr, pv.version);
      save.disabled = false;
      if (ok) {
        editorSlot.replaceChildren();
        toast(`Saved ${name}`);
      }
    } },
    h('h2', {}, isNew ? `Add ${name}` : `Edit ${name}`, ' ', badge(entry.type), entry.rule === 'merged' ? h('span', {}, ' ', badge('merged across groups')) : null),
    h('p', { class: 'setting-desc' }, entry.description),
    general,
    ed.el,
    previewSlot,
    h('p', { class: 'help' }, 'The preview above shows what saving would do to the members and their running sessions; Save saves exactly that change, against the version it was computed on.'),
    h('div', { class: 'btn-row' }, save, h('button', { type: 'button', onclick: () => editorSlot.replaceChildren() }, 'Cancel')));
    editorSlot.replaceChildren(form);
    form.addEventListener('input', schedule);
    form.addEventListener('change', schedule);
    afterReload = schedule;
    schedule();
    ed.focus();
  }

  function openPicker() {
    const available = [...cat.values()].filter((s) => !Object.prototype.hasOwnProperty.call(state.settings, s.name));
    const search = h('input', { type: 'search', placeholder: 'Type to filter by name or description', autocomplete: 'off', spellcheck: 'false',
      role: 'combobox', 'aria-expanded': 'true', 'aria-autocomplete': 'list' });
    const list = h('div', { class: 'picker', role: 'listbox', 'aria-label': 'Settings you can add', id: `picker-${Date.now()}` });
    search.setAttribute('aria-controls', list.id);
    let shown = [];
    let active = 0;
    const mark = () => {
      [...list.children].forEach((o, i) => o.setAttribute('aria-selected', String(i === active)));
      const cur = list.children[active];
      if (cur) { search.setAttribute('aria-activedescendant', cur.id); cur.scrollIntoView({ block: 'nearest' }); }
    };
    const render = () => {
      const q = search.value.trim().toLowerCase();
      shown = available.filter((s) => !q || s.name.toLowerCase().includes(q) || (s.description || '').toLowerCase().includes(q));
      active = 0;
      list.replaceChildren(...shown.map((s, i) => h('div', { role: 'option', id: `${list.id}-${i}`, 'aria-selected': 'false', 'data-name': s.name,
        onclick: () => openEditor(s.name, true) },
        h('span', { class: 'type' }, badge(s.type)),
        h('div', { class: 'setting-name' }, s.name),
        h('div', { class: 'setting-desc' }, s.description))));
      if (!shown.length) list.append(h('div', { class: 'empty' }, available.length ? 'No setting matches.' : 'This group already sets every setting.'));
      mark();
    };
    search.addEventListener('input', render);
    search.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowDown') { active = Math.min(shown.length - 1, active + 1); mark(); e.preventDefault(); }
      if (e.key === 'ArrowUp') { active = Math.max(0, active - 1); mark(); e.preventDefault(); }
      if (e.key === 'Enter' && shown[active]) { e.preventDefault(); openEditor(shown[active].name, true); }
      if (e.key === 'Escape') editorSlot.replaceChildren();
    });
    const f = field('Search settings', search, { help: `${available.length} settings this group does not set yet. Pick one to give it a value.` });
    editorSlot.replaceChildren(h('div', { class: 'editor' },
      h('h2', {}, 'Add a setting'), f.wrap, list,
      h('div', { class: 'btn-row' }, h('button', { type: 'button', onclick: () => editorSlot.replaceChildren() }, 'Cancel'))));
    render();
    search.focus();
  }

  renderTable();
  renderWarnings();
  const el = card('Group Settings', {
    label: 'Group Settings',
    flush: true,
    hint: 'the lowest priority number wins; volume_mapping merges',
    actions: h('button', { type: 'button', class: 'primary', onclick: openPicker }, '+ Add setting'),
  }, conflictSlot, warningsSlot, editorSlot, tableSlot);
  return { el, version: () => state.version, onChange: (fn) => { changed = fn; } };
}

/** The members card: list, add by user, remove. */
async function renderMembers(ctx, group, slot) {
  const gid = group.group_id;
  const builtin = gid === 'all-users';
  const [{ members }, { users }] = await Promise.all([get(`/groups/${seg(gid)}/members`), get('/users')]);
  if (!ctx.current()) return;
  const ids = new Set(members.map((m) => m.user_id));
  const err = h('p', { class: 'field-error', role: 'alert' });
  const previewSlot = h('div', {});
  // A membership change is previewed first, then saved with the previewed version (If-Match).
  const confirmChange = (change, label, method, userID, doneText) => {
    err.textContent = '';
    return previewThenSave(previewSlot, {
      gid, change, confirmLabel: label, danger: method === 'DELETE',
      save: (version) => api(method, `/groups/${seg(gid)}/members/${seg(userID)}`, { version }),
      done: async () => {
        toast(doneText);
        await renderMembers(ctx, group, slot);
      },
    });
  };
  const rows = members.map((m) => [
    h('a', { href: `#/users/${encodeURIComponent(m.user_id)}` }, m.username),
    h('span', { class: 'mono muted' }, m.user_id),
    builtin ? h('span', { class: 'muted small' }, 'always') : h('button', { type: 'button', class: 'small danger', 'aria-label': `Remove ${m.username} from ${group.name}`,
      onclick: () => confirmChange({ kind: 'remove_member', user_id: m.user_id }, `Remove ${m.username}`, 'DELETE', m.user_id, `Removed ${m.username}`) }, 'Remove'),
  ]);
  let adder = null;
  if (!builtin) {
    const candidates = users.filter((u) => !ids.has(u.user_id));
    const select = h('select', { name: 'user' }, h('option', { value: '' }, candidates.length ? 'Choose a user…' : 'Every user is a member'),
      candidates.map((u) => h('option', { value: u.user_id }, `${u.username} (${u.user_id})`)));
    const f = field('User to add', select);
    adder = h('form', { class: 'inline-fields', 'aria-label': 'Add member', onsubmit: async (e) => {
      e.preventDefault();
      setFieldError(select, f.error, '');
      if (!select.value) { setFieldError(select, f.error, 'Choose a user.'); return; }
      const u = users.find((x) => x.user_id === select.value);
      await confirmChange({ kind: 'add_member', user_id: select.value }, `Add ${u ? u.username : select.value}`, 'PUT', select.value, 'Member added');
    } }, f.wrap, h('div', { class: 'field' }, h('button', { type: 'submit', class: 'primary' }, 'Preview adding')));
  }
  slot.replaceChildren(card('Members', { hint: builtin ? 'every user, always' : `${members.length}`, label: 'Members' },
    adder, err, previewSlot,
    table([{ label: 'Username' }, { label: 'User id' }, { label: '', class: 'actions' }], rows, { label: 'Members', empty: 'No members yet.' })));
}

/** The history card: who changed which setting, when, from what to what. */
async function renderHistory(ctx, group, slot, cat) {
  const { history } = await get(`/groups/${seg(group.group_id)}/history`);
  if (!ctx.current()) return;
  const entries = [...history].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  // Values as the settings table shows them (units, words, mounts), not raw JSON.
  const val = (name, v) => (v === null || v === undefined ? h('span', { class: 'muted' }, 'unset') : valueView(cat.get(name) || { name }, v));
  const rows = entries.slice(0, 100).map((e) => [timeEl(e.at), h('span', { class: 'mono' }, e.actor), settingNameEl(e.setting), val(e.setting, e.old_value), val(e.setting, e.new_value)]);
  slot.replaceChildren(card('Change history', { hint: entries.length > 100 ? 'latest 100' : `${entries.length} changes`, flush: true, label: 'Change history' },
    table([{ label: 'When', class: 'nowrap' }, { label: 'Who' }, { label: 'Setting', class: 'setting-col' }, { label: 'Old', class: 'val' }, { label: 'New', class: 'val' }], rows,
      { label: 'Change history', empty: 'No settings changes yet.' })));
}

/**
 * The priority card: preview a new priority, then save it with the previewed version. lim is
 * the API's limits (GET /v1/limits).
 */
function priorityCard(ctx, group, lim) {
  const gid = group.group_id;
  const [min, max] = [lim.group_priority_min, lim.group_priority_max];
  const input = h('input', { type: 'number', name: 'priority', min: String(min), max: String(max), step: '1', value: group.priority });
  const f = field('New priority', input, { help: `The lowest number wins each setting two groups set (All Users has ${lim.all_users_priority}).` });
  const out = h('div', {});
  const form = h('form', { class: 'inline-fields', 'aria-label': 'Change priority', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    setFieldError(input, f.error, '');
    const pr = Number(input.value);
    if (!Number.isInteger(pr) || pr < min || pr > max) { setFieldError(input, f.error, `Enter a whole number from ${min} to ${max}.`); return; }
    await previewThenSave(out, {
      gid, change: { kind: 'priority', priority: pr }, confirmLabel: 'Save priority',
      save: (version) => api('PATCH', `/groups/${seg(gid)}`, { body: { priority: pr }, version }),
      done: () => { toast(`Priority ${pr} saved`); ctx.rerender(); },
    });
  } }, f.wrap, h('div', { class: 'field' }, h('button', { type: 'submit', class: 'primary' }, 'Preview')));
  // A preview is of one priority: typing another one withdraws it.
  input.addEventListener('input', () => out.replaceChildren());
  return card('Priority', { label: 'Priority', hint: `now ${group.priority}` }, form, out);
}
