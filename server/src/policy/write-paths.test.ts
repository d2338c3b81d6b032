/**
 * Write side: create, update, patch, delete, conditional operations, transactions and batches stay inside
 * what the scopes allow (SMART App Launch 2.2 §Clinical Scope Syntax c/u/d; §Patient-specific scopes; RFC
 * 6750 §3.1 insufficient_scope). A write whose result leaves the grants is a 403 and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../test-support/harness.ts';
import { observation, seed } from './fixture.ts';
import { ADMIN, as, startPolicyServer, type TestToken } from './test-principal.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startPolicyServer();
  await seed(t);
});
afterAll(async () => {
  await t?.stop();
});

const WRITER: TestToken = { scopes: 'patient/*.cruds', patient: 'pat-a' };
const W = as(WRITER);
const admin = as(ADMIN);
const json = { 'content-type': 'application/fhir+json' };
const patchHeaders = (h: Record<string, string>) => ({ ...h, 'content-type': 'application/json-patch+json' });

async function adminRead(ref: string) {
  return t.req(`/fhir/${ref}`, { headers: admin });
}

describe('create', () => {
  it('creates an Observation for the patient in context', async () => {
    const res = await t.req('/fhir/Observation', { method: 'POST', json: observation('x', 'pat-a', 'survey', 'new'), headers: W });
    expect(res.status).toBe(201);
  });

  it('refuses one for another patient (403) and stores nothing', async () => {
    const before = (await t.req('/fhir/Observation?_summary=count', { headers: admin })).body.total;
    const res = await t.req('/fhir/Observation', { method: 'POST', json: observation('x', 'pat-b', 'survey', 'sneaky'), headers: W });
    expect(res.status).toBe(403);
    expect(res.body.issue[0].code).toBe('forbidden');
    expect(res.headers.get('www-authenticate')).toMatch(/insufficient_scope/);
    expect((await t.req('/fhir/Observation?_summary=count', { headers: admin })).body.total).toBe(before);
  });

  it("refuses one that is also in another patient's compartment, or in none", async () => {
    const both = observation('x', 'pat-a', 'survey', 'two', { performer: [{ reference: 'Patient/pat-b' }] });
    expect((await t.req('/fhir/Observation', { method: 'POST', json: both, headers: W })).status).toBe(403);
    const none = { ...observation('x', 'pat-a', 'survey', 'none'), subject: undefined };
    expect((await t.req('/fhir/Observation', { method: 'POST', json: none, headers: W })).status).toBe(403);
  });

  it('refuses a new Patient, shared resources and types without patient links', async () => {
    expect((await t.req('/fhir/Patient', { method: 'POST', json: { resourceType: 'Patient' }, headers: W })).status).toBe(403);
    expect((await t.req('/fhir/Practitioner', { method: 'POST', json: { resourceType: 'Practitioner' }, headers: W })).status).toBe(403);
    expect(
      (await t.req('/fhir/Binary', { method: 'POST', json: { resourceType: 'Binary', contentType: 'text/plain' }, headers: W })).status,
    ).toBe(403);
  });

  it('needs c: a read-only token gets 403 naming patient/Observation.c', async () => {
    const res = await t.req('/fhir/Observation', {
      method: 'POST',
      json: observation('x', 'pat-a', 'survey', 'ro'),
      headers: as({ scopes: 'patient/Observation.rs', patient: 'pat-a' }),
    });
    expect(res.status).toBe(403);
    expect(res.body.issue[0].diagnostics).toContain('patient/Observation.c');
  });

  it('v1 .write and v2 .cud create alike', async () => {
    for (const scopes of ['patient/Observation.write', 'patient/Observation.cud']) {
      const token = as({ scopes, patient: 'pat-a' });
      expect(
        (await t.req('/fhir/Observation', { method: 'POST', json: observation('x', 'pat-a', 'survey', 'v'), headers: token })).status,
        scopes,
      ).toBe(201);
      expect(
        (await t.req('/fhir/Observation', { method: 'POST', json: observation('x', 'pat-b', 'survey', 'v'), headers: token })).status,
        scopes,
      ).toBe(403);
    }
  });
});

describe('update and patch', () => {
  it("updates A's resource in place", async () => {
    const res = await t.req('/fhir/Observation/obs-a-lab', {
      method: 'PUT',
      json: observation('obs-a-lab', 'pat-a', 'laboratory', 'a1c', { status: 'amended' }),
      headers: W,
    });
    expect(res.status).toBe(200);
  });

  it("refuses to move A's resource to B (403), leaving it unchanged", async () => {
    const before = await adminRead('Observation/obs-a-survey');
    const moved = { ...before.body, subject: { reference: 'Patient/pat-b' } };
    const res = await t.req('/fhir/Observation/obs-a-survey', { method: 'PUT', json: moved, headers: W });
    expect(res.status).toBe(403);
    expect((await adminRead('Observation/obs-a-survey')).body).toEqual(before.body);
  });

  it("B's resources are 404 for update, patch and delete, before If-Match is looked at", async () => {
    const body = observation('obs-b-lab', 'pat-a', 'laboratory', 'steal');
    expect((await t.req('/fhir/Observation/obs-b-lab', { method: 'PUT', json: body, headers: W })).status).toBe(404);
    expect(
      (await t.req('/fhir/Observation/obs-b-lab', { method: 'PUT', json: body, headers: { ...W, 'if-match': 'W/"99"' } })).status,
    ).toBe(404);
    const patch = [{ op: 'replace', path: '/status', value: 'cancelled' }];
    expect(
      (await t.req('/fhir/Observation/obs-b-lab', { method: 'PATCH', body: JSON.stringify(patch), headers: patchHeaders(W) })).status,
    ).toBe(404);
    expect((await t.req('/fhir/Observation/obs-b-lab', { method: 'DELETE', headers: W })).status).toBe(404);
    expect((await adminRead('Observation/obs-b-lab')).body.status).toBe('final');
  });

  it('update-as-create for another patient → 403', async () => {
    const res = await t.req('/fhir/Observation/new-for-b', {
      method: 'PUT',
      json: observation('new-for-b', 'pat-b', 'survey', 'x'),
      headers: W,
    });
    expect(res.status).toBe(403);
    expect((await adminRead('Observation/new-for-b')).status).toBe(404);
  });

  it('a patch that moves the resource to B → 403; a harmless patch → 200', async () => {
    const move = [{ op: 'replace', path: '/subject/reference', value: 'Patient/pat-b' }];
    expect(
      (await t.req('/fhir/Observation/obs-a-survey', { method: 'PATCH', body: JSON.stringify(move), headers: patchHeaders(W) })).status,
    ).toBe(403);
    expect((await adminRead('Observation/obs-a-survey')).body.subject.reference).toBe('Patient/pat-a');
    const ok = [{ op: 'replace', path: '/status', value: 'preliminary' }];
    expect(
      (await t.req('/fhir/Observation/obs-a-survey', { method: 'PATCH', body: JSON.stringify(ok), headers: patchHeaders(W) })).status,
    ).toBe(200);
  });

  it("a resource A can read but not write (in B's compartment too) → 403 on update", async () => {
    const current = await adminRead('Observation/obs-b-by-a');
    const res = await t.req('/fhir/Observation/obs-b-by-a', { method: 'PUT', json: { ...current.body, status: 'amended' }, headers: W });
    expect(res.status).toBe(403);
  });

  it('A may update their own Patient record but not add a link to B', async () => {
    const me = (await adminRead('Patient/pat-a')).body;
    expect((await t.req('/fhir/Patient/pat-a', { method: 'PUT', json: { ...me, gender: 'other' }, headers: W })).status).toBe(200);
    const linked = { ...me, link: [{ type: 'seealso', other: { reference: 'Patient/pat-b' } }] };
    expect((await t.req('/fhir/Patient/pat-a', { method: 'PUT', json: linked, headers: W })).status).toBe(403);
  });
});

describe('delete', () => {
  it("deletes A's resource; needs d", async () => {
    await t.req('/fhir/Condition/del-a', {
      method: 'PUT',
      json: { resourceType: 'Condition', id: 'del-a', subject: { reference: 'Patient/pat-a' } },
      headers: admin,
    });
    expect(
      (await t.req('/fhir/Condition/del-a', { method: 'DELETE', headers: as({ scopes: 'patient/Condition.rs', patient: 'pat-a' }) }))
        .status,
    ).toBe(403);
    expect((await t.req('/fhir/Condition/del-a', { method: 'DELETE', headers: W })).status).toBe(200);
    expect((await adminRead('Condition/del-a')).status).toBe(410);
  });
});

describe('conditional operations: the search and the write are both checked', () => {
  it("conditional update does not find B's resource and cannot create for B", async () => {
    const res = await t.req('/fhir/Observation?identifier=obs-b-lab', {
      method: 'PUT',
      json: observation('', 'pat-b', 'laboratory', 'x'),
      headers: W,
    });
    expect(res.status).toBe(403);
    expect((await adminRead('Observation/obs-b-lab')).body.status).toBe('final');
  });

  it("conditional update matching only B's resource creates A's own instead", async () => {
    const body = { ...observation('', 'pat-a', 'laboratory', 'cond-upd'), id: undefined };
    const res = await t.req('/fhir/Observation?identifier=obs-b-lab', { method: 'PUT', json: body, headers: W });
    expect(res.status).toBe(201);
    expect(res.body.id).not.toBe('obs-b-lab');
  });

  it('conditional delete never reaches B', async () => {
    expect((await t.req('/fhir/Observation?identifier=obs-b-survey', { method: 'DELETE', headers: W })).status).toBe(200);
    expect((await adminRead('Observation/obs-b-survey')).status).toBe(200);
  });

  it('conditional patch never reaches B', async () => {
    const patch = [{ op: 'replace', path: '/status', value: 'cancelled' }];
    const res = await t.req('/fhir/Observation?identifier=obs-b-survey', {
      method: 'PATCH',
      body: JSON.stringify(patch),
      headers: patchHeaders(W),
    });
    expect(res.status).toBe(404);
    expect((await adminRead('Observation/obs-b-survey')).body.status).toBe('final');
  });

  it("conditional create does not return B's match, and needs s for its search", async () => {
    const body = observation('', 'pat-a', 'laboratory', 'cc');
    const res = await t.req('/fhir/Observation', {
      method: 'POST',
      json: body,
      headers: { ...W, 'if-none-exist': 'identifier=obs-b-lab' },
    });
    expect(res.status).toBe(201);
    expect(res.text).not.toContain('b-only-code');
    const createOnly = as({ scopes: 'patient/Observation.c', patient: 'pat-a' });
    const refused = await t.req('/fhir/Observation', {
      method: 'POST',
      json: body,
      headers: { ...createOnly, 'if-none-exist': 'identifier=x' },
    });
    expect(refused.status).toBe(403);
    expect(refused.body.issue[0].diagnostics).toContain('patient/Observation.s');
  });
});

describe('transactions and batches', () => {
  const entries = [
    {
      fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111',
      resource: observation('', 'pat-a', 'survey', 'tx-ok'),
      request: { method: 'POST', url: 'Observation' },
    },
    {
      fullUrl: 'urn:uuid:22222222-2222-4222-8222-222222222222',
      resource: observation('', 'pat-b', 'survey', 'tx-denied'),
      request: { method: 'POST', url: 'Observation' },
    },
  ];

  it('a transaction with one denied entry fails whole with 403', async () => {
    const res = await t.req('/fhir', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry: entries }, headers: W });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toMatch(/insufficient_scope/);
    expect((await t.req('/fhir/Observation?code=tx-ok&_summary=count', { headers: admin })).body.total).toBe(0);
  });

  it('a transaction reading B fails with 404', async () => {
    const tx = { resourceType: 'Bundle', type: 'transaction', entry: [entries[0], { request: { method: 'GET', url: 'Patient/pat-b' } }] };
    expect((await t.req('/fhir', { method: 'POST', json: tx, headers: W })).status).toBe(404);
    expect((await t.req('/fhir/Observation?code=tx-ok&_summary=count', { headers: admin })).body.total).toBe(0);
  });

  it('a batch applies the allowed entry and refuses the other', async () => {
    const res = await t.req('/fhir', { method: 'POST', json: { resourceType: 'Bundle', type: 'batch', entry: entries }, headers: W });
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: { response: { status: string } }) => e.response.status)).toEqual(['201', '403']);
    expect((await t.req('/fhir/Observation?code=tx-ok&_summary=count', { headers: admin })).body.total).toBe(1);
    expect((await t.req('/fhir/Observation?code=tx-denied&_summary=count', { headers: admin })).body.total).toBe(0);
  });

  it('transaction conditional references resolve only through visible rows', async () => {
    const tx = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: observation('', 'pat-a', 'survey', 'tx-cond'), request: { method: 'PUT', url: 'Observation?identifier=obs-b-lab' } },
      ],
    };
    const res = await t.req('/fhir', { method: 'POST', json: tx, headers: W });
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toBe('201');
    expect((await adminRead('Observation/obs-b-lab')).body.code.text).toBe('b-only-code');
  });
});

describe('$validate', () => {
  it('needs some scope on the type, not data access', async () => {
    const body = JSON.stringify(observation('x', 'pat-b', 'survey', 'v'));
    const ok = await t.req('/fhir/Observation/$validate', {
      method: 'POST',
      body,
      headers: { ...as({ scopes: 'patient/Observation.rs', patient: 'pat-a' }), ...json },
    });
    expect(ok.status).toBe(200);
    const no = await t.req('/fhir/Observation/$validate', {
      method: 'POST',
      body,
      headers: { ...as({ scopes: 'patient/Condition.rs', patient: 'pat-a' }), ...json },
    });
    expect(no.status).toBe(403);
  });
});

describe('query-constrained write scopes', () => {
  const SURVEY = as({ scopes: 'patient/Observation.crus?category=survey', patient: 'pat-a' });
  it('creates survey Observations only', async () => {
    expect(
      (await t.req('/fhir/Observation', { method: 'POST', json: observation('x', 'pat-a', 'survey', 'qs'), headers: SURVEY })).status,
    ).toBe(201);
    expect(
      (await t.req('/fhir/Observation', { method: 'POST', json: observation('x', 'pat-a', 'laboratory', 'ql'), headers: SURVEY })).status,
    ).toBe(403);
  });

  it("cannot turn a survey into a lab result, nor touch A's lab results", async () => {
    const created = await t.req('/fhir/Observation', { method: 'POST', json: observation('x', 'pat-a', 'survey', 'qs2'), headers: SURVEY });
    const relabel = {
      ...created.body,
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    };
    expect((await t.req(`/fhir/Observation/${created.body.id}`, { method: 'PUT', json: relabel, headers: SURVEY })).status).toBe(403);
    const lab = (await adminRead('Observation/obs-a-lab')).body;
    expect((await t.req('/fhir/Observation/obs-a-lab', { method: 'PUT', json: lab, headers: SURVEY })).status).toBe(404);
  });
});
