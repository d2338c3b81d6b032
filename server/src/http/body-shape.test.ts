/**
 * Client JSON outside the shape bounds (../fhir/json-shape.ts) on a real server, on every path that takes a JSON body:
 * a clear 400 or 413 OperationOutcome (or OAuth error), never a 500, and nothing stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAdminCredential } from '../cli/owner.ts';
import { startTestServer, type TestServer } from '../test-support/harness.ts';

let t: TestServer;
let existing: string;
beforeAll(async () => {
  t = await startTestServer();
  const created = await t.req('/fhir/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Kept' }] } });
  existing = created.body.id;
});
afterAll(async () => {
  await t?.stop();
});

const FHIR_JSON = { 'content-type': 'application/fhir+json' };
const DEEP_ARRAYS = `${'['.repeat(5000)}${']'.repeat(5000)}`;
const DEEP_OBJECTS = `${'{"extension":'.repeat(5000)}1${'}'.repeat(5000)}`;

/** Every Patient and its versions, to show a refused request wrote nothing. */
async function storedState(): Promise<string> {
  const res = await t.req('/fhir/Patient?_count=1000');
  expect(res.status).toBe(200);
  return JSON.stringify((res.body.entry ?? []).map((e: any) => [e.resource.id, e.resource.meta.versionId]).sort());
}

/** Each path that takes a FHIR JSON body, with `inner` (raw JSON text) placed where a client would put data. */
function bodies(inner: string): { label: string; method: string; path: string; body: string; headers?: Record<string, string> }[] {
  const entry = (method: string, url: string) =>
    `{"resource":{"resourceType":"Patient","name":${inner}},"request":{"method":"${method}","url":"${url}"}}`;
  return [
    { label: 'create', method: 'POST', path: '/fhir/Patient', body: `{"resourceType":"Patient","name":${inner}}` },
    {
      label: 'update',
      method: 'PUT',
      path: `/fhir/Patient/${existing}`,
      body: `{"resourceType":"Patient","id":"${existing}","name":${inner}}`,
    },
    {
      label: 'conditional create',
      method: 'POST',
      path: '/fhir/Patient',
      body: `{"resourceType":"Patient","name":${inner}}`,
      headers: { 'if-none-exist': 'family=Nobody' },
    },
    { label: '$validate', method: 'POST', path: '/fhir/Patient/$validate', body: `{"resourceType":"Patient","name":${inner}}` },
    {
      label: 'batch',
      method: 'POST',
      path: '/fhir',
      body: `{"resourceType":"Bundle","type":"batch","entry":[${entry('POST', 'Patient')}]}`,
    },
    {
      label: 'transaction',
      method: 'POST',
      path: '/fhir',
      body: `{"resourceType":"Bundle","type":"transaction","entry":[${entry('PUT', `Patient/${existing}`)}]}`,
    },
    {
      label: 'JSON Patch',
      method: 'PATCH',
      path: `/fhir/Patient/${existing}`,
      body: `[{"op":"add","path":"/name","value":${inner}}]`,
      headers: { 'content-type': 'application/json-patch+json' },
    },
    { label: 'tenant base', method: 'POST', path: '/t/other/fhir/Patient', body: `{"resourceType":"Patient","name":${inner}}` },
  ];
}

describe('nesting depth (issue 13 item 6)', () => {
  it('answers 400 with a diagnostic on every FHIR path, for nested arrays and objects, and stores nothing', async () => {
    const before = await storedState();
    for (const inner of [DEEP_ARRAYS, DEEP_OBJECTS]) {
      for (const b of bodies(inner)) {
        const res = await t.req(b.path, { method: b.method, body: b.body, headers: { ...FHIR_JSON, ...b.headers } });
        expect(res.status, b.label).toBe(400);
        expect(res.body?.resourceType, b.label).toBe('OperationOutcome');
        expect(res.body.issue[0].diagnostics, b.label).toBe('JSON nested more than 64 levels deep');
      }
    }
    expect(await storedState()).toBe(before);
    expect(t.logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('accepts a resource nested as deep as the bound allows', async () => {
    // Patient(1).extension(2)[0](3) and each nested extension two more levels: 30 levels in all.
    let ext: object = { url: 'http://x/e', valueString: 'leaf' };
    for (let i = 0; i < 13; i++) ext = { url: `http://x/e${i}`, extension: [ext] };
    const res = await t.req('/fhir/Patient', { method: 'POST', json: { resourceType: 'Patient', extension: [ext] } });
    expect(res.status).toBe(201);
  });

  it('answers a deep body on the authorization server with an OAuth invalid_request', async () => {
    const res = await t.req('/auth/launch', {
      method: 'POST',
      body: `{"client_id":${DEEP_ARRAYS}}`,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.error_description).toMatch(/nested more than 64 levels/);
  });

  it.skipIf(Boolean(process.env.DATABASE_URL))(
    'answers a deep body on the admin channel with a 400 (embedded: the channel exists)',
    async () => {
      const cred = readAdminCredential(t.config.dataDir);
      expect(cred).toBeDefined();
      const before = await storedState();
      for (const [path, body] of [
        ['/admin/import/document', `{"resourceType":"Patient","name":${DEEP_ARRAYS}}`],
        ['/admin/import/resources', `{"items":[{"at":1,"resource":{"resourceType":"Patient","name":${DEEP_OBJECTS}}}],"locate":"line"}`],
        ['/admin/auth/clients', `{"clientId":${DEEP_ARRAYS}}`],
      ] as const) {
        const res = await fetch(new URL(`${path}?tenant=default`, cred?.url), {
          method: 'POST',
          body,
          headers: { authorization: `Bearer ${cred?.token}`, 'content-type': 'application/json' },
        });
        expect(res.status, path).toBe(400);
        expect(((await res.json()) as any).issue[0].diagnostics, path).toMatch(/nested more than \d+ levels deep/);
      }
      expect(await storedState()).toBe(before);
    },
  );
});

describe('keys named like Object.prototype members (issue 13 item 7)', () => {
  const names = Object.getOwnPropertyNames(Object.prototype);

  it('refuses each in every FHIR body, at any level, with a 400 naming it, and stores nothing', async () => {
    const before = await storedState();
    for (const name of names) {
      for (const inner of [`[{"family":"x","${name}":1}]`, `[{"family":"x","_${name}":{"x":1}}]`]) {
        for (const b of bodies(inner)) {
          const res = await t.req(b.path, { method: b.method, body: b.body, headers: { ...FHIR_JSON, ...b.headers } });
          expect(res.status, `${b.label} ${name}`).toBe(400);
          expect(res.body.issue[0].diagnostics, `${b.label} ${name}`).toContain(name);
        }
      }
      const top = await t.req('/fhir/Patient', {
        method: 'POST',
        body: `{"resourceType":"Patient","${name}":{"polluted":1}}`,
        headers: FHIR_JSON,
      });
      expect(top.status, name).toBe(400);
    }
    expect(await storedState()).toBe(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a JSON Patch whose path goes through them, with a 400', async () => {
    for (const name of names) {
      for (const path of [`/${name}`, `/${name}/polluted`, `/name/0/${name}`]) {
        const res = await t.req(`/fhir/Patient/${existing}`, {
          method: 'PATCH',
          body: JSON.stringify([{ op: 'add', path, value: 'x' }]),
          headers: { 'content-type': 'application/json-patch+json' },
        });
        expect(res.status, path).toBe(400);
      }
    }
    expect((await t.req(`/fhir/Patient/${existing}`)).body.meta.versionId).toBe('1');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('treats them as unknown search parameters, modifiers, chains and sorts (400), in the URL and in a form', async () => {
    for (const name of names) {
      const q = encodeURIComponent(name);
      for (const query of [
        `Patient?${q}=1`,
        `Patient?${q}:exact=1`,
        `Patient?name:${q}=1`,
        `Patient?_sort=${q}`,
        `Patient?_include=Patient:${q}`,
        `Patient?_revinclude=Observation:${q}`,
        `Observation?subject.${q}=1`,
        `Observation?subject:Patient.${q}=1`,
        `Patient?_has:Observation:subject:${q}=1`,
        `Patient?_has:Observation:${q}:code=1`,
        `?_type=Patient&${q}=1`,
      ]) {
        const res = await t.req(`/fhir/${query}`);
        expect(res.status, query).toBe(400);
        expect(res.body.resourceType, query).toBe('OperationOutcome');
      }
      const form = await t.req('/fhir/Patient/_search', {
        method: 'POST',
        body: `${q}=1`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(form.status, `form ${name}`).toBe(400);
    }
    expect(t.logs.filter((l) => l.level === 'error')).toEqual([]);
  });
});
