/**
 * Chains (search.html#chaining), reverse chains `_has` (#has), their tenancy, and `restrict` inside them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlParams } from '../sql.ts';
import { openFixture, searchIds, sorted } from './test-fixture.ts';
import type { Fixture } from './test-fixture.ts';

let fx: Fixture;
beforeAll(async () => {
  fx = await openFixture();
});
afterAll(async () => {
  await fx?.close();
});

describe('forward chains', () => {
  it.each([
    ['Observation', 'subject:Patient.name=smith', ['o1', 'o2', 'o3', 'o9']], // o7's patient p5 is deleted
    ['Observation', 'subject.name=smith', ['o1', 'o2', 'o3', 'o5', 'o9']], // Patient and Location both have `name`
    ['Observation', 'subject:Location.name=smith', ['o5']],
    ['Observation', 'patient.name=smith', ['o1', 'o2', 'o3']],
    ['Observation', 'subject:Patient.name:exact=Smith', ['o1', 'o2']],
    ['Observation', 'subject:Patient.gender:missing=true', ['o4', 'o10']],
    ['Observation', 'subject:Patient.birthdate=lt1985', ['o1', 'o2']],
    ['Observation', 'subject:Patient._id=p2', ['o3', 'o9']],
    ['Observation', 'patient.general-practitioner.name=house', ['o1', 'o2', 'o4']],
    ['Observation', 'patient.general-practitioner.name=acme', ['o3']], // Organization target of the same link
    ['Observation', 'patient.general-practitioner:Practitioner.name=acme', []],
    ['Observation', 'subject:Patient.name=smith&subject:Patient.name=ann', ['o3', 'o9']],
    ['Observation', 'subject:Patient.name=zed', []], // t2's p3 is named Zed; t1's o4 points at t1's p3
  ])('%s?%s', async (type, query, ids) => {
    expect(sorted(await searchIds(fx.db, type, query))).toEqual(sorted(ids));
  });

  it('follows references only inside the tenant', async () => {
    // t2: o1 → Patient/p3 (Zed); x2 → Patient/p2, which exists only in t1 (Smithson).
    expect(await searchIds(fx.db, 'Observation', 'subject:Patient.name=zed', { tenant: 't2' })).toEqual(['o1']);
    expect(await searchIds(fx.db, 'Observation', 'subject:Patient.name=smithson', { tenant: 't2' })).toEqual([]);
    expect(await searchIds(fx.db, 'Observation', 'patient.general-practitioner.name=house', { tenant: 't2' })).toEqual([]);
    // Conditions on the target row itself (no index rows involved) must not see t1's p2 either.
    expect(await searchIds(fx.db, 'Observation', 'subject:Patient._id=p2', { tenant: 't2' })).toEqual([]);
    expect(await searchIds(fx.db, 'Observation', 'subject:Patient.name:missing=true', { tenant: 't2' })).toEqual([]);
  });
});

describe('_has', () => {
  it.each([
    ['Patient', '_has:Observation:patient:code=1234-5', ['p1', 'p2', 'p3']], // o7 points at deleted p5
    ['Patient', '_has:Observation:subject:code=http://loinc.org|8480-6', ['p1', 'p6']],
    ['Patient', '_has:Observation:subject:code=del', []], // the referencing observation is deleted
    ['Patient', '_has:Observation:subject:code=leak', []], // t2's o1 references t2's p3, not t1's
    ['Patient', '_has:Observation:subject:_has:Provenance:target:agent=Practitioner/dr1', ['p1']],
    ['Patient', '_has:Observation:subject:subject:Patient.name=smithson', ['p2']], // a chain inside _has
    ['Practitioner', '_has:Patient:general-practitioner:name=smi', ['dr1', 'dr2']],
    ['Practitioner', '_has:Patient:general-practitioner:_has:Observation:patient:code=8480-6', ['dr1']],
    ['Observation', 'subject._has:Provenance:target:agent=Practitioner/dr1', []], // Provenance targets the observation, not the patient
  ])('%s?%s', async (type, query, ids) => {
    expect(sorted(await searchIds(fx.db, type, query))).toEqual(sorted(ids));
  });

  it('sees only referencing resources of the tenant', async () => {
    expect(await searchIds(fx.db, 'Patient', '_has:Observation:subject:code=leak', { tenant: 't2' })).toEqual(['p3']);
    expect(await searchIds(fx.db, 'Patient', '_has:Observation:patient:code=1234-5', { tenant: 't2' })).toEqual([]);
  });
});

describe('restrict inside chains and _has', () => {
  // Policy: p1 and o3 are invisible to the caller.
  const restrict = (alias: string, type: string, params: SqlParams): string | undefined => {
    if (type === 'Patient') return `${alias}.id <> ${params.add('p1')}`;
    if (type === 'Observation') return `${alias}.id <> ${params.add('o3')}`;
    return undefined;
  };

  it('filters the main rows', async () => {
    expect(sorted(await searchIds(fx.db, 'Patient', 'name=smi', { restrict }))).toEqual(['p2']);
  });

  it('filters chain targets', async () => {
    // o1 and o2 point at p1, which the caller may not see: they must not match through it (o3 is hidden itself).
    expect(sorted(await searchIds(fx.db, 'Observation', 'subject:Patient.name=smith', { restrict }))).toEqual(['o9']);
    expect(sorted(await searchIds(fx.db, 'Observation', 'subject.name=smith', { restrict }))).toEqual(['o5', 'o9']);
  });

  it('filters _has sources', async () => {
    expect(sorted(await searchIds(fx.db, 'Patient', '_has:Observation:patient:code=1234-5', { restrict }))).toEqual(['p3']);
  });

  it('filters every type of a multi-type alias separately', async () => {
    const hideLocation = (alias: string, type: string, params: SqlParams) =>
      type === 'Location' ? `${alias}.id <> ${params.add('loc1')}` : undefined;
    expect(sorted(await searchIds(fx.db, 'Observation', 'subject.name=smith', { restrict: hideLocation }))).toEqual([
      'o1',
      'o2',
      'o3',
      'o9',
    ]);
  });
});
