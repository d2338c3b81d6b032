/**
 * The app routes (http/apps.ts) on a bare express app with a fake build, and the registration of Haven's apps as
 * SMART clients (http/app-clients.ts) on scratch storage.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultClinicalConfig } from '../../../bots/clinical/config.ts';
import { HAVEN_APPS } from '../../../smart-apps/registry.ts';
import { addClient, getClient } from '../auth/clients.ts';
import { DEMO_PASSWORD, DEMO_USERS } from '../cli/demo-clinic.ts';
import { openScratchDb } from '../test-support/harness.ts';
import { registerHavenApps } from './app-clients.ts';
import { createAppsRouter } from './apps.ts';

describe('app routes', () => {
  let root: string;
  let base: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'haven-apps-'));
    // A fake build of the patient app only; the clinician app is "not built".
    mkdirSync(join(root, 'patient', 'assets'), { recursive: true });
    writeFileSync(join(root, 'patient', 'index.html'), '<!doctype html><title>patient</title>');
    writeFileSync(join(root, 'patient', 'assets', 'index-abc.js'), 'console.log(1)');
    const app = express();
    app.use(createAppsRouter({ config: { baseUrl: 'https://haven.example' }, distOf: (a) => join(root, a.id) }));
    app.use((_req, res) => void res.status(404).send('fallthrough'));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((r) => server.close(() => r()));
  });
  afterAll(async () => {
    await close?.();
    rmSync(root, { recursive: true, force: true });
  });

  it.each(['/apps/patient/', '/apps/patient/callback?code=x&state=y', '/apps/patient/launch?iss=a&launch=b', '/apps/patient/some/view'])(
    'serves the page at %s, frameable, with a CSP locked to this server',
    async (path) => {
      const res = await fetch(`${base}${path}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<title>patient</title>');
      expect(res.headers.get('x-frame-options')).toBeNull();
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).toContain('frame-ancestors *');
      expect(csp).toContain("connect-src 'self' https://haven.example");
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('cache-control')).toBe('no-cache');
    },
  );

  it('serves hashed assets for a year and answers 404 for unknown ones (never the page)', async () => {
    const ok = await fetch(`${base}/apps/patient/assets/index-abc.js`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cache-control')).toContain('max-age=31536000');
    const missing = await fetch(`${base}/apps/patient/assets/nope.js`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe('Not found');
    const traversal = await fetch(`${base}/apps/patient/assets/..%2f..%2findex.html`);
    expect(traversal.status).toBe(404);
  });

  it('redirects the bare path to the app path, keeping the query', async () => {
    const res = await fetch(`${base}/apps/clinician?iss=x&launch=y`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('/apps/clinician/?iss=x&launch=y');
  });

  it('says how to build an app that is not built', async () => {
    const res = await fetch(`${base}/apps/clinician/`);
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/npm start/);
  });

  it('hands each app its configuration from BASE_URL and the registry', async () => {
    const patient = await (await fetch(`${base}/apps/patient/config.json`)).json();
    expect(patient).toEqual({
      clientId: 'haven-patient',
      redirectUri: 'https://haven.example/apps/patient/callback',
      scope: HAVEN_APPS.find((a) => a.id === 'patient')!.scope,
      fhirBase: 'https://haven.example/fhir',
      origin: 'https://haven.example',
      crisisMessage: defaultClinicalConfig().crisis.patientMessage,
    });
    const launcher = await (await fetch(`${base}/launcher/config.json`)).json();
    expect(launcher).toMatchObject({ clientId: 'haven-launcher', clinicianClientId: 'haven-clinician' });
    expect(launcher.crisisMessage).toBeUndefined();
  });

  it('leaves other paths to the rest of the server', async () => {
    expect(await (await fetch(`${base}/apps/other/`)).text()).toBe('fallthrough');
    expect(await (await fetch(`${base}/apps/patient/favicon.ico`)).text()).toBe('fallthrough');
  });
});

describe('front door', () => {
  async function serve(seeded: boolean | 'broken') {
    const db = {
      query: async () => {
        if (seeded === 'broken') throw new Error('down');
        return { rows: seeded ? [{ '?column?': 1 }] : [], rowCount: seeded ? 1 : 0 };
      },
    };
    const app = express();
    app.use(createAppsRouter({ config: { baseUrl: 'https://haven.example' }, db: db as never }));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      return { status: res.status, text: await res.text(), csp: res.headers.get('content-security-policy') };
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  }

  it('says what the server is and links the apps, the launcher and the FHIR base', async () => {
    const r = await serve(false);
    expect(r.status).toBe(200);
    for (const link of ['href="/launcher/"', 'href="/apps/patient/"', 'href="/fhir/metadata"', 'https://haven.example/fhir'])
      expect(r.text).toContain(link);
    expect(r.text).toContain('seed --demo');
    expect(r.text).not.toContain(DEMO_PASSWORD);
    expect(r.csp).toContain("frame-ancestors 'none'");
  });

  it('shows the demo logins once the demo clinic is loaded, and still answers when storage fails', async () => {
    const r = await serve(true);
    expect(r.text).toContain(DEMO_PASSWORD);
    for (const u of DEMO_USERS) expect(r.text).toContain(`<code>${u.username}</code>`);
    const broken = await serve('broken');
    expect(broken.status).toBe(200);
    expect(broken.text).not.toContain(DEMO_PASSWORD);
  });
});

describe('registerHavenApps', () => {
  it('adds the apps, leaves them alone when unchanged, follows a new BASE_URL, and reports what it cannot do', async () => {
    const { db, close } = await openScratchDb();
    try {
      const logs: Record<string, unknown>[] = [];
      const log = (e: Record<string, unknown>) => logs.push(e);
      expect(await registerHavenApps(db, { baseUrl: 'http://localhost:8080' }, 'default', log)).toEqual({
        'haven-patient': 'added',
        'haven-clinician': 'added',
        'haven-launcher': 'added',
      });
      const clinician = await getClient(db, 'default', 'haven-clinician');
      expect(clinician).toMatchObject({
        type: 'public',
        redirectUris: ['http://localhost:8080/apps/clinician/callback'],
        launchUri: 'http://localhost:8080/apps/clinician/launch',
      });
      expect(clinician!.scopes).toContain('launch');
      expect(clinician!.scopes).not.toContain('__haven_launch');
      expect((await getClient(db, 'default', 'haven-launcher'))!.scopes).toContain('__haven_launch');
      expect(Object.values(await registerHavenApps(db, { baseUrl: 'http://localhost:8080' }))).toEqual([
        'unchanged',
        'unchanged',
        'unchanged',
      ]);
      expect(Object.values(await registerHavenApps(db, { baseUrl: 'https://haven.example' }))).toEqual(['updated', 'updated', 'updated']);
      expect((await getClient(db, 'default', 'haven-patient'))!.redirectUris).toEqual(['https://haven.example/apps/patient/callback']);

      // Another tenant, where an operator took one of the ids for something else, on a BASE_URL apps cannot use.
      await addClient(db, {
        tenant: 'acme',
        type: 'confidential-symmetric',
        clientId: 'haven-patient',
        redirectUris: ['https://x.example/cb'],
      });
      const other = await registerHavenApps(db, { baseUrl: 'http://10.1.2.3:8080' }, 'acme', log);
      expect(other).toEqual({ 'haven-patient': 'conflict', 'haven-clinician': 'invalid', 'haven-launcher': 'invalid' });
      expect((await getClient(db, 'acme', 'haven-patient'))!.type).toBe('confidential-symmetric');
      expect(logs.filter((l) => l.event === 'apps.client_not_registered').map((l) => l.client_id)).toEqual([
        'haven-patient',
        'haven-clinician',
        'haven-launcher',
      ]);
    } finally {
      await close();
    }
  });
});
