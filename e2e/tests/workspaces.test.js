// Browser tests of issue 15: the Workspaces page (register, allow a group, disable), the
// developer keys page (create with permissions, the secret shown once, revoke), and the user
// dashboard's picker of the workspaces the user may launch, by friendly name.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, apiClient, must } from '../lib/harness.js';

let server;
let browser;
let admin;

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

describe('workspaces and developer keys', () => {
  before(async () => {
    server = await startServer();
    browser = await launchBrowser(server.url);
    admin = must(apiClient(server.url, server.adminKey));
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('an administrator registers a workspace, allows a group, and a user launches it by name', async () => {
    const group = await admin('POST', '/groups', { name: 'Browsers', priority: 10 });
    const user = await admin('POST', '/users', { username: 'wendy' });
    await admin('PUT', `/groups/${group.group_id}/members/${user.user_id}`);
    const key = (await admin('POST', `/users/${user.user_id}/keys`, { role: 'user' })).secret;

    const page = await newPage();
    await signIn(page, server.adminKey);
    await page.getByRole('navigation', { name: 'Main', exact: true }).getByRole('link', { name: 'Workspaces', exact: true }).click();
    await page.getByRole('heading', { name: 'Workspaces', level: 1, exact: true }).waitFor();
    await page.getByLabel('Workspace id (optional)').fill('chrome');
    await page.getByLabel('Container image').fill('kasmweb/chrome:1.16');
    await page.getByLabel('Friendly name').fill('Chrome browser');
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    const row = page.locator('tr[data-workspace="chrome"]');
    await row.waitFor();
    await row.getByLabel('Group to allow for Chrome browser').selectOption(group.group_id);
    await row.getByRole('button', { name: 'Disallow Browsers for Chrome browser' }).waitFor();
    const ws = await admin('GET', '/workspaces/chrome');
    assert.deepEqual(ws.groups, [group.group_id]);
    await page.close();

    const up = await newPage();
    await signIn(up, key);
    const picker = up.getByLabel('Workspace to launch');
    await picker.waitFor();
    await picker.selectOption({ label: 'Chrome browser' });
    await up.getByRole('button', { name: 'Start session', exact: true }).click();
    await up.locator('.session-cards').getByText('chrome', { exact: true }).waitFor();
    await up.close();
  });

  test('developer keys: created with permissions, the secret shown once, revoked', async () => {
    const page = await newPage();
    await signIn(page, server.adminKey);
    await page.getByRole('navigation', { name: 'Main', exact: true }).getByRole('link', { name: 'Developer keys', exact: true }).click();
    await page.getByRole('heading', { name: 'Developer keys', level: 1, exact: true }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('ci');
    await page.getByLabel('sessions_view', { exact: true }).check();
    await page.getByLabel('sessions_modify', { exact: true }).check();
    await page.getByRole('button', { name: 'Create key', exact: true }).click();
    const secret = page.locator('[data-field="api_key_secret"]');
    await secret.waitFor();
    const { developer_keys: keys } = await admin('GET', '/developer-keys');
    assert.equal(keys.length, 1);
    assert.deepEqual(keys[0].permissions, ['sessions_view', 'sessions_modify']);
    assert.equal(keys[0].api_key_secret, undefined);
    await page.locator(`tr[data-key="${keys[0].key_id}"]`).getByRole('button', { name: 'Revoke ci' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke', exact: true }).click();
    await page.getByText('No developer keys.').waitFor();
    await page.close();
  });
});
