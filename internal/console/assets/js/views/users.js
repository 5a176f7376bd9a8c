// Users: the list with their groups; create and delete.
import { api, get, seg, limits } from '../api.js';
import { h, add, card, table, badge, field, setFieldError, confirmDialog, toast } from '../dom.js';
import { timeEl } from '../format.js';
import { pageHead } from './common.js';

export async function usersView(ctx) {
  document.title = 'Users · wspolicy console';
  const [{ users }, { groups }, lim] = await Promise.all([get('/users'), get('/groups'), limits()]);
  if (!ctx.current()) return;
  const gname = new Map(groups.map((g) => [g.group_id, g]));
  const input = h('input', { type: 'text', name: 'username', maxlength: String(lim.username_max_chars), autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. alice' });
  const f = field('Username', input);
  const form = h('form', { class: 'inline-fields', 'aria-label': 'New user', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    setFieldError(input, f.error, '');
    try {
      const u = await api('POST', '/users', { body: { username: input.value.trim() } });
      toast(`Created ${u.username}`);
      location.hash = `#/users/${encodeURIComponent(u.user_id)}`;
    } catch (err) {
      setFieldError(input, f.error, err.message);
    }
  } }, f.wrap, h('div', { class: 'field' }, h('button', { type: 'submit', class: 'primary' }, 'Create user')));
  const rows = users.map((u) => [
    h('div', {}, h('a', { href: `#/users/${encodeURIComponent(u.user_id)}` }, u.username), h('div', { class: 'value-hint mono' }, u.user_id)),
    h('div', { class: 'chips' }, (u.groups || []).map((id) => {
      const g = gname.get(id);
      return h('a', { href: `#/groups/${encodeURIComponent(id)}` }, badge(g ? `${g.name} · ${g.priority}` : id, 'prio'));
    })),
    timeEl(u.created_at),
    h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${u.username}`, onclick: async () => {
      if (!await confirmDialog(`Delete ${u.username}?`, 'The user, their memberships, keys and storage mappings are removed, and their sessions are ended.', 'Delete user')) return;
      try {
        await api('DELETE', `/users/${seg(u.user_id)}`);
        toast(`Deleted ${u.username}`);
        ctx.rerender();
      } catch (err) { toast(err.message); }
    } }, 'Delete'),
  ]);
  const tbl = table([{ label: 'Username' }, { label: 'Groups (name · priority)' }, { label: 'Created' }, { label: '', class: 'actions' }], rows,
    { label: 'Users', empty: 'No users yet. Create one above.', rowAttrs: (i) => ({ 'data-user': users[i].user_id }) });
  // A filter on what a row shows (username, id, group names): the first thing one looks for in
  // a list of more than a screenful.
  const search = h('input', { type: 'search', autocomplete: 'off', spellcheck: 'false', placeholder: 'Username, id or group' });
  const sf = field('Find a user', search);
  const count = h('span', { class: 'muted', 'aria-live': 'polite' });
  const filter = () => {
    const q = search.value.trim().toLowerCase();
    let shown = 0;
    for (const tr of tbl.querySelectorAll?.('tbody tr') || []) {
      tr.hidden = !!q && !tr.textContent.toLowerCase().includes(q);
      if (!tr.hidden) shown++;
    }
    count.textContent = q ? `${shown} of ${users.length} shown` : '';
  };
  search.addEventListener('input', filter);
  add(ctx.main,
    pageHead('Users', { sub: 'Every user is a member of All Users; a new user also joins each group whose auto_add_local_users is true.' }),
    card('New user', {}, form),
    card('All users', { hint: `${users.length}`, flush: true },
      users.length ? h('div', { class: 'filters' }, sf.wrap, h('div', { class: 'field' }, count)) : null, tbl));
}
