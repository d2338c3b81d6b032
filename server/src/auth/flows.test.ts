/**
 * Full SMART flows driven headlessly with the independent client oauth4webapi (reference §4.4): EHR launch
 * (POST /auth/launch by a clinician's launcher token), standalone launch (patient picker; a patient user
 * gets themself), authorize by POST, refresh with rotation, a confidential symmetric client, introspection,
 * revocation and userinfo. The browser is fetch with manual redirects filling Haven's HTML forms.
 */
import { createLocalJWKSet, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Browser,
  authorizeInBrowser,
  authorizeUrl,
  clientKey,
  smartAssertion,
  startAuthServer,
  type AuthTestServer,
  type PersonActions,
  type TestKey,
} from './testing.ts';

const insecure = { [oauth.allowInsecureRequests]: true } as const;
const APP_REDIRECT = 'http://127.0.0.1:7001/cb';
const APP_LAUNCH = 'http://127.0.0.1:7001/launch';
const LAUNCHER_REDIRECT = 'http://127.0.0.1:7002/cb';

let ts: AuthTestServer;
let as: oauth.AuthorizationServer;
let app: oauth.Client;
let conf: { client: oauth.Client; secret: string };
/** A resource server (registered with `introspect`): the only kind of client that may introspect. */
let rs: { client: oauth.Client; secret: string };
let launcher: oauth.Client;
let asym: { client: oauth.Client; key: TestKey };

beforeAll(async () => {
  ts = await startAuthServer();
  await ts.seed([
    { resourceType: 'Patient', id: 'p1', name: [{ given: ['Ann'], family: 'Lee' }], birthDate: '1980-02-03' },
    { resourceType: 'Patient', id: 'p2', name: [{ given: ['Bo'], family: 'Diaz' }] },
    { resourceType: 'Practitioner', id: 'dr1', name: [{ family: 'Who' }] },
    { resourceType: 'Encounter', id: 'e1', status: 'in-progress', class: { code: 'AMB' }, subject: { reference: 'Patient/p1' } },
  ]);
  await ts.addUser({ username: 'drwho', fhirUser: 'Practitioner/dr1', roles: ['clinician'] });
  await ts.addUser({ username: 'bo', fhirUser: 'Patient/p2', roles: ['patient'] });
  app = {
    client_id: (await ts.addClient({ type: 'public', name: 'Test app', redirectUris: [APP_REDIRECT], launchUri: APP_LAUNCH })).clientId,
    token_endpoint_auth_method: 'none',
  };
  launcher = {
    client_id: (await ts.addClient({ type: 'public', redirectUris: [LAUNCHER_REDIRECT], scopes: 'openid fhirUser __haven_launch' }))
      .clientId,
  };
  const c = await ts.addClient({ type: 'confidential-symmetric', redirectUris: [APP_REDIRECT] });
  conf = { client: { client_id: c.clientId }, secret: c.secret! };
  const r = await ts.addClient({ type: 'confidential-symmetric', introspect: true });
  rs = { client: { client_id: r.clientId }, secret: r.secret! };
  const key = await clientKey('ES384', 'asym-1');
  asym = {
    key,
    client: {
      client_id: (await ts.addClient({ type: 'confidential-asymmetric', redirectUris: [APP_REDIRECT], jwks: { keys: [key.jwk] } }))
        .clientId,
    },
  };
  as = (await ts.req('/fhir/.well-known/smart-configuration')).body as oauth.AuthorizationServer;
});
afterAll(async () => {
  await ts?.stop();
});

interface Got {
  tokens: oauth.TokenEndpointResponse;
  headers: Headers;
}

/** Authorization code flow for `client` as a browser + oauth4webapi app would run it. */
async function codeFlow(
  client: oauth.Client,
  auth: oauth.ClientAuth,
  redirectUri: string,
  scope: string,
  person: PersonActions,
  extra: Record<string, string> = {},
  post = false,
): Promise<Got> {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = `st ${oauth.generateRandomState()}+/=&%`;
  const params = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: redirectUri,
    scope,
    state,
    aud: as.issuer,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  };
  const browser = new Browser();
  const back = post
    ? await authorizeInBrowser(browser, as.authorization_endpoint!, person, {
        method: 'POST',
        body: new URLSearchParams(params),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      })
    : await authorizeInBrowser(browser, authorizeUrl(ts.urls(), params), person);
  expect(back.searchParams.get('state')).toBe(state);
  const cb = oauth.validateAuthResponse(as, client, back, state);
  const res = await oauth.authorizationCodeGrantRequest(as, client, auth, cb, redirectUri, verifier, insecure);
  const headers = res.headers;
  return { tokens: await oauth.processAuthorizationCodeResponse(as, client, res), headers };
}

async function fhirGet(path: string, token: string): Promise<{ status: number; body: any }> {
  const r = await fetch(`${as.issuer}/${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, body: await r.json().catch(() => undefined) };
}

async function verifyIdToken(idToken: string): Promise<Record<string, unknown>> {
  const jwks = (await (await fetch(as.jwks_uri!)).json()) as { keys: [] };
  const { payload, protectedHeader } = await jwtVerify(idToken, createLocalJWKSet(jwks), { issuer: as.issuer });
  expect(protectedHeader.alg).toBe('RS256');
  return payload;
}

async function launcherToken(): Promise<string> {
  const { tokens } = await codeFlow(launcher, oauth.None(), LAUNCHER_REDIRECT, 'openid fhirUser __haven_launch', { username: 'drwho' });
  expect(tokens.scope).toContain('__haven_launch');
  return tokens.access_token;
}

describe('EHR launch', () => {
  it('launches from POST /auth/launch and returns the launch context in the token response', async () => {
    const bearer = await launcherToken();
    const created = await ts.req(new URL(ts.urls().launch).pathname, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: app.client_id,
        patient: 'p1',
        encounter: 'e1',
        need_patient_banner: false,
        fhirContext: [{ reference: 'Practitioner/dr1', role: 'https://example.org/author' }],
      }),
    });
    expect(created.status).toBe(201);
    const url = new URL(created.body.url);
    expect(`${url.origin}${url.pathname}`).toBe(APP_LAUNCH);
    expect(url.searchParams.get('iss')).toBe(as.issuer);
    expect(created.body.url).toContain(`iss=${encodeURIComponent(as.issuer)}`);
    const launch = url.searchParams.get('launch')!;
    expect(launch).toBe(created.body.launch);

    const scope = 'launch openid fhirUser online_access patient/*.rs user/*.rs';
    const { tokens, headers } = await codeFlow(app, oauth.None(), APP_REDIRECT, scope, { username: 'drwho' }, { launch });
    expect(headers.get('cache-control')).toBe('no-store');
    expect(headers.get('pragma')).toBe('no-cache');
    expect(tokens.token_type).toBe('bearer');
    expect(typeof tokens.expires_in).toBe('number');
    expect(tokens.scope).toBe(scope);
    expect(tokens.patient).toBe('p1');
    expect(tokens.encounter).toBe('e1');
    expect(tokens.need_patient_banner).toBe(false);
    expect(tokens.fhirContext).toEqual([{ reference: 'Practitioner/dr1', role: 'https://example.org/author' }]);
    expect(typeof tokens.refresh_token).toBe('string');
    const style = await fetch(tokens.smart_style_url as string);
    expect(style.status).toBe(200);
    expect(await style.json()).toHaveProperty('color_background');
    const claims = await verifyIdToken(tokens.id_token!);
    expect(claims.fhirUser).toBe(`${as.issuer}/Practitioner/dr1`);
    expect(claims.aud).toBe(app.client_id);
    expect((await fhirGet('Patient/p1', tokens.access_token)).status).toBe(200);
    // The launch id is single-use.
    const again = new Browser();
    const back = await authorizeInBrowser(
      again,
      authorizeUrl(ts.urls(), {
        response_type: 'code',
        client_id: app.client_id,
        redirect_uri: APP_REDIRECT,
        scope,
        state: 's',
        aud: as.issuer,
        launch,
        code_challenge: 'a'.repeat(43),
        code_challenge_method: 'S256',
      }),
      { username: 'drwho' },
    );
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(ts.logs.some((l) => l.event === 'auth.launch.created')).toBe(true);
  });

  it('refuses POST /auth/launch without a launcher token, for a patient user, or without the launch scope', async () => {
    const path = new URL(ts.urls().launch).pathname;
    const body = JSON.stringify({ client_id: app.client_id, patient: 'p1' });
    const none = await ts.req(path, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const { tokens } = await codeFlow(app, oauth.None(), APP_REDIRECT, 'openid fhirUser patient/*.rs', {
      username: 'drwho',
      patient: 'p1',
    });
    const noScope = await ts.req(path, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.access_token}` },
    });
    expect(noScope.status).toBe(403);
    const bad = await ts.req(path, {
      method: 'POST',
      body: JSON.stringify({ client_id: app.client_id, patient: 'nope' }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await launcherToken()}` },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_request');
  });
});

describe('standalone launch', () => {
  it('a clinician picks the patient; the token carries it and the banner flag', async () => {
    const { tokens } = await codeFlow(app, oauth.None(), APP_REDIRECT, 'launch/patient openid fhirUser offline_access patient/*.rs', {
      username: 'drwho',
      patient: 'p2',
    });
    expect(tokens.patient).toBe('p2');
    expect(tokens.need_patient_banner).toBe(true);
    expect(tokens.encounter).toBeUndefined();
    expect(typeof tokens.refresh_token).toBe('string');
    expect(oauth.getValidatedIdTokenClaims(tokens)?.fhirUser).toBe(`${as.issuer}/Practitioner/dr1`);
  });

  it('a patient user gets themself without a picker', async () => {
    const { tokens } = await codeFlow(app, oauth.None(), APP_REDIRECT, 'launch/patient openid fhirUser patient/*.read', {
      username: 'bo',
      patient: 'p1',
    });
    expect(tokens.patient).toBe('p2');
    expect(tokens.scope).toBe('launch/patient openid fhirUser patient/*.read');
    expect(tokens.refresh_token).toBeUndefined();
  });

  it('works with the authorization request sent by POST (authorize-post)', async () => {
    const { tokens } = await codeFlow(app, oauth.None(), APP_REDIRECT, 'launch/patient patient/*.rs', { username: 'bo' }, {}, true);
    expect(tokens.patient).toBe('p2');
  });

  it('grants only the scopes left ticked on the consent form', async () => {
    const { tokens } = await codeFlow(
      app,
      oauth.None(),
      APP_REDIRECT,
      'launch/patient openid fhirUser patient/Observation.rs patient/Condition.rs',
      { username: 'bo', consent: ['launch/patient', 'patient/Observation.rs'] },
    );
    expect(tokens.scope).toBe('launch/patient patient/Observation.rs');
    expect(tokens.id_token).toBeUndefined();
  });
});

describe('refresh', () => {
  it('rotates; accepts no scope, the identical scope string and a subset; refuses a wider scope', async () => {
    const scope = 'launch/patient openid fhirUser offline_access patient/*.rs';
    const { tokens } = await codeFlow(app, oauth.None(), APP_REDIRECT, scope, { username: 'bo' });
    const r1 = await oauth.refreshTokenGrantRequest(as, app, oauth.None(), tokens.refresh_token!, insecure);
    expect(r1.headers.get('cache-control')).toBe('no-store');
    expect(r1.headers.get('pragma')).toBe('no-cache');
    const t1 = await oauth.processRefreshTokenResponse(as, app, r1);
    expect(t1.scope).toBe(scope);
    expect(t1.refresh_token).not.toBe(tokens.refresh_token);
    expect(t1.patient).toBe('p2');
    const t2 = await oauth.processRefreshTokenResponse(
      as,
      app,
      await oauth.refreshTokenGrantRequest(as, app, oauth.None(), t1.refresh_token!, {
        ...insecure,
        additionalParameters: { scope: t1.scope! },
      }),
    );
    expect(t2.scope).toBe(scope);
    const t3 = await oauth.processRefreshTokenResponse(
      as,
      app,
      await oauth.refreshTokenGrantRequest(as, app, oauth.None(), t2.refresh_token!, {
        ...insecure,
        additionalParameters: { scope: 'patient/Observation.rs' },
      }),
    );
    expect(t3.scope).toBe('patient/Observation.rs');
    await expect(
      oauth.processRefreshTokenResponse(
        as,
        app,
        await oauth.refreshTokenGrantRequest(as, app, oauth.None(), t3.refresh_token!, {
          ...insecure,
          additionalParameters: { scope: `${scope} user/*.rs` },
        }),
      ),
    ).rejects.toMatchObject({ error: 'invalid_scope', status: 400 });
    // The refused request did not use the token up.
    const t4 = await oauth.processRefreshTokenResponse(
      as,
      app,
      await oauth.refreshTokenGrantRequest(as, app, oauth.None(), t3.refresh_token!, insecure),
    );
    expect(t4.scope).toBe(scope);
  });

  it('works without client_id for a public client (fhirclient default)', async () => {
    const { tokens } = await codeFlow(app, oauth.None(), APP_REDIRECT, 'launch/patient offline_access patient/*.rs', { username: 'bo' });
    const r = await fetch(as.token_endpoint!, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
    });
    expect(r.status).toBe(200);
  });

  it('revokes the whole family when a rotated refresh token comes back', async () => {
    const { tokens } = await codeFlow(app, oauth.None(), APP_REDIRECT, 'launch/patient offline_access patient/*.rs', { username: 'bo' });
    const t1 = await oauth.processRefreshTokenResponse(
      as,
      app,
      await oauth.refreshTokenGrantRequest(as, app, oauth.None(), tokens.refresh_token!, insecure),
    );
    expect((await fhirGet('Patient/p2', t1.access_token)).status).toBe(200);
    await expect(
      oauth.processRefreshTokenResponse(
        as,
        app,
        await oauth.refreshTokenGrantRequest(as, app, oauth.None(), tokens.refresh_token!, insecure),
      ),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(
      oauth.processRefreshTokenResponse(as, app, await oauth.refreshTokenGrantRequest(as, app, oauth.None(), t1.refresh_token!, insecure)),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await fhirGet('Patient/p2', t1.access_token)).status).toBe(401);
    expect(ts.logs.some((l) => l.event === 'auth.grant.revoked' && l.reason === 'refresh_token_reused')).toBe(true);
  });
});

describe('confidential asymmetric client', () => {
  it('exchanges the code and refreshes with private_key_jwt (ES384)', async () => {
    const { tokens } = await codeFlow(
      asym.client,
      smartAssertion(as, asym.key),
      APP_REDIRECT,
      'launch/patient openid fhirUser offline_access patient/*.rs',
      { username: 'bo' },
    );
    expect(tokens.patient).toBe('p2');
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      asym.client,
      await oauth.refreshTokenGrantRequest(as, asym.client, smartAssertion(as, asym.key), tokens.refresh_token!, insecure),
    );
    expect(refreshed.access_token).toBeTruthy();
    // Without its assertion the client cannot refresh.
    const bare = await fetch(as.token_endpoint!, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshed.refresh_token! }),
    });
    expect(bare.status).toBe(401);
  });
});

describe('confidential symmetric client, introspection, revocation, userinfo', () => {
  it('exchanges the code with HTTP Basic and introspects with the context of the token response', async () => {
    const { tokens } = await codeFlow(
      conf.client,
      oauth.ClientSecretBasic(conf.secret),
      APP_REDIRECT,
      'launch/patient openid fhirUser offline_access patient/*.rs',
      { username: 'bo' },
    );
    const idClaims = oauth.getValidatedIdTokenClaims(tokens)!;
    const res = await oauth.introspectionRequest(as, rs.client, oauth.ClientSecretBasic(rs.secret), tokens.access_token, insecure);
    const info = await oauth.processIntrospectionResponse(as, rs.client, res);
    expect(info.active).toBe(true);
    expect(info.client_id).toBe(conf.client.client_id);
    expect(new Set(info.scope!.split(' '))).toEqual(new Set(tokens.scope!.split(' ')));
    expect(info.exp).toBeGreaterThan(Date.now() / 1000);
    expect(info.patient).toBe('p2');
    expect(info.iss).toBe(idClaims.iss);
    expect(info.sub).toBe(idClaims.sub);
    expect(info.fhirUser).toBe(`${as.issuer}/Patient/p2`);
    // Unknown token → {active:false}.
    const unknown = await oauth.introspectionRequest(as, rs.client, oauth.ClientSecretBasic(rs.secret), 'nope', insecure);
    expect(await oauth.processIntrospectionResponse(as, rs.client, unknown)).toEqual({ active: false });
    // The app is not a resource server: neither its own credentials nor its token may introspect (RFC 7662 §2.1).
    const byApp = await oauth.introspectionRequest(as, conf.client, oauth.ClientSecretBasic(conf.secret), tokens.access_token, insecure);
    expect(byApp.status).toBe(401);
    const byBearer = await fetch(as.introspection_endpoint!, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.access_token}` },
      body: new URLSearchParams({ token: tokens.access_token }),
    });
    expect(byBearer.status).toBe(401);
    const anonymous = await fetch(as.introspection_endpoint!, {
      method: 'POST',
      body: new URLSearchParams({ token: tokens.access_token }),
    });
    expect(anonymous.status).toBe(401);
  });

  it('revocation (RFC 7009) ends the access token and the refresh token', async () => {
    const { tokens } = await codeFlow(app, oauth.None(), APP_REDIRECT, 'launch/patient openid fhirUser offline_access patient/*.rs', {
      username: 'bo',
    });
    const info = await oauth.userInfoRequest(as, app, tokens.access_token, insecure);
    const user = await oauth.processUserInfoResponse(as, app, oauth.getValidatedIdTokenClaims(tokens)!.sub, info);
    expect(user.fhirUser).toBe(`${as.issuer}/Patient/p2`);
    expect((await fhirGet('Patient/p2', tokens.access_token)).status).toBe(200);
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, app, oauth.None(), tokens.refresh_token!, insecure));
    expect((await fhirGet('Patient/p2', tokens.access_token)).status).toBe(401);
    await expect(
      oauth.processRefreshTokenResponse(
        as,
        app,
        await oauth.refreshTokenGrantRequest(as, app, oauth.None(), tokens.refresh_token!, insecure),
      ),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
    const after = await oauth.processIntrospectionResponse(
      as,
      rs.client,
      await oauth.introspectionRequest(as, rs.client, oauth.ClientSecretBasic(rs.secret), tokens.access_token, insecure),
    );
    expect(after).toEqual({ active: false });
    // Unknown tokens: still 200 (RFC 7009 §2.2).
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, app, oauth.None(), 'unknown', insecure));
  });

  it('logs every step as an audit event without secrets', async () => {
    const names = new Set(ts.logs.map((l) => l.event));
    for (const n of ['auth.login', 'auth.authorize', 'auth.token.issued', 'auth.token.refreshed', 'auth.token.revoked'])
      expect(names, n).toContain(n);
    const text = JSON.stringify(ts.logs);
    expect(text).not.toContain(conf.secret);
    expect(text).not.toContain(rs.secret);
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
    expect(text).not.toContain('correct horse');
  });
});
