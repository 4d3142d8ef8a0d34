// node's oidc-provider (an OpenID-certified provider no one here wrote) as the issuer the
// portcullis SDK signs in against, in crates/portcullis/tests/interop_oidc_provider.rs. Started by
// interop/oidc-provider/run.sh:
//
//   INTEROP_ADMIN_TOKEN=… node interop/oidc-provider/provider.mjs
//
// Listens on 127.0.0.1 only, on a port the system picks, and prints one line
// `issuer http://127.0.0.1:PORT` on stdout once it answers (everything else goes to stderr).
//
// What it serves (the test knows the same names; keep them in step):
// - a confidential web client `web` (client_secret_basic, authorization_code + refresh_token,
//   PKCE S256 required for every client, redirect http://localhost:3000/callback, post-logout
//   redirect http://localhost:3000/), refresh tokens rotated on every use;
// - a machine client `worker` (client_credentials, client_secret_basic);
// - one API, the RFC 8707 resource `https://api.example.com` (scopes read:todos create:todos),
//   whose access tokens are RS256 JWTs (RFC 9068). No default resource: a client gets an API
//   token only by naming the resource, as the standard says — at the authorization request and
//   again at the token request (oidc-provider's default `useGrantedResource`);
// - introspection, revocation, UserInfo, RP-initiated logout;
// - a user `ada@example.com` with a password, signed in through a small interaction handler
//   (an HTML login form and a consent form, plain HTTP, no JavaScript) built on oidc-provider's
//   interaction API — the way a real deployment plugs its own pages in;
// - an admin endpoint for the test, `POST /__interop/rotate?keep=N` with
//   `Authorization: Bearer $INTEROP_ADMIN_TOKEN`: generates a new RSA-2048 signing key, puts it
//   first (oidc-provider signs with the first key of the right type), keeps the N newest keys
//   (default: all), and answers `{"kids": [...]}` (the signing key first). oidc-provider reads its
//   keys once, at construction, so a rotation builds a new Provider with the same configuration
//   and swaps it in behind the same listener. Sessions, grants and refresh tokens survive it:
//   they live in one in-memory store (oidc-provider's own memory adapter) given to every
//   instance.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, timingSafeEqual, createHash } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';
// Not part of the documented API, but the package exports its files and the lock pins 9.13.3.
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';

const API = 'https://api.example.com';
const API_SCOPES = 'read:todos create:todos';
const WEB = { id: 'web', secret: 'web-secret-0123456789abcdefghijklmnop' };
const WORKER = { id: 'worker', secret: 'worker-secret-0123456789abcdefghijklmn' };
const CALLBACK = 'http://localhost:3000/callback';
const LOGOUT = 'http://localhost:3000/';
const USER = {
  email: 'ada@example.com',
  password: 'correct-horse-battery-staple',
  given_name: 'Ada',
  family_name: 'Lovelace',
};

const adminToken = process.env.INTEROP_ADMIN_TOKEN ?? '';
if (adminToken.length < 32) {
  console.error('provider.mjs: set INTEROP_ADMIN_TOKEN to a random string of at least 32 characters');
  process.exit(2);
}

// Signing keys, newest first. Each one a fresh RSA-2048 key with a kid never used before.
const keys = [];
let keySerial = 0;
function newKey() {
  keySerial += 1;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    ...privateKey.export({ format: 'jwk' }),
    kid: `interop-${keySerial}-${randomBytes(4).toString('hex')}`,
    use: 'sig',
    alg: 'RS256',
  };
}
keys.push(newKey());

// One store and one set of cookie keys for every Provider instance, so a rotation keeps
// browser sessions, grants and tokens.
const cookieKeys = [randomBytes(32).toString('base64url')];
const adapter = createMemoryAdapter();

function configuration() {
  return {
    adapter,
    jwks: { keys: keys.map((k) => ({ ...k })) },
    scopes: ['openid', 'offline_access', 'profile', 'email', ...API_SCOPES.split(' ')],
    claims: {
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name'],
      email: ['email', 'email_verified'],
    },
    cookies: { keys: cookieKeys },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    ttl: {
      AccessToken: 3600,
      ClientCredentials: 3600,
      IdToken: 3600,
      AuthorizationCode: 60,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
      RefreshToken: 3600,
    },
    findAccount: (_ctx, id) => (id !== USER.email ? undefined : {
      accountId: id,
      claims: () => ({
        sub: id,
        email: USER.email,
        email_verified: true,
        given_name: USER.given_name,
        family_name: USER.family_name,
        name: `${USER.given_name} ${USER.family_name}`,
      }),
    }),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    clients: [
      {
        client_id: WEB.id,
        client_secret: WEB.secret,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [CALLBACK],
        post_logout_redirect_uris: [LOGOUT],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: `openid offline_access profile email ${API_SCOPES}`,
      },
      {
        client_id: WORKER.id,
        client_secret: WORKER.secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: API_SCOPES,
      },
    ],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // No default: without `resource` a client gets an opaque token for UserInfo only.
        defaultResource: () => undefined,
        // oidc-provider's default: the token request must name the resource again (RFC 8707
        // §2.2), or the access token is for UserInfo.
        useGrantedResource: () => false,
        getResourceServerInfo: (_ctx, resourceIndicator) => {
          if (resourceIndicator !== API) {
            throw new errors.InvalidTarget();
          }
          return {
            scope: API_SCOPES,
            audience: API,
            accessTokenTTL: 3600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  };
}

let provider;
let handler;
function install() {
  const next = new Provider(issuer, configuration());
  next.on('server_error', (_ctx, err) => console.error('oidc-provider server_error:', err));
  provider = next;
  handler = next.callback();
}

// --- the interaction pages ------------------------------------------------------------------
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, title, body) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(`<!doctype html><html><head><title>${escape(title)}</title></head><body>${body}</body></html>`);
}

function loginForm(res, uid, status, message) {
  page(res, status, 'Sign in', `<h1>Sign in</h1>${message ? `<p class="error">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}">
<input type="hidden" name="prompt" value="login">
<input type="text" name="login">
<input type="password" name="password">
<button type="submit">Sign in</button>
</form>
<a href="/interaction/${escape(uid)}/abort">Cancel</a>`);
}

function consentForm(res, uid) {
  page(res, 200, 'Authorize', `<h1>Authorize</h1>
<form method="post" action="/interaction/${escape(uid)}">
<input type="hidden" name="prompt" value="consent">
<button type="submit">Allow</button>
</form>
<a href="/interaction/${escape(uid)}/abort">Deny</a>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 8192) {
      throw new Error('form too large');
    }
  }
  return new URLSearchParams(body);
}

const sameSecret = (given, expected) => {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
};

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    page(res, 400, 'Error', '<p>This sign-in is not the one in progress.</p>');
    return;
  }
  if (action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'the user cancelled the sign-in',
    }, { mergeWithLastSubmission: false });
    return;
  }
  const { prompt } = details;
  if (req.method === 'GET') {
    if (prompt.name === 'login') {
      loginForm(res, uid, 200);
    } else if (prompt.name === 'consent') {
      consentForm(res, uid);
    } else {
      page(res, 501, 'Error', `<p>Unsupported prompt ${escape(prompt.name)}.</p>`);
    }
    return;
  }
  if (req.method !== 'POST') {
    page(res, 405, 'Error', '<p>Method not allowed.</p>');
    return;
  }
  const form = await readForm(req);
  if (form.get('prompt') === 'login' && prompt.name === 'login') {
    const login = form.get('login') ?? '';
    const password = form.get('password') ?? '';
    // Both compared, always, so the answer takes as long for an unknown user.
    const userOk = sameSecret(login, USER.email);
    const passwordOk = sameSecret(password, USER.password);
    if (!(userOk && passwordOk)) {
      loginForm(res, uid, 401, 'Wrong email or password.');
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: USER.email } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  if (form.get('prompt') === 'consent' && prompt.name === 'consent') {
    const { grantId, session, params } = details;
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) {
      grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    }
    if (missing.missingOIDCClaims) {
      grant.addOIDCClaims(missing.missingOIDCClaims);
    }
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, {
      mergeWithLastSubmission: true,
    });
    return;
  }
  page(res, 400, 'Error', '<p>This form does not fit the sign-in step.</p>');
}

// --- the admin endpoint ---------------------------------------------------------------------
function rotate(req, res, url) {
  const auth = req.headers.authorization ?? '';
  if (req.method !== 'POST' || !auth.startsWith('Bearer ') || !sameSecret(auth.slice(7), adminToken)) {
    res.writeHead(404).end();
    return;
  }
  const keep = url.searchParams.has('keep') ? Number(url.searchParams.get('keep')) : Infinity;
  if (!(keep >= 1)) {
    res.writeHead(400, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: 'keep must be at least 1' }));
    return;
  }
  keys.unshift(newKey());
  keys.splice(keep);
  install();
  const kids = keys.map((k) => k.kid);
  console.error(`oidc-provider: rotated keys, now ${kids.join(', ')}`);
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    .end(JSON.stringify({ kids }));
}

// --- the listener ---------------------------------------------------------------------------
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', issuer);
  const m = url.pathname.match(/^\/interaction\/([A-Za-z0-9_-]{1,64})(\/abort)?$/);
  if (url.pathname === '/__interop/rotate') {
    rotate(req, res, url);
  } else if (m) {
    interaction(req, res, m[1], m[2] ? 'abort' : 'page').catch((err) => {
      // An unknown or expired interaction (no cookie): a page, never a crash.
      console.error(`oidc-provider interaction: ${err.name}: ${err.message}`);
      if (!res.headersSent) {
        page(res, 400, 'Error', `<p>${escape(err.name)}</p>`);
      } else {
        res.end();
      }
    });
  } else {
    handler(req, res);
  }
});

let issuer;
server.listen(0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  install();
  console.log(`issuer ${issuer}`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
