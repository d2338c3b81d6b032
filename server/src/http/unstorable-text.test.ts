/**
 * Issue 13 items 5 and 13: text PostgreSQL cannot hold (a NUL, an unpaired surrogate) and URLs that do not decode
 * are a 400 OperationOutcome on every path that reaches SQL, never a 500, and nothing is stored. Each case below
 * was a 500 before the fix (on both storages).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/harness.ts';

let t: TestServer;
let patientId: string;
beforeAll(async () => {
  t = await startTestServer();
  const created = await t.req('/fhir/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Nul' }] } });
  patientId = created.body.id;
});
afterAll(async () => {
  await t?.stop();
});

function expectBadRequest(res: { status: number; body: any }, diagnostic: RegExp = /NUL|not valid Unicode|percent-encoding/): void {
  expect(res.status).toBe(400);
  expect(res.body?.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0].severity).toBe('error');
  expect(res.body.issue[0].diagnostics).toMatch(diagnostic);
}

async function patientCount(): Promise<number> {
  const res = await t.req('/fhir/Patient?_summary=count');
  return res.body.total;
}

describe('a NUL in any search value or name is a 400 naming the parameter', () => {
  const searches = [
    '/fhir/Patient?_id=1%00',
    '/fhir/Patient?name=x%00y',
    '/fhir/Patient?name:exact=x%00',
    '/fhir/Patient?identifier=a%00|b',
    '/fhir/Patient?identifier=a|b%00',
    '/fhir/Observation?subject=Patient/x%00',
    '/fhir/Observation?subject:Patient.name=x%00',
    '/fhir/Patient?_has:Observation:subject:code=x%00',
    '/fhir/Patient?_tag=a%00',
    '/fhir/Patient?_security=x%00',
    '/fhir/Patient?_profile=x%00',
    '/fhir/Patient?na%00me=x',
    '/fhir?_type=Patient&_id=x%00',
  ];
  for (const path of searches) {
    it(path, async () => {
      const res = await t.req(path);
      expectBadRequest(res, /parameter .*(NUL|not valid Unicode)/);
    });
  }

  it('in a POST _search form body', async () => {
    const res = await t.req('/fhir/Patient/_search', {
      method: 'POST',
      body: 'name=x%00y',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectBadRequest(res, /parameter "name"/);
  });
});

describe('paths that reach SQL without passing the query-string check', () => {
  it('a conditional create (If-None-Exist) with a NUL creates nothing', async () => {
    const before = await patientCount();
    const res = await t.req('/fhir/Patient', {
      method: 'POST',
      json: { resourceType: 'Patient' },
      headers: { 'if-none-exist': 'name=x%00' },
    });
    expectBadRequest(res);
    expect(await patientCount()).toBe(before);
  });

  it('a conditional delete with a NUL deletes nothing', async () => {
    const res = await t.req('/fhir/Patient?name=Nul%00');
    expectBadRequest(res);
    const del = await t.req('/fhir/Patient?name=x%00', { method: 'DELETE' });
    expectBadRequest(del);
    expect((await t.req(`/fhir/Patient/${patientId}`)).status).toBe(200);
  });

  it('a batch entry with a NUL in its URL gets its own 400; the other entries run', async () => {
    const res = await t.req('/fhir', {
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [{ request: { method: 'GET', url: 'Patient?name=x%00' } }, { request: { method: 'GET', url: `Patient/${patientId}` } }],
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toMatch(/^400/);
    expect(res.body.entry[1].response.status).toMatch(/^200/);
  });

  it('a transaction entry with a NUL in a conditional create rolls the whole transaction back', async () => {
    const before = await patientCount();
    const res = await t.req('/fhir', {
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient', ifNoneExist: 'name=x%00' } },
        ],
      },
    });
    expect(res.status).toBe(400);
    expect(await patientCount()).toBe(before);
  });
});

describe('text in a resource body that PostgreSQL cannot hold', () => {
  const bodies: Array<[string, string]> = [
    ['a NUL in a string value', '{"resourceType":"Patient","name":[{"family":"a\\u0000b"}]}'],
    ['an unpaired high surrogate', '{"resourceType":"Patient","name":[{"family":"a\\ud800b"}]}'],
    ['an unpaired low surrogate', '{"resourceType":"Patient","name":[{"given":["x","\\udc00"]}]}'],
    [
      'an unpaired surrogate in an extension value',
      '{"resourceType":"Patient","extension":[{"url":"http://x/e","valueString":"\\udbff"}]}',
    ],
    [
      'an unpaired surrogate in narrative',
      '{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\">\\ud800</div>"}}',
    ],
  ];
  for (const [what, body] of bodies) {
    it(`create with ${what}: 400, nothing stored`, async () => {
      const before = await patientCount();
      const res = await t.req('/fhir/Patient', { method: 'POST', body, headers: { 'content-type': 'application/fhir+json' } });
      expect(res.status).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(await patientCount()).toBe(before);
    });
  }

  it('an update with an unpaired surrogate leaves the stored version as it was', async () => {
    const body = `{"resourceType":"Patient","id":"${patientId}","name":[{"family":"\\ud83d"}]}`;
    const res = await t.req(`/fhir/Patient/${patientId}`, { method: 'PUT', body, headers: { 'content-type': 'application/fhir+json' } });
    expectBadRequest(res, /Patient\.name\[0\]\.family is not valid Unicode/);
    const read = await t.req(`/fhir/Patient/${patientId}`);
    expect(read.body.meta.versionId).toBe('1');
    expect(read.body.name[0].family).toBe('Nul');
  });

  it('a JSON Patch that adds an unpaired surrogate is refused', async () => {
    const res = await t.req(`/fhir/Patient/${patientId}`, {
      method: 'PATCH',
      body: '[{"op":"replace","path":"/name/0/family","value":"\\ud800"}]',
      headers: { 'content-type': 'application/json-patch+json' },
    });
    expect(res.status).toBe(400);
    expect((await t.req(`/fhir/Patient/${patientId}`)).body.meta.versionId).toBe('1');
  });

  it('a transaction whose second entry holds an unpaired surrogate stores nothing', async () => {
    const before = await patientCount();
    const res = await t.req('/fhir', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient', name: [{ family: 'Fine' }] }, request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Patient', name: [{ family: 'X' }] }, request: { method: 'POST', url: 'Patient' } },
        ],
      }).replace('"family":"X"', '"family":"\\udfff"'),
      headers: { 'content-type': 'application/fhir+json' },
    });
    expect(res.status).toBe(400);
    expect(await patientCount()).toBe(before);
  });

  it('a paired surrogate (an emoji) is ordinary text and is stored as sent', async () => {
    const res = await t.req('/fhir/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Smile 😀' }] } });
    expect(res.status).toBe(201);
    expect((await t.req(`/fhir/Patient/${res.body.id}`)).body.name[0].family).toBe('Smile 😀');
  });
});

describe('malformed percent-encoding in the path (issue 13 item 13)', () => {
  for (const path of ['/fhir/%E0%A4%A', '/fhir/%E0%A4%A/x', '/fhir/%ZZ']) {
    it(`GET ${path} is a 400 OperationOutcome`, async () => {
      expectBadRequest(await t.req(path), /percent-encoding/);
    });
  }
});
