// Interop: the hosted pages in a real browser (headless Chromium driven by playwright-core).
//
//   PORTCULLIS_ISSUER=http://127.0.0.1:PORT [CHROMIUM=/usr/bin/chromium] node interop/browser.mjs
//   PORTCULLIS_ISSUER=https://localhost:PORT PORTCULLIS_TLS_SPKI=<base64 SHA-256 of the
//     certificate's public key> node interop/browser.mjs
//
// Over https, Chromium accepts the test CA's certificate by its key's fingerprint
// (--ignore-certificate-errors-spki-list, which accepts that key and nothing else), and the
// hosted pages must come over HTTP/2 (ALPN).
//
// The server must have been seeded with crates/portcullis-server/examples/tenant.toml. Walks
// sign-up -> redirect back with a code -> sign-in (prompt=login) -> code -> logout -> prompt=none
// answers login_required, typing into the forms and clicking their buttons. The demo app's
// http://localhost:3000 is a tiny local server on a free loopback port that Chromium is pointed
// at with --host-resolver-rules (Playwright's route() does not see redirect targets), so port
// 3000 itself is never used. The last line is "N passed, M failed"; exits 1 on any failure.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';

const issuer = process.env.PORTCULLIS_ISSUER;
if (!issuer) {
  console.error('PORTCULLIS_ISSUER is not set');
  process.exit(2);
}
if (!/^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/.test(issuer)) {
  console.error(`refusing a non-loopback issuer: ${issuer}`);
  process.exit(2);
}
const tls = issuer.startsWith('https:');
const spki = process.env.PORTCULLIS_TLS_SPKI;
if (tls && !spki) {
  console.error('an https issuer needs PORTCULLIS_TLS_SPKI (the certificate key fingerprint)');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(executablePath)) {
  console.error(`no Chromium at ${executablePath} (install the Debian chromium package)`);
  process.exit(2);
}

const APP = 'http://localhost:3000';
const CALLBACK = `${APP}/callback`;
const STEP_TIMEOUT_MS = 15_000;
const SCREENSHOT = '/tmp/portcullis-sign-up.png';

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

function authorizeUrl(state, prompt) {
  const url = new URL('/oauth2/auth', issuer);
  url.search = new URLSearchParams({
    client_id: 'demo-web',
    redirect_uri: CALLBACK,
    response_type: 'code',
    scope: 'openid email profile',
    state,
    ...(prompt ? { prompt } : {}),
  }).toString();
  return url.href;
}

/**
 * Submits a hosted form with `click`; expects it to land on the demo app (the 303 callback)
 * and returns that URL. A form answered with anything but a redirect fails with its text.
 */
async function submitToApp(page, click) {
  const refused = page
    .waitForResponse((r) => r.request().method() === 'POST' && r.url().startsWith(issuer) && r.status() !== 303)
    .then(async (response) => {
      await page.waitForLoadState();
      const text = (await page.locator('main').innerText().catch(() => '')).replace(/\s+/g, ' ');
      throw new Error(`POST ${new URL(response.url()).pathname}: expected 303, got ${response.status()}: ${text}`);
    });
  const landed = page.waitForURL((u) => u.href.startsWith(`${APP}/`)).then(() => new URL(page.url()));
  refused.catch(() => {});
  landed.catch(() => {});
  await click();
  return Promise.race([landed, refused]);
}

/** Waits for the page to land on the demo app and returns that URL. */
async function landedOnApp(page, action) {
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(`${APP}/`), { timeout: STEP_TIMEOUT_MS }),
    action(),
  ]);
  return new URL(page.url());
}

function expectCode(url, state) {
  assert(url.href.startsWith(`${CALLBACK}?`), `redirected to the callback, got ${url.href}`);
  assert(!url.searchParams.get('error'), `no error, got ${url.searchParams.get('error')}`);
  assert(url.searchParams.get('code'), 'the callback carries a code');
  assert(url.searchParams.get('state') === state, `state round-trips, got ${url.searchParams.get('state')}`);
  assert(url.searchParams.get('iss') === issuer, `iss is the issuer, got ${url.searchParams.get('iss')}`);
  return `code ${url.searchParams.get('code').slice(0, 8)}...`;
}

async function main() {
  console.log(`browser interop (${executablePath}) against ${issuer}`);
  const app = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>app</title><p>demo app');
  });
  await new Promise((resolve) => app.listen(0, '127.0.0.1', resolve));
  const appPort = app.address().port;
  const browser = await chromium.launch({
    executablePath,
    timeout: 30_000,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-proxy-server', `--host-resolver-rules=MAP localhost:3000 127.0.0.1:${appPort}`,
      ...(tls ? [`--ignore-certificate-errors-spki-list=${spki}`] : []),
    ],
  });
  try {
    const context = await browser.newContext();
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    const page = await context.newPage();

    if (tls) {
      await check('HTTPS: the hosted page comes over HTTP/2 with the test certificate', async () => {
        const response = await page.goto(authorizeUrl('S0', 'login'));
        const security = await response.securityDetails();
        assert(security, 'the page has TLS security details');
        assert(/^TLS 1\.[23]$/.test(security.protocol), `TLS 1.2 or 1.3, got ${security.protocol}`);
        assert(security.subjectName === 'localhost', `certificate subject, got ${security.subjectName}`);
        const protocol = await page.evaluate(
          () => performance.getEntriesByType('navigation')[0].nextHopProtocol,
        );
        assert(protocol === 'h2', `HTTP/2 by ALPN, got ${protocol}`);
        return `${security.protocol}, ${protocol}`;
      });
    }

    const email = `browser-${randomBytes(6).toString('hex')}@example.com`;
    const password = `pw-${randomBytes(12).toString('hex')}`;

    await check('sign-up (prompt=create) redirects back with a code', async () => {
      await page.goto(authorizeUrl('S1', 'create'));
      assert((await page.title()) === 'Create your account', `sign-up page title, got ${await page.title()}`);
      await page.locator('#given_name').pressSequentially('Grace');
      await page.locator('#family_name').pressSequentially('Hopper');
      await page.locator('#email').pressSequentially(email);
      await page.locator('#password').pressSequentially(password);
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      const url = await submitToApp(page, () => page.getByRole('button', { name: 'Create account' }).click());
      return expectCode(url, 'S1');
    });

    await check('the sign-in page links to sign-up', async () => {
      await page.goto(authorizeUrl('S2', 'login'));
      assert((await page.title()) === 'Sign in', `sign-in page title, got ${await page.title()}`);
      const link = page.getByRole('link', { name: 'Create an account' });
      const href = await link.getAttribute('href');
      assert(href && href.startsWith('/oauth2/auth/sign-up?'), `sign-up link, got ${href}`);
    });

    await check('sign-in (prompt=login) with the new account redirects back with a code', async () => {
      await page.goto(authorizeUrl('S3', 'login'));
      assert((await page.title()) === 'Sign in', `sign-in page title, got ${await page.title()}`);
      await page.locator('#email').pressSequentially(email);
      await page.locator('#password').pressSequentially(password);
      const url = await submitToApp(page, () => page.getByRole('button', { name: 'Sign in' }).click());
      return expectCode(url, 'S3');
    });

    await check('the session cookie is set for the issuer', async () => {
      const names = (await context.cookies(issuer)).map((c) => c.name);
      assert(names.includes('pc_session'), `pc_session among ${JSON.stringify(names)}`);
    });

    await check('logout redirects to the post-logout URL', async () => {
      const logout = new URL('/logout', issuer);
      logout.searchParams.set('redirect', `${APP}/`);
      const url = await landedOnApp(page, () => page.goto(logout.href));
      assert(url.href === `${APP}/`, `landed on ${APP}/, got ${url.href}`);
    });

    await check('after logout, prompt=none answers login_required', async () => {
      const url = await landedOnApp(page, () => page.goto(authorizeUrl('S4', 'none')));
      assert(url.href.startsWith(`${CALLBACK}?`), `redirected to the callback, got ${url.href}`);
      assert(url.searchParams.get('error') === 'login_required', `error=login_required, got ${url.search}`);
      assert(!url.searchParams.get('code'), 'no code');
      assert(url.searchParams.get('state') === 'S4', 'state round-trips');
    });

    await context.close();
  } finally {
    await browser.close();
    app.close();
  }
}

try {
  await main();
} catch (err) {
  failed += 1;
  console.log(`FAIL browser run aborted\n     ${err instanceof Error ? err.stack : String(err)}`);
}
console.log(`screenshot of the sign-up page: ${SCREENSHOT}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
