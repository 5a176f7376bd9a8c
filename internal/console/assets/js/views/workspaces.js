// Workspaces (issue 15): the registry of launchable images, which groups may launch each one,
// and the developer keys of the Kasm-compatible API.
import { api, get, seg, ApiError } from '../api.js';
import { h, add, card, table, badge, alertBox, field, setFieldError, toast, confirmDialog } from '../dom.js';
import { pageHead } from './common.js';

export async function workspacesView(ctx) {
  document.title = 'Workspaces · wspolicy console';
  const [{ workspaces }, { groups }] = await Promise.all([get('/workspaces'), get('/groups')]);
  if (!ctx.current()) return;
  const groupName = new Map(groups.map((g) => [g.group_id, g.name]));

  const wid = h('input', { type: 'text', id: 'ws-id', placeholder: 'chrome', autocomplete: 'off' });
  const image = h('input', { type: 'text', id: 'ws-image', placeholder: 'kasmweb/chrome:1.16', autocomplete: 'off' });
  const friendly = h('input', { type: 'text', id: 'ws-name', placeholder: 'Chrome', autocomplete: 'off' });
  const limit = h('input', { type: 'number', id: 'ws-limit', min: '0', value: '0' });
  const fImage = field('Container image', image);
  const form = h('form', { class: 'inline-fields', 'aria-label': 'Register a workspace', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    setFieldError(image, fImage.error, '');
    const body = { image_id: image.value.trim(), friendly_name: friendly.value.trim(), session_time_limit: Number(limit.value || 0) };
    if (wid.value.trim()) body.workspace_id = wid.value.trim();
    try {
      await api('POST', '/workspaces', { body });
      toast('Workspace registered');
      ctx.rerender();
    } catch (err) {
      setFieldError(image, fImage.error, err.message);
    }
  } },
  h('div', { class: 'field' }, field('Workspace id (optional)', wid).wrap),
  h('div', { class: 'field grow' }, fImage.wrap),
  h('div', { class: 'field' }, field('Friendly name', friendly).wrap),
  h('div', { class: 'field' }, field('Time limit (s, 0 none)', limit).wrap),
  h('div', { class: 'field' }, h('button', { type: 'submit', class: 'primary' }, 'Register')));

  const rows = workspaces.map((w) => {
    const pick = h('select', { 'aria-label': `Group to allow for ${w.friendly_name}` },
      h('option', { value: '' }, 'Allow a group…'),
      groups.filter((g) => !w.groups.includes(g.group_id)).map((g) => h('option', { value: g.group_id }, g.name)));
    pick.addEventListener('change', async () => {
      if (!pick.value) return;
      await api('PUT', `/groups/${seg(pick.value)}/workspaces/${seg(w.workspace_id)}`);
      toast('Group allowed');
      ctx.rerender();
    });
    return [
      h('div', {}, h('span', { class: 'strong' }, w.friendly_name), h('div', { class: 'value-hint mono' }, w.workspace_id)),
      h('span', { class: 'mono' }, w.image_id),
      h('div', { class: 'chips' }, w.enabled ? badge('enabled') : badge('disabled', 'warn'), w.container ? badge('container') : null),
      h('div', { class: 'chips' }, w.groups.map((g) => h('button', { type: 'button', class: 'small ghost chip',
        'aria-label': `Disallow ${groupName.get(g) || g} for ${w.friendly_name}`, onclick: async () => {
          await api('DELETE', `/groups/${seg(g)}/workspaces/${seg(w.workspace_id)}`);
          ctx.rerender();
        } }, `${groupName.get(g) || g} ✕`)), pick),
      h('div', { class: 'btn-row' },
        h('button', { type: 'button', class: 'small', 'aria-label': `${w.enabled ? 'Disable' : 'Enable'} ${w.friendly_name}`, onclick: async () => {
          await api('PATCH', `/workspaces/${seg(w.workspace_id)}`, { body: { enabled: !w.enabled } });
          ctx.rerender();
        } }, w.enabled ? 'Disable' : 'Enable'),
        h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${w.friendly_name}`, onclick: async () => {
          if (!(await confirmDialog('Delete workspace', `Delete ${w.friendly_name}? Running sessions keep running.`, 'Delete'))) return;
          await api('DELETE', `/workspaces/${seg(w.workspace_id)}`);
          ctx.rerender();
        } }, 'Delete')),
    ];
  });
  add(ctx.main,
    pageHead('Workspaces', { sub: 'Launchable images and the groups allowed to launch them. Once one is registered, every session start must name a registered workspace.' }),
    card('Register a workspace', {}, form),
    card('All workspaces', { hint: `${workspaces.length} workspaces`, flush: true },
      table([{ label: 'Name' }, { label: 'Image' }, { label: 'State' }, { label: 'Allowed groups' }, { label: 'Actions', class: 'actions' }],
        rows, { label: 'Workspaces', empty: 'No workspaces yet.', rowAttrs: (i) => ({ 'data-workspace': workspaces[i].workspace_id }) })));
}

const PERMISSIONS = ['all', 'users_view', 'users_create', 'users_modify', 'users_delete', 'users_auth_session',
  'sessions_view', 'sessions_modify', 'sessions_delete', 'images_view', 'groups_view', 'groups_modify', 'group_settings_modify'];

export async function developerKeysView(ctx) {
  document.title = 'Developer keys · wspolicy console';
  const { developer_keys: keys } = await get('/developer-keys');
  if (!ctx.current()) return;
  const name = h('input', { type: 'text', id: 'dk-name', placeholder: 'ci', autocomplete: 'off' });
  const fName = field('Name', name);
  const boxes = PERMISSIONS.map((p) => h('input', { type: 'checkbox', id: `perm-${p}`, value: p }));
  const shown = h('div', {});
  const form = h('form', { 'aria-label': 'Create a developer key', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    setFieldError(name, fName.error, '');
    try {
      const k = await api('POST', '/developer-keys', { body: { name: name.value, permissions: boxes.filter((b) => b.checked).map((b) => b.value) } });
      shown.replaceChildren(alertBox('info', h('strong', {}, 'Copy the secret now: it is not shown again. '),
        h('div', { class: 'mono', 'data-field': 'api_key' }, `api_key: ${k.api_key}`),
        h('div', { class: 'mono', 'data-field': 'api_key_secret' }, `api_key_secret: ${k.api_key_secret}`)));
      const list = await get('/developer-keys');
      listSlot.replaceChildren(keyTable(list.developer_keys));
    } catch (err) {
      setFieldError(name, fName.error, err instanceof ApiError ? err.message : String(err));
    }
  } }, fName.wrap,
  h('div', { class: 'chips', role: 'group', 'aria-label': 'Permissions' }, boxes.map((b) => h('label', { class: 'check', for: b.id }, b, b.value))),
  h('div', { class: 'btn-row' }, h('button', { type: 'submit', class: 'primary' }, 'Create key')));
  const keyTable = (ks) => table([{ label: 'Name' }, { label: 'Key' }, { label: 'Permissions' }, { label: 'Expires' }, { label: 'Actions', class: 'actions' }],
    ks.map((k) => [h('span', { class: 'strong' }, k.name), h('span', { class: 'mono' }, k.key_id),
      h('span', {}, k.permissions.join(', ')), h('span', {}, k.expires_at || 'never'),
      h('button', { type: 'button', class: 'small danger', 'aria-label': `Revoke ${k.name}`, onclick: async () => {
        if (!(await confirmDialog('Revoke key', `Revoke ${k.name}? Clients using it stop working within a minute.`, 'Revoke'))) return;
        await api('DELETE', `/developer-keys/${seg(k.key_id)}`);
        ctx.rerender();
      } }, 'Revoke')]),
    { label: 'Developer keys', empty: 'No developer keys.', rowAttrs: (i) => ({ 'data-key': ks[i].key_id }) });
  const listSlot = h('div', {}, keyTable(keys));
  add(ctx.main,
    pageHead('Developer keys', { sub: 'Keys of the Kasm-compatible Developer API (/api/public/, /api/admin/). Least privilege: a key can do only what its permissions list.' }),
    card('Create a developer key', {}, form, shown),
    card('Keys', { flush: true }, listSlot));
}

/** The workspaces the signed-in user may launch, for the dashboard's picker; [] when none or unavailable. */
export async function launchableWorkspaces(userID) {
  try {
    const { workspaces } = await get(`/users/${seg(userID)}/workspaces`);
    return workspaces;
  } catch {
    return [];
  }
}
