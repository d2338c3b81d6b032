/**
 * The in-memory prefilter: case by case, and never stricter than the SQL search (each case is also run as a real
 * search restricted to the resource's id: whenever the search finds it, the prefilter must have said "maybe").
 */
import { Operator, parseSearchRequest } from '@medplum/core';
import type { Observation, Patient, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../fhir/definitions.ts';
import { testRepository } from '../../test-support/harness.ts';
import { useScratchDb } from '../../test-support/scratch-db.ts';
import { mayMatch } from './prefilter.ts';

const phq9Total: Observation = {
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '44261-6', display: 'PHQ-9 total' }] },
  subject: { reference: 'Patient/p1' },
  valueInteger: 12,
  meta: { tag: [{ system: 'https://haven.example/tags', code: 'a,b' }] },
};
const bloodPressure: Observation = {
  resourceType: 'Observation',
  status: 'amended',
  code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }, { code: 'local-bp' }] },
  subject: { reference: 'Patient/p1' },
  valueQuantity: { value: 120, unit: 'mm[Hg]' },
};
const patient: Patient = { resourceType: 'Patient', active: true, gender: 'female', identifier: [{ system: 'urn:mrn', value: 'M1' }] };

/** [resource, criteria, expected prefilter answer] */
const CASES: readonly [Resource, string, boolean][] = [
  [phq9Total, 'Observation?code=http://loinc.org|44261-6', true],
  [phq9Total, 'Observation?code=http://loinc.org|8480-6', false],
  [phq9Total, 'Observation?code=http://loinc.org|8480-6,http://loinc.org|44261-6', true],
  [phq9Total, 'Observation?code=44261-6', true],
  [phq9Total, 'Observation?code=http://snomed.info/sct|44261-6', false],
  [phq9Total, 'Observation?code=|44261-6', false],
  [phq9Total, 'Observation?code=http://loinc.org|', true],
  [phq9Total, 'Observation?code=http://loinc.org|44261-6&status=final,amended', true],
  [phq9Total, 'Observation?code=http://loinc.org|44261-6&status=preliminary', false],
  [phq9Total, 'Observation?_tag=https://haven.example/tags|a\\,b', true],
  [phq9Total, 'Observation?_tag=https://haven.example/tags|a', false],
  [bloodPressure, 'Observation?code=|local-bp', true],
  [bloodPressure, 'Observation?code=local-bp&status=amended', true],
  [bloodPressure, 'Observation?code=http://loinc.org|44261-6', false],
  // Not decided in memory: modifiers, other parameter types, chains, _has → "maybe".
  [bloodPressure, 'Observation?code:not=http://loinc.org|8480-6', true],
  [bloodPressure, 'Observation?code:text=nothing-like-it', true],
  [bloodPressure, 'Observation?value-quantity=gt500', true],
  [bloodPressure, 'Observation?subject:Patient.name=nobody', true],
  [bloodPressure, 'Observation?_has:Provenance:target:agent=Practitioner/x', true],
  [patient, 'Patient?active=true', true],
  [patient, 'Patient?active=false', false],
  [patient, 'Patient?gender=male,female', true],
  [patient, 'Patient?identifier=urn:mrn|M1', true],
  [patient, 'Patient?identifier=urn:mrn|M2', false],
  [patient, 'Observation?code=x', false],
];

describe('mayMatch', () => {
  beforeAll(() => loadDefinitions());

  it.each(CASES.map(([r, q, want]) => [r.resourceType, q, want, r] as const))('%s against %s → %s', (_type, query, want, resource) => {
    expect(mayMatch({ ...resource, id: 'x' } as Resource, parseSearchRequest(query))).toBe(want);
  });
});

describe('mayMatch is never stricter than the SQL search', () => {
  const scratch = useScratchDb();

  it('for every case, a resource the search finds is one the prefilter let through', async () => {
    const repo = testRepository(scratch.db);
    const stored = new Map<Resource, Resource & { id: string }>();
    for (const r of [phq9Total, bloodPressure, patient]) stored.set(r, await repo.createResource(r));
    let found = 0;
    for (const [resource, query] of CASES) {
      const version = stored.get(resource) as Resource & { id: string };
      const search = parseSearchRequest(query);
      if (search.resourceType !== version.resourceType) continue;
      // Chains and _has reach other resources, which this test does not create: the search finds nothing.
      const bundle = await repo.search({
        ...search,
        filters: [...(search.filters ?? []), { code: '_id', operator: Operator.EQUALS, value: version.id }],
        total: 'none',
      });
      const hit = (bundle.entry ?? []).some((e) => e.resource?.id === version.id);
      if (hit) found++;
      expect({ query, prefilter: hit ? mayMatch(version, search) : 'not found by SQL' }).toEqual({
        query,
        prefilter: hit ? true : 'not found by SQL',
      });
      // Where the prefilter decides (it said no), SQL must agree.
      if (!mayMatch(version, search)) expect({ query, hit }).toEqual({ query, hit: false });
    }
    expect(found).toBeGreaterThan(10);
  });
});
