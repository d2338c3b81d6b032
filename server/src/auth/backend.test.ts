/**
 * SMART Backend Services (client_credentials with private_key_jwt) driven by oauth4webapi, with RS384
 * keys registered by value and ES384 keys registered by URL (served from a local http server, cached per
 * its Cache-Control, refetched when the client rotates its key).
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientKey, serveJwks, smartAssertion, startAuthServer, type AuthTestServer, type JwksHost, type TestKey } from './testing.ts';

const insecure = { [oauth.allowInsecureRequests]: true } as const;

let ts: AuthTestServer;
let as: oauth.AuthorizationServer;
let rsKey: TestKey;
let ecKey: TestKey;
let jwksHost: JwksHost;
let rsClient: oauth.Client;
let ecClient: oauth.Client;
/** A backend client registered as a resource server (`introspect`): its tokens may introspect others'. */
let gateway: { client: oauth.Client; key: TestKey };

beforeAll(async () => {
  // The JWKS host runs on loopback: remote JWKS go through the outbound guard, which calls it only when allowed.
  ts = await startAuthServer({ HAVEN_OUTBOUND_ALLOW: '127.0.0.1' });
  await ts.seed([{ resourceType: 'Patient', id: 'p1', name: [{ family: 'Lee' }] }]);
  rsKey = await clientKey('RS384', 'rs-1');
  ecKey = await clientKey('ES384', 'ec-1');
  jwksHost = await serveJwks([ecKey.jwk]);
  rsClient = {
    client_id: (await ts.addClient({ type: 'backend', jwks: { keys: [rsKey.jwk] }, scopes: 'system/Patient.rs system/Observation.rs' }))
      .clientId,
  };
  ecClient = { client_id: (await ts.addClient({ type: 'backend', jwksUrl: jwksHost.url, scopes: 'system/*.rs' })).clientId };
  const gwKey = await clientKey('ES384', 'gw-1');
  gateway = {
    key: gwKey,
    client: {
      client_id: (await ts.addClient({ type: 'backend', jwks: { keys: [gwKey.jwk] }, scopes: 'system/Patient.rs', introspect: true }))
        .clientId,
    },
  };
  as = (await ts.req('/fhir/.well-known/smart-configuration')).body as oauth.AuthorizationServer;
});
afterAll(async () => {
  await ts?.stop();
  await jwksHost?.close();
});

async function backendToken(
  client: oauth.Client,
  key: TestKey,
  scope: string,
): Promise<{ tokens: oauth.TokenEndpointResponse; headers: Headers }> {
  const res = await oauth.clientCredentialsGrantRequest(as, client, smartAssertion(as, key), { scope }, insecure);
  return { headers: res.headers, tokens: await oauth.processClientCredentialsResponse(as, client, res) };
}

describe('backend services', () => {
  it('issues a short-lived token for an RS384 assertion (JWKS by value), without refresh token', async () => {
    const { tokens, headers } = await backendToken(rsClient, rsKey, 'system/Patient.rs');
    expect(headers.get('cache-control')).toBe('no-store');
    expect(headers.get('pragma')).toBe('no-cache');
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.expires_in).toBeLessThanOrEqual(300);
    expect(tokens.scope).toBe('system/Patient.rs');
    expect(tokens.refresh_token).toBeUndefined();
    const read = await fetch(`${as.issuer}/Patient/p1`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(read.status).toBe(200);
    // Introspection with a resource server's own backend token (SMART token-introspection: a Backend
    // Services Bearer token); the client that holds the token is not one, so it may not.
    const { tokens: gwTokens } = await backendToken(gateway.client, gateway.key, 'system/Patient.rs');
    const introspect = (bearer: string) =>
      fetch(as.introspection_endpoint!, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}` },
        body: new URLSearchParams({ token: tokens.access_token }),
      });
    const info = await (await introspect(gwTokens.access_token)).json();
    expect(info).toMatchObject({ active: true, client_id: rsClient.client_id, scope: 'system/Patient.rs', sub: rsClient.client_id });
    expect((await introspect(tokens.access_token)).status).toBe(401);
  });

  it('issues a token for an ES384 assertion (JWKS by URL), caching the JWKS per Cache-Control', async () => {
    const before = jwksHost.hits;
    await backendToken(ecClient, ecKey, 'system/Patient.rs system/Observation.rs');
    await backendToken(ecClient, ecKey, 'system/*.rs');
    expect(jwksHost.hits - before).toBe(1);
  });

  it('refetches the JWKS when the client rotates to a kid not yet cached', async () => {
    const next = await clientKey('ES384', 'ec-2');
    jwksHost.keys = [ecKey.jwk, next.jwk];
    // Within the refetch cooldown, the cached set (without ec-2) answers: the unknown kid fails.
    await expect(backendToken(ecClient, next, 'system/*.rs')).rejects.toMatchObject({ error: 'invalid_client' });
    await new Promise((r) => setTimeout(r, 10_500));
    const before = jwksHost.hits;
    const { tokens } = await backendToken(ecClient, next, 'system/*.rs');
    expect(tokens.access_token).toBeTruthy();
    expect(jwksHost.hits - before).toBe(1);
  }, 30_000);

  it('does not cache a JWKS served with no-store', async () => {
    const host = await serveJwks([ecKey.jwk], 'no-store');
    try {
      const c = { client_id: (await ts.addClient({ type: 'backend', jwksUrl: host.url, scopes: 'system/*.rs' })).clientId };
      await backendToken(c, ecKey, 'system/*.rs');
      await backendToken(c, ecKey, 'system/*.rs');
      expect(host.hits).toBe(2);
    } finally {
      await host.close();
    }
  });
});
