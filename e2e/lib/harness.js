// Test harness: the real server on a free port (with DynamoDB Local), Debian's Chromium driven
// by playwright-core, and an admin API client for setting up data.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// Tests write screenshots to build/screenshots (git-ignored); `make screenshots` points
// SCREENSHOT_DIR at docs/screenshots to refresh the ones the README shows.
export const screenshotDir = process.env.SCREENSHOT_DIR
  ? path.resolve(process.env.SCREENSHOT_DIR)
  : path.join(repoRoot, 'build', 'screenshots');
export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** The flags Chromium runs with: headless, no sandbox (CI runs as root), nothing phoning home. */
export const chromiumFlags = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Builds and starts the local server (cmd/local) with ADMIN_API_KEY on a free port. It uses
 * the DynamoDB Local of $DYNAMODB_ENDPOINT with a table of its own when one is given (make test
 * starts one), else scripts/with-dynamodb.sh starts a private one. E2E_SERVER_BIN runs another
 * binary instead of building cmd/local. Resolves to {url, adminKey, logs(), stop()}.
 *
 * opts.idp runs the development identity provider beside it, on a free port (the server then
 * trusts it and seeds the Engineering group mapped to eng-all); opts.idpTokenTTL sets its
 * token lifetime (DEV_IDP_TOKEN_TTL, e.g. '15s'). The answer then has idpURL (the provider's
 * origin) and issuer.
 */
export async function startServer(opts = {}) {
  const port = await freePort();
  const idpPort = opts.idp ? await freePort() : 0;
  const adminKey = `e2e-admin-${process.pid}-${Date.now()}`;
  let bin = process.env.E2E_SERVER_BIN;
  if (!bin) {
    bin = path.join(repoRoot, '.local', 'e2e', 'wspolicy-local');
    mkdirSync(path.dirname(bin), { recursive: true });
    execFileSync('go', ['build', '-o', bin, './cmd/local'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  }
  const env = { ...process.env, PORT: String(port), ADMIN_API_KEY: adminKey, TABLE_NAME: `e2e_${process.pid}_${Date.now()}`, DEV_IDP_PORT: idpPort ? String(idpPort) : process.env.E2E_DEV_IDP_PORT || 'off' };
  delete env.OIDC_ISSUER;
  if (opts.idpTokenTTL) env.DEV_IDP_TOKEN_TTL = opts.idpTokenTTL;
  delete env.DYNAMODB_PORT;
  const child = spawn(path.join(repoRoot, 'scripts', 'with-dynamodb.sh'), [bin], {
    cwd: repoRoot, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  let exited = null;
  child.on('exit', (code, sig) => { exited = { code, sig }; });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (exited) return;
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
    for (let i = 0; i < 50 && !exited; i++) await sleep(100);
    if (!exited) { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exited) throw new Error(`the server exited (${JSON.stringify(exited)}) before answering:\n${out}`);
    try {
      const res = await fetch(`${url}/v1/health`);
      if (res.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the server did not answer /v1/health within 90 s:\n${out}`);
    }
    await sleep(200);
  }
  const idpURL = idpPort ? `http://127.0.0.1:${idpPort}` : '';
  return { url, adminKey, idpURL, issuer: idpURL ? `${idpURL}/oidc` : '', logs: () => out, stop };
}

/**
 * Launches Chromium headless in a fresh profile. Every request that is not to the server under
 * test (or to one of the origins in opts.allow, e.g. the identity provider) is aborted and
 * recorded in offsite (the console must need nothing from elsewhere).
 */
export async function launchBrowser(serverURL, opts = {}) {
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'wsp-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumFlags,
    viewport: { width: 1360, height: 900 },
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  const origin = new URL(serverURL).origin;
  const offsite = [];
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith(origin + '/') || u.startsWith('data:')) return route.continue();
    if ((opts.allow || []).some((o) => u.startsWith(new URL(o).origin + '/'))) return route.continue();
    offsite.push(u);
    return route.abort();
  });
  const problems = [];
  const watch = (page) => {
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const t = m.text();
      // Failed API calls the console handles itself are logged by Chromium as resource errors.
      if (/Failed to load resource: the server responded with a status of (4\d\d)/.test(t)) return;
      problems.push(`console error: ${t}`);
    });
  };
  context.on('page', watch);
  for (const p of context.pages()) watch(p);
  return {
    context,
    offsite,
    problems,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** An API client with one key. call(method, path, body, headers) → {status, body}. */
export function apiClient(baseURL, key) {
  return async function call(method, p, body, headers = {}) {
    const res = await fetch(`${baseURL}/v1${p}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = text; }
    return { status: res.status, body: json, headers: res.headers };
  };
}

/** Like apiClient's call, but fails unless the status is one of ok. */
export function must(call) {
  return async (method, p, body, ok = [200, 201, 204], headers) => {
    const r = await call(method, p, body, headers);
    if (!ok.includes(r.status)) throw new Error(`${method} ${p} → ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
}

/** Writes a full-page screenshot to <screenshotDir>/<name>.png. */
export async function screenshot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  // No toast, and scrolled to the top: the sticky sidebar is drawn where the window was.
  await page.evaluate(() => { document.getElementById('toasts')?.replaceChildren(); window.scrollTo(0, 0); });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true, animations: 'disabled' });
}
