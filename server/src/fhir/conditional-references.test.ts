import { OperationOutcomeError, getStatus } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertNoConditionalReferences, findConditionalReferences, parseConditionalReference } from './conditional-references.ts';
import { loadDefinitions } from './definitions.ts';

beforeAll(() => {
  loadDefinitions();
});

const C = 'Patient?identifier=http://hospital.example/mrn|1';

describe('parseConditionalReference', () => {
  it.each([
    [C, { resourceType: 'Patient', query: 'identifier=http://hospital.example/mrn|1' }],
    ['Patient?', { resourceType: 'Patient', query: '' }],
    ['Patient/123', undefined],
    ['#contained', undefined],
    ['urn:uuid:0b6a2f3e-8a1c-4c1e-9a51-6f1d2b3c4d5e', undefined],
    ['https://other.example/fhir/Patient?identifier=1', undefined],
    ['patient?identifier=1', undefined],
    [42, undefined],
  ])('%s', (value, expected) => {
    expect(parseConditionalReference(value)).toEqual(expected);
  });
});

describe('findConditionalReferences', () => {
  const cases: [string, Resource, string[]][] = [
    ['a plain element', { resourceType: 'Observation', subject: { reference: C } } as Resource, ['Observation.subject']],
    [
      'repeated and nested elements, extensions, contained resources',
      {
        resourceType: 'Observation',
        performer: [{ reference: 'Practitioner/1' }, { reference: 'Practitioner?identifier=x' }],
        extension: [{ url: 'http://e', extension: [{ url: 'n', valueReference: { reference: 'Location?name=l' } }] }],
        contained: [{ resourceType: 'PractitionerRole', id: 'r', organization: { reference: 'Organization?name=o' } }],
      } as Resource,
      ['Observation.contained.organization', 'Observation.extension.extension.value[x]', 'Observation.performer'],
    ],
    [
      'uri elements named reference are not references (DetectedIssue.reference, Expression.reference)',
      {
        resourceType: 'DetectedIssue',
        status: 'final',
        reference: 'Patient?x=1',
        patient: { reference: C },
        extension: [{ url: 'http://e', valueExpression: { language: 'text/fhirpath', reference: 'Library?name=x' } }],
      } as Resource,
      ['DetectedIssue.patient'],
    ],
    [
      'resources a Bundle carries are its content',
      {
        resourceType: 'Bundle',
        type: 'collection',
        entry: [{ resource: { resourceType: 'Observation', subject: { reference: C } } }],
      } as Resource,
      [],
    ],
    [
      'resources a Parameters carries are its content',
      {
        resourceType: 'Parameters',
        parameter: [{ name: 'r', resource: { resourceType: 'Observation', subject: { reference: C } } }],
      } as Resource,
      [],
    ],
    [
      'an unknown type still counts every reference property (validation refuses it later)',
      { resourceType: 'Nonsense', x: { reference: C } } as unknown as Resource,
      ['Nonsense.x'],
    ],
    ['no conditional reference', { resourceType: 'Observation', subject: { reference: 'Patient/1' } } as Resource, []],
  ];
  it.each(cases)('%s', (_name, resource, paths) => {
    expect(
      findConditionalReferences(resource)
        .map((r) => r.path)
        .sort(),
    ).toEqual(paths);
  });

  it('hands out the element itself, so that resolving it changes the resource', () => {
    const resource = { resourceType: 'Observation', subject: { reference: C } } as Resource & { subject: { reference: string } };
    const [ref] = findConditionalReferences(resource);
    ref.element.reference = 'Patient/1';
    expect(resource.subject.reference).toBe('Patient/1');
  });
});

describe('assertNoConditionalReferences', () => {
  it('refuses with a 400 naming the reference and its location', () => {
    let caught: unknown;
    try {
      assertNoConditionalReferences({ resourceType: 'Observation', subject: { reference: C } } as Resource);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(OperationOutcomeError);
    const outcome = (caught as OperationOutcomeError).outcome;
    expect(getStatus(outcome)).toBe(400);
    expect(outcome.issue[0].expression).toEqual(['Observation.subject']);
    expect(outcome.issue[0].details?.text).toMatch(/Patient\?identifier=.*transaction/);
  });

  it('accepts literal references', () => {
    expect(() =>
      assertNoConditionalReferences({ resourceType: 'Observation', subject: { reference: 'Patient/1' } } as Resource),
    ).not.toThrow();
  });
});
