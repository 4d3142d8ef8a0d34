// node's oidc-provider (a certified OpenID provider), configured like the portcullis seed of
// bench/load.sh: one API (resource indicator) and one m2m client using client_credentials with
// client_secret_basic, issuing RS256 JWT access tokens for that API. Run by bench/load.sh:
//
//   node bench/oidc-provider.mjs PORT CLIENT_ID CLIENT_SECRET AUDIENCE "SCOPES"
//
// Listens on 127.0.0.1:PORT only. The signing key is a fresh RSA-2048 key, like portcullis'.
import { generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';

// oidc-provider lives in bench/oidc-provider/node_modules (its package.json + lock are there).
const require = createRequire(new URL('./oidc-provider/package.json', import.meta.url));
const { default: Provider } = await import(require.resolve('oidc-provider'));

const [port, clientId, clientSecret, audience, scopes] = process.argv.slice(2);
if (!port || !clientId || !clientSecret || !audience || !scopes) {
  console.error('usage: node oidc-provider.mjs PORT CLIENT_ID CLIENT_SECRET AUDIENCE "SCOPES"');
  process.exit(2);
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', use: 'sig', alg: 'RS256' };

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  // The client's `scope` metadata may only name scopes the provider knows.
  scopes: ['openid', 'offline_access', ...scopes.split(' ')],
  // One hour, like portcullis' default access-token lifetime.
  ttl: { ClientCredentials: 3600 },
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
  ],
  features: {
    devInteractions: { enabled: false },
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
