// End-to-end tests of the console in headless Chromium against the real server: the seed's
// workflow (Groups → a group → Group Settings → add, edit, delete), effective values and their
// sources, validation, conflicts, and the user dashboard's countdown and usage bar.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startServer, launchBrowser, apiClient, must, screenshot, repoRoot } from '../lib/harness.js';
import { seed } from '../lib/seed.js';

let server;
let browser;
let admin;
let alice;
let aliceKey;
let contractors;
let seeded;

/** Waits for the view a navigation opened: its level-1 heading, matched exactly. */
async function viewReady(page, heading) {
  await page.getByRole('heading', { name: heading, level: 1, exact: true }).waitFor();
}

/** Follows a link of the sidebar and waits for the view it opens. */
async function navigate(page, link, heading = link) {
  await page.getByRole('navigation', { name: 'Main', exact: true }).getByRole('link', { name: link, exact: true }).click();
  await viewReady(page, heading);
}

/** Opens a console route by its hash and waits for the view's heading. */
async function openRoute(page, hash, heading) {
  await page.goto(`${server.url}/console/#${hash}`);
  await viewReady(page, heading);
}

async function newPage() {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(10_000);
  return page;
}

async function signIn(page, key) {
  await page.goto(`${server.url}/console/`);
  await page.getByLabel('API key', { exact: true }).fill(key);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('navigation', { name: 'Main', exact: true }).waitFor();
}

function settingRow(page, name) {
  return page.getByRole('region', { name: 'Group Settings', exact: true }).locator(`tr[data-setting="${name}"]`);
}

function effectiveRow(page, name) {
  return page.getByRole('region', { name: 'Effective settings', exact: true }).locator(`tr[data-setting="${name}"]`);
}

describe('console', () => {
  let adminPage;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser(server.url);
    admin = must(apiClient(server.url, server.adminKey));
    alice = await admin('POST', '/users', { username: 'alice' });
    await admin('POST', '/users', { username: 'bob' });
    aliceKey = (await admin('POST', `/users/${alice.user_id}/keys`, { role: 'user' })).secret;
    seeded = await seed(admin);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the console is served with its own assets and a CSP that forbids other origins', async () => {
    const res = await fetch(`${server.url}/console/`);
    assert.equal(res.status, 200, `GET /console/ answered ${res.status}: the API must mount console.Handler() at /console/`);
    assert.match(res.headers.get('content-type'), /^text\/html/);
    const csp = res.headers.get('content-security-policy') || '';
    for (const want of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) {
      assert.ok(csp.includes(want), `CSP ${csp} lacks ${want}`);
    }
    for (const [p, type] of [['js/app.js', /^text\/javascript/], ['console.css', /^text\/css/], ['favicon.svg', /^image\/svg\+xml/]]) {
      const r = await fetch(`${server.url}/console/${p}`);
      assert.equal(r.status, 200, `${p}: got ${r.status}`);
      assert.match(r.headers.get('content-type'), type, `${p}: content type ${r.headers.get('content-type')}`);
    }
    const bare = await fetch(`${server.url}/console`, { redirect: 'manual' });
    assert.ok([301, 307, 308].includes(bare.status), `GET /console: got ${bare.status}, want a redirect to /console/`);
  });

  test('admin signs in and sees the groups with priority and member count', async () => {
    adminPage = await newPage();
    await adminPage.goto(`${server.url}/console/`);
    await adminPage.getByLabel('API key', { exact: true }).waitFor();
    await screenshot(adminPage, 'signin');
    await signIn(adminPage, server.adminKey);
    await adminPage.getByRole('heading', { name: 'Groups', level: 1, exact: true }).waitFor();
    const row = adminPage.locator('tr[data-group="all-users"]');
    await assert.doesNotReject(row.getByText('1000').waitFor());
    await assert.doesNotReject(row.getByText('every user', { exact: true }).waitFor());
  });

  test('navigating keeps the sidebar and moves focus to the new view\'s heading', async () => {
    const page = await newPage();
    try {
      await signIn(page, server.adminKey);
      await viewReady(page, 'Groups');
      await page.evaluate(() => { window.e2eSidebar = document.querySelector('.sidebar'); });
      const nav = page.getByRole('navigation', { name: 'Main', exact: true });
      for (const name of ['Users', 'Sessions', 'Groups']) {
        await navigate(page, name);
        // Focus moves once the view has rendered, which may be after its heading appears.
        await page.waitForFunction((want) => document.activeElement?.tagName === 'H1'
          && document.activeElement.textContent === want, name);
        assert.equal(await page.evaluate(() => document.querySelector('.sidebar') === window.e2eSidebar), true,
          `after opening ${name}: the sidebar was rebuilt`);
        assert.equal(await nav.getByRole('link', { name, exact: true }).getAttribute('aria-current'), 'page');
        assert.equal(await nav.locator('a[aria-current]').count(), 1, `after opening ${name}: one current link`);
      }
    } finally {
      await page.close();
    }
  });

  test('admin creates a group and re-prioritises it', async () => {
    const page = adminPage;
    await page.getByRole('button', { name: '+ New group', exact: true }).click();
    const dlg = page.getByRole('dialog', { name: 'New group', exact: true });
    await dlg.getByLabel('Name', { exact: true }).fill('Contractors');
    await dlg.getByLabel('Priority', { exact: true }).fill('50');
    await dlg.getByLabel('Description', { exact: true }).fill('External staff');
    await dlg.getByRole('button', { name: 'Create group', exact: true }).click();
    await page.getByRole('heading', { name: 'Contractors', level: 1, exact: true }).waitFor();
    contractors = (await admin('GET', '/groups')).groups.find((g) => g.name === 'Contractors');
    assert.equal(contractors.priority, 50);

    await page.getByRole('button', { name: 'Edit group', exact: true }).click();
    const edit = page.getByRole('dialog', { name: 'Edit Contractors', exact: true });
    await edit.getByLabel('Priority', { exact: true }).fill('10');
    // A new priority is previewed first (issue 20): the first Save shows the preview, the second saves.
    await edit.getByRole('button', { name: 'Save', exact: true }).click();
    await edit.getByRole('region', { name: 'Preview of the change', exact: true }).locator('.preview-sentence').waitFor();
    await edit.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('priority 10', { exact: true }).waitFor();
    assert.equal((await admin('GET', `/groups/${contractors.group_id}`)).priority, 10);
  });

  test('admin adds a setting from the catalog through the Group Settings panel and sees its value', async () => {
    const page = adminPage;
    const panel = page.getByRole('region', { name: 'Group Settings', exact: true });
    await panel.getByRole('button', { name: '+ Add setting', exact: true }).click();
    await panel.getByLabel('Search settings', { exact: true }).fill('keepalive_int');
    const option = panel.locator('[role=option][data-name="keepalive_interval"]');
    await option.waitFor();
    const catalogSize = (await admin('GET', '/settings')).settings.length;
    const shown = await panel.getByRole('option').allTextContents();
    assert.ok(shown.length < catalogSize / 4, `the search filters the catalog: ${shown.length} of ${catalogSize} shown`);
    assert.ok(shown.every((t) => t.toLowerCase().includes('keepalive_int')), 'every option shown matches the search');
    const desc = (await admin('GET', '/settings')).settings.find((s) => s.name === 'keepalive_interval').description;
    assert.ok((await option.textContent()).includes(desc), 'the option shows the description');
    await option.click();
    const input = panel.getByLabel('keepalive_interval (seconds)', { exact: true });
    await input.fill('600');
    await panel.getByText('= 10 min').waitFor();
    await screenshot(page, 'setting-editor');
    await panel.getByRole('button', { name: 'Add setting', exact: true }).click();
    await settingRow(page, 'keepalive_interval').getByText('600 seconds').waitFor();
    const stored = await admin('GET', `/groups/${contractors.group_id}/settings`);
    assert.equal(stored.settings.keepalive_interval, 600);

    // A boolean through its switch.
    await panel.getByRole('button', { name: '+ Add setting', exact: true }).click();
    await panel.getByLabel('Search settings', { exact: true }).fill('allow_kasm_stop');
    await panel.locator('[role=option][data-name="allow_kasm_stop"]').click();
    const sw = panel.getByRole('switch', { name: 'allow_kasm_stop', exact: true });
    if (await sw.isChecked()) await sw.click();
    await panel.getByRole('button', { name: 'Add setting', exact: true }).click();
    await settingRow(page, 'allow_kasm_stop').getByText('false').waitFor();
  });

  test("the effective value and its source change on the user's page", async () => {
    const page = adminPage;
    await navigate(page, 'Users');
    await page.getByRole('link', { name: 'alice', exact: true }).click();
    await viewReady(page, 'alice');
    const row = effectiveRow(page, 'keepalive_interval');
    await row.getByText('300 seconds').waitFor();
    assert.match(await row.textContent(), /default/, 'before joining, the value is the default');

    await page.getByLabel('Group to join', { exact: true }).selectOption({ label: 'Contractors (priority 10)' });
    await page.getByRole('button', { name: 'Preview joining', exact: true }).click();
    await page.getByRole('region', { name: 'Preview of the change', exact: true }).locator('li[data-setting="keepalive_interval"]').waitFor();
    await page.getByRole('button', { name: 'Join Contractors', exact: true }).click();
    await effectiveRow(page, 'keepalive_interval').getByText('600 seconds').waitFor();
    const from = effectiveRow(page, 'keepalive_interval').getByRole('link', { name: 'Contractors', exact: true });
    await from.waitFor();
    assert.match(await effectiveRow(page, 'keepalive_interval').textContent(), /priority 10/);
  });

  test("ties on priority and relation warnings are flagged on the user's page", async () => {
    const bob = (await admin('GET', '/users')).users.find((u) => u.username === 'bob');
    for (const [name, minutes] of [['Tie A', 30], ['Tie B', 45]]) {
      const g = await admin('POST', '/groups', { name, priority: 20 });
      await admin('PUT', `/groups/${g.group_id}/settings/idle_disconnect`, { value: minutes });
      await admin('PUT', `/groups/${g.group_id}/members/${bob.user_id}`);
    }
    const page = adminPage;
    await openRoute(page, `/users/${bob.user_id}`, 'bob');
    const row = effectiveRow(page, 'idle_disconnect');
    await row.getByText('⚠ tie').waitFor();
    const region = page.getByRole('region', { name: 'Effective settings', exact: true });
    await region.locator('li[data-code="priority_tie"]').waitFor();
    assert.match(await row.textContent(), /Tie [AB]/, 'the row names the group that won the tie');
  });

  test('an invalid value shows the API validation message next to the field', async () => {
    const page = adminPage;
    await openRoute(page, `/groups/${contractors.group_id}`, 'Contractors');
    const panel = page.getByRole('region', { name: 'Group Settings', exact: true });
    await panel.getByRole('button', { name: 'Edit keepalive_interval', exact: true }).click();
    const input = panel.getByLabel('keepalive_interval (seconds)', { exact: true });
    await input.fill('0');
    await panel.getByRole('button', { name: 'Save', exact: true }).click();
    await assert.doesNotReject(page.waitForSelector('input[aria-invalid="true"]'));
    assert.equal(await input.getAttribute('aria-invalid'), 'true');
    const errID = (await input.getAttribute('aria-describedby')).split(' ').pop();
    const message = await page.locator(`#${errID}`).textContent();
    assert.match(message, /keepalive_interval/, `the message next to the field names the setting: ${message}`);
    await screenshot(page, 'validation-error');
    assert.equal((await admin('GET', `/groups/${contractors.group_id}/settings`)).settings.keepalive_interval, 600, 'nothing was written');
    await panel.getByRole('button', { name: 'Cancel', exact: true }).click();

    // The structured editor of usage_limit reports the API's message on its hours field.
    await panel.getByRole('button', { name: '+ Add setting', exact: true }).click();
    await panel.getByLabel('Search settings', { exact: true }).fill('usage_limit');
    await panel.locator('[role=option][data-name="usage_limit"]').click();
    await panel.getByRole('switch', { name: 'Limit usage', exact: true }).click();
    await panel.getByLabel('Limit type', { exact: true }).selectOption('per_user');
    await panel.getByLabel('Interval', { exact: true }).selectOption('daily');
    await panel.getByLabel('Hours', { exact: true }).fill('-2');
    await panel.getByRole('button', { name: 'Add setting', exact: true }).click();
    await assert.doesNotReject(panel.locator('input[aria-invalid="true"]').waitFor());
    assert.equal(await panel.getByLabel('Hours', { exact: true }).getAttribute('aria-invalid'), 'true');
    assert.match(await panel.getByRole('alert').first().textContent(), /usage_limit|hours/);
    await panel.getByLabel('Hours', { exact: true }).fill('5');
    await panel.getByRole('button', { name: 'Add setting', exact: true }).click();
    await settingRow(page, 'usage_limit').getByText('5 h per user, daily').waitFor();
  });

  test('structured editors: volume_mapping rows and run_config JSON', async () => {
    const page = adminPage;
    const panel = page.getByRole('region', { name: 'Group Settings', exact: true });
    await panel.getByRole('button', { name: '+ Add setting', exact: true }).click();
    await panel.getByLabel('Search settings', { exact: true }).fill('volume_mapping');
    await panel.locator('[role=option][data-name="volume_mapping"]').click();
    await panel.getByRole('button', { name: '+ Add mapping', exact: true }).click();
    await panel.getByLabel('Host path (mapping 1)', { exact: true }).fill('/mnt/share/{username}');
    await panel.getByLabel('Bind (mapping 1)', { exact: true }).fill('share');
    await panel.getByLabel('Mode (mapping 1)', { exact: true }).selectOption('ro');
    await panel.getByLabel('UID (mapping 1)', { exact: true }).fill('1000');
    await panel.getByLabel('GID (mapping 1)', { exact: true }).fill('1000');
    await panel.getByRole('button', { name: 'Add setting', exact: true }).click();
    const err = panel.locator('fieldset[aria-label="volume_mapping"] .field-error');
    await err.filter({ hasText: /bind|absolute/i }).waitFor();
    await panel.getByLabel('Bind (mapping 1)', { exact: true }).fill('/home/kasm-user/share');
    await panel.getByRole('button', { name: 'Add setting', exact: true }).click();
    await settingRow(page, 'volume_mapping').getByText('/mnt/share/{username} → /home/kasm-user/share (ro, 1000:1000)').waitFor();
    const stored = (await admin('GET', `/groups/${contractors.group_id}/settings`)).settings.volume_mapping;
    assert.deepEqual(stored['/mnt/share/{username}'].bind, '/home/kasm-user/share');
    assert.equal(stored['/mnt/share/{username}'].mode, 'ro');

    await panel.getByRole('button', { name: '+ Add setting', exact: true }).click();
    await panel.getByLabel('Search settings', { exact: true }).fill('run_config');
    await panel.locator('[role=option][data-name="run_config"]').click();
    const area = panel.getByRole('textbox', { name: 'run_config', exact: true });
    await area.fill('{"hostname": ');
    await panel.getByRole('button', { name: 'Add setting', exact: true }).click();
    await panel.getByText(/Not valid JSON/).waitFor();
    await area.fill('{"hostname": "kasm", "environment": {"TZ": "UTC"}}');
    await panel.getByRole('button', { name: 'Add setting', exact: true }).click();
    await settingRow(page, 'run_config').getByText('{"hostname":"kasm","environment":{"TZ":"UTC"}}').waitFor();
  });

  test('relation warnings are shown, and a stale version is explained with a reload', async () => {
    const page = adminPage;
    const panel = page.getByRole('region', { name: 'Group Settings', exact: true });
    await panel.getByRole('button', { name: '+ Add setting', exact: true }).click();
    await panel.getByLabel('Search settings', { exact: true }).fill('keepalive_expiration');
    await panel.locator('[role=option][data-name="keepalive_expiration"]').click();
    await panel.getByLabel('keepalive_expiration (seconds)', { exact: true }).fill('900');
    await panel.getByRole('button', { name: 'Add setting', exact: true }).click();
    await panel.getByText('Relation warnings').waitFor();
    assert.ok(await panel.locator('li[data-code="keepalive_expiration_too_short"]').count() === 1, 'the keepalive_expiration warning is listed');

    // Someone else changes the group while the editor is open.
    await panel.getByRole('button', { name: 'Edit keepalive_expiration', exact: true }).click();
    await panel.getByLabel('keepalive_expiration (seconds)', { exact: true }).fill('1800');
    await admin('PUT', `/groups/${contractors.group_id}/settings/max_kasms_per_user`, { value: 3 });
    await panel.getByRole('button', { name: 'Save', exact: true }).click();
    await panel.getByText('This group was changed by someone else.').waitFor();
    await screenshot(page, 'conflict');
    await panel.getByRole('button', { name: 'Reload settings', exact: true }).click();
    await panel.getByText(/Reloaded: the group is now at version/).waitFor();
    await settingRow(page, 'max_kasms_per_user').waitFor();
    await panel.getByRole('button', { name: 'Save', exact: true }).click();
    await settingRow(page, 'keepalive_expiration').getByText('1800 seconds').waitFor();
    await panel.getByText('Relation warnings').waitFor({ state: 'detached' });
  });

  test('admin deletes a setting and the change history shows it', async () => {
    const page = adminPage;
    const panel = page.getByRole('region', { name: 'Group Settings', exact: true });
    await panel.getByRole('button', { name: 'Delete keepalive_interval', exact: true }).click();
    const dlg = page.getByRole('dialog', { name: 'Delete keepalive_interval?', exact: true });
    await dlg.getByRole('button', { name: 'Delete setting', exact: true }).click();
    await settingRow(page, 'keepalive_interval').waitFor({ state: 'detached' });
    const stored = await admin('GET', `/groups/${contractors.group_id}/settings`);
    assert.equal(stored.settings.keepalive_interval, undefined);
    const history = page.getByRole('region', { name: 'Change history', exact: true });
    await history.getByText('keepalive_interval').first().waitFor();
    assert.ok(await history.getByText('unset').count() >= 1, 'the history shows the unset value');
    await screenshot(page, 'group');
  });

  test('admin sees the users and the groups lists', async () => {
    const page = adminPage;
    await navigate(page, 'Users');
    await page.locator('tr[data-user]').first().waitFor();
    assert.equal(await page.locator('tr[data-user]').count(), (await admin('GET', '/users')).users.length);
    const userCount = await page.locator('tr[data-user]').count();
    await page.getByLabel('Find a user', { exact: true }).fill('research lab');
    await page.getByText(`3 of ${userCount} shown`, { exact: true }).waitFor();
    const found = await page.locator('tr[data-user]:not([hidden]) td:first-child a').allTextContents();
    assert.deepEqual(found.sort(), ['dana.levi', 'jonas.berg', 'kira.sato'], 'the users of Research Lab');
    await page.getByLabel('Find a user', { exact: true }).fill('');
    await screenshot(page, 'users');
    await navigate(page, 'Groups');
    await page.locator(`tr[data-group="${contractors.group_id}"]`).getByText('1', { exact: true }).waitFor();
    await screenshot(page, 'groups');
    await page.getByRole('button', { name: 'Delete Tie B', exact: true }).click();
    await page.getByRole('dialog', { name: 'Delete Tie B?', exact: true }).getByRole('button', { name: 'Delete group', exact: true }).click();
    await page.getByRole('link', { name: 'Tie B', exact: true }).waitFor({ state: 'detached' });
    assert.equal((await admin('GET', '/groups')).groups.some((g) => g.name === 'Tie B'), false);
  });

  test('a user signs in and sees the countdown of a time-limited session tick', async () => {
    await admin('PUT', `/groups/${contractors.group_id}/settings/session_time_limit`, { value: 900 });
    const started = await admin('POST', '/sessions', { user_id: alice.user_id, image_id: 'chrome', container: true });
    assert.ok(started.time_limit_expires_at, 'the session has time_limit_expires_at');

    const page = await newPage();
    const opened = Date.now();
    await signIn(page, aliceKey);
    await page.getByRole('heading', { name: /Welcome/, level: 1 }).waitFor();
    const timer = page.getByRole('timer', { name: `Time left for session ${started.session_id}`, exact: true });
    await timer.waitFor();
    const ends = Date.parse(started.time_limit_expires_at);
    // The timer re-renders the time left every second, so what it shows was computed at some
    // instant between `since` (an instant known to precede that render) and the moment it is
    // read: it lies between the whole seconds left at those two instants, however late the tick.
    const reading = async (since) => {
      const before = Date.now();
      const text = await timer.textContent();
      const after = Date.now();
      const [m, s] = text.split(':').map(Number);
      return { text, before, shown: m * 60 + s, most: Math.floor((ends - since) / 1000), least: Math.floor((ends - after) / 1000) };
    };
    const inRange = (r) => r.shown <= r.most && r.shown >= r.least;
    const first = await reading(opened);
    assert.ok(first.shown <= 900, `the countdown starts at most at 15:00, got ${first.text}`);
    assert.ok(inRange(first), `the countdown shows the time left: ${first.text}, want ${first.least}–${first.most} s`);
    // It ticks: wait for the text to change, not for a delay. The new text was rendered after
    // the first one was read.
    const handle = await timer.elementHandle();
    await page.waitForFunction(([el, was]) => el.textContent !== was, [handle, first.text]);
    const second = await reading(first.before);
    assert.ok(second.shown < first.shown, `the countdown ticks down: ${first.text} then ${second.text}`);
    assert.ok(inRange(second), `the countdown still shows the time left: ${second.text}, want ${second.least}–${second.most} s`);

    const card = page.getByRole('article', { name: `Session ${started.session_id}`, exact: true });
    assert.equal(await card.getByRole('button', { name: `Pause session ${started.session_id}`, exact: true }).count(), 1, 'allow_kasm_pause is true: Pause shown');
    assert.equal(await card.getByRole('button', { name: `Stop session ${started.session_id}`, exact: true }).count(), 0, 'allow_kasm_stop is false: no Stop button');
    assert.equal(await card.getByRole('button', { name: `Delete session ${started.session_id}`, exact: true }).count(), 1, 'allow_kasm_delete is true: Delete shown');
    await screenshot(page, 'dashboard');
    await page.close();
  });

  test('a user sees their usage bar with the window and the source group', async () => {
    const page = await newPage();
    await signIn(page, aliceKey);
    const usage = page.getByRole('region', { name: 'My usage', exact: true });
    const bar = usage.getByRole('meter', { name: 'Usage', exact: true });
    await bar.waitFor();
    assert.equal(await bar.getAttribute('aria-valuemax'), '5');
    await usage.getByText(/remaining of 5 h/).waitFor();
    await usage.getByRole('link', { name: 'Contractors', exact: true }).waitFor();
    await page.close();
  });

  test("admin filters the sessions and reads a session's event timeline", async () => {
    const page = adminPage;
    await navigate(page, 'Sessions');
    const list = page.getByRole('region', { name: 'Sessions', exact: true });
    await list.getByLabel('User', { exact: true }).selectOption({ label: 'alice' });
    await list.getByLabel('Status', { exact: true }).selectOption('running');
    // The list reloads on each filter change; it is settled when the last load has answered.
    await list.locator('[data-session-list][aria-busy="false"]').waitFor();
    const link = list.locator('tr[data-session] a.mono').first();
    await link.waitFor();
    const sid = (await link.textContent()).trim();
    await page.getByRole('button', { name: `Pause session ${sid}`, exact: true }).click();
    await page.locator(`tr[data-session="${sid}"]`).waitFor({ state: 'detached' });
    await list.getByLabel('Status', { exact: true }).selectOption('paused');
    await page.locator(`tr[data-session="${sid}"]`).getByText('paused', { exact: true }).waitFor();
    await page.getByRole('link', { name: sid, exact: true }).click();
    await viewReady(page, `Session ${sid}`);
    const timeline = page.getByRole('list', { name: 'Session events', exact: true });
    await timeline.locator('li[data-type="created"]').waitFor();
    await timeline.locator('li[data-type="paused"]').getByText('by admin').waitFor();
    await screenshot(page, 'session');
  });

  test('every page fits 1280 and 1366 px without sideways scrolling', async () => {
    const dana = seeded.users['dana.levi'];
    const danaKey = (await admin('POST', `/users/${dana.user_id}/keys`, { name: 'e2e' })).secret;
    const grace = seeded.users['grace.kim'];
    const { sessions } = await admin('GET', `/sessions?user_id=${grace.user_id}`);
    const adminViews = [
      ['/groups', 'Groups'], [`/groups/${seeded.groups.eng.group_id}`, 'Engineering'], ['/users', 'Users'],
      [`/users/${dana.user_id}`, 'dana.levi'], ['/sessions', 'Sessions'], [`/sessions/${sessions[0].session_id}`, `Session ${sessions[0].session_id}`],
    ];
    const review = path.join(repoRoot, 'build', 'review');
    mkdirSync(review, { recursive: true });
    const fits = async (page, what) => {
      const m = await page.evaluate(() => ({ scroll: document.scrollingElement.scrollWidth, width: document.documentElement.clientWidth }));
      assert.ok(m.scroll <= m.width, `${what}: the page is ${m.scroll} px wide in a ${m.width} px window (sideways scroll)`);
      // No table hangs outside its card.
      const overhang = await page.evaluate(() => [...document.querySelectorAll('.card table')].map((t) => {
        const card = t.closest('.card').getBoundingClientRect();
        return t.getBoundingClientRect().right - card.right;
      }).filter((d) => d > 1));
      assert.deepEqual(overhang, [], `${what}: a table is wider than its card`);
    };
    const userPage = await newPage();
    for (const width of [1280, 1366]) {
      await userPage.setViewportSize({ width, height: 800 });
      await userPage.goto(`${server.url}/console/`);
      await userPage.getByRole('heading', { name: 'wspolicy console', level: 1, exact: true }).waitFor();
      await fits(userPage, `the sign-in page at ${width} px`);
    }
    await signIn(userPage, danaKey);
    await viewReady(userPage, 'Welcome, dana.levi');
    for (const width of [1280, 1366]) {
      await adminPage.setViewportSize({ width, height: 800 });
      for (const [hash, heading] of adminViews) {
        await openRoute(adminPage, hash, heading);
        await adminPage.locator('[aria-busy="true"]').waitFor({ state: 'detached' });
        await adminPage.screenshot({ path: path.join(review, `${hash.split('/')[1]}${hash.split('/').length > 2 ? '-detail' : ''}-${width}.png`), fullPage: true });
        await fits(adminPage, `${hash} at ${width} px`);
      }
      await userPage.setViewportSize({ width, height: 800 });
      await userPage.screenshot({ path: path.join(review, `dashboard-${width}.png`), fullPage: true });
      await fits(userPage, `the dashboard at ${width} px`);
    }
    await userPage.goto(`${server.url}/console/`);
    await adminPage.setViewportSize({ width: 1360, height: 900 });
    await userPage.close();
  });

  test('the sessions list uses a wide screen, keeps dates on one line and pages through a long list', async () => {
    const page = adminPage;
    await page.setViewportSize({ width: 1920, height: 1080 });
    await openRoute(page, '/sessions', 'Sessions');
    const list = page.getByRole('region', { name: 'Sessions', exact: true });
    await list.locator('[data-session-list][aria-busy="false"]').waitFor();
    const card = await list.boundingBox();
    assert.ok(card.width > 1500, `the sessions card is ${card.width} px wide in a 1920 px window`);
    const wrapped = await list.locator('tbody time').evaluateAll((els) => els.filter((e) => e.getClientRects().length > 1 || e.getBoundingClientRect().height > 24).map((e) => e.textContent));
    assert.deepEqual(wrapped, [], 'dates that wrap');
    await page.screenshot({ path: path.join(repoRoot, 'build', 'review', 'sessions-1920.png'), fullPage: true });
    await page.setViewportSize({ width: 1366, height: 900 });

    let total = 0;
    for (let token = '', more = true; more;) {
      const d = await admin('GET', `/sessions?limit=100${token ? `&page_token=${encodeURIComponent(token)}` : ''}`);
      total += d.sessions.length;
      token = d.next_page_token || '';
      more = !!token;
    }
    assert.ok(total > 25, `the data set has ${total} sessions, more than a page of 25`);
    await list.getByLabel('Page size', { exact: true }).selectOption('25');
    await list.locator('[data-session-list][aria-busy="false"]').waitFor();
    await list.locator('[data-page="1"]').waitFor();
    const first = await list.locator('tr[data-session]').evaluateAll((rows) => rows.map((r) => r.dataset.session));
    assert.ok(first.length > 10 && first.length <= 25, `a page of at most 25 sessions: ${first.length}`);
    await screenshot(page, 'sessions');
    await list.getByRole('button', { name: 'Next →', exact: true }).click();
    await list.locator('[data-page="2"]').waitFor();
    await list.locator('[data-session-list][aria-busy="false"]').waitFor();
    const second = await list.locator('tr[data-session]').evaluateAll((rows) => rows.map((r) => r.dataset.session));
    assert.ok(second.length > 0 && second.every((id) => !first.includes(id)), 'page 2 shows other sessions');
    await list.getByRole('button', { name: '← Previous', exact: true }).click();
    await list.locator('[data-page="1"]').waitFor();
  });

  test("a shared budget's figures are labelled as the group's, apart from the user's own", async () => {
    const page = adminPage;
    for (const name of ['kira.sato', 'dana.levi']) {
      const u = seeded.users[name];
      const usage = await admin('GET', `/users/${u.user_id}/usage`);
      await openRoute(page, `/users/${u.user_id}`, name);
      const region = page.getByRole('region', { name: 'Usage', exact: true });
      await region.getByText('Shared budget of Research Lab', { exact: true }).waitFor();
      await region.getByRole('meter', { name: 'Shared usage', exact: true }).waitFor();
      assert.equal(await region.locator('[data-fact="own-open"]').textContent(), String(usage.own.open_sessions), `${name}: own open sessions`);
      assert.equal(await region.locator('[data-fact="group-open"]').textContent(), String(usage.open_sessions), `${name}: the group's open sessions`);
    }
    assert.equal((await admin('GET', `/users/${seeded.users['kira.sato'].user_id}/usage`)).own.open_sessions, 0, 'kira has no session of her own');
  });

  test('volume_mapping says which group supplied each mount; the filter leaves out All Users; FROM stays on one line', async () => {
    const page = adminPage;
    const dana = seeded.users['dana.levi'];
    await page.setViewportSize({ width: 1280, height: 800 });
    await openRoute(page, `/users/${dana.user_id}`, 'dana.levi');
    const vm = effectiveRow(page, 'volume_mapping');
    assert.match(await vm.locator('li[data-host-path="/nfs/tools"]').textContent(), /from Engineering$/, 'Engineering (priority 5) wins /nfs/tools');
    assert.match(await vm.locator('li[data-host-path="/datasets"]').textContent(), /from Research Lab$/);
    assert.match(await vm.locator('li[data-host-path="/nfs/home/{username}"]').textContent(), /from Engineering$/);

    const fromAllUsers = page.locator('tr[data-source="all-users"]');
    assert.ok(await fromAllUsers.count() > 0, 'some values come from All Users');
    const lines = await fromAllUsers.locator('td:nth-child(3) .nowrap').evaluateAll((els) => els.map((e) => e.getClientRects().length));
    assert.ok(lines.every((n) => n === 1), `"priority 1000" stays on one line: ${lines}`);
    const region = page.getByRole('region', { name: 'Effective settings', exact: true });
    const all = await region.locator('tbody tr').count();
    await region.getByLabel('Only values from groups other than All Users', { exact: true }).check();
    const shown = await region.locator('tbody tr:not([hidden])').evaluateAll((rows) => rows.map((r) => [r.dataset.setting, r.dataset.source]));
    assert.ok(shown.length > 0 && shown.length < all / 4, `the filter leaves ${shown.length} of ${all} rows`);
    assert.ok(shown.every(([, src]) => src === 'group'), `only group values: ${JSON.stringify(shown)}`);
    assert.ok(shown.some(([n]) => n === 'volume_mapping') && shown.some(([n]) => n === 'usage_limit'));
    await page.setViewportSize({ width: 1366, height: 900 });
    await region.getByLabel('Only values from groups other than All Users', { exact: true }).uncheck();
    await screenshot(page, 'user');
  });

  test('priority ties and All Users precedence are explained before and after saving', async () => {
    const page = adminPage;
    await navigate(page, 'Groups');
    await page.getByRole('button', { name: '+ New group', exact: true }).click();
    let dlg = page.getByRole('dialog', { name: 'New group', exact: true });
    await dlg.getByLabel('Name', { exact: true }).fill('Night shift');
    await dlg.getByLabel('Priority', { exact: true }).fill('40');
    assert.match(await dlg.locator('li[data-code="group_priority_tie"]').textContent(), /Support/);
    await dlg.getByRole('button', { name: 'Create group', exact: true }).click();
    const saved = page.getByRole('dialog', { name: 'Saved Night shift: please check', exact: true });
    assert.match(await saved.locator('li[data-code="group_priority_tie"]').textContent(), /"Support"/);
    await saved.getByRole('button', { name: 'OK', exact: true }).click();
    await viewReady(page, 'Night shift');

    await navigate(page, 'Groups');
    for (const name of ['Night shift', 'Support']) {
      await page.getByRole('row').filter({ has: page.getByRole('link', { name, exact: true }) }).locator('[data-flag="tie"]').waitFor();
    }
    await page.locator('li[data-tie="40"]').waitFor();
    assert.equal(await page.locator('tr[data-group="all-users"] [data-flag="tie"]').count(), 0);
    await page.locator(`tr[data-group="${seeded.groups.interns.group_id}"] [data-flag="below-all-users"]`).waitFor();

    await page.getByRole('button', { name: 'Edit All Users', exact: true }).click();
    dlg = page.getByRole('dialog', { name: 'Edit All Users', exact: true });
    await dlg.getByLabel('Priority', { exact: true }).fill('1');
    assert.match(await dlg.locator('li[data-code="all_users_precedence"]').textContent(), /Engineering/);
    await dlg.getByLabel('Name', { exact: true }).fill('Everyone');
    await dlg.locator('li[data-code="all_users_renamed"]').waitFor();
    await dlg.getByRole('button', { name: 'Cancel', exact: true }).click();
    assert.equal((await admin('GET', '/groups/all-users')).priority, 1000, 'nothing was saved');

    const night = (await admin('GET', '/groups')).groups.find((g) => g.name === 'Night shift');
    await page.getByRole('button', { name: 'Delete Night shift', exact: true }).click();
    await page.getByRole('dialog', { name: 'Delete Night shift?', exact: true }).getByRole('button', { name: 'Delete group', exact: true }).click();
    await page.locator(`tr[data-group="${night.group_id}"]`).waitFor({ state: 'detached' });
  });

  test('the change history keeps setting names whole and shows values as the settings table does', async () => {
    const page = adminPage;
    await page.setViewportSize({ width: 1280, height: 800 });
    await openRoute(page, `/groups/${contractors.group_id}`, 'Contractors');
    const history = page.getByRole('region', { name: 'Change history', exact: true });
    const row = history.getByRole('row').filter({ has: page.getByText('keepalive_expiration', { exact: true }) }).first();
    await row.getByText('1800 seconds', { exact: true }).waitFor();
    await row.getByText('30 min', { exact: true }).waitFor();
    // Each piece between the break points is laid out on one line.
    const pieces = await history.locator('.setting-name').evaluateAll((els) => els.flatMap((el) => [...el.childNodes]
      .filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => {
        const r = document.createRange();
        r.selectNodeContents(n);
        return [n.textContent, r.getClientRects().length];
      })));
    const broken = pieces.filter(([, rects]) => rects > 1);
    assert.deepEqual(broken, [], 'setting names broken mid-word');
    await page.setViewportSize({ width: 1366, height: 900 });
  });

  test("idle_disconnect's help text gives its real range", async () => {
    const page = adminPage;
    const panel = page.getByRole('region', { name: 'Group Settings', exact: true });
    await panel.getByRole('button', { name: '+ Add setting', exact: true }).click();
    await panel.getByLabel('Search settings', { exact: true }).fill('idle_disconnect');
    await panel.locator('[role=option][data-name="idle_disconnect"]').click();
    await panel.getByText(/a number greater than 0 and at most 525600 minutes/).waitFor();
    await panel.getByRole('button', { name: 'Cancel', exact: true }).click();
  });

  test('the "Saved" toast covers no button', async () => {
    const page = adminPage;
    const panel = page.getByRole('region', { name: 'Group Settings', exact: true });
    await panel.getByRole('button', { name: 'Edit max_kasms_per_user', exact: true }).click();
    await panel.getByLabel('max_kasms_per_user', { exact: true }).fill('4');
    await panel.getByRole('button', { name: 'Save', exact: true }).click();
    const toast = page.locator('.toast').filter({ hasText: 'Saved max_kasms_per_user' });
    await toast.waitFor();
    const box = await toast.boundingBox();
    const covered = await page.locator('main button').evaluateAll((buttons, t) => buttons.filter((b) => {
      const r = b.getBoundingClientRect();
      return r.width > 0 && r.left < t.x + t.width && r.right > t.x && r.top < t.y + t.height && r.bottom > t.y;
    }).map((b) => b.getAttribute('aria-label') || b.textContent), box);
    assert.deepEqual(covered, [], 'buttons under the toast');
    assert.equal(await toast.evaluate((e) => getComputedStyle(e.parentElement).pointerEvents), 'none', 'the toast never takes a click');
  });

  test('keys carry a name, shown in the list', async () => {
    const page = adminPage;
    const ana = seeded.users['ana.kovacs'];
    await openRoute(page, `/users/${ana.user_id}`, 'ana.kovacs');
    const keys = page.getByRole('region', { name: 'API keys', exact: true });
    await keys.getByText('laptop', { exact: true }).waitFor();
    await keys.getByText('workstation', { exact: true }).waitFor();
    await keys.getByLabel('Name of the next key (optional)', { exact: true }).fill('tablet');
    await keys.getByRole('button', { name: 'Issue user key', exact: true }).click();
    const dlg = page.getByRole('dialog', { name: 'Key issued', exact: true });
    await dlg.getByText(/A user key named tablet for ana\.kovacs/).waitFor();
    await dlg.getByRole('button', { name: 'Done', exact: true }).click();
    await keys.getByText('tablet', { exact: true }).waitFor();
  });

  test("a session's page names its user", async () => {
    const page = adminPage;
    const grace = seeded.users['grace.kim'];
    const { sessions } = await admin('GET', `/sessions?user_id=${grace.user_id}`);
    await openRoute(page, `/sessions/${sessions[0].session_id}`, `Session ${sessions[0].session_id}`);
    const details = page.getByRole('region', { name: 'Details', exact: true });
    await details.getByRole('link', { name: 'grace.kim', exact: true }).waitFor();
  });

  test('the dashboard offers recent images and explains a missing image in words', async () => {
    const leo = seeded.users['leo.rossi'];
    const key = (await admin('POST', `/users/${leo.user_id}/keys`, {})).secret;
    const page = await newPage();
    await signIn(page, key);
    await viewReady(page, 'Welcome, leo.rossi');
    const form = page.getByRole('form', { name: 'Start a session', exact: true });
    await form.getByRole('button', { name: 'Use image kasmweb/desktop:1.16', exact: true }).waitFor();
    await form.getByRole('button', { name: 'Start session', exact: true }).click();
    await form.getByText('Enter the image to start: you have no default image yet (an administrator sets default_image for your groups).', { exact: true }).waitFor();
    assert.equal(await form.getByText(/image_id is required/).count(), 0, 'no raw API text');
    await form.getByRole('button', { name: 'Use image kasmweb/terminal:1.16', exact: true }).click();
    assert.equal(await form.getByLabel('Workspace image', { exact: true }).inputValue(), 'kasmweb/terminal:1.16');
    await page.close();
  });

  test('nothing was loaded from another origin and no script failed', () => {
    assert.deepEqual(browser.offsite, [], 'requests to other origins');
    assert.deepEqual(browser.problems, [], 'page and console errors');
  });
});
