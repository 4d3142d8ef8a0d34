// The SPA demo: authorization code + PKCE (S256) as a public client, then the bearer API.
// No library, no framework. The settings come from /config.json (served next to this file).
// Everything shown is set with textContent: nothing from a token or an answer becomes HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const PENDING = 'portcullis.spa.pending';

let config = null;
let provider = null;
/** The tokens, in memory only. */
let tokens = null;

function base64url(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function random() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** A JWT's payload, for display only: the API verifies the access token, not this page. */
function payload(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0)));
    return JSON.parse(json);
  } catch {
    return {};
  }
}

function show(section) {
  $('signed-out').hidden = section !== 'signed-out';
  $('signed-in').hidden = section !== 'signed-in';
}

function problem(message) {
  $('problem').textContent = message;
  $('problem').hidden = !message;
}

async function signIn() {
  const pending = { state: random(), nonce: random(), verifier: random() };
  const challenge = base64url(
    await crypto.subtle.digest('SHA-256', new TextEncoder().encode(pending.verifier)),
  );
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const url = new URL(provider.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: config.client_id,
    redirect_uri: config.redirect_uri,
    response_type: 'code',
    scope: 'openid profile email',
    audience: config.audience,
    org_code: config.org_code,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.href);
}

/** The provider sent the browser back to /callback: check it, exchange the code. */
async function callback(params) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', '/');
  if (params.get('error')) {
    throw new Error(`sign-in refused: ${params.get('error')} ${params.get('error_description') || ''}`);
  }
  if (!pending || params.get('state') !== pending.state) {
    throw new Error('this sign-in was not started here (state mismatch): sign in again');
  }
  if (params.get('iss') !== null && params.get('iss') !== config.issuer) {
    throw new Error('the answer comes from another issuer: sign in again');
  }
  const response = await fetch(provider.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code') || '',
      redirect_uri: config.redirect_uri,
      client_id: config.client_id,
      code_verifier: pending.verifier,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || typeof body.access_token !== 'string') {
    throw new Error(`the token request failed: ${body.error_description || body.error || response.status}`);
  }
  const id = body.id_token ? payload(body.id_token) : {};
  if (id.nonce !== pending.nonce) throw new Error('the ID token is not for this sign-in (nonce)');
  tokens = { access: body.access_token, id: body.id_token, idClaims: id };
}

function render() {
  if (!tokens) {
    show('signed-out');
    return;
  }
  const access = payload(tokens.access);
  const id = tokens.idClaims;
  $('name').textContent = id.name || [id.given_name, id.family_name].filter(Boolean).join(' ') || '(no name)';
  $('email').textContent = id.email || '(no email)';
  $('org').textContent = access.org_code || 'none';
  $('permissions').textContent = (access.permissions || []).join(', ') || 'none';
  show('signed-in');
}

async function call(path) {
  const response = await fetch(`${config.api}${path}`, {
    headers: { authorization: `Bearer ${tokens.access}` },
  });
  const text = await response.text();
  let shown = text;
  try {
    shown = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // not JSON: shown as it came
  }
  const challenge = response.headers.get('www-authenticate');
  $('result-status').textContent = `${path}: ${response.status} ${response.statusText}`
    + (challenge ? ` (WWW-Authenticate: ${challenge})` : '');
  $('result-status').className = response.ok ? 'ok' : 'error';
  $('result-body').textContent = shown;
  $('result').hidden = false;
}

function signOut() {
  const url = new URL(provider.end_session_endpoint || `${config.issuer}/logout`);
  url.search = new URLSearchParams({
    post_logout_redirect_uri: config.post_logout_redirect_uri,
    client_id: config.client_id,
  }).toString();
  tokens = null;
  location.assign(url.href);
}

async function start() {
  config = await (await fetch('/config.json')).json();
  provider = await (await fetch(`${config.issuer}/.well-known/openid-configuration`)).json();
  $('sign-in').addEventListener('click', () => signIn().catch((e) => problem(e.message)));
  $('sign-out').addEventListener('click', signOut);
  $('call-todos').addEventListener('click', () => call('/api/todos').catch((e) => problem(e.message)));
  $('call-admin').addEventListener('click', () => call('/api/admin').catch((e) => problem(e.message)));
  if (location.pathname === '/callback') {
    await callback(new URLSearchParams(location.search));
  }
}

start()
  .catch((e) => problem(e.message))
  .finally(render);
