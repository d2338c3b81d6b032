/**
 * Two patients' records for the policy leak tests: patient A (`pat-a`) and patient B (`pat-b`), each with
 * an encounter, a survey and a laboratory Observation and a Condition, plus shared resources (a
 * Practitioner, an Organization) and one Observation about B that A performed (in both compartments).
 * Every B-side value carries the marker {@link B_MARK} so a test can assert it never reaches A.
 */
import type { TestServer } from '../test-support/harness.ts';
import { ADMIN, as, type TestToken } from './test-principal.ts';

/** Appears in every resource of patient B: a response to A containing it is a leak. */
export const B_MARK = 'bravo-marker';

export const CAT = 'http://terminology.hl7.org/CodeSystem/observation-category';

export function observation(id: string, patient: string, category: 'survey' | 'laboratory', code: string, extra: object = {}): object {
  return {
    resourceType: 'Observation',
    ...(id ? { id } : {}),
    status: 'final',
    category: [{ coding: [{ system: CAT, code: category }] }],
    code: { coding: [{ system: 'http://example.org/codes', code }], text: code },
    subject: { reference: `Patient/${patient}` },
    identifier: [{ system: 'http://example.org/obs', value: id || code }],
    ...extra,
  };
}

/** The seeded resources, by id. */
export const SEED: object[] = [
  { resourceType: 'Practitioner', id: 'prac', name: [{ family: 'Shared' }] },
  { resourceType: 'Organization', id: 'org', name: 'Clinic' },
  {
    resourceType: 'Patient',
    id: 'pat-a',
    name: [{ family: 'Alpha' }],
    generalPractitioner: [{ reference: 'Practitioner/prac' }],
    managingOrganization: { reference: 'Organization/org' },
  },
  {
    resourceType: 'Patient',
    id: 'pat-b',
    name: [{ family: 'Bravo', given: [B_MARK] }],
    generalPractitioner: [{ reference: 'Practitioner/prac' }],
  },
  { resourceType: 'Encounter', id: 'enc-a', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/pat-a' } },
  {
    resourceType: 'Encounter',
    id: 'enc-b',
    status: 'finished',
    class: { code: 'AMB' },
    subject: { reference: 'Patient/pat-b' },
    reasonCode: [{ text: B_MARK }],
  },
  observation('obs-a-survey', 'pat-a', 'survey', 'phq9', {
    encounter: { reference: 'Encounter/enc-a' },
    performer: [{ reference: 'Practitioner/prac' }],
  }),
  observation('obs-a-lab', 'pat-a', 'laboratory', 'a1c'),
  observation('obs-b-survey', 'pat-b', 'survey', 'phq9', { note: [{ text: B_MARK }], encounter: { reference: 'Encounter/enc-b' } }),
  observation('obs-b-lab', 'pat-b', 'laboratory', 'b-only-code', {
    note: [{ text: B_MARK }],
    performer: [{ reference: 'Practitioner/prac' }],
  }),
  // About B, performed by A: in both compartments (A may read it, but may not write such a resource).
  observation('obs-b-by-a', 'pat-b', 'survey', 'observed', {
    performer: [{ reference: 'Patient/pat-a' }],
    note: [{ text: 'shared-by-two' }],
  }),
  { resourceType: 'Condition', id: 'cond-a', subject: { reference: 'Patient/pat-a' }, code: { text: 'anxiety' } },
  { resourceType: 'Condition', id: 'cond-b', subject: { reference: 'Patient/pat-b' }, code: { text: B_MARK } },
];

/** Patient A's own resources (the compartment of pat-a), by reference. */
export const A_COMPARTMENT = [
  'Patient/pat-a',
  'Encounter/enc-a',
  'Observation/obs-a-survey',
  'Observation/obs-a-lab',
  'Observation/obs-b-by-a',
  'Condition/cond-a',
];

/** Writes {@link SEED} with full access (PUT = update-as-create, so ids are fixed). */
export async function seed(t: TestServer): Promise<void> {
  for (const r of SEED as { resourceType: string; id: string }[]) {
    const res = await t.req(`/fhir/${r.resourceType}/${r.id}`, { method: 'PUT', json: r, headers: as(ADMIN) });
    if (res.status !== 201 && res.status !== 200) throw new Error(`seed ${r.resourceType}/${r.id}: ${res.status} ${res.text}`);
  }
}

/** Patient A's SMART token (standalone patient launch). */
export const PATIENT_A: TestToken = { scopes: 'openid fhirUser launch/patient offline_access patient/*.rs', patient: 'pat-a' };

/** `Type/id` of every resource entry of a Bundle (matches and includes). */
export function refs(bundle: { entry?: { resource?: { resourceType: string; id?: string } }[] }): string[] {
  return (bundle.entry ?? [])
    .filter((e) => e.resource && e.resource.resourceType !== 'OperationOutcome')
    .map((e) => `${e.resource?.resourceType}/${e.resource?.id}`)
    .sort();
}

/**
 * True when a body shows anything of patient B's own record (the marker, B's name, B-only codes and ids).
 * `Patient/pat-b` as a reference inside `obs-b-by-a` is not a leak: A is in that resource's compartment.
 */
export function leaksB(text: string): boolean {
  return [B_MARK, 'Bravo', 'b-only-code', 'enc-b', 'cond-b', 'obs-b-survey', 'obs-b-lab'].some((s) => text.includes(s));
}
