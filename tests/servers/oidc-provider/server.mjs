// oidc-provider (npm, OpenID Certified) on 127.0.0.1, for tests/it/servers.rs only.
//
//   node server.mjs [--port N] [--lifetime SECONDS]
//
// oidc-provider is a library: the authorize, token, revocation (RFC 7009), introspection
// (RFC 7662), discovery, DPoP (RFC 9449) and PAR (RFC 9126) endpoints, PKCE and client
// authentication are its own, at their defaults unless said below. This file supplies only test-only
// clients, scopes, one resource server, a user and a refresh token (secrets from the environment,
// see targets.yaml), and the two routes of ours marked TEST-ONLY: an auto-approving interaction and
// a signed-in browser for /auth. Storage is the library's built-in in-memory adapter. Prints
// "listening on http://127.0.0.1:PORT" (the issuer) and serves until --lifetime has passed.
//
// OIDC_PROVIDER_PROFILE=strict turns on the library's stricter settings (see STRICT below) for
// the target oidc-provider-strict; unset, the server is as the other targets expect.

import crypto from 'node:crypto';
import http from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

const REDIRECT_URI = 'https://client.tokenconf.invalid/cb';
// The one resource server (RFC 8707): oidc-provider puts scopes other than OpenID Connect's only
// into access tokens for a resource, so every token is for this one unless the client asks.
const RESOURCE = 'urn:tokenconf:api';
const RESOURCE_SCOPES = 'read write';
const USER = 'tokenconf-user-1';

// The strict profile, all of it library options: DPoP nonces required (RFC 9449 §8), JWT access
// tokens for DPoP requests (RFC 9068, so a bound one carries cnf.jkt), every authorization request pushed
// (RFC 9126 §5), PKCE on every code grant (OAuth 2.1 §4.1.1) and response_type code only (OAuth
// 2.1 §10.1), and one client whose tokens must be DPoP-bound.
const STRICT = process.env.OIDC_PROVIDER_PROFILE === 'strict';
if (![undefined, '', 'strict'].includes(process.env.OIDC_PROVIDER_PROFILE)) {
  console.error('oidc-provider launcher: OIDC_PROVIDER_PROFILE is unset or strict');
  process.exit(2);
}

function env(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`oidc-provider launcher: environment variable ${name} is not set`);
    process.exit(1);
  }
  return value;
}

function args() {
  const out = { port: 0, lifetime: 300 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1]);
    if (!['--port', '--lifetime'].includes(argv[i]) || !Number.isFinite(value)) {
      console.error('usage: node server.mjs [--port N] [--lifetime SECONDS]');
      process.exit(2);
    }
    out[argv[i].slice(2)] = value;
  }
  return out;
}

function client(clientId, secret) {
  return {
    client_id: clientId,
    client_secret: secret,
    redirect_uris: [REDIRECT_URI],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    token_endpoint_auth_method: 'client_secret_basic',
    // `admin` is a scope of the server that these clients may not ask for (forbidden_scope).
    scope: `openid offline_access ${RESOURCE_SCOPES}`,
  };
}

function configuration() {
  const signing = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  return {
    clients: [
      client('tokenconf-oidc-client', env('OIDC_PROVIDER_CLIENT_SECRET')),
      client('tokenconf-oidc-second', env('OIDC_PROVIDER_SECOND_CLIENT_SECRET')),
      // RFC 6749 §2.3.1: characters that form-encoding changes, in both id and secret.
      client('tokenconf special:client+1%', env('OIDC_PROVIDER_SPECIAL_CLIENT_SECRET')),
      // A public client (no secret): the library requires PKCE of it and rotates its refresh
      // tokens, or binds them under DPoP. suites/oauth2 does not use it; DPoP cases may.
      {
        ...client('tokenconf-oidc-public'),
        client_secret: undefined,
        grant_types: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_method: 'none',
      },
      // RFC 9449 §5: the library refuses this client's token requests without a proof.
      ...(STRICT
        ? [{ ...client('tokenconf-oidc-dpop', env('OIDC_PROVIDER_DPOP_CLIENT_SECRET')), dpop_bound_access_tokens: true }]
        : []),
    ],
    ...(STRICT ? { responseTypes: ['code'], pkce: { required: () => true } } : {}),
    scopes: ['openid', 'offline_access', 'read', 'write', 'admin'],
    jwks: { keys: [{ ...signing.export({ format: 'jwk' }), alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    findAccount: (_ctx, accountId) => ({ accountId, claims: () => ({ sub: accountId }) }),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // A refresh token whenever the client may use the grant (the library's default also wants
    // offline_access); rotation stays the library's default.
    issueRefreshToken: (_ctx, c) => c.grantTypeAllowed('refresh_token'),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      // For the DPoP and PAR cases (issue 27); a request without a proof or a push is unchanged.
      dPoP: STRICT
        ? { enabled: true, nonceSecret: crypto.randomBytes(32), requireNonce: () => true }
        : { enabled: true },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: STRICT },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => oneOf ?? RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => {
          if (indicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
          // Strict: a token asked for with a DPoP proof is a JWT (RFC 9068), so its binding
          // shows as cnf.jkt (RFC 9449 §6.1). Bearer tokens stay opaque: the library answers
          // 400 unsupported_token_type to introspecting or revoking any JWT access token.
          const jwt = STRICT && ctx.get('DPoP') !== '';
          return { scope: RESOURCE_SCOPES, accessTokenFormat: jwt ? 'jwt' : 'opaque' };
        },
      },
    },
  };
}

// The refresh token the target supplies to "a refresh token from the target refreshes": the
// library's own models, saved as an authorization code redemption would have saved them.
async function seedRefreshToken(provider) {
  const clientId = 'tokenconf-oidc-client';
  const grant = new provider.Grant({ accountId: USER, clientId });
  grant.addResourceScope(RESOURCE, 'read');
  const grantId = await grant.save();
  const token = new provider.RefreshToken({
    jti: env('OIDC_PROVIDER_REFRESH_TOKEN'),
    accountId: USER,
    clientId,
    grantId,
    gty: 'authorization_code',
    scope: 'read',
    resource: RESOURCE,
    iiat: Math.floor(Date.now() / 1000),
    expiresIn: 3600,
  });
  await token.save();
}

// TEST-ONLY (ours): the fixed user signs in and consents to what was asked, at once.
async function interaction(provider, req, res) {
  const { prompt, params, session, grantId } = await provider.interactionDetails(req, res);
  let result;
  if (prompt.name === 'login') {
    result = { login: { accountId: USER } };
  } else {
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

// TEST-ONLY (ours): a browser of the fixed user. Sends the query to the library's /auth, follows
// its redirects within this server (the interaction above) with the cookies it sets, and answers
// with the first answer that is not such a redirect: the library's own redirect to the client,
// or its error page.
async function authorizeAsTestUser(issuer, req, res) {
  const jar = new Map();
  let next = `${issuer}/auth${new URL(req.url, issuer).search}`;
  for (let hop = 0; hop < 10; hop += 1) {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const answer = await fetch(next, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const set of answer.headers.getSetCookie()) {
      const [pair] = set.split(';');
      const at = pair.indexOf('=');
      const [name, value] = [pair.slice(0, at), pair.slice(at + 1)];
      if (value) jar.set(name, value);
      else jar.delete(name);
    }
    const location = answer.headers.get('location');
    const to = location && new URL(location, next);
    if (answer.status >= 300 && answer.status < 400 && to && to.origin === issuer) {
      next = to.href;
      continue;
    }
    const skip = new Set(['set-cookie', 'content-length', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive']);
    const headers = {};
    for (const [name, value] of answer.headers) if (!skip.has(name)) headers[name] = value;
    const body = Buffer.from(await answer.arrayBuffer());
    res.writeHead(answer.status, headers);
    res.end(body);
    return;
  }
  res.writeHead(500, { 'content-type': 'text/plain' });
  res.end('test authorize: too many redirects within the server');
}

async function main() {
  const { port, lifetime } = args();
  const server = http.createServer();
  await new Promise((resolve) => { server.listen(port, '127.0.0.1', resolve); });
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration());
  await seedRefreshToken(provider);
  const callback = provider.callback();
  server.on('request', (req, res) => {
    const { pathname } = new URL(req.url, issuer);
    let ours;
    if (pathname === '/test/authorize') ours = authorizeAsTestUser(issuer, req, res);
    else if (pathname.startsWith('/interaction/')) ours = interaction(provider, req, res);
    else {
      callback(req, res);
      return;
    }
    ours.catch((e) => {
      console.error(`test route ${pathname}: ${e}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('test route failed');
    });
  });
  // Stops by itself, so a test that dies never leaves it running.
  setTimeout(() => process.exit(0), lifetime * 1000).unref();
  console.log(`listening on ${issuer}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
