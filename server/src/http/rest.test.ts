/**
 * FHIR REST interactions against a real server (embedded or PostgreSQL, per DATABASE_URL).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/harness.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

const patient = (family: string, extra: object = {}) => ({
  resourceType: 'Patient',
  name: [{ family, given: ['Ada'] }],
  birthDate: '1980-02-03',
  ...extra,
});

describe('create, read, vread', () => {
  it('assigns server ids, versionId 1, lastUpdated; Location, ETag and Last-Modified headers', async () => {
    const res = await t.req('/fhir/Patient', { method: 'POST', json: patient('Lovelace', { id: 'client-chosen' }) });
    expect(res.status).toBe(201);
    expect(res.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.id).not.toBe('client-chosen');
    expect(res.body.meta.versionId).toBe('1');
    expect(Date.parse(res.body.meta.lastUpdated)).toBeGreaterThan(Date.now() - 60_000);
    expect(res.headers.get('location')).toBe(`${t.fhir}/Patient/${res.body.id}/_history/1`);
    expect(res.headers.get('etag')).toBe('W/"1"');
    expect(res.headers.get('last-modified')).toBe(new Date(res.body.meta.lastUpdated).toUTCString());
    expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);

    const read = await t.req(`/fhir/Patient/${res.body.id}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(res.body);
    const vread = await t.req(`/fhir/Patient/${res.body.id}/_history/1`);
    expect(vread.status).toBe(200);
    expect(vread.body.name[0].family).toBe('Lovelace');
  });

  it('answers 404 for an unknown id and for an unknown version', async () => {
    expect((await t.req('/fhir/Patient/does-not-exist')).status).toBe(404);
    const created = await t.req('/fhir/Patient', { method: 'POST', json: patient('Hopper') });
    const missing = await t.req(`/fhir/Patient/${created.body.id}/_history/9`);
    expect(missing.status).toBe(404);
    expect(missing.body.resourceType).toBe('OperationOutcome');
  });

  it('accepts application/json as well as application/fhir+json, and _pretty', async () => {
    const res = await t.req('/fhir/Patient', {
      method: 'POST',
      body: JSON.stringify(patient('Json')),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(201);
    const pretty = await t.req(`/fhir/Patient/${res.body.id}?_pretty=true`);
    expect(pretty.text).toContain('\n  "resourceType"');
  });
});

describe('update, versions and optimistic locking', () => {
  it('keeps every version and increments versionId', async () => {
    const c = await t.req('/fhir/Patient', { method: 'POST', json: patient('One') });
    const id = c.body.id;
    const u = await t.req(`/fhir/Patient/${id}`, { method: 'PUT', json: { ...patient('Two'), id } });
    expect(u.status).toBe(200);
    expect(u.body.meta.versionId).toBe('2');
    expect((await t.req(`/fhir/Patient/${id}/_history/1`)).body.name[0].family).toBe('One');
    expect((await t.req(`/fhir/Patient/${id}`)).body.name[0].family).toBe('Two');
    const hist = await t.req(`/fhir/Patient/${id}/_history`);
    expect(hist.body.type).toBe('history');
    expect(hist.body.total).toBe(2);
    expect(hist.body.entry.map((e: any) => e.resource.meta.versionId)).toEqual(['2', '1']);
  });

  it('update-as-create with a client id answers 201', async () => {
    const res = await t.req('/fhir/Patient/my-own-id-1', { method: 'PUT', json: { ...patient('Own'), id: 'my-own-id-1' } });
    expect(res.status).toBe(201);
    expect(res.body.meta.versionId).toBe('1');
    expect(res.headers.get('location')).toContain('/Patient/my-own-id-1/_history/1');
  });

  it('If-Match: the right version updates, a stale one is 412 and nothing changes', async () => {
    const c = await t.req('/fhir/Patient', { method: 'POST', json: patient('Lock') });
    const id = c.body.id;
    const ok = await t.req(`/fhir/Patient/${id}`, { method: 'PUT', json: { ...patient('Lock2'), id }, headers: { 'if-match': 'W/"1"' } });
    expect(ok.status).toBe(200);
    const stale = await t.req(`/fhir/Patient/${id}`, {
      method: 'PUT',
      json: { ...patient('Lock3'), id },
      headers: { 'if-match': 'W/"1"' },
    });
    expect(stale.status).toBe(412);
    expect(stale.body.resourceType).toBe('OperationOutcome');
    expect((await t.req(`/fhir/Patient/${id}`)).body.name[0].family).toBe('Lock2');
  });

  it('concurrent If-Match updates of one version: exactly one wins, the others get 412, never 500', async () => {
    const c = await t.req('/fhir/Patient', { method: 'POST', json: patient('Race') });
    const id = c.body.id;
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        t.req(`/fhir/Patient/${id}`, { method: 'PUT', json: { ...patient(`Race${i}`), id }, headers: { 'if-match': 'W/"1"' } }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(5);
    expect((await t.req(`/fhir/Patient/${id}`)).body.meta.versionId).toBe('2');
  });

  it('concurrent updates without If-Match all apply in sequence', async () => {
    const c = await t.req('/fhir/Patient', { method: 'POST', json: patient('Seq') });
    const id = c.body.id;
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => t.req(`/fhir/Patient/${id}`, { method: 'PUT', json: { ...patient(`Seq${i}`), id } })),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(new Set(results.map((r) => r.body.meta.versionId))).toEqual(new Set(['2', '3', '4', '5', '6']));
  });

  it('ten concurrent updates of one resource all apply, one version each, with every version in history', async () => {
    const c = await t.req('/fhir/Patient', { method: 'POST', json: patient('Many') });
    const id = c.body.id;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => t.req(`/fhir/Patient/${id}`, { method: 'PUT', json: { ...patient(`Many${i}`), id } })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(new Set(results.map((r) => r.body.meta.versionId)).size).toBe(10);
    const history = await t.req(`/fhir/Patient/${id}/_history?_count=50`);
    expect(history.body.entry).toHaveLength(11);
    // The current version is the last one written, and search finds it under its own name only.
    const current = await t.req(`/fhir/Patient/${id}`);
    expect(current.body.meta.versionId).toBe('11');
    const found = await t.req(`/fhir/Patient?_id=${id}&family=${current.body.name[0].family}`);
    expect(found.body.entry).toHaveLength(1);
    const stale = ['Many0', 'Many1', 'Many2'].filter((f) => f !== current.body.name[0].family)[0];
    expect((await t.req(`/fhir/Patient?_id=${id}&family:exact=${stale}`)).body.entry ?? []).toHaveLength(0);
  });

  it('concurrent update-as-create of one new id: one 201, the others update it', async () => {
    const id = `new-${Date.now()}`;
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => t.req(`/fhir/Patient/${id}`, { method: 'PUT', json: { ...patient(`New${i}`), id } })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
    expect((await t.req(`/fhir/Patient/${id}`)).body.meta.versionId).toBe('6');
  });

  it('refuses a body whose resourceType or id disagrees with the URL', async () => {
    const c = await t.req('/fhir/Patient', { method: 'POST', json: patient('Mismatch') });
    const wrongId = await t.req(`/fhir/Patient/${c.body.id}`, { method: 'PUT', json: { ...patient('X'), id: 'other' } });
    expect(wrongId.status).toBe(400);
    expect(JSON.stringify(wrongId.body)).toMatch(/id/i);
    const wrongType = await t.req(`/fhir/Patient/${c.body.id}`, {
      method: 'PUT',
      json: { resourceType: 'Observation', id: c.body.id, status: 'final', code: { text: 'x' } },
    });
    expect(wrongType.status).toBe(400);
    const wrongTypeCreate = await t.req('/fhir/Patient', {
      method: 'POST',
      json: { resourceType: 'Observation', status: 'final', code: { text: 'x' } },
    });
    expect(wrongTypeCreate.status).toBe(400);
  });
});

describe('patch', () => {
  it('applies JSON Patch and versions the result', async () => {
    const c = await t.req('/fhir/Patient', { method: 'POST', json: patient('Patch') });
    const res = await t.req(`/fhir/Patient/${c.body.id}`, {
      method: 'PATCH',
      body: JSON.stringify([
        { op: 'replace', path: '/name/0/family', value: 'Patched' },
        { op: 'add', path: '/gender', value: 'female' },
      ]),
      headers: { 'content-type': 'application/json-patch+json' },
    });
    expect(res.status).toBe(200);
    expect(res.body.name[0].family).toBe('Patched');
    expect(res.body.gender).toBe('female');
    expect(res.body.meta.versionId).toBe('2');
  });

  it('refuses a patch that makes the resource invalid, storing nothing', async () => {
    const c = await t.req('/fhir/Patient', { method: 'POST', json: patient('BadPatch') });
    const res = await t.req(`/fhir/Patient/${c.body.id}`, {
      method: 'PATCH',
      body: JSON.stringify([{ op: 'replace', path: '/birthDate', value: 'not-a-date' }]),
      headers: { 'content-type': 'application/json-patch+json' },
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain('Patient.birthDate');
    expect((await t.req(`/fhir/Patient/${c.body.id}`)).body.meta.versionId).toBe('1');
  });

  it('refuses a patch with a failing test op', async () => {
    const c = await t.req('/fhir/Patient', { method: 'POST', json: patient('TestOp') });
    const res = await t.req(`/fhir/Patient/${c.body.id}`, {
      method: 'PATCH',
      body: JSON.stringify([
        { op: 'test', path: '/name/0/family', value: 'Other' },
        { op: 'remove', path: '/birthDate' },
      ]),
      headers: { 'content-type': 'application/json-patch+json' },
    });
    expect(res.status).toBe(400);
    expect((await t.req(`/fhir/Patient/${c.body.id}`)).body.birthDate).toBe('1980-02-03');
  });
});

describe('delete', () => {
  it('soft-deletes: read is 410, history shows the delete, vread of old version works', async () => {
    const c = await t.req('/fhir/Patient', { method: 'POST', json: patient('Gone') });
    const id = c.body.id;
    const del = await t.req(`/fhir/Patient/${id}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    const read = await t.req(`/fhir/Patient/${id}`);
    expect(read.status).toBe(410);
    expect(read.body.resourceType).toBe('OperationOutcome');
    const hist = await t.req(`/fhir/Patient/${id}/_history`);
    expect(hist.status).toBe(200);
    expect(hist.body.entry[0].request.method).toBe('DELETE');
    expect(hist.body.entry[0].resource).toBeUndefined();
    expect(hist.body.entry[1].resource.name[0].family).toBe('Gone');
    expect((await t.req(`/fhir/Patient/${id}/_history/1`)).status).toBe(200);
    expect((await t.req(`/fhir/Patient/${id}/_history/2`)).status).toBe(410);
    // Deleting again is idempotent.
    expect((await t.req(`/fhir/Patient/${id}`, { method: 'DELETE' })).status).toBe(200);
  });

  it('delete with a stale If-Match is 412', async () => {
    const c = await t.req('/fhir/Patient', { method: 'POST', json: patient('DelLock') });
    await t.req(`/fhir/Patient/${c.body.id}`, { method: 'PUT', json: { ...patient('DelLock2'), id: c.body.id } });
    const res = await t.req(`/fhir/Patient/${c.body.id}`, { method: 'DELETE', headers: { 'if-match': 'W/"1"' } });
    expect(res.status).toBe(412);
    expect((await t.req(`/fhir/Patient/${c.body.id}`)).status).toBe(200);
  });
});

describe('conditional read and Prefer', () => {
  it('If-None-Match with the current ETag is 304; with an old one is 200', async () => {
    const c = await t.req('/fhir/Patient', { method: 'POST', json: patient('Cond') });
    expect((await t.req(`/fhir/Patient/${c.body.id}`, { headers: { 'if-none-match': 'W/"1"' } })).status).toBe(304);
    await t.req(`/fhir/Patient/${c.body.id}`, { method: 'PUT', json: { ...patient('Cond2'), id: c.body.id } });
    expect((await t.req(`/fhir/Patient/${c.body.id}`, { headers: { 'if-none-match': 'W/"1"' } })).status).toBe(200);
  });

  it('If-Modified-Since: 304 when not modified after, 200 when modified', async () => {
    const c = await t.req('/fhir/Patient', { method: 'POST', json: patient('Ims') });
    const later = new Date(Date.now() + 60_000).toUTCString();
    const earlier = new Date(Date.now() - 3_600_000).toUTCString();
    expect((await t.req(`/fhir/Patient/${c.body.id}`, { headers: { 'if-modified-since': later } })).status).toBe(304);
    expect((await t.req(`/fhir/Patient/${c.body.id}`, { headers: { 'if-modified-since': earlier } })).status).toBe(200);
  });

  it('Prefer return=minimal sends no body; return=OperationOutcome sends an outcome', async () => {
    const min = await t.req('/fhir/Patient', { method: 'POST', json: patient('Min'), headers: { prefer: 'return=minimal' } });
    expect(min.status).toBe(201);
    expect(min.text).toBe('');
    expect(min.headers.get('location')).toMatch(/\/Patient\/[^/]+\/_history\/1$/);
    const oo = await t.req('/fhir/Patient', { method: 'POST', json: patient('OO'), headers: { prefer: 'return=OperationOutcome' } });
    expect(oo.status).toBe(201);
    expect(oo.body.resourceType).toBe('OperationOutcome');
    const rep = await t.req('/fhir/Patient', { method: 'POST', json: patient('Rep'), headers: { prefer: 'return=representation' } });
    expect(rep.body.resourceType).toBe('Patient');
  });
});

describe('bad input never 500s', () => {
  it('malformed JSON is 400 with an OperationOutcome', async () => {
    const res = await t.req('/fhir/Patient', {
      method: 'POST',
      body: '{"resourceType": "Patient", ',
      headers: { 'content-type': 'application/fhir+json' },
    });
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].diagnostics).toMatch(/JSON/);
  });

  it('XML is 415 with an OperationOutcome', async () => {
    const body = await t.req('/fhir/Patient', {
      method: 'POST',
      body: '<Patient xmlns="http://hl7.org/fhir"/>',
      headers: { 'content-type': 'application/fhir+xml' },
    });
    expect(body.status).toBe(415);
    expect(body.body.resourceType).toBe('OperationOutcome');
    const fmt = await t.req('/fhir/Patient?_format=xml');
    expect(fmt.status).toBe(415);
    expect(fmt.body.resourceType).toBe('OperationOutcome');
  });

  it('a body over the configured limit is 413', async () => {
    const small = await startTestServer({ HAVEN_MAX_BODY_BYTES: '1000' });
    try {
      const res = await small.req('/fhir/Patient', { method: 'POST', json: patient('x'.repeat(2000)) });
      expect(res.status).toBe(413);
      expect(res.body.resourceType).toBe('OperationOutcome');
    } finally {
      await small.stop();
    }
  });

  it('unknown resource types are 404 with a diagnostic', async () => {
    const res = await t.req('/fhir/Pateint/1');
    expect(res.status).toBe(404);
    expect(res.body.issue[0].diagnostics).toContain('Pateint');
    expect((await t.req('/fhir/Pateint', { method: 'POST', json: { resourceType: 'Pateint' } })).status).toBe(404);
  });

  it('invalid resources are 400 with FHIRPath locations and nothing is stored', async () => {
    const before = await t.req('/fhir/Patient/_history?_count=0');
    const res = await t.req('/fhir/Patient', { method: 'POST', json: { resourceType: 'Patient', birthDate: '1980-13-45', foo: 1 } });
    expect(res.status).toBe(400);
    const expressions = res.body.issue.flatMap((i: any) => i.expression ?? []);
    expect(expressions).toContain('Patient.birthDate');
    expect(expressions).toContain('Patient.foo');
    const after = await t.req('/fhir/Patient/_history?_count=0');
    expect(after.body.total).toBe(before.body.total);
  });

  it('an invalid id in the URL is 400', async () => {
    const res = await t.req(`/fhir/Patient/${'x'.repeat(65)}`);
    expect(res.status).toBe(400);
  });

  it('no internal error was logged by any test above', () => {
    expect(t.logs.filter((l) => l.level === 'error')).toEqual([]);
  });
});

describe('authentication hook', () => {
  it('without HAVEN_AUTH=off the API answers 401 with WWW-Authenticate; metadata stays public', async () => {
    const locked = await startTestServer({ HAVEN_AUTH: '' });
    try {
      const res = await locked.req('/fhir/Patient');
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect((await locked.req('/fhir/metadata')).status).toBe(200);
    } finally {
      await locked.stop();
    }
  });

  it('HAVEN_AUTH=off is refused unless HOST is loopback', async () => {
    await expect(startTestServer({ HOST: '0.0.0.0', HAVEN_AUTH: 'off' })).rejects.toThrow(/loopback/);
  });

  it('HAVEN_AUTH=off opens the API without a token and logs a warning at start', async () => {
    const dev = await startTestServer({ HAVEN_AUTH: 'off' });
    try {
      expect(dev.logs.some((l) => l.event === 'auth.disabled' && l.level === 'warn')).toBe(true);
      expect((await dev.req('/fhir/Patient')).status).toBe(200);
    } finally {
      await dev.stop();
    }
  });

  it('the suite itself runs with real tokens: a request without one is refused', async () => {
    expect(t.logs.some((l) => l.event === 'auth.disabled')).toBe(false);
    expect((await t.req('/fhir/Patient', { anonymous: true })).status).toBe(401);
    expect((await t.req('/fhir/Patient')).status).toBe(200);
  });
});

describe('CORS and WWW-Authenticate', () => {
  it('answers preflights and exposes FHIR headers to browser apps', async () => {
    const pre = await t.req('/fhir/Patient', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-headers')).toContain('Authorization');
    const get = await t.req('/fhir/metadata', { headers: { origin: 'https://app.example' } });
    expect(get.headers.get('access-control-allow-origin')).toBe('*');
    expect(get.headers.get('access-control-expose-headers')).toContain('ETag');
  });

  it('sends error="invalid_token" only when a token was presented (RFC 6750 §3.1)', async () => {
    const locked = await startTestServer({ HAVEN_AUTH: '' });
    try {
      const none = await locked.req('/fhir/Patient');
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).not.toContain('error=');
      const bad = await locked.req('/fhir/Patient', { headers: { authorization: 'Bearer not-a-token' } });
      expect(bad.status).toBe(401);
      expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"');
      const cs = await locked.req('/fhir/metadata');
      expect(cs.body.rest[0].security.service[0].coding[0].code).toBe('SMART-on-FHIR');
    } finally {
      await locked.stop();
    }
  });
});
