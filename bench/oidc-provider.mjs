// node's oidc-provider (a certified OpenID provider), configured like the portcullis seed of
// bench/load.sh: one API (resource indicator); one m2m client using client_credentials with
// client_secret_basic, issuing RS256 JWT access tokens for that API; one web application (`reg`
// in portcullis) using the authorization code flow with PKCE and client_secret_basic; one user.
// Run by bench/load.sh:
//
//   node bench/oidc-provider.mjs PORT CLIENT_ID CLIENT_SECRET AUDIENCE "SCOPES" \
//     WEB_CLIENT_ID WEB_CLIENT_SECRET REDIRECT_URI USER_EMAIL
//
// Listens on 127.0.0.1:PORT only. The signing key is a fresh RSA-2048 key, like portcullis'.
//
// Sign-in uses oidc-provider's built-in devInteractions (GET /interaction/:uid shows a form,
// POST it with `login` and `password`): it accepts ANY password and hashes none, so a sign-in
// flow here costs no password hashing, unlike portcullis (argon2id). bench/load.sh says so next
// to the figures. Only USER_EMAIL is a known account.
//
// Consent: portcullis asks none for an application of the tenant, so neither does this provider
// for the web application: `loadExistingGrant` implies the grant on the first sign-in
// (oidc-provider's "skip consent" recipe for first-party clients) and the session remembers it,
// so later authorization requests with the session cookie redirect straight back with a code.
// ID tokens carry the profile and email claims (`conformIdTokenClaims: false`), as portcullis'
// do. Sessions, grants and codes live in oidc-provider's default in-memory adapter (portcullis
// writes them to SQLite): an advantage to oidc-provider worth remembering when reading figures.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

// oidc-provider lives in bench/oidc-provider/node_modules (its package.json + lock are there).
const require = createRequire(new URL('./oidc-provider/package.json', import.meta.url));
const { default: Provider } = await import(require.resolve('oidc-provider'));

const [
  port, clientId, clientSecret, audience, scopes, webClientId, webClientSecret, redirectUri, userEmail,
] = process.argv.slice(2);
if (!port || !clientId || !clientSecret || !audience || !scopes || !webClientId || !webClientSecret
    || !redirectUri || !userEmail) {
  console.error('usage: node oidc-provider.mjs PORT CLIENT_ID CLIENT_SECRET AUDIENCE "SCOPES" '
    + 'WEB_CLIENT_ID WEB_CLIENT_SECRET REDIRECT_URI USER_EMAIL');
  process.exit(2);
}
const OIDC_SCOPES = 'openid profile email';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', use: 'sig', alg: 'RS256' };

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  // The client's `scope` metadata may only name scopes the provider knows.
  scopes: ['openid', 'offline_access', 'profile', 'email', ...scopes.split(' ')],
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name'],
    email: ['email', 'email_verified'],
  },
  conformIdTokenClaims: false,
  // Lifetimes as portcullis has them: access and ID tokens one hour, codes one minute, a pending
  // sign-in ten minutes, a session (and the grant it remembers) fourteen days.
  ttl: {
    ClientCredentials: 3600,
    AccessToken: 3600,
    IdToken: 3600,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 14 * 86400,
    Grant: 14 * 86400,
  },
  // Signed cookies, as a production deployment has them (without keys they go unsigned).
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  findAccount: (_ctx, id) => (id !== userEmail ? undefined : {
    accountId: id,
    claims: () => ({
      sub: id,
      email: userEmail,
      email_verified: true,
      given_name: 'Bench',
      family_name: 'User',
      name: 'Bench User',
    }),
  }),
  loadExistingGrant: async (ctx) => {
    const { client, session, provider: op } = ctx.oidc;
    const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
    if (grantId) {
      return op.Grant.find(grantId);
    }
    if (client.clientId !== webClientId) {
      return undefined;
    }
    const grant = new op.Grant({ clientId: client.clientId, accountId: session.accountId });
    // The API's scopes are provider-level scopes too (for the m2m client), so they are granted
    // both as OpenID scopes and as the resource's scopes.
    grant.addOIDCScope(`${OIDC_SCOPES} ${scopes}`);
    grant.addResourceScope(audience, scopes);
    await grant.save();
    return grant;
  },
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: scopes,
    },
    {
      client_id: webClientId,
      client_secret: webClientSecret,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: `${OIDC_SCOPES} ${scopes}`,
    },
  ],
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resourceIndicator) => {
        if (resourceIndicator !== audience) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: scopes,
          audience,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});

// No request logging: the load generator would spend the server's time on it.
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const server = provider.listen(Number(port), '127.0.0.1', () => {
  console.error(`oidc-provider ${issuer} ready`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
