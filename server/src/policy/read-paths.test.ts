/**
 * Leak tests, read side: a `patient/` token for patient A never sees patient B's data through read, vread,
 * search, `_total`, paging, `_include`, `_revinclude`, chains, `_has`, `$everything`, system search or batch
 * entries (DESIGN.md "Lessons from the anchors" #2; SMART App Launch 2.2 §Patient-specific scopes).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../test-support/harness.ts';
import { A_COMPARTMENT, leaksB, PATIENT_A, refs, seed } from './fixture.ts';
import { ADMIN, as, startPolicyServer } from './test-principal.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startPolicyServer();
  await seed(t);
});
afterAll(async () => {
  await t?.stop();
});

const A = as(PATIENT_A);
const get = (path: string, headers = A) => t.req(`/fhir/${path}`, { headers });

describe('authentication and scope errors', () => {
  it('no token → 401 with WWW-Authenticate', async () => {
    const res = await t.req('/fhir/Patient/pat-a');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  it('a token issued for another tenant → 401 invalid_token', async () => {
    const res = await get('Patient/pat-a', as({ ...PATIENT_A, tenant: 'other-clinic' }));
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });

  it('a token whose scopes grant nothing → 403 OperationOutcome naming the missing scope, insufficient_scope', async () => {
    const res = await get('Observation/obs-a-lab', as({ scopes: 'openid fhirUser launch/patient', patient: 'pat-a' }));
    expect(res.status).toBe(403);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].code).toBe('forbidden');
    expect(res.body.issue[0].diagnostics).toContain('patient/Observation.r');
    expect(res.body.issue[0].diagnostics).not.toContain('pat-a');
    expect(res.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
  });

  it('a type outside the granted types → 403 on read and search', async () => {
    const token = as({ scopes: 'patient/Condition.rs', patient: 'pat-a' });
    expect((await get('Observation/obs-a-lab', token)).status).toBe(403);
    expect((await get('Observation', token)).status).toBe(403);
    expect((await get('?_type=Condition,Observation', token)).status).toBe(403);
  });

  it('a type patient scopes cannot reach (no patient link) → 403', async () => {
    expect((await get('Binary')).status).toBe(403);
  });
});

describe('read and vread', () => {
  it("reads A, A's resources and shared resources", async () => {
    for (const ref of [...A_COMPARTMENT, 'Practitioner/prac', 'Organization/org']) {
      const res = await get(ref);
      expect(res.status, ref).toBe(200);
    }
  });

  it("B and B's resources look like they do not exist (404, same body as a missing id)", async () => {
    const missing = await get('Observation/no-such-id');
    for (const ref of ['Patient/pat-b', 'Observation/obs-b-lab', 'Encounter/enc-b', 'Condition/cond-b']) {
      const res = await get(ref);
      expect(res.status, ref).toBe(404);
      expect(res.body).toEqual(missing.body);
      expect(leaksB(res.text)).toBe(false);
    }
  });

  it("vread of B's versions → 404; conditional read headers do not leak", async () => {
    expect((await get('Observation/obs-b-lab/_history/1')).status).toBe(404);
    expect((await get('Observation/obs-a-lab/_history/1')).status).toBe(200);
    const res = await t.req('/fhir/Observation/obs-b-lab', { headers: { ...A, 'if-none-match': 'W/"1"' } });
    expect(res.status).toBe(404);
  });
});

describe('search', () => {
  it("returns only A's rows, with an exact _total", async () => {
    const res = await get('Observation?_total=accurate');
    expect(res.status).toBe(200);
    expect(refs(res.body)).toEqual(['Observation/obs-a-lab', 'Observation/obs-a-survey', 'Observation/obs-b-by-a']);
    expect(res.body.total).toBe(3);
    expect(leaksB(res.text)).toBe(false);
  });

  it("asking for B explicitly finds only what is also in A's compartment, and counts nothing else", async () => {
    const aboutB = await get('Observation?subject=Patient/pat-b&_total=accurate');
    expect(refs(aboutB.body)).toEqual(['Observation/obs-b-by-a']); // A performed it: in A's compartment
    expect(aboutB.body.total).toBe(1);
    for (const q of [
      'Observation?patient=pat-b&code=b-only-code&_total=accurate',
      'Encounter?patient=pat-b&_total=accurate',
      'Patient?_id=pat-b&_total=accurate',
      'Condition?_total=estimate&code:text=' + 'bravo',
    ]) {
      const res = await get(q);
      expect(res.status, q).toBe(200);
      expect(res.body.total ?? 0, q).toBe(0);
      expect(refs(res.body), q).toEqual([]);
    }
    const count = await get('Observation?_summary=count&code=b-only-code');
    expect(count.body.total).toBe(0);
  });

  it("_summary=count and _count=0 count only A's rows", async () => {
    expect((await get('Observation?_summary=count')).body.total).toBe(3);
    expect((await get('Observation?_count=0')).body.total).toBe(3);
    expect((await get('Observation?_summary=count', as(ADMIN))).body.total).toBe(5);
  });

  it("paging walks only A's rows", async () => {
    const seen: string[] = [];
    let next: string | undefined = `${t.fhir}/Observation?_count=1&_total=accurate`;
    while (next) {
      const res = await t.req(next, { headers: A });
      expect(res.body.total).toBe(3);
      seen.push(...refs(res.body));
      next = res.body.link?.find((l: { relation: string }) => l.relation === 'next')?.url;
    }
    expect(seen.sort()).toEqual(['Observation/obs-a-lab', 'Observation/obs-a-survey', 'Observation/obs-b-by-a']);
  });

  it('Patient search finds only A', async () => {
    expect(refs((await get('Patient')).body)).toEqual(['Patient/pat-a']);
    expect(refs((await get('Patient?general-practitioner=Practitioner/prac')).body)).toEqual(['Patient/pat-a']);
  });

  it('system-level search with _type', async () => {
    const res = await get('?_type=Patient,Condition');
    expect(refs(res.body)).toEqual(['Condition/cond-a', 'Patient/pat-a']);
  });

  it('POST _search is filtered the same way', async () => {
    const res = await t.req('/fhir/Observation/_search', {
      method: 'POST',
      body: 'code=b-only-code',
      headers: { ...A, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(200);
    expect(refs(res.body)).toEqual([]);
  });
});

describe('_include and _revinclude', () => {
  it('_include does not pull B in through an A-visible resource', async () => {
    // obs-b-by-a is in A's compartment (performer), but its subject is B.
    const res = await get('Observation?_include=Observation:subject&_include=Observation:encounter');
    expect(refs(res.body)).toEqual([
      'Encounter/enc-a',
      'Observation/obs-a-lab',
      'Observation/obs-a-survey',
      'Observation/obs-b-by-a',
      'Patient/pat-a',
    ]);
    expect(leaksB(res.text)).toBe(false);
  });

  it('_include of shared resources works', async () => {
    const res = await get('Patient?_include=Patient:general-practitioner&_include=Patient:organization');
    expect(refs(res.body)).toEqual(['Organization/org', 'Patient/pat-a', 'Practitioner/prac']);
  });

  it("_revinclude from a shared resource returns only A's referrers", async () => {
    const res = await get('Practitioner?_revinclude=Observation:performer&_revinclude=Patient:general-practitioner');
    expect(refs(res.body)).toEqual(['Observation/obs-a-survey', 'Patient/pat-a', 'Practitioner/prac']);
    expect(leaksB(res.text)).toBe(false);
    const admin = await get('Practitioner?_revinclude=Observation:performer&_revinclude=Patient:general-practitioner', as(ADMIN));
    expect(refs(admin.body)).toContain('Observation/obs-b-lab');
  });

  it("_revinclude:iterate stays inside A's grants", async () => {
    const res = await get('Patient?_revinclude=Encounter:subject&_revinclude:iterate=Observation:encounter');
    expect(refs(res.body)).toEqual(['Encounter/enc-a', 'Observation/obs-a-survey', 'Patient/pat-a']);
  });
});

describe('chains and _has', () => {
  it('a chain through B matches nothing', async () => {
    expect(refs((await get('Observation?subject:Patient.name=Bravo')).body)).toEqual([]);
    expect(refs((await get('Observation?subject:Patient.name=Alpha')).body)).toEqual(['Observation/obs-a-lab', 'Observation/obs-a-survey']);
    // The admin sees that obs-b-by-a's subject is Bravo: the restriction, not the data, hides it.
    expect(refs((await get('Observation?subject:Patient.name=Bravo', as(ADMIN))).body)).toContain('Observation/obs-b-by-a');
  });

  it("_has cannot probe B's records", async () => {
    const q = 'Practitioner?_has:Observation:performer:code=b-only-code';
    expect(refs((await get(q, as(ADMIN))).body)).toEqual(['Practitioner/prac']);
    expect(refs((await get(q)).body)).toEqual([]);
    expect(refs((await get('Patient?_has:Condition:subject:code:text=bravo-marker')).body)).toEqual([]);
  });

  it('an include chain through an ungranted type stays empty', async () => {
    const token = as({ scopes: 'patient/Observation.rs', patient: 'pat-a' });
    const res = await get('Observation?_include=Observation:subject&subject:Patient.name=Alpha', token);
    expect(res.status).toBe(200);
    expect(refs(res.body)).toEqual([]); // the chain needs Patient rows, which this token cannot see
  });
});

describe('Patient/$everything', () => {
  it("A's everything has A's record and shared resources, nothing of B", async () => {
    const res = await get('Patient/pat-a/$everything');
    expect(res.status).toBe(200);
    const got = refs(res.body);
    for (const ref of A_COMPARTMENT) expect(got).toContain(ref);
    expect(got).toContain('Practitioner/prac');
    expect(got).not.toContain('Patient/pat-b');
    expect(res.body.total).toBe(got.length);
    expect(leaksB(res.text)).toBe(false);
  });

  it("B's everything → 404; without a Patient read grant → 403", async () => {
    expect((await get('Patient/pat-b/$everything')).status).toBe(404);
    expect((await get('Patient/pat-a/$everything', as({ scopes: 'patient/Observation.rs', patient: 'pat-a' }))).status).toBe(403);
  });

  it('a narrower token narrows everything', async () => {
    const res = await get(
      'Patient/pat-a/$everything',
      as({ scopes: 'patient/Patient.r patient/Observation.rs?category=survey', patient: 'pat-a' }),
    );
    expect(refs(res.body)).toEqual(['Observation/obs-a-survey', 'Observation/obs-b-by-a', 'Patient/pat-a']);
  });
});

describe('batch entries', () => {
  it('each GET entry is checked: B is 404, searches are filtered, ungranted types 403', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: 'Patient/pat-b' } },
        { request: { method: 'GET', url: 'Patient/pat-a' } },
        { request: { method: 'GET', url: 'Encounter?subject=Patient/pat-b' } },
        { request: { method: 'GET', url: 'Observation/obs-b-lab/_history' } },
        { request: { method: 'GET', url: 'Binary' } },
      ],
    };
    const res = await t.req('/fhir', { method: 'POST', json: bundle, headers: A });
    expect(res.status).toBe(200);
    const statuses = res.body.entry.map((e: { response: { status: string } }) => e.response.status);
    expect(statuses).toEqual(['404', '200', '200', '404', '403']);
    expect(res.body.entry[2].resource.entry).toEqual([]);
    expect(leaksB(res.text)).toBe(false);
  });
});
