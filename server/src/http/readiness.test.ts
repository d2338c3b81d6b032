/**
 * Ready means ready (issue 13 item 4): the listener binds at once, but until storage is migrated, the
 * Questionnaires are installed and the bots are registered, `/readyz` and the FHIR API answer 503; a tenant that
 * appears later gets its Questionnaires before its first request is served.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, Questionnaire } from '@medplum/fhirtypes';
import { loadConfig } from '../config.ts';
import type { Db } from '../store/db.ts';
import { instruments } from '../../../bots/instruments-registry.ts';
import { phqLikeResponse } from '../../../bots/test-support/responses.ts';
import { startTestServer, type TestServer } from '../test-support/harness.ts';
import { createFhirApi } from './fhir-api.ts';
import { Readiness, STARTUP_STEPS, readinessReport, type StartupStep } from './readiness.ts';
import { createFhirRouter } from './routes.ts';

const INSTRUMENT_URLS = instruments()
  .all()
  .map((i) => i.questionnaire.url as string)
  .sort();

async function get(url: string): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

function urlsOf(bundle: Bundle): string[] {
  return (bundle.entry ?? []).map((e) => (e.resource as Questionnaire).url as string).sort();
}

describe('readinessReport', () => {
  it('is 503 "starting" with the pending steps until every step is done, then follows the storage probe', () => {
    const r = new Readiness();
    expect(readinessReport(r, 'pg')).toEqual({ status: 503, body: { status: 'starting', pending: [...STARTUP_STEPS], done: [] } });
    r.complete('storage');
    r.complete('questionnaires');
    expect(readinessReport(r, 'pg')).toEqual({
      status: 503,
      body: { status: 'starting', pending: ['bots', 'http'], done: ['storage', 'questionnaires'] },
    });
    r.complete('bots');
    r.complete('http');
    expect(readinessReport(r, 'pglite')).toEqual({ status: 200, body: { status: 'ready', storage: 'pglite' } });
    expect(readinessReport(r, false)).toEqual({ status: 503, body: { status: 'unavailable', pending: [] } });
  });
});

describe('a server whose Questionnaire installation is held back', () => {
  let t: TestServer;
  let url: string;
  const seenWhileBlocked: { path: string; status: number; headers: Headers; body: any }[] = [];
  const logsWhileBlocked: string[] = [];

  beforeAll(async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let blocked!: () => void;
    const reached = new Promise<void>((r) => {
      blocked = r;
    });
    let listening!: (u: string) => void;
    const bound = new Promise<string>((r) => {
      listening = r;
    });
    const logs: Record<string, unknown>[] = [];
    const starting = startTestServer(
      { HAVEN_QUESTIONNAIRES: 'install' },
      {
        log: (e) => logs.push(e),
        onListening: listening,
        beforeStep: async (step: StartupStep) => {
          if (step !== 'questionnaires') return;
          blocked();
          await gate;
        },
      },
    );
    url = await bound;
    await reached;
    for (const path of ['/healthz', '/readyz', '/fhir/Questionnaire', '/t/other/fhir/Patient', '/fhir/metadata']) {
      seenWhileBlocked.push({ path, ...(await get(`${url}${path}`)) });
    }
    logsWhileBlocked.push(...logs.map((l) => String(l.event)));
    release();
    t = await starting;
    t.logs.push(...logs);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('is live but not ready while a step is pending: /healthz 200, /readyz 503 naming what is pending', () => {
    const [healthz, readyz] = seenWhileBlocked;
    expect(healthz.status).toBe(200);
    expect(readyz.status).toBe(503);
    expect(readyz.body).toEqual({ status: 'starting', pending: ['questionnaires', 'bots', 'http'], done: ['storage'] });
  });

  it('answers every other request 503 with an OperationOutcome and Retry-After until ready', () => {
    for (const r of seenWhileBlocked.slice(2)) {
      expect(r.status, r.path).toBe(503);
      expect(r.headers.get('retry-after'), r.path).toMatch(/^\d+$/);
      expect(r.body.resourceType, r.path).toBe('OperationOutcome');
      expect(r.body.issue[0].code).toBe('transient');
      expect(r.body.issue[0].diagnostics).toMatch(/starting.*questionnaires/);
    }
  });

  it('logs server.started when listening and server.ready (with its time to ready) only once ready', () => {
    expect(logsWhileBlocked).toContain('server.started');
    expect(logsWhileBlocked).not.toContain('server.ready');
    const ready = t.logs.find((l) => l.event === 'server.ready');
    expect(ready?.timeToReadyMs).toEqual(expect.any(Number));
  });

  it('once ready: /readyz 200, and all six Questionnaires are searchable at once', async () => {
    const readyz = await get(`${url}/readyz`);
    expect(readyz.status).toBe(200);
    expect(readyz.body).toMatchObject({ status: 'ready' });
    expect(INSTRUMENT_URLS).toHaveLength(6);
    const res = await t.req('/fhir/Questionnaire?_count=50');
    expect(res.status).toBe(200);
    expect(urlsOf(res.body)).toEqual(INSTRUMENT_URLS);
  });

  it('a tenant that appears after start has its six Questionnaires before its first request is served', async () => {
    const res = await t.req('/t/fresh-clinic/fhir/Questionnaire?_count=50');
    expect(res.status).toBe(200);
    expect(urlsOf(res.body)).toEqual(INSTRUMENT_URLS);
  });

  it("a new tenant whose first request is a QuestionnaireResponse had Haven's canonical before the response was stored", async () => {
    const qr = phqLikeResponse('phq-9', 'p1', [0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const created = await t.req('/t/second-clinic/fhir/QuestionnaireResponse', { method: 'POST', json: qr });
    expect(created.status, created.text).toBe(201);
    const canonical = String(qr.questionnaire).split('|')[0];
    const found = await t.req(`/t/second-clinic/fhir/Questionnaire?url=${encodeURIComponent(canonical)}`);
    expect(found.body.entry).toHaveLength(1);
    // Installed while the request waited, not afterwards by the dispatcher: the Questionnaire is the older write.
    const installedAt = Date.parse(found.body.entry[0].resource.meta.lastUpdated);
    expect(installedAt).toBeLessThanOrEqual(Date.parse(created.body.meta.lastUpdated));
  });

  it('an unauthenticated request to an unknown tenant installs nothing there', async () => {
    const res = await t.req('/t/probe-only/fhir/Questionnaire', { anonymous: true });
    expect(res.status).toBe(401);
    const { rows } = await t.server.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resources WHERE tenant = 'probe-only'`);
    expect(rows[0].n).toBe(0);
  });
});

describe('a tenant whose set-up fails', () => {
  it('answers 503 with Retry-After and an OperationOutcome, and logs the failure without the request', async () => {
    const logs: Record<string, unknown>[] = [];
    const app = express();
    app.use(
      '/t/:tenant/fhir',
      createFhirApi({
        config: loadConfig({}),
        db: {} as Db,
        router: createFhirRouter(() => undefined),
        resourceTypes: new Set(['Patient']),
        authenticate: async (_req, tenant) => ({ tenant, subject: 'svc', scopes: ['system/*.rs'], roles: [], development: false }),
        cursorSecret: 's',
        capabilityStatement: () => ({}),
        log: (e) => logs.push(e),
        prepareTenant: async () => {
          throw new Error('database went away');
        },
      }),
    );
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const res = await get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/t/new-clinic/fhir/Patient?name=Rivera`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue[0].diagnostics).toMatch(/being set up/);
      expect(logs).toEqual([expect.objectContaining({ event: 'fhir.tenant_setup_failed', tenant: 'new-clinic' })]);
      expect(JSON.stringify(logs)).not.toContain('Rivera');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
