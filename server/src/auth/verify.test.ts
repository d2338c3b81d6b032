/**
 * The bearer-token verifier behind the FHIR API (SMART App Launch 2.2 @94-96, RFC 6750 §3): signature by
 * kid, expiry, `aud` = the tenant's FHIR base, tenant, revocation, removed clients, key rotation, and the
 * Principal it produces.
 */
import type { Request } from 'express';
import { SignJWT, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthServer, type AuthServer } from './auth-server.ts';
import { removeClient } from './clients.ts';
import { signAccessToken, type AccessClaims } from './tokens.ts';
import { obtainCode, postForm, startAuthServer, type AuthTestServer } from './testing.ts';

const REDIRECT = 'http://127.0.0.1:7301/cb';
let ts: AuthTestServer;
let auth: AuthServer;
let clientId: string;

beforeAll(async () => {
  ts = await startAuthServer();
  await ts.seed([
    { resourceType: 'Patient', id: 'p1', name: [{ family: 'Lee' }] },
    { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' } },
  ]);
  await ts.seed([{ resourceType: 'Patient', id: 'p1' }], 'other');
  await ts.addUser({ username: 'bo', fhirUser: 'Patient/p1', roles: ['patient'] });
  clientId = (await ts.addClient({ type: 'public', redirectUris: [REDIRECT] })).clientId;
  // A second view of the same database: its key store reads the keys the server created.
  auth = await createAuthServer({ config: ts.config, db: ts.server.db, resourceTypes: new Set(['Patient']), log: () => {} });
});
afterAll(async () => {
  auth?.close();
  await ts?.stop();
});

async function userToken(client = clientId): Promise<{ access_token: string; refresh_token?: string }> {
  const c = await obtainCode(ts, {
    clientId: client,
    redirectUri: REDIRECT,
    scope: 'launch/patient openid fhirUser offline_access patient/*.rs',
    person: { username: 'bo' },
  });
  const r = await postForm(ts.urls().token, {
    grant_type: 'authorization_code',
    code: c.code,
    redirect_uri: REDIRECT,
    client_id: client,
    code_verifier: c.verifier,
  });
  expect(r.status).toBe(200);
  return r.body;
}

const read = (token: string | undefined, base = ts.urls().fhirBase) =>
  fetch(`${base}/Patient/p1`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

function claimsOf(token: string): AccessClaims {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as AccessClaims;
}

const fakeReq = (token: string) =>
  ({ get: (h: string) => (h.toLowerCase() === 'authorization' ? `Bearer ${token}` : undefined) }) as unknown as Request;

describe('FHIR API with tokens', () => {
  it('no token → 401 with WWW-Authenticate: Bearer', async () => {
    const r = await read(undefined);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  it('a valid token reads; its Principal carries subject, client, fhirUser, scopes, roles, patient and jti', async () => {
    const { access_token } = await userToken();
    expect((await read(access_token)).status).toBe(200);
    const p = await auth.authenticate(fakeReq(access_token), 'default');
    const c = claimsOf(access_token);
    expect(p).toMatchObject({
      tenant: 'default',
      subject: c.sub,
      clientId,
      fhirUser: 'Patient/p1',
      roles: ['patient'],
      patient: 'p1',
      tokenId: c.jti,
      development: false,
      scopes: ['launch/patient', 'openid', 'fhirUser', 'offline_access', 'patient/*.rs'],
    });
  });

  it('garbage, alg none and foreign-key tokens → 401', async () => {
    expect((await read('garbage')).status).toBe(401);
    const good = claimsOf((await userToken()).access_token);
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    expect((await read(`${enc({ alg: 'none', typ: 'at+jwt' })}.${enc(good)}.`)).status).toBe(401);
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT(good).setProtectedHeader({ alg: 'RS256', kid: 'attacker', typ: 'at+jwt' }).sign(privateKey);
    expect((await read(forged)).status).toBe(401);
    const { kid } = await auth.deps.keys.signingKey();
    const sameKid = await new SignJWT(good).setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt' }).sign(privateKey);
    expect((await read(sameKid)).status).toBe(401);
  });

  it('an expired token → 401', async () => {
    const c = claimsOf((await userToken()).access_token);
    const { token } = await signAccessToken(auth.deps.keys, {
      issuer: c.iss,
      tenant: 'default',
      subject: c.sub,
      clientId,
      scope: c.scope,
      grantId: c.grant,
      context: { patient: 'p1' },
      ttl: -60,
    });
    expect((await read(token)).status).toBe(401);
  });

  it("a token for one tenant is refused at another tenant's base (aud)", async () => {
    const { access_token } = await userToken();
    expect((await read(access_token, ts.urls('other').fhirBase)).status).toBe(401);
    expect(await auth.authenticate(fakeReq(access_token), 'other')).toBeUndefined();
  });

  it('a revoked grant → 401 at once', async () => {
    const t = await userToken();
    expect((await read(t.access_token)).status).toBe(200);
    await postForm(ts.urls().revoke, { token: t.access_token, client_id: clientId });
    expect((await read(t.access_token)).status).toBe(401);
  });

  it('removing the client ends its tokens', async () => {
    const c2 = (await ts.addClient({ type: 'public', redirectUris: [REDIRECT] })).clientId;
    const t = await userToken(c2);
    expect((await read(t.access_token)).status).toBe(200);
    await removeClient(ts.server.db, 'default', c2);
    expect((await read(t.access_token)).status).toBe(401);
  });
});

describe('key rotation', () => {
  it('signs with the new kid, keeps old kids in the JWKS and valid until their tokens expire', async () => {
    const before = await userToken();
    const oldKid = JSON.parse(Buffer.from(before.access_token.split('.')[0], 'base64url').toString()).kid as string;
    const newKid = await auth.deps.keys.rotate();
    expect(newKid).not.toBe(oldKid);
    const jwks = (await (await fetch(ts.urls().jwks)).json()) as { keys: { kid: string }[] };
    // The server's own key store picks up the rotation on its reload (at most a minute) or an unknown kid.
    expect(jwks.keys.map((k) => k.kid)).toContain(oldKid);
    expect((await read(before.access_token)).status).toBe(200);
    const { token } = await signAccessToken(auth.deps.keys, {
      issuer: ts.urls().fhirBase,
      tenant: 'default',
      subject: claimsOf(before.access_token).sub,
      clientId,
      scope: 'patient/*.rs',
      grantId: claimsOf(before.access_token).grant,
      context: { patient: 'p1', fhirUser: 'Patient/p1' },
      ttl: 60,
    });
    expect(JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).kid).toBe(newKid);
    expect((await read(token)).status).toBe(200);
    const after = (await (await fetch(ts.urls().jwks)).json()) as { keys: { kid: string }[] };
    expect(after.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
    // Once the retired key's grace period is over, it leaves the JWKS and its tokens stop verifying.
    await ts.server.db.query("UPDATE auth_signing_keys SET expires_at = now() - interval '1 second' WHERE kid = $1", [oldKid]);
    const fresh = await createAuthServer({ config: ts.config, db: ts.server.db, resourceTypes: new Set(['Patient']), log: () => {} });
    try {
      expect(await fresh.authenticate(fakeReq(before.access_token), 'default')).toBeUndefined();
      expect(await fresh.authenticate(fakeReq(token), 'default')).toBeDefined();
      expect((await fresh.deps.keys.jwks()).keys.map((k) => k.kid)).not.toContain(oldKid);
    } finally {
      fresh.close();
    }
  });
});
