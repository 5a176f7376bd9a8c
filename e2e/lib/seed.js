// A realistic data set for the browser tests and the README's screenshots: several groups with
// the settings an administrator would give them (a per-mount volume_mapping, a time limit, a
// shared per_group budget, a group below All Users), a dozen users and a few dozen sessions in
// every state. Everything goes through the API with the admin key.

const mount = (bind, mode = 'rw', id = 1000) => ({ bind, mode, uid: id, gid: id });

export const seedGroups = [
  { key: 'eng', name: 'Engineering', priority: 5, description: 'Developers and SREs',
    settings: {
      default_image: 'kasmweb/vs-code:1.16', max_kasms_per_user: 4, keepalive_expiration: 7200,
      volume_mapping: { '/nfs/home/{username}': mount('/home/kasm-user/nfs'), '/nfs/tools': mount('/opt/tools', 'ro', 0) },
    } },
  { key: 'design', name: 'Design', priority: 30, description: 'Product designers',
    settings: { default_image: 'kasmweb/gimp:1.16', allow_kasm_microphone: false } },
  { key: 'support', name: 'Support', priority: 40, description: 'Customer support desks, 4-hour sessions',
    settings: { session_time_limit: 14400, allow_kasm_downloads: false, default_image: 'kasmweb/chrome:1.16' } },
  { key: 'lab', name: 'Research Lab', priority: 60, description: 'Shares one daily budget of 8 hours',
    settings: {
      usage_limit: { type: 'per_group', interval: 'daily', hours: 8 },
      volume_mapping: { '/datasets': mount('/mnt/datasets', 'ro', 0), '/nfs/tools': mount('/opt/lab-tools', 'ro', 0) },
    } },
  { key: 'interns', name: 'Interns', priority: 2000, description: 'Summer interns',
    settings: { allow_kasm_downloads: false } },
];

// username → [groups, [[image, then]]]: then is what happens to the session after its start.
export const seedUsers = [
  ['ana.kovacs', ['eng'], [['kasmweb/vs-code:1.16'], ['kasmweb/terminal:1.16', 'pause'], ['kasmweb/chrome:1.16', 'delete']]],
  ['ben.okafor', ['eng'], [['kasmweb/vs-code:1.16'], ['kasmweb/desktop:1.16', 'stop'], ['kasmweb/terminal:1.16']]],
  ['chen.wei', ['eng'], [['kasmweb/vs-code:1.16'], ['kasmweb/chrome:1.16'], ['kasmweb/desktop:1.16', 'delete'], ['kasmweb/terminal:1.16', 'pause']]],
  ['dana.levi', ['eng', 'lab'], [['kasmweb/jupyter:1.16'], ['kasmweb/vs-code:1.16'], ['kasmweb/desktop:1.16', 'stop']]],
  ['eva.muller', ['design'], [['kasmweb/gimp:1.16'], ['kasmweb/blender:1.16'], ['kasmweb/chrome:1.16', 'delete']]],
  ['farid.haddad', ['design'], [['kasmweb/gimp:1.16', 'pause'], ['kasmweb/inkscape:1.16']]],
  ['grace.kim', ['support'], [['kasmweb/chrome:1.16'], ['kasmweb/libre-office:1.16']]],
  ['hugo.silva', ['support'], [['kasmweb/chrome:1.16'], ['kasmweb/chrome:1.16', 'delete'], ['kasmweb/zoom:1.16']]],
  ['ines.costa', ['support', 'interns'], [['kasmweb/chrome:1.16', 'stop'], ['kasmweb/libre-office:1.16']]],
  ['jonas.berg', ['eng', 'lab'], [['kasmweb/jupyter:1.16'], ['kasmweb/jupyter:1.16'], ['kasmweb/rstudio:1.16', 'pause']]],
  ['kira.sato', ['lab'], []],
  ['leo.rossi', ['interns'], [['kasmweb/desktop:1.16'], ['kasmweb/chrome:1.16', 'delete'], ['kasmweb/terminal:1.16']]],
  ['maya.patel', ['design', 'eng'], [['kasmweb/figma-linux:1.16'], ['kasmweb/vs-code:1.16', 'pause']]],
  ['noah.fischer', ['support'], [['kasmweb/chrome:1.16'], ['kasmweb/libre-office:1.16', 'stop']]],
];

/**
 * Seeds the data set through admin (a must() client). Resolves to {groups: key → group,
 * users: username → user, sessions: [session]}.
 */
export async function seed(admin) {
  const groups = {};
  for (const g of seedGroups) {
    const created = await admin('POST', '/groups', { name: g.name, priority: g.priority, description: g.description });
    await admin('PATCH', `/groups/${created.group_id}/settings`, { set: g.settings });
    groups[g.key] = created;
  }
  const users = {};
  const sessions = [];
  for (const [username, keys, starts] of seedUsers) {
    const u = await admin('POST', '/users', { username });
    users[username] = u;
    for (const k of keys) await admin('PUT', `/groups/${groups[k].group_id}/members/${u.user_id}`);
    for (const [image, then] of starts) {
      const s = await admin('POST', '/sessions', { user_id: u.user_id, image_id: image, container: true });
      if (then === 'delete') await admin('DELETE', `/sessions/${s.session_id}`);
      else if (then) await admin('POST', `/sessions/${s.session_id}/${then}`, {});
      sessions.push(s);
    }
  }
  // Two named keys, as a user with a laptop and a desktop would have.
  await admin('POST', `/users/${users['ana.kovacs'].user_id}/keys`, { name: 'laptop' });
  await admin('POST', `/users/${users['ana.kovacs'].user_id}/keys`, { name: 'workstation' });
  return { groups, users, sessions };
}
