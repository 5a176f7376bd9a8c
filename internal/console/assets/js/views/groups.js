// Groups: the list with priority and member count; create, edit (rename, re-prioritise), delete.
import { get } from '../api.js';
import { h, add, card, table, badge } from '../dom.js';
import { pageHead, createGroupDialog, editGroupDialog, deleteGroup } from './common.js';

export async function groupsView(ctx) {
  document.title = 'Groups · wspolicy console';
  const { groups } = await get('/groups');
  if (!ctx.current()) return;
  const rows = groups.map((g) => [
    h('div', {}, h('a', { href: `#/groups/${encodeURIComponent(g.group_id)}`, class: 'strong' }, g.name),
      g.group_id === 'all-users' ? h('span', {}, ' ', badge('built-in')) : null,
      h('div', { class: 'value-hint mono' }, g.group_id)),
    badge(String(g.priority), 'prio'),
    h('span', {}, g.group_id === 'all-users' ? 'every user' : String(g.member_count ?? 0)),
    h('span', { class: 'muted' }, g.description || ''),
    h('div', { class: 'btn-row' },
      h('button', { type: 'button', class: 'small', 'aria-label': `Edit ${g.name}`, onclick: async () => {
        if (await editGroupDialog(g)) ctx.rerender();
      } }, 'Edit'),
      g.group_id === 'all-users' ? null : h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${g.name}`, onclick: async () => {
        if (await deleteGroup(g)) ctx.rerender();
      } }, 'Delete')),
  ]);
  add(ctx.main, 
    pageHead('Groups', {
      sub: 'A user gets each setting from the group with the lowest priority number that sets it; volume_mapping is merged across groups.',
      actions: h('button', { type: 'button', class: 'primary', onclick: async () => {
        const g = await createGroupDialog();
        if (g) location.hash = `#/groups/${encodeURIComponent(g.group_id)}`;
      } }, '+ New group'),
    }),
    card('All groups', { hint: `${groups.length} groups, by priority`, flush: true },
      table([{ label: 'Name' }, { label: 'Priority' }, { label: 'Members' }, { label: 'Description' }, { label: 'Actions', class: 'actions' }],
        rows, { label: 'Groups', empty: 'No groups.', rowAttrs: (i) => ({ 'data-group': groups[i].group_id }) })));
}
