// Groups: the list with priority and member count; create, edit (rename, re-prioritise), delete.
import { get } from '../api.js';
import { h, add, card, table, badge, alertBox } from '../dom.js';
import { pageHead, createGroupDialog, editGroupDialog, deleteGroup } from './common.js';

export async function groupsView(ctx) {
  document.title = 'Groups · wspolicy console';
  const { groups } = await get('/groups');
  if (!ctx.current()) return;
  // Groups that share a priority: for a user in several of them, the smaller id wins.
  const byPriority = new Map();
  for (const g of groups) byPriority.set(g.priority, [...(byPriority.get(g.priority) || []), g]);
  const ties = [...byPriority.values()].filter((gs) => gs.length > 1);
  const allUsers = groups.find((g) => g.group_id === 'all-users');
  const rows = groups.map((g) => {
    const tied = (byPriority.get(g.priority) || []).filter((o) => o.group_id !== g.group_id);
    const below = allUsers && g.group_id !== 'all-users' && g.priority > allUsers.priority;
    return [
    h('div', {}, h('a', { href: `#/groups/${encodeURIComponent(g.group_id)}`, class: 'strong' }, g.name),
      g.group_id === 'all-users' ? h('span', {}, ' ', badge('built-in')) : null,
      h('div', { class: 'value-hint mono' }, g.group_id)),
    h('div', { class: 'chips' }, badge(String(g.priority), 'prio'),
      tied.length ? h('span', { class: 'badge warn', 'data-flag': 'tie', title: `Same priority as ${tied.map((o) => o.name).join(', ')}` }, '⚠ tie') : null,
      below ? h('span', { class: 'badge', 'data-flag': 'below-all-users', title: `All Users (priority ${allUsers.priority}) takes precedence over this group` }, 'below All Users') : null),
    h('span', {}, g.group_id === 'all-users' ? 'every user' : String(g.member_count ?? 0)),
    h('span', { class: 'muted' }, g.description || ''),
    h('div', { class: 'btn-row' },
      h('button', { type: 'button', class: 'small', 'aria-label': `Edit ${g.name}`, onclick: async () => {
        if (await editGroupDialog(g)) ctx.rerender();
      } }, 'Edit'),
      g.group_id === 'all-users' ? null : h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${g.name}`, onclick: async () => {
        if (await deleteGroup(g)) ctx.rerender();
      } }, 'Delete')),
  ];
  });
  add(ctx.main, 
    pageHead('Groups', {
      sub: 'A user gets each setting from the group with the lowest priority number that sets it; volume_mapping is merged across groups.',
      actions: h('button', { type: 'button', class: 'primary', onclick: async () => {
        const g = await createGroupDialog();
        if (g) location.hash = `#/groups/${encodeURIComponent(g.group_id)}`;
      } }, '+ New group'),
    }),
    ties.length ? alertBox('warn', h('strong', {}, 'Priority ties. '),
      'For a user in both groups of a tie, the group with the smaller id wins each setting both set — probably not what you want:',
      h('ul', {}, ties.map((gs) => h('li', { 'data-tie': String(gs[0].priority) }, `${gs.map((g) => g.name).join(', ')} all have priority ${gs[0].priority}`)))) : null,
    card('All groups', { hint: `${groups.length} groups, by priority`, flush: true },
      table([{ label: 'Name' }, { label: 'Priority' }, { label: 'Members' }, { label: 'Description' }, { label: 'Actions', class: 'actions' }],
        rows, { label: 'Groups', empty: 'No groups.', rowAttrs: (i) => ({ 'data-group': groups[i].group_id }) })));
}
