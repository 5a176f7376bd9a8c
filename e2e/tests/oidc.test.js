// Browser tests of issue 19: the console signs in through the development OpenID Provider that
// `make run` starts (authorization code with PKCE, public client, tokens in memory only), as a
// seeded administrator and as a seeded user whose IdP group is mapped to a group with a usage
// limit; removing the person from the IdP group removes the membership at the next sign-in;
// sign-out; silent renewal with the refresh token, and a clear re-sign-in when it fails.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, apiClient, must, screenshot } from '../lib/harness.js';

// Short-lived tokens, so that renewal happens within the test (renewed a third of their
// lifetime before they expire: every ~10 s).
const TOKEN_TTL_SECONDS = 15;

let server;
let browser;
let admin;

async function newPage() {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(15_000);
  return page;
}

const nav = (page) => page.getByRole('navigation', { name: 'Main', exact: true });

/** Signs username in through the provider, from the console's sign-in page. */
async function signInAs(page, username) {
  if (!page.url().startsWith(`${server.url}/console/`)) await page.goto(`${server.url}/console/`);
  await page.getByRole('button', { name: 'Sign in with your organisation', exact: true }).click();
  // The provider's page: pick the person (no password: it is a development provider).
  await page.waitForURL((u) => u.href.startsWith(server.idpURL));
  await page.locator(`a.person[data-username="${username}"]`).click();
  // Back on the console with ?code=…&state=…, exchanged for tokens, then the home page.
  await nav(page).waitFor();
  assert.ok(!page.url().includes('code='), `the code stays in the address bar: ${page.url()}`);
}

/** What the page keeps in storage: the tokens must not be there. */
async function storedTokens(page) {
  return page.evaluate(() => {
    const all = [];
    for (const s of [sessionStorage, localStorage]) {
      for (let i = 0; i < s.length; i++) all.push(s.getItem(s.key(i)));
    }
    return all.filter((v) => /eyJ[\w-]+\.eyJ/.test(v || ''));
  });
}

async function userByName(username) {
  const { users } = await admin('GET', '/users');
  return users.find((u) => u.username === username);
}

describe('sign-in with the identity provider', () => {
  before(async () => {
    server = await startServer({ idp: true, idpTokenTTL: `${TOKEN_TTL_SECONDS}s` });
    browser = await launchBrowser(server.url, { allow: [server.idpURL] });
    admin = must(apiClient(server.url, server.adminKey));
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the sign-in page offers the provider, and keeps the key sign-in for break-glass', async () => {
    const cfg = await (await fetch(`${server.url}/v1/auth/oidc`)).json();
    assert.equal(cfg.enabled, true);
    assert.equal(cfg.issuer, server.issuer);
    const res = await fetch(`${server.url}/console/`);
    assert.match(res.headers.get('content-security-policy'), new RegExp(`connect-src 'self' ${server.idpURL};`));

    const page = await newPage();
    await page.goto(`${server.url}/console/`);
    await page.getByRole('button', { name: 'Sign in with your organisation', exact: true }).waitFor();
    await page.getByText(`Through the identity provider at ${new URL(server.idpURL).host}.`).waitFor();
    await screenshot(page, 'oidc-sign-in');
    // Break-glass: the admin key still signs in.
    await page.getByLabel('API key', { exact: true }).fill(server.adminKey);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await nav(page).getByRole('link', { name: 'Groups', exact: true }).waitFor();
    await page.close();
  });

  test('a seeded administrator signs in through the provider', async () => {
    const page = await newPage();
    const apiPaths = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.origin === server.url && /^\/(sso\/)?v1\//.test(u.pathname)) apiPaths.push(u.pathname);
    });
    await signInAs(page, 'ada');
    await nav(page).getByRole('link', { name: 'Groups', exact: true }).waitFor();
    await page.getByText('ada (admin)', { exact: true }).waitFor();
    await page.getByText('Signed in with your organisation', { exact: true }).waitFor();
    // The seeded Engineering group, as make run seeds it.
    await page.getByRole('link', { name: 'Engineering', exact: true }).first().waitFor();
    assert.deepEqual(await storedTokens(page), [], 'tokens are kept in memory only');
    // With the ID token the console calls /sso/v1 (behind the JWT authorizer on AWS); only the
    // public OIDC configuration is read from /v1.
    assert.ok(apiPaths.some((p) => p === '/sso/v1/me'), `API calls: ${apiPaths}`);
    const keyPaths = apiPaths.filter((p) => p.startsWith('/v1/'));
    assert.ok(keyPaths.every((p) => p === '/v1/auth/oidc'), `calls to /v1: ${keyPaths}`);
    // A reload forgets the in-memory sign-in.
    await page.reload();
    await page.getByRole('button', { name: 'Sign in with your organisation', exact: true }).waitFor();
    await page.close();
  });

  test('a user in eng-all sees the usage limit of Engineering with its source; leaving eng-all removes it', async () => {
    const page = await newPage();
    await signInAs(page, 'grace');
    await page.getByRole('heading', { name: 'Welcome, grace', exact: true }).waitFor();
    const usage = page.getByRole('region', { name: 'My usage', exact: true });
    await usage.getByText('remaining of 10 h', { exact: false }).waitFor();
    await usage.getByRole('link', { name: 'Engineering', exact: true }).waitFor();
    await page.getByText('member of Engineering through the IdP group eng-all', { exact: true }).waitFor();
    await screenshot(page, 'oidc-user-dashboard');
    const grace = await userByName('grace');
    const engineering = (await admin('GET', '/groups')).groups.find((g) => g.name === 'Engineering');
    assert.ok(grace.groups.includes(engineering.group_id), `grace's groups: ${grace.groups}`);

    // The IdP administrator removes grace from eng-all; she signs out and in again.
    const res = await fetch(`${server.idpURL}/dev/people/grace/groups`, {
      method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ groups: [] }),
    });
    assert.equal(res.status, 200);
    await nav(page).page().getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByText('You are signed out.', { exact: true }).waitFor();
    await signInAs(page, 'grace');
    await page.getByRole('heading', { name: 'Welcome, grace', exact: true }).waitFor();
    await usage.getByText('No usage limit.', { exact: false }).waitFor();
    assert.equal(await page.getByText('through the IdP group', { exact: false }).count(), 0);
    const after = await userByName('grace');
    assert.equal(after.user_id, grace.user_id, 'the same user signs in again');
    assert.ok(!after.groups.includes(engineering.group_id), `grace's groups after leaving eng-all: ${after.groups}`);
    const { history } = await admin('GET', `/groups/${engineering.group_id}/history`);
    assert.ok(history.some((e) => e.actor === 'sso'), 'the membership changes are recorded with the actor sso');
    await page.close();
  });

  test('sign-out forgets the sign-in', async () => {
    const page = await newPage();
    await signInAs(page, 'linus');
    await page.getByRole('heading', { name: 'Welcome, linus', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByText('You are signed out.', { exact: true }).waitFor();
    await page.evaluate(() => { location.hash = '#/dashboard'; });
    await page.getByRole('button', { name: 'Sign in with your organisation', exact: true }).waitFor();
    assert.equal(await nav(page).count(), 0);
    await page.close();
  });

  test('the token is renewed silently with the refresh token, past its first expiry', async () => {
    const page = await newPage();
    const grants = [];
    page.on('request', (r) => {
      if (r.url().startsWith(`${server.issuer}/token`)) grants.push(new URLSearchParams(r.postData() || '').get('grant_type'));
    });
    const signedInAt = Date.now();
    await signInAs(page, 'linus');
    await page.getByRole('heading', { name: 'Welcome, linus', exact: true }).waitFor();
    // Two renewals: the second comes after the first token has expired.
    await page.waitForFunction(() => Number(document.body.dataset.renewals || 0) >= 2, null, { timeout: 4 * TOKEN_TTL_SECONDS * 1000 });
    assert.ok(Date.now() - signedInAt > TOKEN_TTL_SECONDS * 1000, 'the first token has expired');
    assert.equal(grants[0], 'authorization_code');
    assert.ok(grants.length >= 3 && grants.slice(1).every((g) => g === 'refresh_token'), `grants: ${grants}`);
    // The API accepts the renewed token: the dashboard loads again, still signed in.
    await page.evaluate(() => { location.hash = '#/sessions/none'; });
    await page.evaluate(() => { location.hash = '#/dashboard'; });
    await page.getByRole('heading', { name: 'Welcome, linus', exact: true }).waitFor();
    assert.equal(await page.getByText('Sign in with your organisation').count(), 0);
    assert.deepEqual(browser.problems, []);
    await page.close();
  });

  test('a renewal the provider refuses asks the person to sign in again', async () => {
    const page = await newPage();
    await page.route(`${server.issuer}/token`, async (route) => {
      const grant = new URLSearchParams(route.request().postData() || '').get('grant_type');
      if (grant !== 'refresh_token') return route.continue();
      return route.fulfill({ status: 400, contentType: 'application/json', headers: { 'Access-Control-Allow-Origin': '*' },
        body: JSON.stringify({ error: 'invalid_grant' }) });
    });
    await signInAs(page, 'ada');
    await page.getByText('Your sign-in has ended and could not be renewed', { exact: false })
      .waitFor({ timeout: 2 * TOKEN_TTL_SECONDS * 1000 });
    await page.getByRole('button', { name: 'Sign in with your organisation', exact: true }).waitFor();
    assert.equal(await nav(page).count(), 0);
    await page.close();
    assert.deepEqual(browser.offsite, []);
  });
});
