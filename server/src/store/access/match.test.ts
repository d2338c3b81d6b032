/**
 * A row rule checked on a resource body (history versions, notification content): R4 CompartmentDefinition
 * `patient` membership, exclusive membership for writes, query constraints, and which types a patient scope can
 * reach at all (../../model/compartment.ts).
 */
import type { Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../fhir/definitions.ts';
import type { RowRule } from '../../model/access.ts';
import { compartmentReach } from '../../model/compartment.ts';
import { inCompartment, resourceAllowed } from './match.ts';

beforeAll(() => {
  loadDefinitions();
});

describe('compartment reach and membership (R4 CompartmentDefinition patient)', () => {
  it.each([
    ['Observation', 'compartment'],
    ['Patient', 'compartment'],
    ['Device', 'compartment'],
    ['Practitioner', 'shared'],
    ['Binary', 'outside'],
    ['Subscription', 'outside'],
  ])('%s → %s', (type, reach) => expect(compartmentReach(type)).toBe(reach));

  const obs = (subject: string, performer?: string): Resource =>
    ({
      resourceType: 'Observation',
      id: 'o',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: subject },
      ...(performer ? { performer: [{ reference: performer }] } : {}),
    }) as Resource;

  it.each([
    ['subject A', obs('Patient/A'), 'A', false, true],
    ['subject B', obs('Patient/B'), 'A', false, false],
    ['performer A (read)', obs('Patient/B', 'Patient/A'), 'A', false, true],
    ['performer A (write: B too)', obs('Patient/B', 'Patient/A'), 'A', true, false],
    ['absolute reference', obs('https://other.example/fhir/Patient/A'), 'A', true, true],
    ['Patient itself', { resourceType: 'Patient', id: 'A' } as Resource, 'A', true, true],
    ['another Patient', { resourceType: 'Patient', id: 'B' } as Resource, 'A', false, false],
    [
      'Patient linked to A (read)',
      { resourceType: 'Patient', id: 'B', link: [{ type: 'seealso', other: { reference: 'Patient/A' } }] } as Resource,
      'A',
      false,
      true,
    ],
    [
      'Patient linked to A (write)',
      { resourceType: 'Patient', id: 'B', link: [{ type: 'seealso', other: { reference: 'Patient/A' } }] } as Resource,
      'A',
      true,
      false,
    ],
  ] as const)('%s', (_name, resource, patient, exclusive, want) => {
    expect(inCompartment(resource, patient, exclusive)).toBe(want);
  });

  it('resourceAllowed applies compartment and query constraint together', () => {
    const rule: RowRule = { kind: 'some', branches: [{ patient: 'A', query: [['category', 'survey']] }] };
    const survey = {
      ...obs('Patient/A'),
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
    } as Resource;
    const lab = { ...obs('Patient/A'), category: [{ coding: [{ code: 'laboratory' }] }] } as Resource;
    expect(resourceAllowed(rule, survey)).toBe(true);
    expect(resourceAllowed(rule, lab)).toBe(false);
    expect(resourceAllowed(rule, { ...survey, subject: { reference: 'Patient/B' } } as Resource)).toBe(false);
    expect(resourceAllowed({ kind: 'some', branches: [{ ids: ['o'] }] }, survey)).toBe(true);
    expect(resourceAllowed({ kind: 'none' }, survey)).toBe(false);
    expect(resourceAllowed({ kind: 'all' }, survey)).toBe(true);
  });
});
