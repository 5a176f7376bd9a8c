// Browser tests of issue 20: every group editor shows what saving would do before Save — the
// setting editor (set and delete), the priority card, the "Edit group" dialog, the members card
// and the groups of a user's page — with the lists behind the counts, and saves with the version
// the preview was computed against (a 412 shows a fresh preview).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, apiClient, must, screenshot } from '../lib/harness.js';

let server;
let browser;
let admin;
let page;
let group;
let day;
const users = {};
const sessions = {};

async function signIn(p, key) {
  await p.goto(`${server.url}/console/`);
  await p.getByLabel('API key', { exact: true }).fill(key);
  await p.getByRole('button', { name: 'Sign in', exact: true }).click();
  await p.getByRole('navigation', { name: 'Main', exact: true }).waitFor();
}

/** Polls the preview API until check(preview) holds (the sessions' idle time grows with the clock). */
async function previewUntil(change, check) {
  for (;;) {
    const p = await admin('POST', `/groups/${group.group_id}/preview`, change, [200]);
    if (check(p)) return p;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('preview of group changes', () => {
  before(async () => {
    server = await startServer();
    browser = await launchBrowser(server.url);
    admin = must(apiClient(server.url, server.adminKey));
    group = await admin('POST', '/groups', { name: 'Night Shift', priority: 30 });
    await admin('PATCH', `/groups/${group.group_id}/settings`, { set: { keepalive_expiration: 3600, keepalive_expiration_action: 'stop' } });
    // Day Shift takes precedence over Night Shift: pia, in both, gets its keepalive_expiration.
    day = await admin('POST', '/groups', { name: 'Day Shift', priority: 10 });
    await admin('PUT', `/groups/${day.group_id}/settings/keepalive_expiration`, { value: 7200 });
    for (const name of ['nina', 'omar', 'pia']) {
      users[name] = await admin('POST', '/users', { username: name });
      await admin('PUT', `/groups/${group.group_id}/members/${users[name].user_id}`);
      if (name === 'pia') await admin('PUT', `/groups/${day.group_id}/members/${users[name].user_id}`);
      sessions[name] = (await admin('POST', '/sessions', { user_id: users[name].user_id, image_id: 'chrome', container: true })).session_id;
    }
    page = await browser.context.newPage();
    page.setDefaultTimeout(15_000);
    await signIn(page, server.adminKey);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the setting editor previews a lower keepalive_expiration and saves exactly it', async () => {
    // Both sessions are idle for more than a second once the clock has moved on.
    await previewUntil({ kind: 'settings', set: { keepalive_expiration: 1 } }, (p) => p.summary.sessions_stopped_at_next_sweep === 2);
    await page.goto(`${server.url}/console/#/groups/${group.group_id}`);
    await page.getByRole('heading', { name: 'Night Shift', level: 1, exact: true }).waitFor();
    const panel = page.getByRole('region', { name: 'Group Settings', exact: true });
    await panel.getByRole('button', { name: 'Edit keepalive_expiration', exact: true }).click();
    await panel.getByLabel('keepalive_expiration (seconds)', { exact: true }).fill('1');
    const region = panel.getByRole('region', { name: 'Preview of the change', exact: true });
    await region.getByText('This affects 2 users; 2 running sessions would be stopped at the next sweep', { exact: false }).waitFor();
    for (const name of ['nina', 'omar']) {
      const li = region.locator(`li[data-session="${sessions[name]}"]`);
      await li.waitFor();
      assert.equal(await li.getAttribute('data-next-sweep'), 'stop');
      assert.match(await region.locator(`[data-user="${users[name].user_id}"]`).textContent(), new RegExp(name));
    }
    assert.match(await region.locator('li[data-setting="keepalive_expiration"]').first().textContent(), /3600 \(Night Shift\) → 1 \(Night Shift\)/);
    // pia gets keepalive_expiration from Day Shift: the change does not touch her or her session.
    assert.equal(await region.locator(`[data-user="${users.pia.user_id}"]`).count(), 0);
    assert.equal(await region.locator(`li[data-session="${sessions.pia}"]`).count(), 0);
    const version = Number(await region.getAttribute('data-version'));
    await screenshot(page, 'preview-setting');
    await panel.getByRole('button', { name: 'Save', exact: true }).click();
    await page.locator('.toast').filter({ hasText: 'Saved keepalive_expiration' }).waitFor();
    const g = await admin('GET', `/groups/${group.group_id}`);
    assert.equal(g.version, version + 1, 'saved on the previewed version');
    assert.equal((await admin('GET', `/groups/${group.group_id}/settings`)).settings.keepalive_expiration, 1);

    // The next sweep stops exactly the sessions the preview listed.
    const rep = await admin('POST', '/sweeps', {});
    const stopped = rep.actions.filter((a) => a.action === 'stop').map((a) => a.session_id).sort();
    assert.deepEqual(stopped, [sessions.nina, sessions.omar].sort());
  });

  test('removing a member is previewed: the effective values fall back to All Users', async () => {
    const members = page.getByRole('region', { name: 'Members', exact: true });
    await members.getByRole('button', { name: 'Remove omar from Night Shift', exact: true }).click();
    const region = members.getByRole('region', { name: 'Preview of the change', exact: true });
    await region.getByText('This affects 1 user', { exact: false }).waitFor();
    const ka = region.locator('li[data-setting="keepalive_expiration"]');
    assert.match(await ka.textContent(), /1 \(Night Shift\) → \d+ \((All Users|default)\)/);
    await screenshot(page, 'preview-member');
    await members.getByRole('button', { name: 'Remove omar', exact: true }).click();
    await page.locator('.toast').filter({ hasText: 'Removed omar' }).waitFor();
    const { members: left } = await admin('GET', `/groups/${group.group_id}/members`);
    assert.deepEqual(left.map((m) => m.username).sort(), ['nina', 'pia']);
  });

  test("a user's page previews leaving a group: the effective values fall back to the next group", async () => {
    await page.goto(`${server.url}/console/#/users/${users.pia.user_id}`);
    await page.getByRole('heading', { name: 'pia', level: 1, exact: true }).waitFor();
    const card = page.getByRole('region', { name: 'Groups', exact: true });
    await card.getByRole('button', { name: 'Remove pia from Day Shift', exact: true }).click();
    const region = card.getByRole('region', { name: 'Preview of the change', exact: true });
    await region.getByText('This affects 1 user; 1 running session would be stopped at the next sweep', { exact: false }).waitFor();
    assert.match(await region.locator('li[data-setting="keepalive_expiration"]').textContent(), /7200 \(Day Shift\) → 1 \(Night Shift\)/);
    assert.equal(await region.locator(`li[data-session="${sessions.pia}"]`).getAttribute('data-next-sweep'), 'stop');
    await screenshot(page, 'preview-user-leave');
    await card.getByRole('button', { name: 'Leave Day Shift', exact: true }).click();
    await page.locator('.toast').filter({ hasText: 'Removed from Day Shift' }).waitFor();
    const eff = page.getByRole('region', { name: 'Effective settings', exact: true });
    await eff.locator('tr[data-setting="keepalive_expiration"]').getByRole('link', { name: 'Night Shift', exact: true }).waitFor();
    const rep = await admin('POST', '/sweeps', {});
    assert.deepEqual(rep.actions.filter((a) => a.action === 'stop').map((a) => a.session_id), [sessions.pia], 'the sweep stops the session the preview listed');

    // Joining again is previewed the other way round.
    await page.getByLabel('Group to join', { exact: true }).selectOption({ label: 'Day Shift (priority 10)' });
    await page.getByRole('button', { name: 'Preview joining', exact: true }).click();
    await region.locator('li[data-setting="keepalive_expiration"]').waitFor();
    assert.match(await region.locator('li[data-setting="keepalive_expiration"]').textContent(), /1 \(Night Shift\) → 7200 \(Day Shift\)/);
    await card.getByRole('button', { name: 'Join Day Shift', exact: true }).click();
    await page.locator('.toast').filter({ hasText: 'Added to group' }).waitFor();
    assert.ok((await admin('GET', `/users/${users.pia.user_id}`)).groups.includes(day.group_id));
  });

  test('adding a member is previewed, and a stale preview is refused', async () => {
    await page.goto(`${server.url}/console/#/groups/${group.group_id}`);
    await page.getByRole('heading', { name: 'Night Shift', level: 1, exact: true }).waitFor();
    const members = page.getByRole('region', { name: 'Members', exact: true });
    await members.getByLabel('User to add', { exact: true }).selectOption({ label: `omar (${users.omar.user_id})` });
    await members.getByRole('button', { name: 'Preview adding', exact: true }).click();
    const region = members.getByRole('region', { name: 'Preview of the change', exact: true });
    await region.getByText('This affects 1 user', { exact: false }).waitFor();
    // Someone else changes the group after the preview: saving it is refused (412).
    await admin('PUT', `/groups/${group.group_id}/settings/keepalive_interval`, { value: 30 });
    await members.getByRole('button', { name: 'Add omar', exact: true }).click();
    await members.getByText(/the group changed since the preview/).waitFor();
    const { members: now } = await admin('GET', `/groups/${group.group_id}/members`);
    assert.deepEqual(now.map((m) => m.username).sort(), ['nina', 'pia'], 'nothing was written');
    // A fresh preview against the current version replaces the stale one; confirming saves it.
    const g = await admin('GET', `/groups/${group.group_id}`);
    await members.locator(`.preview[data-version="${g.version}"]`).waitFor();
    await members.getByRole('button', { name: 'Add omar', exact: true }).click();
    await page.locator('.toast').filter({ hasText: 'Member added' }).waitFor();
    const { members: after } = await admin('GET', `/groups/${group.group_id}/members`);
    assert.deepEqual(after.map((m) => m.username).sort(), ['nina', 'omar', 'pia']);
  });

  test('deleting a setting shows its preview in the confirmation', async () => {
    await page.reload();
    await page.getByRole('heading', { name: 'Night Shift', level: 1, exact: true }).waitFor();
    const panel = page.getByRole('region', { name: 'Group Settings', exact: true });
    await panel.getByRole('button', { name: 'Delete keepalive_interval', exact: true }).click();
    const dlg = page.getByRole('dialog', { name: 'Delete keepalive_interval?', exact: true });
    const region = dlg.getByRole('region', { name: 'Preview of the change', exact: true });
    await region.locator('.preview-sentence').waitFor();
    assert.match(await region.locator('li[data-setting="keepalive_interval"]').first().textContent(), /30 \(Night Shift\) → \d+ \((All Users|default)\)/);
    await dlg.getByRole('button', { name: 'Delete setting', exact: true }).click();
    await page.locator('.toast').filter({ hasText: 'Deleted keepalive_interval' }).waitFor();
    assert.equal((await admin('GET', `/groups/${group.group_id}/settings`)).settings.keepalive_interval, undefined);
  });

  test('the "Edit group" dialog previews a new priority and saves it with the previewed version', async () => {
    await page.getByRole('button', { name: 'Edit group', exact: true }).click();
    const dlg = page.getByRole('dialog', { name: 'Edit Night Shift', exact: true });
    await dlg.getByLabel('Priority', { exact: true }).fill('8');
    await dlg.getByRole('button', { name: 'Save', exact: true }).click();
    const region = dlg.getByRole('region', { name: 'Preview of the change', exact: true });
    // Night Shift (8) now wins over Day Shift (10) for pia: keepalive_expiration 7200 → 1.
    await region.getByText('This affects 1 user', { exact: false }).waitFor();
    assert.match(await region.locator(`[data-user="${users.pia.user_id}"]`).textContent(), /pia/);
    assert.match(await region.locator('li[data-setting="keepalive_expiration"]').textContent(), /7200 \(Day Shift\) → 1 \(Night Shift\)/);
    // Someone else changes the group meanwhile: Save is refused, and a fresh preview is shown.
    await admin('PATCH', `/groups/${group.group_id}`, { description: 'changed meanwhile' });
    const g = await admin('GET', `/groups/${group.group_id}`);
    await dlg.getByRole('button', { name: 'Save', exact: true }).click();
    await dlg.getByText(/the group changed since the preview/).waitFor();
    await dlg.locator(`.preview[data-version="${g.version}"]`).waitFor();
    assert.equal((await admin('GET', `/groups/${group.group_id}`)).priority, 30, 'nothing was saved');
    await dlg.getByRole('button', { name: 'Save', exact: true }).click();
    await dlg.waitFor({ state: 'detached' });
    const saved = await admin('GET', `/groups/${group.group_id}`);
    assert.equal(saved.priority, 8);
    assert.equal(saved.version, g.version + 1, 'saved on the previewed version');
    await page.getByText('priority 8', { exact: true }).waitFor();
  });

  test('the priority card previews a priority change and saves it', async () => {
    const card = page.getByRole('region', { name: 'Priority', exact: true });
    await card.getByLabel('New priority', { exact: true }).fill('5');
    await card.getByRole('button', { name: 'Preview', exact: true }).click();
    await card.getByRole('region', { name: 'Preview of the change', exact: true }).locator('.preview-sentence').waitFor();
    // A 412 shows a fresh preview; confirming it saves.
    await admin('PATCH', `/groups/${group.group_id}`, { description: 'changed again' });
    const g = await admin('GET', `/groups/${group.group_id}`);
    await card.getByRole('button', { name: 'Save priority', exact: true }).click();
    await card.getByText(/the group changed since the preview/).waitFor();
    await card.locator(`.preview[data-version="${g.version}"]`).waitFor();
    await card.getByRole('button', { name: 'Save priority', exact: true }).click();
    await page.getByText('priority 5', { exact: true }).waitFor();
    assert.equal((await admin('GET', `/groups/${group.group_id}`)).priority, 5);
  });
});
