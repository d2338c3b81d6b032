/**
 * The SMART client against a real Haven server (authorization server, sign-in pages, FHIR API), driven by the
 * headless browser of the server's auth tests: EHR launch through Haven's launcher endpoint, standalone launch
 * with the patient picker, two launches side by side in one storage, refresh, and each way a callback can be
 * wrong.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, authorizeInBrowser, startAuthServer, type AuthTestServer } from '../../../server/src/auth/testing.ts';
import { FhirClient } from './fhir-client.ts';
import { memoryStore } from './launch-store.ts';
import {
  beginLaunch,
  completeLaunch,
  LaunchError,
  loadSession,
  SessionTokens,
  type AppRegistration,
  type SmartEnv,
} from './smart-client.ts';

const APP = { redirect: 'http://127.0.0.1:7101/callback', launch: 'http://127.0.0.1:7101/launch' };
const LAUNCHER_REDIRECT = 'http://127.0.0.1:7102/callback';
const APP_SCOPE = 'launch launch/patient openid fhirUser offline_access user/*.rs';

let ts: AuthTestServer;
let iss: string;
let app: AppRegistration;
let launcherToken: string;

/** Signs `username` in for `registration` and returns the callback URL the server redirects to. */
async function signIn(authorizeUrl: string, username: string, patient?: string): Promise<string> {
  return (await authorizeInBrowser(new Browser(), authorizeUrl, { username, ...(patient ? { patient } : {}) })).toString();
}

/** An EHR launch URL for `patient`, minted by the launcher (POST /auth/launch). */
async function ehrLaunch(patient: string): Promise<{ iss: string; launch: string }> {
  const res = await ts.req('/auth/launch', {
    method: 'POST',
    headers: { authorization: `Bearer ${launcherToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: app.clientId, patient }),
  });
  expect(res.status).toBe(201);
  const url = new URL(res.body.url);
  return { iss: url.searchParams.get('iss')!, launch: url.searchParams.get('launch')! };
}

beforeAll(async () => {
  ts = await startAuthServer();
  await ts.seed([
    { resourceType: 'Patient', id: 'p1', name: [{ given: ['Ann'], family: 'Lee' }] },
    { resourceType: 'Patient', id: 'p2', name: [{ given: ['Bo'], family: 'Diaz' }] },
    { resourceType: 'Practitioner', id: 'dr1', name: [{ family: 'Who' }] },
  ]);
  await ts.addUser({ username: 'drwho', fhirUser: 'Practitioner/dr1', roles: ['clinician'] });
  iss = ts.urls().fhirBase;
  const appId = (await ts.addClient({ type: 'public', redirectUris: [APP.redirect], launchUri: APP.launch, scopes: APP_SCOPE })).clientId;
  app = { clientId: appId, redirectUri: APP.redirect, scope: APP_SCOPE };
  const launcherId = (await ts.addClient({ type: 'public', redirectUris: [LAUNCHER_REDIRECT], scopes: 'openid fhirUser __haven_launch' }))
    .clientId;
  const env: SmartEnv = { store: memoryStore() };
  const started = await beginLaunch(
    { clientId: launcherId, redirectUri: LAUNCHER_REDIRECT, scope: 'openid fhirUser __haven_launch' },
    { iss },
    env,
  );
  launcherToken = (await completeLaunch(await signIn(started.authorizeUrl, 'drwho'), env)).accessToken;
});
afterAll(async () => {
  await ts?.stop();
});

describe('EHR launch', () => {
  it('sends launch, aud and PKCE S256, and returns the context of the launch', async () => {
    const env: SmartEnv = { store: memoryStore() };
    const { id, authorizeUrl } = await beginLaunch(app, await ehrLaunch('p1'), env);
    const url = new URL(authorizeUrl);
    expect(url.searchParams.get('aud')).toBe(iss);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('launch')).toBeTruthy();
    expect(url.searchParams.get('state')!.startsWith(`${id}.`)).toBe(true);
    const session = await completeLaunch(await signIn(authorizeUrl, 'drwho'), env);
    expect(session).toMatchObject({ id, iss, patient: 'p1', needPatientBanner: true, launchType: 'ehr' });
    expect(session.fhirUser).toMatchObject({ reference: 'Practitioner/dr1', onThisServer: true });
    expect(session.refreshToken).toBeTruthy();
    expect(loadSession(id, env)?.patient).toBe('p1');
    const fhir = new FhirClient(iss, new SessionTokens(session, env));
    expect((await fhir.read('Patient', 'p1')).id).toBe('p1');
  });

  it('keeps two launches side by side in one storage apart, whatever order they finish in', async () => {
    const env: SmartEnv = { store: memoryStore() };
    const a = await beginLaunch(app, await ehrLaunch('p1'), env);
    const b = await beginLaunch(app, await ehrLaunch('p2'), env);
    const callbackA = await signIn(a.authorizeUrl, 'drwho');
    const callbackB = await signIn(b.authorizeUrl, 'drwho');
    const sb = await completeLaunch(callbackB, env);
    const sa = await completeLaunch(callbackA, env);
    expect([sa.id, sa.patient]).toEqual([a.id, 'p1']);
    expect([sb.id, sb.patient]).toEqual([b.id, 'p2']);
    expect(loadSession(a.id, env)?.patient).toBe('p1');
    expect(loadSession(b.id, env)?.patient).toBe('p2');
  });
});

describe('standalone launch', () => {
  it('gets the patient picked at sign-in', async () => {
    const env: SmartEnv = { store: memoryStore() };
    const { authorizeUrl } = await beginLaunch(app, { iss }, env);
    expect(new URL(authorizeUrl).searchParams.has('launch')).toBe(false);
    const session = await completeLaunch(await signIn(authorizeUrl, 'drwho', 'p2'), env);
    expect(session).toMatchObject({ patient: 'p2', launchType: 'standalone' });
  });
});

describe('callbacks that must not complete', () => {
  it('refuses a replayed callback (the pending launch is single-use)', async () => {
    const env: SmartEnv = { store: memoryStore() };
    const { authorizeUrl } = await beginLaunch(app, { iss }, env);
    const callback = await signIn(authorizeUrl, 'drwho', 'p1');
    await completeLaunch(callback, env);
    await expect(completeLaunch(callback, env)).rejects.toMatchObject({ code: 'unknown_launch' });
  });

  it('refuses a callback whose state was changed', async () => {
    const env: SmartEnv = { store: memoryStore() };
    const { id, authorizeUrl } = await beginLaunch(app, { iss }, env);
    const callback = new URL(await signIn(authorizeUrl, 'drwho', 'p1'));
    callback.searchParams.set('state', `${id}.forged`);
    await expect(completeLaunch(callback.toString(), env)).rejects.toMatchObject({ code: 'authorization_failed' });
  });

  it('refuses a callback from another browser (no pending launch here)', async () => {
    const { authorizeUrl } = await beginLaunch(app, { iss }, { store: memoryStore() });
    const callback = await signIn(authorizeUrl, 'drwho', 'p1');
    await expect(completeLaunch(callback, { store: memoryStore() })).rejects.toMatchObject({ code: 'unknown_launch' });
  });

  it('reports a denied consent as such', async () => {
    const env: SmartEnv = { store: memoryStore() };
    const { authorizeUrl } = await beginLaunch(app, { iss }, env);
    const callback = await authorizeInBrowser(new Browser(), authorizeUrl, { username: 'drwho', patient: 'p1', consent: 'deny' });
    await expect(completeLaunch(callback.toString(), env)).rejects.toMatchObject({ code: 'authorization_denied' });
  });

  it('will not start a launch for an issuer the app does not trust', async () => {
    const env: SmartEnv = { store: memoryStore(), trustIssuer: (i) => i.startsWith('https://haven.example/') };
    await expect(beginLaunch(app, { iss }, env)).rejects.toBeInstanceOf(LaunchError);
    await expect(beginLaunch(app, { iss: 'javascript:alert(1)' }, { store: memoryStore() })).rejects.toMatchObject({
      code: 'untrusted_iss',
    });
    await expect(beginLaunch(app, { iss: 'http://haven.example/fhir' }, { store: memoryStore() })).rejects.toMatchObject({
      code: 'untrusted_iss',
    });
  });
});

describe('refresh', () => {
  it('refreshes the token, keeps the context, and ends the session when the grant is revoked', async () => {
    const env: SmartEnv = { store: memoryStore() };
    const { authorizeUrl } = await beginLaunch(app, { iss }, env);
    const session = await completeLaunch(await signIn(authorizeUrl, 'drwho', 'p1'), env);
    const tokens = new SessionTokens(session, env);
    const next = await tokens.refresh();
    expect(next.accessToken).not.toBe(session.accessToken);
    expect(next.refreshToken).not.toBe(session.refreshToken);
    expect(next).toMatchObject({ patient: 'p1', fhirUser: { reference: 'Practitioner/dr1' } });
    expect(loadSession(session.id, env)?.accessToken).toBe(next.accessToken);
    // Presenting the used refresh token again revokes the grant (rotation): the session cannot continue.
    const stale = new SessionTokens(session, env);
    await expect(stale.refresh()).rejects.toMatchObject({ code: 'session_expired' });
    await expect(tokens.refresh()).rejects.toMatchObject({ code: 'session_expired' });
  });
});
