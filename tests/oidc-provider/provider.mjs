// A real OpenID provider (oidc-provider, OpenID-certified) for Portcullis's resource-server and
// social-login tests.
// All configuration comes from the environment (see README.md). Listens on 127.0.0.1:PORT and
// prints one line `READY <issuer>` to stdout once it accepts connections; SIGTERM/SIGINT end it.
import { readFileSync } from 'node:fs';
import { generateKeyPairSync, randomUUID } from 'node:crypto';

// oidc-provider's own notices: the "unsupported runtime" one (it wants Node 22, works on 20) is
// dropped, and NOTICE lines (console.info, stdout) go to stderr so stdout carries only READY.
const { warn: consoleWarn } = console;
console.warn = (first, ...rest) => {
  if (typeof first === 'string' && first.startsWith('oidc-provider WARNING: Unsupported runtime')) return;
  // The tests drive the development login pages on purpose.
  if (typeof first === 'string' && first.includes('devInteractions is enabled')) return;
  consoleWarn(first, ...rest);
};
console.info = (...args) => consoleWarn(...args);

const { default: Provider, errors } = await import('oidc-provider');

function required(name, value, valid) {
  if (!valid) {
    console.error(`provider.mjs: bad ${name}: ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return value;
}

const port = Number(process.env.PORT || 18080);
required('PORT', process.env.PORT, Number.isInteger(port) && port > 0 && port < 65536);
const issuer = process.env.ISSUER || `http://127.0.0.1:${port}`;
const audience = process.env.AUDIENCE || 'https://api.example.com';
const accessTokenAlg = process.env.ACCESS_TOKEN_ALG || 'RS256';
const accessTokenTTL = Number(process.env.ACCESS_TOKEN_TTL || 300);
required('ACCESS_TOKEN_TTL', process.env.ACCESS_TOKEN_TTL, Number.isInteger(accessTokenTTL) && accessTokenTTL > 0);

const JWKS_PATH = '/jwks';
const COUNTER_PATH = '/__test/jwks-requests';

// Asymmetric JWS algorithms the provider accepts keys for (its defaults are a smaller set).
const SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'Ed25519', 'EdDSA'];
required('ACCESS_TOKEN_ALG', accessTokenAlg, SIGNING_ALGS.includes(accessTokenAlg));

// Without JWKS_FILE: one fresh key for ACCESS_TOKEN_ALG (RSA-2048 for the default RS256).
function generatedJwks(alg) {
  let pair;
  if (/^(RS|PS)/.test(alg)) pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  else if (alg.startsWith('ES')) {
    const namedCurve = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg];
    pair = generateKeyPairSync('ec', { namedCurve });
  } else pair = generateKeyPairSync('ed25519');
  const jwk = pair.privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: randomUUID(), alg, use: 'sig' }] };
}

let jwks;
if (process.env.JWKS_FILE) {
  try {
    jwks = JSON.parse(readFileSync(process.env.JWKS_FILE, 'utf8'));
  } catch (err) {
    console.error(`provider.mjs: cannot read JWKS_FILE ${process.env.JWKS_FILE}: ${err.message}`);
    process.exit(2);
  }
} else {
  jwks = generatedJwks(accessTokenAlg);
}

// Fail at start, not at the first token request, when no key can sign ACCESS_TOKEN_ALG.
function canSign(jwk, alg) {
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  if (jwk.alg !== undefined) return jwk.alg === alg;
  if (/^(RS|PS)/.test(alg)) return jwk.kty === 'RSA';
  if (alg.startsWith('ES')) return jwk.kty === 'EC' && jwk.crv === { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg];
  return jwk.kty === 'OKP' && jwk.crv === 'Ed25519';
}
if (!Array.isArray(jwks?.keys) || !jwks.keys.some((jwk) => canSign(jwk, accessTokenAlg))) {
  console.error(`provider.mjs: no key in the JWKS can sign ${accessTokenAlg}`);
  process.exit(2);
}

const claimsByClient = {
  admin: {
    realm_access: { roles: ['admin', 'reader'] },
    'https://example.com/roles': ['admin'],
    'https://example.com/tenant': 'acme',
  },
  plain: {
    realm_access: { roles: ['reader'] },
    'https://example.com/roles': [],
  },
};

const client = (id) => ({
  client_id: id,
  client_secret: `${id}-secret-0123456789`,
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: 'client_secret_post',
  // No ID tokens are issued; this only has to name an alg the keystore has a key for.
  id_token_signed_response_alg: accessTokenAlg,
  scope: 'read write',
});

// Social-login clients (authorization code; PKCE is required of every client, as Portcullis
// always sends it): `web` is confidential (client_secret_basic), `native` is a public app client.
// REDIRECT_URIS: their callback URLs, comma-separated.
const redirectUris = (process.env.REDIRECT_URIS || 'http://127.0.0.1:9/callback').split(',').filter(Boolean);
const loginClients = [
  {
    client_id: 'web',
    client_secret: 'web-secret-0123456789',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: redirectUris,
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: 'native',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: redirectUris,
    token_endpoint_auth_method: 'none',
  },
];

// Any login name is an account: `<name>@example.com`, verified unless the name starts with
// `unverified`.
const findAccount = (_ctx, id) => ({
  accountId: id,
  claims: () => ({
    sub: id,
    email: `${id}@example.com`,
    email_verified: !id.startsWith('unverified'),
    name: id,
  }),
});

// A small in-memory adapter (the built-in one works too but warns at every start).
const stores = new Map();
class MemoryAdapter {
  constructor(model) {
    if (!stores.has(model)) stores.set(model, new Map());
    this.store = stores.get(model);
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    this.store.set(id, { payload, expiresAt });
  }

  async find(id) {
    const entry = this.store.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    for (const [id, { payload }] of this.store) if (payload.uid === uid) return this.find(id);
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [id, { payload }] of this.store) if (payload.userCode === userCode) return this.find(id);
    return undefined;
  }

  async consume(id) {
    const entry = this.store.get(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    this.store.delete(id);
  }

  async revokeByGrantId(grantId) {
    for (const [id, { payload }] of this.store) if (payload.grantId === grantId) this.store.delete(id);
  }
}

const tokenTTL = (_ctx, token) => token.resourceServer?.accessTokenTTL || accessTokenTTL;

const provider = new Provider(issuer, {
  adapter: MemoryAdapter,
  clients: [client('admin'), client('plain'), ...loginClients],
  findAccount,
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  jwks,
  scopes: ['openid', 'email', 'profile', 'read', 'write'],
  routes: { jwks: JWKS_PATH },
  enabledJWA: {
    idTokenSigningAlgValues: SIGNING_ALGS,
    userinfoSigningAlgValues: SIGNING_ALGS,
    introspectionSigningAlgValues: SIGNING_ALGS,
    authorizationSigningAlgValues: SIGNING_ALGS,
  },
  features: {
    // The development login and consent pages: the tests post to them (any name, no password).
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // A client-credentials request without `resource` is for AUDIENCE, and gets a JWT access
      // token; the login clients' access tokens stay opaque, for the userinfo endpoint.
      defaultResource: (_ctx, client) => (client.grantTypes.includes('client_credentials') ? audience : undefined),
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resourceIndicator) => {
        if (resourceIndicator !== audience) throw new errors.InvalidTarget();
        return {
          scope: 'read write',
          audience,
          accessTokenFormat: 'jwt',
          accessTokenTTL,
          jwt: { sign: { alg: accessTokenAlg } },
        };
      },
    },
  },
  ttl: {
    AccessToken: tokenTTL,
    ClientCredentials: tokenTTL,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  extraTokenClaims: (_ctx, token) => claimsByClient[token.clientId] || {},
});

provider.on('server_error', (_ctx, err) => console.error('provider.mjs: server_error:', err));

// Counts requests for the JWKS (any method, any query) and answers GET /__test/jwks-requests itself.
let jwksRequests = 0;
provider.use(async (ctx, next) => {
  if (ctx.path === COUNTER_PATH) {
    ctx.set('cache-control', 'no-store');
    ctx.body = { count: jwksRequests };
    return;
  }
  if (ctx.path === JWKS_PATH) jwksRequests += 1;
  await next();
});

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${issuer}\n`);
});
server.on('error', (err) => {
  console.error(`provider.mjs: cannot listen on 127.0.0.1:${port}: ${err.message}`);
  process.exit(1);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
