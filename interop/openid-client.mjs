// Interop: the OpenID-certified relying party `openid-client` (and its protocol core
// `oauth4webapi`, for RFC 9068 access-token validation) against a running portcullis server.
//
//   PORTCULLIS_ISSUER=http://127.0.0.1:PORT node interop/openid-client.mjs
//   NODE_EXTRA_CA_CERTS=ca.pem PORTCULLIS_ISSUER=https://localhost:PORT node interop/openid-client.mjs
//
// The server must have been seeded with crates/portcullis-server/examples/tenant.toml.
// The library's own checks are the oracle: `authorizationCodeGrant` validates the callback
// (state, iss), the token response and the ID token (signature, iss, aud, azp, exp, iat, nonce,
// at_hash); `fetchUserInfo` the subject; `validateJwtAccessToken` RFC 9068. This script plays
// the browser (the hosted sign-in form) and counts checks; the last line is "N passed, M failed".

import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';

const issuer = process.env.PORTCULLIS_ISSUER;
if (!issuer) {
  console.error('PORTCULLIS_ISSUER is not set');
  process.exit(2);
}
if (!/^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/.test(issuer)) {
  console.error(`refusing a non-loopback issuer: ${issuer}`);
  process.exit(2);
}

// The demo tenant (crates/portcullis-server/examples/tenant.toml).
const USER = { email: 'ada@example.com', password: 'correct-horse-battery-staple' };
const WEB = {
  id: 'demo-web',
  secret: 'demo-web-secret-change-me-0123456789abcdef',
  callback: 'http://localhost:3000/callback',
  logout: 'http://localhost:3000/',
};
const SPA = { id: 'demo-spa', callback: 'http://localhost:5173/callback' };
const M2M = { id: 'report-job', secret: 'replace-me-with-32-random-bytes-in-base64' };
const API = 'https://api.example.com';
const HTTP_TIMEOUT_MS = 10_000;

let passed = 0;
let failed = 0;

/** Runs one named check; a thrown error or a false assertion fails it (and is printed). */
async function check(name, fn) {
  try {
    const detail = await fn();
    passed += 1;
    console.log(`ok   ${name}${detail ? ` (${detail})` : ''}`);
    return true;
  } catch (err) {
    failed += 1;
    console.log(`FAIL ${name}\n     ${describe(err)}`);
    return false;
  }
}

function describe(err) {
  if (!(err instanceof Error)) return String(err);
  const parts = [`${err.name}: ${err.message}`];
  if (err.code) parts.push(`code=${err.code}`);
  if (err.error) parts.push(`error=${err.error}`);
  if (err.error_description) parts.push(`error_description=${err.error_description}`);
  if (err.status) parts.push(`status=${err.status}`);
  let cause = err.cause;
  for (let depth = 0; cause && depth < 3; depth += 1) {
    if (cause instanceof Error) {
      parts.push(`cause: ${cause.name}: ${cause.message}${cause.code ? ` code=${cause.code}` : ''}`);
      cause = cause.cause;
    } else {
      try {
        parts.push(`cause: ${JSON.stringify(cause instanceof Response ? { status: cause.status } : cause)}`);
      } catch {
        parts.push(`cause: ${String(cause)}`);
      }
      break;
    }
  }
  return parts.join('\n     ');
}

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

function eq(actual, expected, what) {
  assert(
    JSON.stringify(actual) === JSON.stringify(expected),
    `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
  );
}

/** Expects `promise` to reject; returns the error for further checks. */
async function rejects(promise, what) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error(`assertion failed: ${what} was accepted`);
}

/** fetch with a timeout and no automatic redirects: the script is the browser. */
function browserFetch(url, init = {}) {
  return fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(HTTP_TIMEOUT_MS), ...init });
}

/** `name=value` pairs of a response's Set-Cookie headers (Max-Age=0 means deleted). */
function cookies(response) {
  const out = {};
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const i = pair.indexOf('=');
    const name = pair.slice(0, i).trim();
    const value = pair.slice(i + 1).trim();
    const deleted = attrs.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a));
    out[name] = deleted ? null : value;
  }
  return out;
}

/** The value of a hidden input of the sign-in form. */
function hiddenInput(html, name) {
  const tag = html.match(new RegExp(`<input[^>]*name="${name}"[^>]*>`));
  const value = tag && tag[0].match(/value="([^"]*)"/);
  if (!value) throw new Error(`the sign-in page has no hidden input ${name}`);
  return value[1].replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function jwtParts(jwt) {
  const [h, p] = jwt.split('.');
  const decode = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  return { header: decode(h), payload: decode(p) };
}

/**
 * The browser's part of a code flow: open the authorization URL, read the sign-in form, post
 * the user's credentials with the form's binding cookie, and return the 303 Location (the
 * callback URL with code, state and iss) and the session cookie.
 */
async function signInAsBrowser(authorizationUrl, { email, password }) {
  const page = await browserFetch(authorizationUrl);
  eq(page.status, 200, 'GET /oauth2/auth status');
  assert(
    (page.headers.get('content-type') || '').startsWith('text/html'),
    'the authorization endpoint answers with the HTML sign-in form',
  );
  const binding = cookies(page).pc_interaction;
  assert(binding, 'the sign-in form sets the pc_interaction cookie');
  const html = await page.text();
  const action = html.match(/<form[^>]*action="([^"]+)"/);
  assert(action, 'the sign-in page has a form with an action');
  const form = new URLSearchParams({
    interaction: hiddenInput(html, 'interaction'),
    csrf: hiddenInput(html, 'csrf'),
    email,
    password,
  });
  const submitted = await browserFetch(new URL(action[1], authorizationUrl), {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: `pc_interaction=${binding}`,
    },
    body: form,
  });
  if (submitted.status !== 303) {
    const body = (await submitted.text()).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300);
    throw new Error(`POST sign-in: expected 303, got ${submitted.status}: ${body}`);
  }
  const location = submitted.headers.get('location');
  assert(location, 'the sign-in answer has a Location');
  const session = cookies(submitted).pc_session;
  assert(session, 'signing in sets the pc_session cookie');
  return { callbackUrl: new URL(location), session };
}

// Plain http is allowed only for the http run; over https the library's defaults apply (and
// Node verifies the certificate against its roots plus NODE_EXTRA_CA_CERTS).
const tls = issuer.startsWith('https:');
const insecure = tls ? {} : { execute: [client.allowInsecureRequests] };
const http = tls ? {} : { [oauth.allowInsecureRequests]: true };

async function main() {
  console.log(`openid-client interop against ${issuer}`);

  if (tls) {
    await check('HTTPS: the certificate is verified (a fetch without the test CA fails)', async () => {
      assert(process.env.NODE_EXTRA_CA_CERTS, 'NODE_EXTRA_CA_CERTS names the test CA');
      const res = await browserFetch(`${issuer}/healthz`);
      eq(res.status, 200, 'GET /healthz over https');
      eq(res.headers.get('strict-transport-security') !== null, true, 'HSTS on an https issuer');
      // A child process without the CA must refuse the certificate.
      const { spawnSync } = await import('node:child_process');
      const env = { ...process.env };
      delete env.NODE_EXTRA_CA_CERTS;
      const probe = spawnSync(process.execPath, ['-e', `
        fetch(${JSON.stringify(`${issuer}/healthz`)}).then(
          () => process.exit(0),
          (e) => { console.log(String(e.cause && e.cause.code)); process.exit(3); });
      `], { env, encoding: 'utf8', timeout: HTTP_TIMEOUT_MS });
      eq(probe.status, 3, `a client without the test CA is refused (${probe.stdout.trim()})`);
      return probe.stdout.trim();
    });
  }

  // --- Discovery -------------------------------------------------------------------------------
  let web;
  const discovered = await check('discovery (demo-web, client_secret_basic)', async () => {
    web = await client.discovery(
      new URL(issuer),
      WEB.id,
      { client_secret: WEB.secret },
      client.ClientSecretBasic(WEB.secret),
      insecure,
    );
    const md = web.serverMetadata();
    eq(md.issuer, issuer, 'issuer');
    assert(md.supportsPKCE(), 'S256 PKCE is advertised');
    for (const ep of [
      'authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint',
      'introspection_endpoint', 'revocation_endpoint', 'end_session_endpoint',
    ]) {
      assert(typeof md[ep] === 'string' && md[ep].startsWith(issuer), `${ep} is on the issuer`);
    }
    return `alg ${md.id_token_signing_alg_values_supported}`;
  });
  if (!discovered) return;
  const as = web.serverMetadata();

  // --- Authorization code + PKCE, confidential client -----------------------------------------
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authUrl = client.buildAuthorizationUrl(web, {
    redirect_uri: WEB.callback,
    scope: 'openid profile email offline',
    audience: API,
    // Ada is in two organizations: name one (Kinde's parameter), else the hosted chooser asks.
    org_code: 'org_acme',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  });

  let callback;
  let session;
  await check('hosted sign-in form: GET form, POST credentials, 303 to the callback', async () => {
    ({ callbackUrl: callback, session } = await signInAsBrowser(authUrl, USER));
    eq(`${callback.origin}${callback.pathname}`, WEB.callback, 'redirect target');
    eq(callback.searchParams.get('state'), state, 'state');
    eq(callback.searchParams.get('iss'), issuer, 'iss (RFC 9207)');
    assert(callback.searchParams.get('code'), 'a code is returned');
  });
  if (!callback) return;

  let tokens;
  let sub;
  await check('authorizationCodeGrant: token response and ID token validated by openid-client', async () => {
    tokens = await client.authorizationCodeGrant(web, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    assert(claims, 'an ID token came back');
    sub = claims.sub;
    eq(claims.iss, issuer, 'id_token iss');
    assert([claims.aud].flat().includes(WEB.id), 'id_token aud includes demo-web');
    eq(claims.nonce, nonce, 'id_token nonce');
    eq(claims.email, USER.email, 'id_token email');
    eq(claims.given_name, 'Ada', 'id_token given_name');
    assert(typeof claims.at_hash === 'string', 'id_token has at_hash (checked by the library)');
    assert(typeof claims.auth_time === 'number', 'id_token has auth_time');
    eq(tokens.token_type.toLowerCase(), 'bearer', 'token_type');
    assert(tokens.refresh_token, 'scope offline gives a refresh token');
    assert(tokens.expiresIn() > 0, 'expires_in is positive');
    return `sub ${sub}`;
  });
  if (!tokens) return;

  await check('the same code a second time is refused (invalid_grant)', async () => {
    const err = await rejects(
      client.authorizationCodeGrant(web, callback, {
        pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
      }),
      'a replayed code',
    );
    eq(err.error, 'invalid_grant', 'error');
  });

  await check('access token is a valid RFC 9068 JWT (oauth4webapi.validateJwtAccessToken)', async () => {
    // The replayed code above revoked what it issued; this checks the token's shape and
    // signature, which revocation does not change.
    const request = new Request(`${issuer}/api`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    const claims = await oauth.validateJwtAccessToken(as, request, API, http);
    eq(claims.sub, sub, 'access token sub');
    eq(jwtParts(tokens.access_token).header.typ, 'at+jwt', 'typ');
  });

  // The code replay revoked the first grant (RFC 6749 §4.1.2): sign in again for the rest.
  const v2 = client.randomPKCECodeVerifier();
  const state2 = client.randomState();
  const nonce2 = client.randomNonce();
  let tokens2;
  await check('second code flow (SSO session reused: no sign-in form)', async () => {
    const url = client.buildAuthorizationUrl(web, {
      redirect_uri: WEB.callback,
      scope: 'openid profile email offline',
      audience: API,
      org_code: 'org_acme',
      code_challenge: await client.calculatePKCECodeChallenge(v2),
      code_challenge_method: 'S256',
      state: state2,
      nonce: nonce2,
    });
    const res = await browserFetch(url, { headers: { cookie: `pc_session=${session}` } });
    eq(res.status, 303, 'GET /oauth2/auth with a session');
    const cb = new URL(res.headers.get('location'));
    tokens2 = await client.authorizationCodeGrant(web, cb, {
      pkceCodeVerifier: v2, expectedState: state2, expectedNonce: nonce2, idTokenExpected: true,
    });
    eq(tokens2.claims().sub, sub, 'same user');
  });
  if (!tokens2) return;

  await check('fetchUserInfo with the expected subject', async () => {
    const info = await client.fetchUserInfo(web, tokens2.access_token, sub);
    eq(info.sub, sub, 'sub');
    eq(info.email, USER.email, 'email');
    eq(info.name, 'Ada Lovelace', 'name');
  });

  await check('fetchUserInfo with a wrong expected subject is refused by the client', async () => {
    await rejects(client.fetchUserInfo(web, tokens2.access_token, 'usr_someone_else'), 'a wrong sub');
  });

  let refreshed;
  await check('refreshTokenGrant: rotated refresh token, new tokens, ID token validated', async () => {
    refreshed = await client.refreshTokenGrant(web, tokens2.refresh_token);
    assert(refreshed.access_token && refreshed.access_token !== tokens2.access_token, 'a new access token');
    assert(refreshed.refresh_token && refreshed.refresh_token !== tokens2.refresh_token, 'a rotated refresh token');
    const claims = refreshed.claims();
    if (claims) eq(claims.sub, sub, 'refreshed id_token sub');
    return claims ? 'with ID token' : 'no ID token';
  });
  if (!refreshed) return;

  await check('tokenIntrospection: access token active', async () => {
    const r = await client.tokenIntrospection(web, refreshed.access_token);
    eq(r.active, true, 'active');
    eq(r.sub, sub, 'sub');
    eq(r.client_id, WEB.id, 'client_id');
    assert([r.aud].flat().includes(API), 'aud includes the API');
    assert(r.scope.split(' ').includes('openid'), 'scope');
  });

  await check('tokenIntrospection: refresh token active', async () => {
    const r = await client.tokenIntrospection(web, refreshed.refresh_token, {
      token_type_hint: 'refresh_token',
    });
    eq(r.active, true, 'active');
  });

  await check('tokenRevocation of the access token, then introspection is inactive', async () => {
    await client.tokenRevocation(web, refreshed.access_token, { token_type_hint: 'access_token' });
    const r = await client.tokenIntrospection(web, refreshed.access_token);
    eq(r.active, false, 'active after revocation');
  });

  await check('fetchUserInfo with the revoked access token fails (invalid_token)', async () => {
    const err = await rejects(client.fetchUserInfo(web, refreshed.access_token, sub), 'a revoked token');
    const challenge = (err.cause ?? []).find?.((c) => c.scheme === 'bearer');
    assert(challenge && challenge.parameters.error === 'invalid_token',
      `a Bearer invalid_token challenge (got ${describe(err)})`);
  });

  await check('tokenRevocation of the refresh token, then introspection is inactive', async () => {
    await client.tokenRevocation(web, refreshed.refresh_token, { token_type_hint: 'refresh_token' });
    const r = await client.tokenIntrospection(web, refreshed.refresh_token);
    eq(r.active, false, 'active after revocation');
    const err = await rejects(client.refreshTokenGrant(web, refreshed.refresh_token), 'a revoked refresh token');
    eq(err.error, 'invalid_grant', 'refresh with a revoked token');
  });

  // --- RP-initiated logout ---------------------------------------------------------------------
  await check('buildEndSessionUrl: logout redirects to the registered URL and ends the session', async () => {
    const logoutState = client.randomState();
    const url = client.buildEndSessionUrl(web, {
      id_token_hint: tokens2.id_token,
      post_logout_redirect_uri: WEB.logout,
      state: logoutState,
    });
    const res = await browserFetch(url, { headers: { cookie: `pc_session=${session}` } });
    eq(res.status, 303, 'GET /logout status');
    const to = new URL(res.headers.get('location'));
    eq(`${to.origin}${to.pathname}`, WEB.logout, 'post-logout target');
    eq(to.searchParams.get('state'), logoutState, 'state');
    eq(cookies(res).pc_session, null, 'the session cookie is cleared');
    // The old session cookie no longer signs anyone in.
    const again = client.buildAuthorizationUrl(web, {
      redirect_uri: WEB.callback,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 'after-logout',
      prompt: 'none',
    });
    const silent = await browserFetch(again, { headers: { cookie: `pc_session=${session}` } });
    eq(silent.status, 303, 'prompt=none status');
    eq(new URL(silent.headers.get('location')).searchParams.get('error'), 'login_required', 'prompt=none after logout');
  });

  // --- Public client (SPA): PKCE, no secret ----------------------------------------------------
  await check('public client demo-spa: code + PKCE with token_endpoint_auth_method none', async () => {
    const spa = await client.discovery(new URL(issuer), SPA.id, undefined, client.None(), insecure);
    const v = client.randomPKCECodeVerifier();
    const st = client.randomState();
    const n = client.randomNonce();
    const url = client.buildAuthorizationUrl(spa, {
      redirect_uri: SPA.callback,
      scope: 'openid email',
      audience: API,
      org_code: 'org_acme',
      code_challenge: await client.calculatePKCECodeChallenge(v),
      code_challenge_method: 'S256',
      state: st,
      nonce: n,
    });
    const { callbackUrl } = await signInAsBrowser(url, USER);
    const t = await client.authorizationCodeGrant(spa, callbackUrl, {
      pkceCodeVerifier: v, expectedState: st, expectedNonce: n, idTokenExpected: true,
    });
    eq(t.claims().sub, sub, 'same user');
    assert([t.claims().aud].flat().includes(SPA.id), 'aud is demo-spa');
    eq(t.refresh_token, undefined, 'no refresh token without scope offline');
    const info = await client.fetchUserInfo(spa, t.access_token, sub);
    eq(info.email, USER.email, 'userinfo email');
  });

  // --- client_credentials (machine to machine) -------------------------------------------------
  await check('clientCredentialsGrant for report-job with audience, introspect, revoke', async () => {
    const m2m = await client.discovery(
      new URL(issuer), M2M.id, M2M.secret, client.ClientSecretPost(M2M.secret), insecure,
    );
    const t = await client.clientCredentialsGrant(m2m, { audience: API });
    eq(t.token_type.toLowerCase(), 'bearer', 'token_type');
    eq(t.scope, 'read:todos', 'scope');
    const request = new Request(`${issuer}/api`, {
      headers: { authorization: `Bearer ${t.access_token}` },
    });
    const claims = await oauth.validateJwtAccessToken(as, request, API, http);
    eq(claims.client_id, M2M.id, 'client_id');
    const active = await client.tokenIntrospection(m2m, t.access_token);
    eq(active.active, true, 'introspection active');
    eq(active.client_id, M2M.id, 'introspection client_id');
    await client.tokenRevocation(m2m, t.access_token);
    eq((await client.tokenIntrospection(m2m, t.access_token)).active, false, 'inactive after revocation');
    const err = await rejects(
      client.clientCredentialsGrant(m2m, { audience: 'https://not-granted.example.com' }),
      'an audience not granted',
    );
    eq(err.error, 'invalid_target', 'error for an audience not granted');
  });
}

try {
  await main();
} catch (err) {
  failed += 1;
  console.log(`FAIL unexpected error\n     ${describe(err)}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
