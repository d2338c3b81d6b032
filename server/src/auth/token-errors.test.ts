/**
 * The token endpoint's side of the error matrix (reference §1.12; RFC 6749 §5.2, RFC 7636 §4.6, RFC 7523
 * §3, SMART client-confidential-asymmetric): one test per situation, each checking the OAuth error, the
 * status, that no token was issued, and that nothing secret reached the log.
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

const REDIRECT = 'http://127.0.0.1:7201/cb';
let ts: AuthTestServer;
let pub: string;
let conf: { clientId: string; secret: string };
let backend: string;
let key: TestKey;
let otherKey: TestKey;
let tokenUrl: string;

beforeAll(async () => {
  ts = await startAuthServer();
  await ts.seed([{ resourceType: 'Patient', id: 'p1', name: [{ family: 'Lee' }] }]);
  await ts.addUser({ username: 'bo', fhirUser: 'Patient/p1', roles: ['patient'] });
  pub = (await ts.addClient({ type: 'public', redirectUris: [REDIRECT] })).clientId;
  const c = await ts.addClient({ type: 'confidential-symmetric', redirectUris: [REDIRECT] });
  conf = { clientId: c.clientId, secret: c.secret! };
  key = await clientKey('RS384', 'k1');
  otherKey = await clientKey('RS384', 'k1');
  backend = (await ts.addClient({ type: 'backend', jwks: { keys: [key.jwk] }, scopes: 'system/Patient.rs' })).clientId;
  tokenUrl = ts.urls().token;
});
afterAll(async () => {
  await ts?.stop();
});

type Reply = Awaited<ReturnType<typeof postForm>>;

/** Checks an RFC 6749 §5.2 error: status, code, JSON, no-store, and no token. */
function expectOAuthError(r: Reply, status: number, error: string): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body.error).toBe(error);
  expect(typeof r.body.error_description).toBe('string');
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  expect(r.headers.get('cache-control')).toBe('no-store');
  expect(r.headers.get('pragma')).toBe('no-cache');
  expect(r.body.access_token).toBeUndefined();
}

const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });
const code = () =>
  obtainCode(ts, { clientId: pub, redirectUri: REDIRECT, scope: 'launch/patient patient/*.rs', person: { username: 'bo' } });
const exchange = (c: { code: string; verifier: string }, extra: Record<string, string> = {}) =>
  postForm(tokenUrl, {
    grant_type: 'authorization_code',
    code: c.code,
    redirect_uri: REDIRECT,
    client_id: pub,
    code_verifier: c.verifier,
    ...extra,
  });
const backendRequest = async (
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
  k = key,
  scope = 'system/Patient.rs',
) =>
  postForm(tokenUrl, {
    grant_type: 'client_credentials',
    scope,
    ...assertionFields(await assertion(k, backend, tokenUrl, claims, header)),
  });

describe('grant and request errors', () => {
  it('grant_type=not_a_grant_type → 400 unsupported_grant_type', async () => {
    expectOAuthError(
      await postForm(tokenUrl, { grant_type: 'not_a_grant_type', ...assertionFields(await assertion(key, backend, tokenUrl)) }),
      400,
      'unsupported_grant_type',
    );
  });
  it('missing grant_type → 400 invalid_request', async () =>
    expectOAuthError(await postForm(tokenUrl, { client_id: pub }), 400, 'invalid_request'));
  it('a JSON body → 400 invalid_request', async () => {
    const r = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'authorization_code' }),
    });
    expectOAuthError({ status: r.status, headers: r.headers, body: await r.json() }, 400, 'invalid_request');
  });
  it('a repeated parameter → 400 invalid_request', async () => {
    const r = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=authorization_code&code=a&code=b&client_id=${pub}`,
    });
    expectOAuthError({ status: r.status, headers: r.headers, body: await r.json() }, 400, 'invalid_request');
  });
  it('an oversized body → 413 invalid_request', async () => {
    expectOAuthError(await postForm(tokenUrl, { grant_type: 'authorization_code', pad: 'x'.repeat(70 * 1024) }), 413, 'invalid_request');
  });
  it('GET → 405 invalid_request', async () => {
    const r = await fetch(tokenUrl);
    expect(r.status).toBe(405);
    expect((await r.json()).error).toBe('invalid_request');
  });
  it('two client authentication methods → 400 invalid_request', async () => {
    expectOAuthError(
      await postForm(
        tokenUrl,
        { grant_type: 'client_credentials', client_secret: 'x', client_id: conf.clientId },
        basic(conf.clientId, conf.secret),
      ),
      400,
      'invalid_request',
    );
  });
});

describe('authorization code', () => {
  it('unknown code → 400 invalid_grant', async () =>
    expectOAuthError(await exchange({ code: 'bogus', verifier: 'v'.repeat(43) }), 400, 'invalid_grant'));
  it('expired code → 400 invalid_grant', async () => {
    const c = await code();
    await ts.server.db.query("UPDATE auth_codes SET expires_at = now() - interval '1 second'");
    expectOAuthError(await exchange(c), 400, 'invalid_grant');
  });
  it('reused code → 400 invalid_grant, and tokens from the first use are revoked', async () => {
    const c = await code();
    const first = await exchange(c);
    expect(first.status).toBe(200);
    const read = () => fetch(`${ts.urls().fhirBase}/Patient/p1`, { headers: { authorization: `Bearer ${first.body.access_token}` } });
    expect((await read()).status).toBe(200);
    expectOAuthError(await exchange(c), 400, 'invalid_grant');
    expect((await read()).status).toBe(401);
  });
  it('redirect_uri mismatch → 400 invalid_grant', async () =>
    expectOAuthError(await exchange(await code(), { redirect_uri: `${REDIRECT}x` }), 400, 'invalid_grant'));
  it('code of another client → 400 invalid_grant', async () => {
    const c = await code();
    expectOAuthError(
      await postForm(
        tokenUrl,
        { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT, code_verifier: c.verifier },
        basic(conf.clientId, conf.secret),
      ),
      400,
      'invalid_grant',
    );
  });
  it('PKCE: missing code_verifier → 400 invalid_grant', async () => {
    const c = await code();
    expectOAuthError(
      await postForm(tokenUrl, { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT, client_id: pub }),
      400,
      'invalid_grant',
    );
  });
  it('PKCE: blank code_verifier → 400 invalid_grant', async () =>
    expectOAuthError(await exchange({ ...(await code()), verifier: '' }), 400, 'invalid_grant'));
  it('PKCE: wrong code_verifier → 400 invalid_grant', async () =>
    expectOAuthError(await exchange({ ...(await code()), verifier: 'w'.repeat(64) }), 400, 'invalid_grant'));
  it('PKCE: code_verifier equal to the challenge → 400 invalid_grant', async () => {
    const c = await code();
    expectOAuthError(await exchange({ code: c.code, verifier: c.challenge }), 400, 'invalid_grant');
  });
  it('a backend client cannot exchange a code → 400 unauthorized_client', async () => {
    expectOAuthError(
      await postForm(tokenUrl, {
        grant_type: 'authorization_code',
        code: 'x',
        redirect_uri: REDIRECT,
        code_verifier: 'v'.repeat(43),
        ...assertionFields(await assertion(key, backend, tokenUrl)),
      }),
      400,
      'unauthorized_client',
    );
  });
});

describe('client authentication', () => {
  it('wrong client secret → 401 invalid_client with WWW-Authenticate: Basic', async () => {
    const c = await obtainCode(ts, {
      clientId: conf.clientId,
      redirectUri: REDIRECT,
      scope: 'launch/patient patient/*.rs',
      person: { username: 'bo' },
    });
    const r = await postForm(
      tokenUrl,
      { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT, code_verifier: c.verifier },
      basic(conf.clientId, 'wrong-secret'),
    );
    expectOAuthError(r, 401, 'invalid_client');
    expect(r.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    // The code was not consumed by the failed attempt: the right secret still works.
    expect(
      (
        await postForm(
          tokenUrl,
          { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT, code_verifier: c.verifier },
          basic(conf.clientId, conf.secret),
        )
      ).status,
    ).toBe(200);
  });
  it('wrong client_secret in the body → 401 invalid_client', async () => {
    expectOAuthError(
      await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: 'x', client_id: conf.clientId, client_secret: 'nope' }),
      401,
      'invalid_client',
    );
  });
  it('a confidential client presenting only client_id → 401 invalid_client', async () => {
    expectOAuthError(
      await postForm(tokenUrl, {
        grant_type: 'authorization_code',
        code: 'x',
        redirect_uri: REDIRECT,
        code_verifier: 'v'.repeat(43),
        client_id: conf.clientId,
      }),
      401,
      'invalid_client',
    );
  });
  it('unknown client_id → 401 invalid_client', async () => {
    expectOAuthError(
      await postForm(tokenUrl, {
        grant_type: 'authorization_code',
        code: 'x',
        redirect_uri: REDIRECT,
        code_verifier: 'v'.repeat(43),
        client_id: 'nobody',
      }),
      401,
      'invalid_client',
    );
  });
  it('bad client_assertion_type → 401 invalid_client', async () => {
    expectOAuthError(
      await postForm(tokenUrl, {
        grant_type: 'client_credentials',
        scope: 'system/Patient.rs',
        client_assertion_type: 'urn:bogus',
        client_assertion: await assertion(key, backend, tokenUrl),
      }),
      401,
      'invalid_client',
    );
  });
});

describe('client assertions (private_key_jwt)', () => {
  it('a valid assertion works (control)', async () => expect((await backendRequest()).status).toBe(200));
  it('expired → 401', async () =>
    expectOAuthError(await backendRequest({ exp: Math.floor(Date.now() / 1000) - 120 }), 401, 'invalid_client'));
  it('exp more than 5 minutes ahead → 401', async () =>
    expectOAuthError(await backendRequest({ exp: Math.floor(Date.now() / 1000) + 600 }), 401, 'invalid_client'));
  it('exp exactly 5 minutes ahead is accepted', async () =>
    expect((await backendRequest({ exp: Math.floor(Date.now() / 1000) + 300 })).status).toBe(200));
  it('replayed jti → 401', async () => {
    const jwt = await assertion(key, backend, tokenUrl, { jti: 'once-only' });
    expect(
      (await postForm(tokenUrl, { grant_type: 'client_credentials', scope: 'system/Patient.rs', ...assertionFields(jwt) })).status,
    ).toBe(200);
    expectOAuthError(
      await postForm(tokenUrl, { grant_type: 'client_credentials', scope: 'system/Patient.rs', ...assertionFields(jwt) }),
      401,
      'invalid_client',
    );
  });
  it('missing jti → 401', async () => expectOAuthError(await backendRequest({ jti: undefined }), 401, 'invalid_client'));
  it('wrong aud → 401', async () => expectOAuthError(await backendRequest({ aud: ts.urls().fhirBase }), 401, 'invalid_client'));
  it('iss ≠ sub → 401', async () => expectOAuthError(await backendRequest({ sub: 'someone-else' }), 401, 'invalid_client'));
  it('unknown client (iss) → 401', async () =>
    expectOAuthError(await backendRequest({ iss: 'ghost', sub: 'ghost' }), 401, 'invalid_client'));
  it('unknown kid → 401', async () => expectOAuthError(await backendRequest({}, { kid: 'not-registered' }), 401, 'invalid_client'));
  it('signed by another key (same kid) → 401', async () => expectOAuthError(await backendRequest({}, {}, otherKey), 401, 'invalid_client'));
  it('jku not the registered JWKS URL → 401', async () =>
    expectOAuthError(await backendRequest({}, { jku: 'https://attacker.example/jwks' }), 401, 'invalid_client'));
  it('typ missing → 401', async () => expectOAuthError(await backendRequest({}, { typ: undefined }), 401, 'invalid_client'));
  it('alg HS256 → 401', async () => {
    const { SignJWT } = await import('jose');
    const jwt = await new SignJWT({ iss: backend, sub: backend, aud: tokenUrl, jti: 'h1', exp: Math.floor(Date.now() / 1000) + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: 'k1', typ: 'JWT' })
      .sign(new TextEncoder().encode('a'.repeat(32)));
    expectOAuthError(
      await postForm(tokenUrl, { grant_type: 'client_credentials', scope: 'system/Patient.rs', ...assertionFields(jwt) }),
      401,
      'invalid_client',
    );
  });
  it('alg none → 401', async () => {
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const jwt = `${enc({ alg: 'none', kid: 'k1', typ: 'JWT' })}.${enc({ iss: backend, sub: backend, aud: tokenUrl, jti: 'n1', exp: Math.floor(Date.now() / 1000) + 60 })}.`;
    expectOAuthError(
      await postForm(tokenUrl, { grant_type: 'client_credentials', scope: 'system/Patient.rs', ...assertionFields(jwt) }),
      401,
      'invalid_client',
    );
  });
  it('garbage assertion → 401', async () => {
    expectOAuthError(
      await postForm(tokenUrl, { grant_type: 'client_credentials', scope: 'system/Patient.rs', ...assertionFields('not.a.jwt') }),
      401,
      'invalid_client',
    );
  });
});

describe('scopes and grant types', () => {
  it('backend scope beyond its pre-authorization → 400 invalid_scope', async () =>
    expectOAuthError(await backendRequest({}, {}, key, 'system/Observation.rs'), 400, 'invalid_scope'));
  it('backend asking for a patient/ scope → 400 invalid_scope', async () =>
    expectOAuthError(await backendRequest({}, {}, key, 'patient/Patient.rs'), 400, 'invalid_scope'));
  it('backend without scope → 400 invalid_scope', async () =>
    expectOAuthError(await backendRequest({}, {}, key, ''), 400, 'invalid_scope'));
  it('public client tries client_credentials → 400 unauthorized_client', async () => {
    expectOAuthError(
      await postForm(tokenUrl, { grant_type: 'client_credentials', scope: 'system/Patient.rs', client_id: pub }),
      400,
      'unauthorized_client',
    );
  });
  it('symmetric client tries client_credentials → 400 unauthorized_client', async () => {
    expectOAuthError(
      await postForm(tokenUrl, { grant_type: 'client_credentials', scope: 'system/Patient.rs' }, basic(conf.clientId, conf.secret)),
      400,
      'unauthorized_client',
    );
  });
});

describe('refresh tokens', () => {
  async function refreshable(): Promise<string> {
    const c = await obtainCode(ts, {
      clientId: pub,
      redirectUri: REDIRECT,
      scope: 'launch/patient offline_access patient/*.rs',
      person: { username: 'bo' },
    });
    return (await exchange(c)).body.refresh_token as string;
  }
  it('invalid refresh token → 400 invalid_grant', async () => {
    expectOAuthError(
      await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: crypto.randomUUID(), client_id: pub }),
      400,
      'invalid_grant',
    );
  });
  it('refresh token of another client → 400 invalid_grant', async () => {
    expectOAuthError(
      await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: await refreshable() }, basic(conf.clientId, conf.secret)),
      400,
      'invalid_grant',
    );
  });
  it('revoked refresh token → 400 invalid_grant', async () => {
    const rt = await refreshable();
    expect((await postForm(ts.urls().revoke, { token: rt, client_id: pub })).status).toBe(200);
    expectOAuthError(await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: rt, client_id: pub }), 400, 'invalid_grant');
  });
  it('wider scope than the original grant → 400 invalid_scope', async () => {
    expectOAuthError(
      await postForm(tokenUrl, {
        grant_type: 'refresh_token',
        refresh_token: await refreshable(),
        client_id: pub,
        scope: 'patient/*.cruds',
      }),
      400,
      'invalid_scope',
    );
  });
  it('missing refresh_token → 400 invalid_request', async () =>
    expectOAuthError(await postForm(tokenUrl, { grant_type: 'refresh_token', client_id: pub }), 400, 'invalid_request'));
});

describe('logs', () => {
  it('records refusals without any secret, assertion, code or token', () => {
    const refused = ts.logs.filter((l) => l.event === 'auth.token.refused');
    expect(refused.length).toBeGreaterThan(20);
    const text = JSON.stringify(ts.logs);
    expect(text).not.toContain(conf.secret);
    expect(text).not.toContain('wrong-secret');
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
    expect(text).not.toContain('correct horse');
  });
});
