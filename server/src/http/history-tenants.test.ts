/**
 * History at every level, tenants, $everything and $validate against a real server.
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('history', () => {
  it('type and system history list every version newest first, with _since, _at and paging', async () => {
    const a = await t.req('/t/hist/fhir/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'A1' }] } });
    await sleep(15);
    const mid = new Date().toISOString();
    await sleep(15);
    await t.req(`/t/hist/fhir/Patient/${a.body.id}`, {
      method: 'PUT',
      json: { resourceType: 'Patient', id: a.body.id, name: [{ family: 'A2' }] },
    });
    await t.req('/t/hist/fhir/Practitioner', { method: 'POST', json: { resourceType: 'Practitioner', name: [{ family: 'P' }] } });
    await t.req(`/t/hist/fhir/Patient/${a.body.id}`, { method: 'DELETE' });

    const type = await t.req('/t/hist/fhir/Patient/_history');
    expect(type.body.total).toBe(3);
    expect(type.body.entry.map((e: any) => e.request.method)).toEqual(['DELETE', 'PUT', 'POST']);
    const system = await t.req('/t/hist/fhir/_history');
    expect(system.body.total).toBe(4);
    const since = await t.req(`/t/hist/fhir/_history?_since=${encodeURIComponent(mid)}`);
    expect(since.body.total).toBe(3);
    const at = await t.req(`/t/hist/fhir/Patient/_history?_at=${encodeURIComponent(mid)}`);
    expect(at.body.total).toBe(1);
    expect(at.body.entry[0].resource.name[0].family).toBe('A1');

    const page1 = await t.req('/t/hist/fhir/_history?_count=2');
    expect(page1.body.entry).toHaveLength(2);
    const next = page1.body.link.find((l: any) => l.relation === 'next').url as string;
    expect(next).toContain('_cursor=');
    const page2 = await t.req(next);
    expect(page2.status).toBe(200);
    expect(page2.body.entry).toHaveLength(2);
    const ids1 = page1.body.entry.map((e: any) => `${e.fullUrl}|${e.response.etag}`);
    const ids2 = page2.body.entry.map((e: any) => `${e.fullUrl}|${e.response.etag}`);
    expect(ids1.filter((x: string) => ids2.includes(x))).toEqual([]);
  });

  it('refuses a bad _since and unknown history parameters', async () => {
    expect((await t.req('/fhir/_history?_since=yesterday')).status).toBe(400);
    expect((await t.req('/fhir/_history?_since=2024-02-30')).status).toBe(400);
    expect((await t.req('/fhir/_history?_since=2024-02-29T10:00:00.1234567891Z')).status).toBe(400);
    expect((await t.req('/fhir/_history?_since=2024-02')).status).toBe(200);
    expect((await t.req('/fhir/_history?foo=1')).status).toBe(400);
  });

  it('instance history of an unknown resource is 404', async () => {
    expect((await t.req('/fhir/Patient/nope/_history')).status).toBe(404);
  });
});

describe('tenants', () => {
  it('the same id in two tenants never meets', async () => {
    const body = (family: string) => ({ resourceType: 'Patient', id: 'shared-id', name: [{ family }] });
    expect((await t.req('/t/alpha/fhir/Patient/shared-id', { method: 'PUT', json: body('Alpha') })).status).toBe(201);
    expect((await t.req('/t/beta/fhir/Patient/shared-id', { method: 'PUT', json: body('Beta') })).status).toBe(201);
    expect((await t.req('/t/alpha/fhir/Patient/shared-id')).body.name[0].family).toBe('Alpha');
    expect((await t.req('/t/beta/fhir/Patient/shared-id')).body.name[0].family).toBe('Beta');
    expect((await t.req('/fhir/Patient/shared-id')).status).toBe(404);
    await t.req('/t/beta/fhir/Patient/shared-id', { method: 'DELETE' });
    expect((await t.req('/t/alpha/fhir/Patient/shared-id')).status).toBe(200);
    const alphaSearch = await t.req('/t/alpha/fhir/Patient?_id=shared-id&_total=accurate');
    expect(alphaSearch.body.total).toBe(1);
    const gammaSearch = await t.req('/t/gamma/fhir/Patient?_id=shared-id&_total=accurate');
    expect(gammaSearch.body.total).toBe(0);
  });

  it('a page cursor from one tenant is refused by another', async () => {
    for (let i = 0; i < 3; i++)
      await t.req('/t/alpha/fhir/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: `C${i}` }] } });
    const page = await t.req('/t/alpha/fhir/Patient?_count=1');
    const next = new URL(page.body.link.find((l: any) => l.relation === 'next').url);
    expect(next.href.startsWith(`${t.server.url}/t/alpha/fhir/Patient?`)).toBe(true);
    const foreign = await t.req(`/t/beta/fhir/Patient${next.search}`);
    expect(foreign.status).toBe(400);
    const tampered = await t.req(`/t/alpha/fhir/Patient${next.search.replace(/_cursor=([^&.]+)/, '_cursor=zz')}`);
    expect(tampered.status).toBe(400);
  });

  it('a tenant whose name starts with "fhir" routes like any other', async () => {
    const created = await t.req('/t/fhirdemo/fhir/Patient', {
      method: 'POST',
      json: { resourceType: 'Patient', name: [{ family: 'Routed' }] },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`${t.server.url}/t/fhirdemo/fhir/Patient/${created.body.id}/_history/1`);
    expect((await t.req(`/t/fhirdemo/fhir/Patient/${created.body.id}`)).body.name[0].family).toBe('Routed');
    expect((await t.req('/t/fhir/fhir/Patient?_count=1')).status).toBe(200);
  });

  it('refuses malformed tenant names', async () => {
    expect((await t.req('/t/Bad_Tenant/fhir/Patient', { anonymous: true })).status).toBe(404);
  });
});

describe('$everything and $validate', () => {
  it('returns the patient and its compartment, with _type and _since and paging', async () => {
    const tx = await t.req('/t/ev/fhir', {
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: 'urn:uuid:22222222-2222-4222-8222-222222222222',
            resource: { resourceType: 'Practitioner', name: [{ family: 'Doc' }] },
            request: { method: 'POST', url: 'Practitioner' },
          },
          {
            fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111',
            resource: {
              resourceType: 'Patient',
              name: [{ family: 'Ev' }],
              generalPractitioner: [{ reference: 'urn:uuid:22222222-2222-4222-8222-222222222222' }],
              link: [{ other: { reference: 'urn:uuid:33333333-3333-4333-8333-333333333333' }, type: 'seealso' }],
            },
            request: { method: 'POST', url: 'Patient' },
          },
          {
            fullUrl: 'urn:uuid:33333333-3333-4333-8333-333333333333',
            resource: { resourceType: 'Patient', name: [{ family: 'Linked' }] },
            request: { method: 'POST', url: 'Patient' },
          },
          { resource: { resourceType: 'Practitioner', name: [{ family: 'Unrelated' }] }, request: { method: 'POST', url: 'Practitioner' } },
          {
            resource: {
              resourceType: 'Observation',
              status: 'final',
              code: { text: 'a' },
              subject: { reference: 'urn:uuid:11111111-1111-4111-8111-111111111111' },
            },
            request: { method: 'POST', url: 'Observation' },
          },
          {
            resource: {
              resourceType: 'Encounter',
              status: 'finished',
              class: { code: 'AMB' },
              subject: { reference: 'urn:uuid:11111111-1111-4111-8111-111111111111' },
            },
            request: { method: 'POST', url: 'Encounter' },
          },
          { resource: { resourceType: 'Patient', name: [{ family: 'Other' }] }, request: { method: 'POST', url: 'Patient' } },
        ],
      },
    });
    expect(tx.status).toBe(200);
    const pid = (tx.body.entry[1].response.location as string).split('/')[1];
    const all = await t.req(`/t/ev/fhir/Patient/${pid}/$everything`);
    expect(all.status).toBe(200);
    // The patient, its compartment, and the practitioner it refers to; not the linked or the other patient.
    expect(all.body.total).toBe(4);
    expect(all.body.entry[0].resource.resourceType).toBe('Patient');
    expect(all.body.entry[0].resource.id).toBe(pid);
    expect(all.body.entry.map((e: any) => e.resource.resourceType).sort()).toEqual(['Encounter', 'Observation', 'Patient', 'Practitioner']);
    expect(all.body.entry.find((e: any) => e.resource.resourceType === 'Practitioner').resource.name[0].family).toBe('Doc');
    const onlyObs = await t.req(`/t/ev/fhir/Patient/${pid}/$everything?_type=Observation`);
    expect(onlyObs.body.entry.map((e: any) => e.resource.resourceType)).toEqual(['Observation']);
    const future = await t.req(
      `/t/ev/fhir/Patient/${pid}/$everything?_since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
    );
    expect(future.body.total).toBe(0);
    const paged = await t.req(`/t/ev/fhir/Patient/${pid}/$everything?_count=3`);
    expect(paged.body.entry).toHaveLength(3);
    const next = await t.req(paged.body.link.find((l: any) => l.relation === 'next').url);
    expect(next.body.entry).toHaveLength(1);
    expect((await t.req('/t/ev/fhir/Patient/none/$everything')).status).toBe(404);
  });

  it('$validate reports issues without storing', async () => {
    const ok = await t.req('/fhir/Patient/$validate', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'V' }] } });
    expect(ok.status).toBe(200);
    expect(ok.body.issue.every((i: any) => i.severity !== 'error')).toBe(true);
    const bad = await t.req('/fhir/Patient/$validate', {
      method: 'POST',
      json: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { resourceType: 'Patient', birthDate: 'x' } }] },
    });
    expect(bad.status).toBe(200);
    expect(bad.body.issue.some((i: any) => i.severity === 'error' && i.expression?.includes('Patient.birthDate'))).toBe(true);
    const profile = await t.req('/fhir/Patient/$validate', {
      method: 'POST',
      json: { resourceType: 'Patient', meta: { profile: ['https://haven.health/fhir/StructureDefinition/haven-patient'] } },
    });
    expect(profile.body.issue.some((i: any) => i.severity === 'error')).toBe(true);
  });

  it('a create claiming the Haven profile is enforced', async () => {
    const res = await t.req('/fhir/Patient', {
      method: 'POST',
      json: {
        resourceType: 'Patient',
        meta: { profile: ['https://haven.health/fhir/StructureDefinition/haven-patient'] },
        name: [{ family: 'NoBirthDate' }],
      },
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain('birthDate');
  });
});

describe('metadata', () => {
  it('is a CapabilityStatement that lists what works', async () => {
    const res = await t.req('/fhir/metadata');
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('CapabilityStatement');
    expect(res.body.fhirVersion).toBe('4.0.1');
    expect(res.body.implementation.url).toBe(t.fhir);
    const patient = res.body.rest[0].resource.find((r: any) => r.type === 'Patient');
    expect(patient.interaction.map((i: any) => i.code)).toEqual(
      expect.arrayContaining(['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type']),
    );
    expect(patient.searchParam.map((p: any) => p.name)).toEqual(
      expect.arrayContaining(['name', 'birthdate', 'identifier', '_id', '_lastUpdated']),
    );
    expect(patient.operation.map((o: any) => o.name)).toContain('everything');
    expect(res.body.rest[0].resource.find((r: any) => r.type === 'SubscriptionStatus')).toBeUndefined();
    const tenant = await t.req('/t/alpha/fhir/metadata');
    expect(tenant.body.implementation.url).toBe(`${t.server.url}/t/alpha/fhir`);
  });
});
