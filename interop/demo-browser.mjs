// The demo in a real browser (headless Chromium driven by playwright-core), as a newcomer uses it.
//
//   cargo build -p portcullis-axum --example demo
//   node interop/demo-browser.mjs PATH-TO-demo-BINARY [--screenshot FILE]
//
// Starts the demo binary (identity server, web app, SPA) on three free loopback ports, then: signs up
// a new account, signs out, signs in as ada@example.com and sees her organization, roles,
// permissions and feature flags, calls the protected API (allowed), signs in as bob and is
// refused the admin API (403), creates an organization with a new account, and signs out; then
// the single-page app signs ada in with PKCE and calls the API through CORS — clicking the
// pages' buttons and typing into the hosted forms. With --screenshot, ada's page is
// saved there (the README's docs/demo.png). Env: CHROMIUM (default /usr/bin/chromium). The last
// line is "N passed, M failed"; exits 1 on any failure, and always stops the demo.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const demoBin = args[0];
const shotAt = args.indexOf('--screenshot');
const screenshot = shotAt >= 0 ? args[shotAt + 1] : null;
if (!demoBin || !existsSync(demoBin) || (shotAt >= 0 && !screenshot)) {
  console.error('usage: node interop/demo-browser.mjs PATH-TO-demo-BINARY [--screenshot FILE]');
  console.error('  (build it with: cargo build -p portcullis-axum --example demo)');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(executablePath)) {
  console.error(`no Chromium at ${executablePath} (install the Debian chromium package)`);
  process.exit(2);
}

const STEP_TIMEOUT_MS = 15_000;
const START_TIMEOUT_MS = 30_000;

let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    const detail = await fn();
    passed += 1;
    console.log(`ok   ${name}${detail ? ` (${detail})` : ''}`);
    return true;
  } catch (err) {
    failed += 1;
    console.log(`FAIL ${name}\n     ${err instanceof Error ? err.message : String(err)}`);
    return false;
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts the demo; resolves once it printed its banner, with the process and its output. */
async function startDemo(issuerPort, appPort, spaPort) {
  const child = spawn(demoBin, [], {
    env: {
      ...process.env,
      PORTCULLIS_DEMO_ISSUER_PORT: String(issuerPort),
      PORTCULLIS_DEMO_PORT: String(appPort),
      PORTCULLIS_DEMO_SPA_PORT: String(spaPort),
      NO_COLOR: '1',
      RUST_LOG: process.env.RUST_LOG || 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const started = Date.now();
  while (!output.includes('Demo logins:')) {
    if (child.exitCode !== null) throw new Error(`the demo exited (${child.exitCode}):\n${output}`);
    if (Date.now() - started > START_TIMEOUT_MS) throw new Error(`the demo did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, output: () => output };
}

async function stopDemo(child) {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

async function main() {
  const issuerPort = await freePort();
  const appPort = await freePort();
  const spaPort = await freePort();
  const APP = `http://localhost:${appPort}`;
  const SPA = `http://localhost:${spaPort}`;
  const ISSUER = `http://localhost:${issuerPort}`;
  console.log(`demo browser test (${executablePath}): ${demoBin}`);
  const demo = await startDemo(issuerPort, appPort, spaPort);
  const browser = await chromium.launch({
    executablePath,
    timeout: 30_000,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-proxy-server',
    ],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 960, height: 900 } });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    const page = await context.newPage();
    const main = () => page.locator('main');
    const text = async () => (await main().innerText()).replace(/\s+/g, ' ');
    /** Clicks and waits until the browser is back on the app's page `path`. */
    const toApp = async (path, click) => {
      await Promise.all([page.waitForURL(`${APP}${path}`), click()]);
    };
    const onIssuer = async (title, click) => {
      await Promise.all([page.waitForURL((u) => u.href.startsWith(`${ISSUER}/`)), click()]);
      assert((await page.title()) === title, `the hosted page "${title}", got "${await page.title()}"`);
    };
    const signOut = async () => {
      await toApp('/', () => page.getByRole('link', { name: 'Sign out' }).click());
      const t = await text();
      assert(t.includes('You are signed out'), `the signed-out page, got: ${t.slice(0, 200)}`);
    };

    await check('the banner names the URLs and the demo logins', async () => {
      const out = demo.output();
      for (const part of [APP, SPA, ISSUER, 'ada@example.com / correct-horse-battery-staple', 'bob@example.com']) {
        assert(out.includes(part), `${part} in the banner:\n${out}`);
      }
    });

    await check('the signed-out home offers sign in, sign up and create organization', async () => {
      await page.goto(`${APP}/`);
      const t = await text();
      assert(t.includes('You are signed out'), `signed out, got: ${t.slice(0, 200)}`);
      for (const name of ['Sign in', 'Sign up', 'Create an organization']) {
        assert(await page.getByRole('link', { name, exact: true }).first().isVisible(), `a "${name}" button`);
      }
    });

    const password = `pw-${randomBytes(12).toString('hex')}`;
    const newcomer = `grace-${randomBytes(4).toString('hex')}@example.com`;
    await check('sign up a new account, come back signed in', async () => {
      await onIssuer('Create your account', () => page.getByRole('link', { name: 'Sign up', exact: true }).click());
      await page.locator('#given_name').pressSequentially('Grace');
      await page.locator('#family_name').pressSequentially('Hopper');
      await page.locator('#email').pressSequentially(newcomer);
      await page.locator('#password').pressSequentially(password);
      await toApp('/', () => page.getByRole('button', { name: 'Create account' }).click());
      const t = await text();
      assert(t.includes('Hello, Grace Hopper'), `greeted by name, got: ${t.slice(0, 200)}`);
      assert(t.includes(newcomer), 'the email is shown');
      return newcomer;
    });

    await check('sign out', signOut);

    await check('sign in as ada: organization, roles, permissions, feature flags', async () => {
      const row = page.locator('tr', { hasText: 'ada@example.com' });
      await onIssuer('Sign in', () => row.getByRole('link', { name: 'Sign in' }).click());
      assert((await page.locator('#email').inputValue()) === 'ada@example.com', 'the email is filled in');
      await page.locator('#password').pressSequentially('correct-horse-battery-staple');
      await toApp('/', () => page.getByRole('button', { name: 'Sign in' }).click());
      const t = await text();
      for (const part of ['Hello, Ada Lovelace', 'org_acme', 'Admin', 'read:todos', 'create:todos',
        'delete:todos', 'Feature flags', 'theme', '"blue"', 'analytics', 'competitions_limit']) {
        assert(t.includes(part), `"${part}" on her page, got: ${t}`);
      }
      if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    });

    await check('the protected API answers her access token', async () => {
      await toApp('/call-api?endpoint=todos', () => page.getByRole('link', { name: 'GET /api/todos' }).click());
      const t = await text();
      assert(t.includes('200 OK') && t.includes('Allowed'), `allowed, got: ${t}`);
      await toApp('/', () => page.getByRole('link', { name: 'Back' }).click());
    });

    await check('she switches to org_globex without a password (single sign-on)', async () => {
      await toApp('/', () => page.getByRole('link', { name: 'Open org_globex' }).click());
      const t = await text();
      for (const part of ['Organization org_globex', 'Member', 'delete:todos', 'analytics boolean true']) {
        assert(t.includes(part), `"${part}" on her page, got: ${t}`);
      }
    });

    await check('sign out', signOut);

    await check('bob is refused the admin API with 403', async () => {
      const row = page.locator('tr', { hasText: 'bob@example.com' });
      await onIssuer('Sign in', () => row.getByRole('link', { name: 'Sign in' }).click());
      await page.locator('#password').pressSequentially('can-we-fix-it-yes-we-can');
      await toApp('/', () => page.getByRole('button', { name: 'Sign in' }).click());
      await toApp('/call-api?endpoint=admin', () => page.getByRole('link', { name: 'GET /api/admin' }).click());
      const t = await text();
      assert(t.includes('403 Forbidden') && t.includes('lacks the role admin'), `refused, got: ${t}`);
      await toApp('/', () => page.getByRole('link', { name: 'Back' }).click());
    });

    await check('sign out', signOut);

    await check('create an organization with a new account', async () => {
      const founder = `founder-${randomBytes(4).toString('hex')}@example.com`;
      await onIssuer('Create your account', () => page.getByRole('link', { name: 'Create an organization' }).click());
      await page.locator('#given_name').pressSequentially('Ida');
      await page.locator('#family_name').pressSequentially('Founder');
      await page.locator('#email').pressSequentially(founder);
      await page.locator('#password').pressSequentially(password);
      await Promise.all([
        page.waitForURL((u) => u.href.startsWith(`${ISSUER}/oauth2/auth/create-org`)),
        page.getByRole('button', { name: 'Create account' }).click(),
      ]);
      await page.locator('#org_name').pressSequentially('Founder Labs');
      await toApp('/', () => page.getByRole('button', { name: 'Create organization' }).click());
      const org = await page.locator('tr', { hasText: 'Organization' }).first().locator('td').innerText();
      assert(/^org_/.test(org.trim()), `signed into the new organization, got "${org}"`);
      return org.trim();
    });

    await check('sign out', signOut);

    await check('the SPA refuses a callback it did not start (forged state), with no token request', async () => {
      let tokenRequests = 0;
      const count = (request) => { if (request.url().includes('/oauth2/token')) tokenRequests += 1; };
      page.on('request', count);
      try {
        await page.goto(`${SPA}/callback?code=stolen&state=forged&iss=${encodeURIComponent(ISSUER)}`);
        const problem = page.locator('#problem');
        await problem.waitFor();
        const t = await problem.innerText();
        assert(t.includes('state mismatch'), `the state problem shown, got: ${t}`);
        assert(tokenRequests === 0, `no token request, got ${tokenRequests}`);
        assert(new URL(page.url()).search === '', `the code is dropped from the address bar, got ${page.url()}`);
      } finally {
        page.off('request', count);
      }
    });

    await check('the SPA signs ada in with PKCE and calls the API through CORS', async () => {
      await page.goto(`${SPA}/`);
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      await onIssuer('Sign in', () => page.getByRole('button', { name: 'Sign in' }).click());
      await page.locator('#email').pressSequentially('ada@example.com');
      await page.locator('#password').pressSequentially('correct-horse-battery-staple');
      await Promise.all([
        page.waitForURL(`${SPA}/`),
        page.getByRole('button', { name: 'Sign in' }).click(),
      ]);
      await page.locator('#signed-in').waitFor();
      const t = await text();
      for (const part of ['Ada Lovelace', 'ada@example.com', 'org_acme', 'read:todos']) {
        assert(t.includes(part), `"${part}" on the SPA, got: ${t}`);
      }
      await page.getByRole('button', { name: 'GET /api/todos' }).click();
      await page.locator('#result-status', { hasText: '/api/todos: 200' }).waitFor();
      await page.getByRole('button', { name: 'GET /api/admin' }).click();
      await page.locator('#result-status', { hasText: '/api/admin: 200' }).waitFor();
      const problem = page.locator('#problem');
      assert(await problem.isHidden(), `no problem shown, got: ${await problem.innerText()}`);
    });

    await check('the SPA signs out through the issuer', async () => {
      await Promise.all([
        page.waitForURL(`${SPA}/`),
        page.getByRole('button', { name: 'Sign out' }).click(),
      ]);
      await page.locator('#signed-out').waitFor();
    });

    await context.close();
  } finally {
    await browser.close();
    const code = await stopDemo(demo.child);
    await check('the demo stops cleanly on SIGTERM', async () => {
      assert(code === 0, `exit code 0, got ${code}:\n${demo.output()}`);
    });
  }
}

try {
  await main();
} catch (err) {
  failed += 1;
  console.log(`FAIL demo browser run aborted\n     ${err instanceof Error ? err.stack : String(err)}`);
}
if (screenshot) console.log(`screenshot of ada's page: ${screenshot}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
