// The preview of a group change (issue 20): what saving would do — how many users' effective
// settings change, which running sessions the next sweep would stop, pause or delete, new
// expiries, exhausted usage limits, withdrawn permissions, the warnings it raises — with the
// lists behind the counts, computed against one version of the group. The editors save with
// that version (If-Match), so what is saved is exactly what was previewed, or a 412.
import { api, seg } from '../api.js';
import { h, alertBox, table } from '../dom.js';

/** Asks the API what change would do to group gid; resolves to the preview. */
export function fetchPreview(gid, change, pageToken) {
  const body = { ...change, limit: 50 };
  if (pageToken) body.page_token = pageToken;
  return api('POST', `/groups/${seg(gid)}/preview`, { body });
}

const n = (k, one, many) => `${k} ${k === 1 ? one : many}`;

/** The one-line summary: "This affects 412 users; 37 running sessions would be stopped at the next sweep." */
export function sentence(p) {
  const s = p.summary;
  if (!s.users_affected) return 'This changes no user\'s effective settings and no session.';
  const parts = [];
  const sweep = [['sessions_stopped_at_next_sweep', 'stopped'], ['sessions_paused_at_next_sweep', 'paused'], ['sessions_deleted_at_next_sweep', 'deleted']];
  for (const [k, verb] of sweep) {
    if (s[k]) parts.push(`${n(s[k], 'running session', 'running sessions')} would be ${verb} at the next sweep`);
  }
  if (s.sessions_expiry_changed) parts.push(`${n(s.sessions_expiry_changed, 'session gets', 'sessions get')} a new expiry`);
  if (s.sessions_usage_limit_exhausted) parts.push(`${n(s.sessions_usage_limit_exhausted, 'session is', 'sessions are')} past the new usage limit`);
  if (s.sessions_permission_withdrawn) parts.push(`the owners of ${n(s.sessions_permission_withdrawn, 'session', 'sessions')} lose a permission`);
  return `This affects ${n(s.users_affected, 'user', 'users')}${parts.length ? '; ' + parts.join('; ') : ''}.`;
}

const shown = (v) => (typeof v === 'string' ? v : JSON.stringify(v));
const source = (src) => {
  if (!src) return '';
  if (src.kind === 'default') return 'default';
  if (src.kind === 'group' && src.group) return src.group.name;
  return (src.groups || []).map((g) => g.name).join(' + ');
};

const effectWords = {
  expiry_changed: 'new expiry',
  action_changed: 'new expiration action',
  lifetime_changed: 'new keepalive cadence',
  stopped_at_next_sweep: 'stopped at the next sweep',
  paused_at_next_sweep: 'paused at the next sweep',
  deleted_at_next_sweep: 'deleted at the next sweep',
  usage_limit_exhausted: 'usage limit exhausted',
  permission_withdrawn: 'permission withdrawn',
};

function userRows(users) {
  return users.map((u) => [
    h('span', { 'data-user': u.user_id }, u.username),
    h('ul', { class: 'plain' }, u.settings.map((c) => h('li', { 'data-setting': c.name },
      h('span', { class: 'mono' }, c.name), ': ', shown(c.old.value), ` (${source(c.old.source)}) → `, h('strong', {}, shown(c.new.value)), ` (${source(c.new.source)})`))),
    u.sessions.length ? h('ul', { class: 'plain' }, u.sessions.map((s) => h('li', { 'data-session': s.session_id, 'data-next-sweep': s.next_sweep || 'none' },
      h('span', { class: 'mono' }, s.session_id), ` (${s.status}): `, s.effects.map((e) => effectWords[e] || e).join(', '),
      s.effects.includes('expiry_changed') ? ` — expires ${new Date(s.new_expires_at).toISOString().replace('.000Z', 'Z')}` : ''))) : h('span', { class: 'muted' }, 'no session changes'),
  ]);
}

/**
 * The preview block of change to group gid: the sentence, the warnings and the users (paged with
 * "Show more"). p is the first page.
 */
export function previewBlock(gid, change, p) {
  const rows = userRows(p.users);
  const body = h('div', {});
  let token = p.next_page_token;
  const more = h('button', { type: 'button', class: 'small', hidden: !token, onclick: async () => {
    more.disabled = true;
    try {
      const next = await fetchPreview(gid, change, token);
      rows.push(...userRows(next.users));
      token = next.next_page_token;
      render();
    } catch (e) {
      body.append(alertBox('error', e.message));
    }
    more.disabled = false;
    more.hidden = !token;
  } }, 'Show more users');
  const warnings = [...(p.group_warnings || []), ...(p.warnings || [])];
  const render = () => body.replaceChildren(table([{ label: 'User' }, { label: 'Effective settings: old → new' }, { label: 'Sessions' }], rows,
    { label: 'Users the change affects', empty: 'Nobody.' }));
  render();
  return h('div', { class: 'preview', 'data-version': String(p.version), role: 'region', 'aria-label': 'Preview of the change' },
    alertBox(p.summary.sessions_stopped_at_next_sweep + p.summary.sessions_paused_at_next_sweep + p.summary.sessions_deleted_at_next_sweep > 0 ? 'warn' : 'info',
      h('strong', { class: 'preview-sentence' }, sentence(p)),
      ` Computed against version ${p.version} of the group at ${p.evaluated_at}; saving uses that version, so it saves exactly this change or reports that the group changed meanwhile.`),
    warnings.length ? alertBox('warn', h('strong', {}, 'Warnings this change raises:'),
      h('ul', {}, warnings.map((w) => h('li', { 'data-code': w.code }, w.message, w.users ? ` (${n(w.users, 'user', 'users')})` : ''))))
      : null,
    (p.notes || []).map((x) => h('p', { class: 'help' }, x)),
    body, more);
}

/** The message of a save refused because the group changed after its preview (412). */
export const staleText = (version) => `Not saved: the group changed since the preview (it was version ${version}).`;

/**
 * Previews change to group gid in slot, with a confirm button under the lists: the one helper of
 * every change that is previewed, then confirmed (members on a group's page, groups on a user's
 * page, the priority card). Confirming calls save(version) with the version the preview was
 * computed against (the editor sends it as If-Match), then done(result). A 412 — the group
 * changed meanwhile — says so and shows a fresh preview against the current version to confirm
 * again; nothing was saved. Cancel clears the slot.
 *   opts: {gid, change, confirmLabel, danger, save(version) → Promise, done(result)}
 */
export async function previewThenSave(slot, opts) {
  const { gid, change } = opts;
  const show = async (notice) => {
    let p;
    try {
      p = await fetchPreview(gid, change);
    } catch (e) {
      slot.replaceChildren(notice || '', alertBox('error', e.message));
      return;
    }
    const err = h('p', { class: 'field-error', role: 'alert' });
    const go = h('button', { type: 'button', class: opts.danger ? 'danger' : 'primary', onclick: async () => {
      go.disabled = true;
      err.textContent = '';
      let r;
      try {
        r = await opts.save(p.version);
      } catch (e) {
        if (e.status === 412) {
          await show(alertBox('warn', h('strong', {}, staleText(p.version)),
            ' Below is a fresh preview of the same change against the group as it is now: check it, then confirm again.'));
          return;
        }
        go.disabled = false;
        err.textContent = e.message;
        return;
      }
      slot.replaceChildren();
      await opts.done?.(r);
    } }, opts.confirmLabel);
    slot.replaceChildren(h('div', { class: 'editor', role: 'group', 'aria-label': opts.confirmLabel },
      notice || null, previewBlock(gid, change, p), err,
      h('div', { class: 'btn-row' }, go, h('button', { type: 'button', onclick: () => slot.replaceChildren() }, 'Cancel'))));
    go.focus();
  };
  await show();
}
