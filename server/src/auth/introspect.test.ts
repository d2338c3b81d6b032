/**
 * Who may introspect (RFC 7662 §2.1, §2.3; SMART token-introspection): only clients registered as resource
 * servers (`introspect`), with their client credentials (secret or private_key_jwt) or a Bearer token issued
 * to them. A patient app's token, a confidential app that is not a resource server, a backend client that
 * is not one, and anonymous or public callers are refused with 401 and learn nothing about the token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertion,
  assertionFields,
  clientKey,
  obtainCode,
  postForm,
  startAuthServer,
  type AuthTestServer,
  type TestKey,
} from './testing.ts';

const REDIRECT = 'http://127.0.0.1:7401/cb';
let ts: AuthTestServer;
let patientApp: string;
let patientToken: string;
let appConf: { id: string; secret: string };
let rsConf: { id: string; secret: string };
let rsBackend: { id: string; key: TestKey };
let plainBackend: { id: string; key: TestKey };

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function backendToken(c: { id: string; key: TestKey }): Promise<string> {
  const r = await postForm(ts.urls().token, {
    grant_type: 'client_credentials',
    scope: 'system/Patient.rs',
    ...assertionFields(await assertion(c.key, c.id, ts.urls().token)),
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.access_token;
}

function introspect(form: Record<string, string>, headers: Record<string, string> = {}) {
  return postForm(ts.urls().introspect, form, headers);
}

beforeAll(async () => {
  ts = await startAuthServer();
  await ts.seed([{ resourceType: 'Patient', id: 'p1', name: [{ family: 'Lee' }] }]);
  await ts.addUser({ username: 'bo', fhirUser: 'Patient/p1', roles: ['patient'] });
  patientApp = (await ts.addClient({ type: 'public', redirectUris: [REDIRECT] })).clientId;
  const a = await ts.addClient({ type: 'confidential-symmetric', redirectUris: [REDIRECT] });
  appConf = { id: a.clientId, secret: a.secret! };
  // A resource server that only introspects: no redirect URI.
  const rs = await ts.addClient({ type: 'confidential-symmetric', introspect: true });
  rsConf = { id: rs.clientId, secret: rs.secret! };
  const k1 = await clientKey('ES384', 'rs-1');
  rsBackend = {
    key: k1,
    id: (await ts.addClient({ type: 'backend', jwks: { keys: [k1.jwk] }, scopes: 'system/Patient.rs', introspect: true })).clientId,
  };
  const k2 = await clientKey('ES384', 'plain-1');
  plainBackend = { key: k2, id: (await ts.addClient({ type: 'backend', jwks: { keys: [k2.jwk] }, scopes: 'system/Patient.rs' })).clientId };
  const c = await obtainCode(ts, {
    clientId: patientApp,
    redirectUri: REDIRECT,
    scope: 'launch/patient openid fhirUser patient/*.rs',
    person: { username: 'bo' },
  });
  const t = await postForm(ts.urls().token, {
    grant_type: 'authorization_code',
    code: c.code,
    redirect_uri: REDIRECT,
    client_id: patientApp,
    code_verifier: c.verifier,
  });
  patientToken = t.body.access_token;
});
afterAll(async () => {
  await ts?.stop();
});

describe('introspection is for resource servers only', () => {
  it("refuses a patient app's own Bearer token with 401 insufficient_scope, revealing nothing", async () => {
    const r = await introspect({ token: patientToken }, { authorization: `Bearer ${patientToken}` });
    expect(r.status).toBe(401);
    expect(r.body.error).toBe('insufficient_scope');
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+", error="insufficient_scope"$/);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(JSON.stringify(r.body)).not.toMatch(/active|Patient|p1/);
  });

  it('refuses a backend token and client credentials of clients that are not resource servers', async () => {
    const plain = await backendToken(plainBackend);
    const byBearer = await introspect({ token: patientToken }, { authorization: `Bearer ${plain}` });
    expect(byBearer.status).toBe(401);
    expect(byBearer.body.error).toBe('insufficient_scope');
    const byBasic = await introspect({ token: patientToken }, { authorization: basic(appConf.id, appConf.secret) });
    expect(byBasic.status).toBe(401);
    expect(byBasic.body.error).toBe('unauthorized_client');
    expect(byBasic.headers.get('www-authenticate')).toMatch(/^Basic /);
    const byAssertion = await introspect({
      token: patientToken,
      ...assertionFields(await assertion(plainBackend.key, plainBackend.id, ts.urls().token)),
    });
    expect(byAssertion.status).toBe(401);
    expect(byAssertion.body.error).toBe('unauthorized_client');
  });

  it('refuses anonymous and public callers, and invalid credentials', async () => {
    expect((await introspect({ token: patientToken })).body.error).toBe('invalid_client');
    expect((await introspect({ token: patientToken, client_id: patientApp })).status).toBe(401);
    const wrongSecret = await introspect({ token: patientToken }, { authorization: basic(rsConf.id, 'not the secret') });
    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.body.error).toBe('invalid_client');
    const badBearer = await introspect({ token: patientToken }, { authorization: 'Bearer not-a-token' });
    expect(badBearer.status).toBe(401);
    expect(badBearer.body.error).toBe('invalid_token');
  });

  it("answers a resource server's client secret with the token's details", async () => {
    const r = await introspect({ token: patientToken }, { authorization: basic(rsConf.id, rsConf.secret) });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ active: true, client_id: patientApp, patient: 'p1' });
    const unknown = await introspect({ token: 'nope' }, { authorization: basic(rsConf.id, rsConf.secret) });
    expect(unknown.body).toEqual({ active: false });
  });

  it("answers a resource server's private_key_jwt and its Bearer token, for any client's token", async () => {
    const byAssertion = await introspect({
      token: patientToken,
      ...assertionFields(await assertion(rsBackend.key, rsBackend.id, ts.urls().token)),
    });
    expect(byAssertion.status).toBe(200);
    expect(byAssertion.body).toMatchObject({ active: true, client_id: patientApp });
    const own = await backendToken(rsBackend);
    const byBearer = await introspect({ token: patientToken }, { authorization: `Bearer ${own}` });
    expect(byBearer.status).toBe(200);
    expect(byBearer.body).toMatchObject({ active: true, client_id: patientApp });
  });

  it('reads the registration at every call: withdrawing the flag refuses at once, and both outcomes are audited', async () => {
    await ts.server.db.query('UPDATE auth_clients SET introspect = false WHERE tenant = $1 AND client_id = $2', ['default', rsConf.id]);
    const r = await introspect({ token: patientToken }, { authorization: basic(rsConf.id, rsConf.secret) });
    expect(r.status).toBe(401);
    const events = ts.logs.filter((l) => l.event === 'auth.introspect');
    expect(events).toContainEqual(expect.objectContaining({ outcome: 'failure', reason: 'unauthorized_client', client_id: rsConf.id }));
    expect(events).toContainEqual(expect.objectContaining({ outcome: 'success', client_id: rsBackend.id }));
  });
});

describe('registration', () => {
  it('refuses a public resource server and requires a redirect URI from apps that are not resource servers', async () => {
    await expect(ts.addClient({ type: 'public', redirectUris: [REDIRECT], introspect: true })).rejects.toThrow(/public client/);
    await expect(ts.addClient({ type: 'confidential-symmetric' })).rejects.toThrow(/redirect-uri/);
  });
});
