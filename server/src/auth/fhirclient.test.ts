/**
 * EHR launch and standalone launch with the independent SMART client library `fhirclient` (reference
 * §3a): a small express app using fhirclient's Node API runs on 127.0.0.1; the test is the browser
 * (fetch with manual redirects and Haven's HTML forms). fhirclient discovers Haven through
 * `.well-known/smart-configuration`, uses PKCE S256 (`pkceMode: 'required'`), exchanges the code, reads
 * the patient, and refreshes without client_id (its default).
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, authorizeInBrowser, authorizeUrl, pkce, startAuthServer, type AuthTestServer } from './testing.ts';

// fhirclient's Node entry is CommonJS.
const smart = createRequire(import.meta.url)('fhirclient') as (
  req: unknown,
  res: unknown,
  storage?: unknown,
) => {
  authorize(opts: Record<string, unknown>): Promise<unknown>;
  ready(): Promise<FhirClientLike>;
};
interface FhirClientLike {
  patient: { id: string | null };
  encounter: { id: string | null };
  state: { tokenResponse?: Record<string, unknown> };
  getFhirUser(): string | null;
  request(url: string): Promise<Record<string, unknown>>;
  refresh(): Promise<unknown>;
}

let ts: AuthTestServer;
let appServer: Server;
let appUrl: string;
let clientId: string;

/** fhirclient keeps its state in a storage object ({get,set,unset}); a Map stands in for a session. */
const memory = new Map<string, unknown>();
const storage = {
  get: async (k: string) => memory.get(k),
  set: async (k: string, v: unknown) => {
    memory.set(k, v);
    return v;
  },
  unset: async (k: string) => memory.delete(k),
};

const SCOPE_EHR = 'launch openid fhirUser offline_access patient/*.rs';
const SCOPE_STANDALONE = 'launch/patient openid fhirUser offline_access patient/*.rs';

beforeAll(async () => {
  ts = await startAuthServer();
  await ts.seed([
    { resourceType: 'Patient', id: 'p1', name: [{ given: ['Ann'], family: 'Lee' }] },
    { resourceType: 'Practitioner', id: 'dr1', name: [{ family: 'Who' }] },
    { resourceType: 'Encounter', id: 'e1', status: 'in-progress', class: { code: 'AMB' }, subject: { reference: 'Patient/p1' } },
  ]);
  await ts.addUser({ username: 'drwho', fhirUser: 'Practitioner/dr1', roles: ['clinician'] });
  const app = express();
  app.get('/launch', (req, res, next) => {
    const scope = req.query.launch ? SCOPE_EHR : SCOPE_STANDALONE;
    smart(req, res, storage).authorize({ clientId, scope, redirectUri: '/redirect', pkceMode: 'required' }).catch(next);
  });
  app.get('/redirect', async (req, res, next) => {
    try {
      const client = await smart(req, res, storage).ready();
      const patient = await client.request(`Patient/${client.patient.id}`);
      const first = client.state.tokenResponse?.access_token;
      await client.refresh();
      res.json({
        patient: client.patient.id,
        encounter: client.encounter.id,
        fhirUser: client.getFhirUser(),
        name: patient.name,
        banner: client.state.tokenResponse?.need_patient_banner,
        refreshed: client.state.tokenResponse?.access_token !== first,
      });
    } catch (err) {
      next(err);
    }
  });
  app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: err.message });
  });
  appServer = await new Promise<Server>((r) => {
    const s = app.listen(0, '127.0.0.1', () => r(s));
  });
  appUrl = `http://127.0.0.1:${(appServer.address() as AddressInfo).port}`;
  clientId = (await ts.addClient({ type: 'public', redirectUris: [`${appUrl}/redirect`], launchUri: `${appUrl}/launch` })).clientId;
});
afterAll(async () => {
  await new Promise<void>((r) => (appServer ? appServer.close(() => r()) : r()));
  await ts?.stop();
});

/** Browser: open the app's launch URL, sign in at Haven, land back in the app; returns the app's JSON. */
async function runApp(launchUrl: string, person: Parameters<typeof authorizeInBrowser>[2]): Promise<Record<string, unknown>> {
  const browser = new Browser();
  const toAuthorize = await browser.fetch(launchUrl);
  expect(toAuthorize.status).toBe(302);
  const authorize = new URL(toAuthorize.headers.get('location')!);
  expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
  expect(authorize.searchParams.get('aud')).toBe(ts.urls().fhirBase);
  const callback = await authorizeInBrowser(browser, authorize.toString(), person);
  expect(callback.searchParams.get('code')).toBeTruthy();
  const done = await browser.fetch(callback.toString());
  const body = (await done.json()) as Record<string, unknown>;
  expect(done.status, JSON.stringify(body)).toBe(200);
  return body;
}

/** A clinician's launcher token (scope __haven_launch), obtained through the same pages. */
async function launcherToken(): Promise<string> {
  const redirect = 'http://127.0.0.1:7003/cb';
  const launcher = await ts.addClient({
    type: 'confidential-symmetric',
    redirectUris: [redirect],
    scopes: 'openid fhirUser __haven_launch',
  });
  const { verifier, challenge } = pkce();
  const urls = ts.urls();
  const back = await authorizeInBrowser(
    new Browser(),
    authorizeUrl(urls, {
      response_type: 'code',
      client_id: launcher.clientId,
      redirect_uri: redirect,
      scope: 'openid __haven_launch',
      state: 'x',
      aud: urls.fhirBase,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }),
    { username: 'drwho' },
  );
  const r = await fetch(urls.token, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${launcher.clientId}:${launcher.secret}`).toString('base64')}` },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: back.searchParams.get('code')!,
      redirect_uri: redirect,
      code_verifier: verifier,
    }),
  });
  return ((await r.json()) as { access_token: string }).access_token;
}

describe('fhirclient', () => {
  it('EHR launch: iss and launch from Haven, context and fhirUser in the app, refresh works', async () => {
    const created = await fetch(ts.urls().launch, {
      method: 'POST',
      headers: { authorization: `Bearer ${await launcherToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: clientId, patient: 'p1', encounter: 'e1' }),
    });
    expect(created.status).toBe(201);
    const { url } = (await created.json()) as { url: string };
    const out = await runApp(url, { username: 'drwho' });
    expect(out).toMatchObject({ patient: 'p1', encounter: 'e1', fhirUser: 'Practitioner/dr1', banner: true, refreshed: true });
    expect(out.name).toEqual([{ given: ['Ann'], family: 'Lee' }]);
  });

  it('standalone launch: the clinician picks the patient', async () => {
    const out = await runApp(`${appUrl}/launch?iss=${encodeURIComponent(ts.urls().fhirBase)}`, { username: 'drwho', patient: 'p1' });
    expect(out).toMatchObject({ patient: 'p1', encounter: null, fhirUser: 'Practitioner/dr1', banner: true, refreshed: true });
  });
});
