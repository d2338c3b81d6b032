/**
 * Batch and transaction Bundles against a real server: atomicity, urn:uuid rewriting, conditional entries.
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

const pUuid = 'urn:uuid:7f1d3c44-1c0e-4a3e-9d1f-0d6b9b0b1a01';

function txBundle(family: string, extraEntries: object[] = []) {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: pUuid,
        resource: { resourceType: 'Patient', name: [{ family }], identifier: [{ system: 'urn:test:mrn', value: family }] },
        request: { method: 'POST', url: 'Patient' },
      },
      {
        fullUrl: 'urn:uuid:7f1d3c44-1c0e-4a3e-9d1f-0d6b9b0b1a02',
        resource: {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '44261-6' }] },
          subject: { reference: pUuid },
          valueInteger: 12,
        },
        request: { method: 'POST', url: 'Observation' },
      },
      ...extraEntries,
    ],
  };
}

describe('transaction', () => {
  it('creates all entries and rewrites urn:uuid references to the assigned ids', async () => {
    const res = await t.req('/fhir', { method: 'POST', json: txBundle('Tx') });
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('transaction-response');
    expect(res.body.entry).toHaveLength(2);
    expect(res.body.entry[0].response.status).toMatch(/^201/);
    const patientLocation: string = res.body.entry[0].response.location;
    const obsLocation: string = res.body.entry[1].response.location;
    const patientId = patientLocation.split('/')[1];
    const obs = await t.req(`/fhir/${obsLocation.split('/_history')[0]}`);
    expect(obs.body.subject.reference).toBe(`Patient/${patientId}`);
  });

  it('is all or nothing: one invalid entry and nothing of the bundle is stored', async () => {
    const before = await t.req('/fhir/_history?_count=0');
    const bad = txBundle('Atomic', [
      {
        resource: { resourceType: 'Observation', status: 'not-a-status', code: { text: 'x' } },
        request: { method: 'POST', url: 'Observation' },
      },
    ]);
    const res = await t.req('/fhir', { method: 'POST', json: bad });
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    const after = await t.req('/fhir/_history?_count=0');
    expect(after.body.total).toBe(before.body.total);
  });

  it('an entry failing on a precondition (stale If-Match) rolls back the rest', async () => {
    const created = await t.req('/fhir/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Pre' }] } });
    const id = created.body.id;
    await t.req(`/fhir/Patient/${id}`, { method: 'PUT', json: { resourceType: 'Patient', id, name: [{ family: 'Pre2' }] } });
    const before = await t.req('/fhir/_history?_count=0');
    const res = await t.req('/fhir', {
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient', name: [{ family: 'WouldBeCreated' }] }, request: { method: 'POST', url: 'Patient' } },
          {
            resource: { resourceType: 'Patient', id, name: [{ family: 'Stale' }] },
            request: { method: 'PUT', url: `Patient/${id}`, ifMatch: 'W/"1"' },
          },
        ],
      },
    });
    expect(res.status).toBe(412);
    expect((await t.req('/fhir/_history?_count=0')).body.total).toBe(before.body.total);
    expect((await t.req(`/fhir/Patient/${id}`)).body.name[0].family).toBe('Pre2');
  });

  it('conditional create (ifNoneExist) inside a transaction does not duplicate', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:0c3f0f36-7c59-4d0e-9f55-6b8f3c5f0a11',
          resource: { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'cond-tx-1' }], name: [{ family: 'Cond' }] },
          request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:test:mrn|cond-tx-1' },
        },
      ],
    };
    const first = await t.req('/fhir', { method: 'POST', json: bundle });
    const second = await t.req('/fhir', { method: 'POST', json: bundle });
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(first.body.entry[0].response.status).toMatch(/^201/);
    expect(second.body.entry[0].response.status).toMatch(/^200/);
    const found = await t.req('/fhir/Patient?identifier=urn:test:mrn|cond-tx-1&_total=accurate');
    expect(found.body.total).toBe(1);
  });
});

describe('batch', () => {
  it('applies entries independently and reports each outcome', async () => {
    const res = await t.req('/fhir', {
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: { resourceType: 'Patient', name: [{ family: 'BatchOk' }] }, request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Patient', birthDate: 'nope' }, request: { method: 'POST', url: 'Patient' } },
          { request: { method: 'GET', url: 'Patient/does-not-exist' } },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    expect(res.body.entry[0].response.status).toMatch(/^201/);
    expect(res.body.entry[1].response.status).toMatch(/^400/);
    expect(res.body.entry[1].response.outcome.resourceType).toBe('OperationOutcome');
    expect(res.body.entry[2].response.status).toMatch(/^404/);
  });

  it('refuses a Bundle of another type at the base', async () => {
    const res = await t.req('/fhir', { method: 'POST', json: { resourceType: 'Bundle', type: 'collection', entry: [] } });
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });
});

describe('conditional create, update, delete over REST', () => {
  it('If-None-Exist returns the existing resource instead of creating', async () => {
    const body = { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'ine-1' }] };
    const a = await t.req('/fhir/Patient', { method: 'POST', json: body, headers: { 'if-none-exist': 'identifier=urn:test:mrn|ine-1' } });
    const b = await t.req('/fhir/Patient', { method: 'POST', json: body, headers: { 'if-none-exist': 'identifier=urn:test:mrn|ine-1' } });
    expect(a.status).toBe(201);
    expect(b.status).toBe(200);
    expect(b.body.id).toBe(a.body.id);
  });

  it('concurrent conditional creates with the same criteria create exactly one', async () => {
    const body = { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'race-1' }] };
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        t.req('/fhir/Patient', { method: 'POST', json: body, headers: { 'if-none-exist': 'identifier=urn:test:mrn|race-1' } }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
  });

  it('PUT ?query updates the single match, creates when none, 412 when several', async () => {
    const created = await t.req('/fhir/Patient?identifier=urn:test:mrn|cu-1', {
      method: 'PUT',
      json: { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'cu-1' }], gender: 'male' },
    });
    expect(created.status).toBe(201);
    const updated = await t.req('/fhir/Patient?identifier=urn:test:mrn|cu-1', {
      method: 'PUT',
      json: { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'cu-1' }], gender: 'female' },
    });
    expect(updated.status).toBe(200);
    expect(updated.body.id).toBe(created.body.id);
    expect(updated.body.meta.versionId).toBe('2');
    await t.req('/fhir/Patient', {
      method: 'POST',
      json: { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'dup' }] },
    });
    await t.req('/fhir/Patient', {
      method: 'POST',
      json: { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'dup' }] },
    });
    const multi = await t.req('/fhir/Patient?identifier=urn:test:mrn|dup', { method: 'PUT', json: { resourceType: 'Patient' } });
    expect(multi.status).toBe(412);
  });

  it('DELETE ?query deletes the single match', async () => {
    const c = await t.req('/fhir/Patient', {
      method: 'POST',
      json: { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'cd-1' }] },
    });
    const del = await t.req('/fhir/Patient?identifier=urn:test:mrn|cd-1', { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect((await t.req(`/fhir/Patient/${c.body.id}`)).status).toBe(410);
  });
});
