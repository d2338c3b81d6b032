/**
 * History at every level under restricted tokens, and each scope form end to end: query-constrained
 * scopes, v1 ≡ v2, `user/` scopes cut by role, `system/` scopes, the fhirUser self-read (SMART App Launch
 * 2.2, Scopes and Launch Context; g10 fine-grained scopes: searches return only the granted categories).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../test-support/harness.ts';
import { CAT, leaksB, observation, PATIENT_A, refs, seed } from './fixture.ts';
import { ADMIN, as, startPolicyServer, type TestToken } from './test-principal.ts';

let t: TestServer;
const admin = as(ADMIN);
const A = as(PATIENT_A);
const get = (path: string, headers: Record<string, string>) => t.req(`/fhir/${path}`, { headers });
const put = (ref: string, body: object) => t.req(`/fhir/${ref}`, { method: 'PUT', json: body, headers: admin });

/** `Type/id/_history/v` of every entry of a history Bundle. */
function versions(bundle: { entry?: { fullUrl: string; response: { etag: string } }[] }): string[] {
  return (bundle.entry ?? []).map((e) => `${e.fullUrl.split('/fhir/')[1]}@${e.response.etag.replace(/\D/g, '')}`).sort();
}

beforeAll(async () => {
  t = await startPolicyServer();
  await seed(t);
  // Filed under B first, then corrected to A: version 1 is B's data.
  await put('Observation/moved', observation('moved', 'pat-b', 'survey', 'moved', { note: [{ text: 'bravo-marker' }] }));
  await put('Observation/moved', observation('moved', 'pat-a', 'survey', 'moved'));
  // A's, then deleted.
  await put('Condition/gone-a', { resourceType: 'Condition', id: 'gone-a', subject: { reference: 'Patient/pat-a' } });
  await t.req('/fhir/Condition/gone-a', { method: 'DELETE', headers: admin });
  // A survey that later became a lab result.
  await put('Observation/relabelled', observation('relabelled', 'pat-a', 'survey', 'relabel'));
  await put('Observation/relabelled', observation('relabelled', 'pat-a', 'laboratory', 'relabel'));
});
afterAll(async () => {
  await t?.stop();
});

describe('history under a patient/ token', () => {
  it("instance history of B's resource → 404; of A's → 200", async () => {
    expect((await get('Observation/obs-b-lab/_history', A)).status).toBe(404);
    expect((await get('Patient/pat-b/_history', A)).status).toBe(404);
    expect((await get('Observation/obs-a-lab/_history', A)).status).toBe(200);
  });

  it("a version written while the resource was B's stays hidden (history, total, vread)", async () => {
    const res = await get('Observation/moved/_history', A);
    expect(versions(res.body)).toEqual(['Observation/moved@2']);
    expect(res.body.total).toBe(1);
    expect(leaksB(res.text)).toBe(false);
    expect((await get('Observation/moved/_history/1', A)).status).toBe(404);
    expect((await get('Observation/moved/_history/2', A)).status).toBe(200);
    expect(versions((await get('Observation/moved/_history', admin)).body)).toEqual(['Observation/moved@1', 'Observation/moved@2']);
  });

  it("type history lists only A's versions and counts only them", async () => {
    const res = await get('Observation/_history?_count=2', A);
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(6); // a-survey, a-lab, b-by-a, moved@2, relabelled@1, relabelled@2
    expect(leaksB(res.text)).toBe(false);
    const all: string[] = [];
    let next: string | undefined = `${t.fhir}/Observation/_history?_count=2`;
    while (next) {
      const page = await t.req(next, { headers: A });
      all.push(...versions(page.body));
      next = page.body.link?.find((l: { relation: string }) => l.relation === 'next')?.url;
    }
    expect(all.sort()).toEqual([
      'Observation/moved@2',
      'Observation/obs-a-lab@1',
      'Observation/obs-a-survey@1',
      'Observation/obs-b-by-a@1',
      'Observation/relabelled@1',
      'Observation/relabelled@2',
    ]);
  });

  it("system history: A's record and shared resources only", async () => {
    const res = await get('_history?_count=100', A);
    expect(res.status).toBe(200);
    const got = versions(res.body);
    expect(got).toContain('Patient/pat-a@1');
    expect(got).toContain('Practitioner/prac@1');
    expect(got.some((v) => v.startsWith('Patient/pat-b') || v.startsWith('Encounter/enc-b') || v.startsWith('Condition/cond-b'))).toBe(
      false,
    );
    expect(res.body.total).toBe(got.length);
    expect(leaksB(res.text)).toBe(false);
  });

  it('_since and _at are filtered the same way', async () => {
    const since = await get('Observation/_history?_since=2000-01-01', A);
    expect(since.body.total).toBe(6);
    const at = await get(`Observation/_history?_at=${encodeURIComponent(new Date().toISOString())}`, A);
    expect(leaksB(at.text)).toBe(false);
  });

  it('history of a deleted resource is hidden from patient tokens (no current row to check), shown to admins', async () => {
    expect((await get('Condition/gone-a/_history', A)).status).toBe(404);
    expect((await get('Condition/gone-a/_history', admin)).status).toBe(200);
  });

  it('type history without s, instance history without r → 403', async () => {
    const rOnly = as({ scopes: 'patient/Observation.r', patient: 'pat-a' });
    expect((await get('Observation/_history', rOnly)).status).toBe(403);
    expect((await get('Observation/obs-a-lab/_history', rOnly)).status).toBe(200);
    const sOnly = as({ scopes: 'patient/Observation.s', patient: 'pat-a' });
    expect((await get('Observation/obs-a-lab/_history', sOnly)).status).toBe(403);
    expect((await get('_history', as({ scopes: 'openid', patient: 'pat-a' }))).status).toBe(403);
  });
});

describe('query-constrained scopes (patient/Observation.rs?category=survey)', () => {
  const SURVEY = as({ scopes: 'patient/Observation.rs?category=survey', patient: 'pat-a' });
  const LAB = as({ scopes: `patient/Observation.rs?category=${encodeURIComponent(`${CAT}|laboratory`)}`, patient: 'pat-a' });

  it('search returns survey Observations only, not labs (g10 fine-grained scopes)', async () => {
    const res = await get('Observation?patient=pat-a&_total=accurate', SURVEY);
    expect(refs(res.body)).toEqual(['Observation/moved', 'Observation/obs-a-survey']);
    expect(res.body.total).toBe(2);
    expect(refs((await get('Observation?category=laboratory', SURVEY)).body)).toEqual([]);
  });

  it('the system|code form works the same way', async () => {
    expect(refs((await get('Observation?patient=pat-a', LAB)).body)).toEqual(['Observation/obs-a-lab', 'Observation/relabelled']);
  });

  it('read of a lab Observation → 404, of a survey → 200', async () => {
    expect((await get('Observation/obs-a-lab', SURVEY)).status).toBe(404);
    expect((await get('Observation/obs-a-survey', SURVEY)).status).toBe(200);
  });

  it('history shows only versions whose own content matches the constraint', async () => {
    const res = await get('Observation/relabelled/_history', LAB);
    expect(versions(res.body)).toEqual(['Observation/relabelled@2']);
    expect((await get('Observation/relabelled/_history/1', LAB)).status).toBe(404);
    expect((await get('Observation/relabelled/_history', SURVEY)).status).toBe(404); // no longer a survey
  });

  it('two constrained scopes are a union', async () => {
    const both = as({ scopes: `patient/Observation.rs?category=survey patient/Observation.rs?category=laboratory`, patient: 'pat-a' });
    expect(refs((await get('Observation?patient=pat-a', both)).body)).toEqual([
      'Observation/moved',
      'Observation/obs-a-lab',
      'Observation/obs-a-survey',
      'Observation/relabelled',
    ]);
  });

  it('s and r are separate grants: a constrained s narrows search, an unconstrained r still reads', async () => {
    const token = as({ scopes: 'patient/Observation.r patient/Observation.s?category=survey', patient: 'pat-a' });
    expect(refs((await get('Observation?patient=pat-a', token)).body)).toEqual(['Observation/moved', 'Observation/obs-a-survey']);
    expect((await get('Observation/obs-a-lab', token)).status).toBe(200);
    // Rows reached beside the matches (here _revinclude) need r or s, so the lab result may appear there.
    const withRev = await get(
      'Patient?_id=pat-a&_revinclude=Observation:subject',
      as({ scopes: 'patient/Patient.rs patient/Observation.r', patient: 'pat-a' }),
    );
    expect(refs(withRev.body)).toContain('Observation/obs-a-lab');
  });

  it('an unknown constraint parameter matches nothing (fails closed)', async () => {
    const res = await get('Observation', as({ scopes: 'patient/Observation.rs?nonsense=1', patient: 'pat-a' }));
    expect(res.status).toBe(200);
    expect(refs(res.body)).toEqual([]);
  });
});

describe('v1 and v2 forms are equivalent', () => {
  it.each([
    ['patient/*.read', 'patient/*.rs'],
    ['patient/Observation.read patient/Patient.read', 'patient/Observation.rs patient/Patient.rs'],
  ])('%s ≡ %s', async (v1, v2) => {
    for (const q of ['Observation?_include=Observation:subject', 'Patient', 'Observation/_history']) {
      const a = await get(q, as({ scopes: v1, patient: 'pat-a' }));
      const b = await get(q, as({ scopes: v2, patient: 'pat-a' }));
      expect(a.status, q).toBe(b.status);
      expect(refs(a.body), q).toEqual(refs(b.body));
    }
  });
});

describe('user/ scopes are cut by role', () => {
  const clinician: TestToken = { scopes: 'openid fhirUser user/*.rs', roles: ['clinician'], fhirUser: 'Practitioner/prac' };
  it('a clinician sees both patients', async () => {
    expect(refs((await get('Patient', as(clinician))).body)).toEqual(['Patient/pat-a', 'Patient/pat-b']);
    expect((await get('Observation/obs-b-lab', as(clinician))).status).toBe(200);
  });

  it('a clinician with user/Observation.rs reads Observations, not Conditions', async () => {
    const token = as({ ...clinician, scopes: 'user/Observation.rs' });
    expect((await get('Observation/obs-b-lab', token)).status).toBe(200);
    expect((await get('Condition/cond-b', token)).status).toBe(403);
  });

  it('a patient user with user/*.rs sees only their own compartment', async () => {
    const token = as({ scopes: 'user/*.rs', roles: ['patient'], fhirUser: 'Patient/pat-a' });
    expect(refs((await get('Patient', token)).body)).toEqual(['Patient/pat-a']);
    expect((await get('Observation/obs-b-lab', token)).status).toBe(404);
  });

  it('an auditor cannot read clinical data; an unknown role gets nothing', async () => {
    expect((await get('Observation', as({ scopes: 'user/*.rs', roles: ['auditor'], fhirUser: 'Practitioner/prac' }))).status).toBe(403);
    expect((await get('Observation', as({ scopes: 'user/*.rs', roles: ['visitor'], fhirUser: 'Practitioner/prac' }))).status).toBe(403);
    expect((await get('Observation', as({ scopes: 'user/*.rs' }))).status).toBe(403); // no user at all
  });

  it("a clinician's write is cut by the scope, not widened by the role", async () => {
    const body = observation('', 'pat-b', 'survey', 'clin');
    expect((await t.req('/fhir/Observation', { method: 'POST', json: body, headers: as(clinician) })).status).toBe(403);
    expect(
      (await t.req('/fhir/Observation', { method: 'POST', json: body, headers: as({ ...clinician, scopes: 'user/Observation.cu' }) }))
        .status,
    ).toBe(201);
  });
});

describe('system/ scopes (backend services)', () => {
  it('system/Observation.rs reads every Observation, nothing else, writes nothing', async () => {
    const token = as({ scopes: 'system/Observation.rs' });
    expect(refs((await get('Observation?code=b-only-code', token)).body)).toEqual(['Observation/obs-b-lab']);
    expect((await get('Patient/pat-a', token)).status).toBe(403);
    expect(
      (await t.req('/fhir/Observation', { method: 'POST', json: observation('', 'pat-a', 'survey', 's'), headers: token })).status,
    ).toBe(403);
  });
});

describe('fhirUser self-read (openid fhirUser)', () => {
  it("reads the user's own Practitioner with only patient scopes, not other Practitioners", async () => {
    await put('Practitioner/other', { resourceType: 'Practitioner', id: 'other' });
    const token = as({
      scopes: 'openid fhirUser launch patient/Observation.rs',
      patient: 'pat-a',
      roles: ['clinician'],
      fhirUser: 'Practitioner/prac',
    });
    expect((await get('Practitioner/prac', token)).status).toBe(200);
    expect((await get('Practitioner/other', token)).status).toBe(404);
    expect((await get('Practitioner', token)).status).toBe(403);
  });
});
