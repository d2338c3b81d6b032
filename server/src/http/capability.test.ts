import type { CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { validateFhirResource } from '../fhir/validate.ts';
import { buildCapabilityStatement } from './capability.ts';
import type { CapabilityInputs, CapabilitySearchParam } from './capability.ts';

const SP = 'http://hl7.org/fhir/SearchParameter/';
const PARAMS: Record<string, CapabilitySearchParam[]> = {
  Patient: [
    { name: 'name', type: 'string', definition: `${SP}Patient-name` },
    { name: 'birthdate', type: 'date', definition: `${SP}individual-birthdate`, documentation: 'Date of birth' },
    { name: 'general-practitioner', type: 'reference', target: ['Practitioner', 'Organization', 'PractitionerRole'] },
    { name: '_id', type: 'token' },
  ],
  Observation: [
    { name: 'subject', type: 'reference', target: ['Patient', 'Group', 'Device', 'Location'] },
    { name: 'code', type: 'token' },
    { name: 'focus', type: 'reference', target: ['Resource'] }, // may point at any type
    { name: 'derived-from', type: 'reference' }, // targets unknown: included, never rev-included
  ],
  Encounter: [{ name: 'patient', type: 'reference', target: ['Patient'] }],
};

function inputs(overrides: Partial<CapabilityInputs> = {}): CapabilityInputs {
  return {
    baseUrl: 'http://localhost:8080/fhir',
    software: { name: 'Haven', version: '0.1.0' },
    now: '2025-01-01T00:00:00Z',
    resourceTypes: ['Patient', 'Observation', 'Encounter', 'Practitioner'],
    typeInteractions: ['search-type', 'read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create'],
    systemInteractions: ['history-system', 'transaction', 'batch', 'search-system'],
    searchParams: (type) => PARAMS[type] ?? [],
    searchRevIncludes: true,
    operations: [
      { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
      { name: '$everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything', resourceTypes: ['Patient'] },
    ],
    formats: ['application/fhir+json', 'application/json'],
    conditional: { create: true, update: true, delete: 'single', read: 'full-support' },
    ...overrides,
  };
}

function resourceOf(cs: ReturnType<typeof buildCapabilityStatement>, type: string): CapabilityStatementRestResource {
  const found = cs.rest?.[0]?.resource?.find((r) => r.type === type);
  if (!found) throw new Error(`no ${type}`);
  return found;
}

describe('buildCapabilityStatement', () => {
  it('describes a versioned R4 server instance', () => {
    const cs = buildCapabilityStatement(inputs());
    expect(cs).toMatchObject({
      resourceType: 'CapabilityStatement',
      status: 'active',
      kind: 'instance',
      fhirVersion: '4.0.1',
      date: '2025-01-01T00:00:00Z',
      software: { name: 'Haven', version: '0.1.0' },
      implementation: { url: 'http://localhost:8080/fhir' },
      format: ['application/fhir+json', 'application/json'],
    });
    expect(cs.rest).toHaveLength(1);
    expect(cs.rest?.[0]?.mode).toBe('server');
    expect(cs.rest?.[0]?.security).toBeUndefined();
    expect(cs.rest?.[0]?.interaction?.map((i) => i.code)).toEqual(['transaction', 'batch', 'search-system', 'history-system']);
  });

  it('lists every served type once, sorted, with the R4 base profile and the resource-level flags', () => {
    const cs = buildCapabilityStatement(inputs({ resourceTypes: ['Patient', 'Encounter', 'Patient'] }));
    expect(cs.rest?.[0]?.resource?.map((r) => r.type)).toEqual(['Encounter', 'Patient']);
    expect(resourceOf(cs, 'Patient')).toMatchObject({
      profile: 'http://hl7.org/fhir/StructureDefinition/Patient',
      versioning: 'versioned',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalUpdate: true,
      conditionalDelete: 'single',
      conditionalRead: 'full-support',
      referencePolicy: ['literal', 'logical'],
    });
  });

  it('gives each type exactly the search parameters the callback returned', () => {
    const cs = buildCapabilityStatement(inputs());
    const patient = resourceOf(cs, 'Patient').searchParam ?? [];
    expect(patient).toEqual([
      { name: '_id', type: 'token' },
      { name: 'birthdate', type: 'date', definition: `${SP}individual-birthdate`, documentation: 'Date of birth' },
      { name: 'general-practitioner', type: 'reference' },
      { name: 'name', type: 'string', definition: `${SP}Patient-name` },
    ]);
    expect(resourceOf(cs, 'Observation').searchParam?.map((p) => p.name)).toEqual(['code', 'derived-from', 'focus', 'subject']);
    expect(resourceOf(cs, 'Practitioner').searchParam).toBeUndefined();
  });

  it("builds _include from a type's reference parameters and _revinclude from those that can point at it", () => {
    const cs = buildCapabilityStatement(inputs());
    expect(resourceOf(cs, 'Patient').searchInclude).toEqual(['Patient:general-practitioner']);
    expect(resourceOf(cs, 'Observation').searchInclude).toEqual(['Observation:derived-from', 'Observation:focus', 'Observation:subject']);
    expect(resourceOf(cs, 'Patient').searchRevInclude).toEqual(['Encounter:patient', 'Observation:focus', 'Observation:subject']);
    expect(resourceOf(cs, 'Practitioner').searchInclude).toBeUndefined();
    expect(resourceOf(cs, 'Practitioner').searchRevInclude).toEqual(['Observation:focus', 'Patient:general-practitioner']);
    const plain = buildCapabilityStatement(inputs({ searchRevIncludes: false }));
    expect(resourceOf(plain, 'Patient').searchInclude).toBeUndefined();
    expect(resourceOf(plain, 'Patient').searchRevInclude).toBeUndefined();
  });

  it('attaches operations to the types they apply to, named without $', () => {
    const cs = buildCapabilityStatement(inputs());
    expect(resourceOf(cs, 'Patient').operation).toEqual([
      { name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' },
      { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
    ]);
    for (const type of ['Observation', 'Encounter', 'Practitioner']) {
      expect(resourceOf(cs, type).operation?.map((o) => o.name)).toEqual(['validate']);
    }
    const none = buildCapabilityStatement(inputs({ operations: [] }));
    expect(resourceOf(none, 'Patient').operation).toBeUndefined();
  });

  it('claims nothing the inputs do not: interactions, system interactions and dependent flags', () => {
    const cs = buildCapabilityStatement(
      inputs({
        typeInteractions: ['read', 'search-type'],
        systemInteractions: [],
        conditional: { create: true, update: true, delete: 'multiple', read: 'modified-since' },
      }),
    );
    const patient = resourceOf(cs, 'Patient');
    expect(patient.interaction?.map((i) => i.code)).toEqual(['read', 'search-type']);
    expect(patient).toMatchObject({
      readHistory: false,
      updateCreate: false,
      conditionalCreate: false,
      conditionalUpdate: false,
      conditionalDelete: 'not-supported',
      conditionalRead: 'modified-since',
    });
    expect(cs.rest?.[0]?.interaction).toBeUndefined();
    expect(cs.patchFormat).toBeUndefined();

    const readOnly = buildCapabilityStatement(inputs({ typeInteractions: ['read'] }));
    expect(resourceOf(readOnly, 'Patient').searchParam).toBeUndefined();
    expect(resourceOf(readOnly, 'Patient').searchInclude).toBeUndefined();
  });

  it('lists patch formats only when patch is served', () => {
    const patchFormats = ['application/json-patch+json'];
    expect(buildCapabilityStatement(inputs({ patchFormats })).patchFormat).toEqual(patchFormats);
    expect(buildCapabilityStatement(inputs({ patchFormats, typeInteractions: ['read'] })).patchFormat).toBeUndefined();
  });

  it('passes security and supported profiles through', () => {
    const security = {
      cors: true,
      service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
    };
    const profile = 'https://haven.health/fhir/StructureDefinition/haven-patient';
    const cs = buildCapabilityStatement(inputs({ security, supportedProfiles: (t) => (t === 'Patient' ? [profile] : []) }));
    expect(cs.rest?.[0]?.security).toEqual(security);
    expect(resourceOf(cs, 'Patient').supportedProfile).toEqual([profile]);
    expect(resourceOf(cs, 'Observation').supportedProfile).toBeUndefined();
  });

  it('is deterministic whatever the input order', () => {
    const a = buildCapabilityStatement(inputs());
    const b = buildCapabilityStatement(
      inputs({
        resourceTypes: [...inputs().resourceTypes].reverse(),
        typeInteractions: [...inputs().typeInteractions].reverse(),
        systemInteractions: [...inputs().systemInteractions].reverse(),
        operations: [...inputs().operations].reverse(),
        searchParams: (type) => [...(PARAMS[type] ?? [])].reverse(),
      }),
    );
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it('rejects unknown interaction codes, duplicate or mistyped search parameters', () => {
    expect(() => buildCapabilityStatement(inputs({ typeInteractions: ['read', 'transaction'] }))).toThrow(/type interaction: transaction/);
    expect(() => buildCapabilityStatement(inputs({ systemInteractions: ['read'] }))).toThrow(/system interaction: read/);
    const dup = (): CapabilitySearchParam[] => [
      { name: 'x', type: 'token' },
      { name: 'x', type: 'string' },
    ];
    expect(() => buildCapabilityStatement(inputs({ searchParams: dup }))).toThrow(/Duplicate/);
    expect(() => buildCapabilityStatement(inputs({ searchParams: () => [{ name: 'x', type: 'text' }] }))).toThrow(/unknown type/);
  });

  it('produces a valid R4 CapabilityStatement', () => {
    const cs = buildCapabilityStatement(inputs({ patchFormats: ['application/json-patch+json'] }));
    expect(validateFhirResource(cs).filter((i) => i.severity === 'error')).toEqual([]);
  });
});
