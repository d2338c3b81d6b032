import { readFileSync } from 'node:fs';
import { OperationOutcomeError, getStatus, isProfileLoaded } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { HAVEN_PATIENT_URL, OUTPUT_PATH, renderHavenPatient } from '../../../profiles/tools/build-haven-patient.ts';
import { havenProfiles, loadDefinitions } from './definitions.ts';
import { assertValidResource, validateFhirResource } from './validate.ts';

const errors = (r: unknown): OperationOutcomeIssue[] => validateFhirResource(r as Resource).filter((i) => i.severity === 'error');
const at = (issues: OperationOutcomeIssue[]): string[] => issues.flatMap((i) => i.expression ?? []);

const patient = { resourceType: 'Patient', name: [{ family: 'Rivera', given: ['Ana'] }], birthDate: '1990-04-01', gender: 'female' };
const havenPatient = {
  ...patient,
  meta: { profile: [HAVEN_PATIENT_URL] },
  identifier: [{ system: 'urn:oid:1.2.3', value: 'MRN-1' }],
};

beforeAll(() => loadDefinitions());

describe('validateFhirResource: R4 base', () => {
  it('accepts a valid Patient with no issues', () => {
    expect(validateFhirResource(patient as Resource)).toEqual([]);
  });

  it('reports a bad birthDate at Patient.birthDate', () => {
    const issues = errors({ ...patient, birthDate: '1990-13-45' });
    expect(at(issues)).toEqual(['Patient.birthDate']);
  });

  it('reports an unknown property', () => {
    const issues = errors({ ...patient, favouriteColour: 'blue' });
    expect(at(issues)).toEqual(['Patient.favouriteColour']);
    expect(issues[0]?.details?.text).toContain('favouriteColour');
  });

  it('reports a value of the wrong JSON type', () => {
    expect(at(errors({ ...patient, active: 'yes' }))).toEqual(['Patient.active']);
    expect(at(errors({ ...patient, name: { family: 'x' } }))).toEqual(['Patient.name']);
  });

  it('reports cardinality: a missing required element and too many values', () => {
    expect(at(errors({ resourceType: 'Observation', code: { text: 'PHQ-9' } }))).toEqual(['Observation.status']);
    expect(at(errors({ ...patient, gender: ['female', 'male'] }))).toEqual(['Patient.gender']);
  });

  it('reports invariant failures', () => {
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueString: 'a', dataAbsentReason: { text: 'b' } };
    expect(errors(obs)[0]?.details?.text).toContain('obs-6');
  });

  it('rejects empty strings, arrays and objects, which R4 JSON forbids', () => {
    const issues = errors({ ...patient, telecom: [], maritalStatus: {}, address: [{ city: '' }] });
    expect(at(issues).sort()).toEqual(['Patient.address[0].city', 'Patient.maritalStatus', 'Patient.telecom']);
  });

  it('rejects codes outside a required value set, including inside Bundle entries', () => {
    expect(at(errors({ ...patient, gender: 'robot' }))).toEqual(['Patient.gender']);
    const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'FETCH', url: 'Patient/1' } }] };
    const issues = errors(bundle);
    expect(issues.map((i) => [i.code, i.expression?.[0]])).toEqual([['code-invalid', 'Bundle.entry[0].request.method']]);
  });

  it('rejects a reference to a type the element does not allow', () => {
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Medication/1' } };
    expect(at(errors(obs))).toEqual(['Observation.subject']);
    for (const reference of [
      'Patient/1',
      'Patient/1/_history/2',
      'Patient?identifier=urn:x|1',
      'http://ehr.example.org/fhir/Patient/1',
      'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a',
    ]) {
      expect(validateFhirResource({ ...obs, subject: { reference } } as Resource), reference).toEqual([]);
    }
  });

  it('rejects two values for one choice element', () => {
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueString: 'a', valueBoolean: true };
    expect(errors(obs)).toHaveLength(1);
  });
});

describe('validateFhirResource: envelope', () => {
  it.each([
    ['null', null],
    ['an array', [patient]],
    ['a string', 'Patient'],
  ])('rejects %s as a body', (_label, body) => {
    expect(errors(body)[0]?.details?.text).toBe('A resource must be a JSON object');
  });

  it('rejects a missing or unknown resourceType with a diagnostic', () => {
    expect(errors({ name: [] })[0]?.details?.text).toBe('Missing resourceType');
    expect(errors({ resourceType: 'Pateint' })[0]?.details?.text).toContain('Unknown resourceType "Pateint"');
    expect(errors({ resourceType: 'HumanName' })[0]?.details?.text).toContain('Unknown resourceType'); // a datatype
  });

  it('checks id against the R4 id pattern', () => {
    expect(errors({ ...patient, id: 'A-1.b' })).toEqual([]);
    expect(errors({ ...patient, id: 'x'.repeat(64) })).toEqual([]);
    for (const id of ['a b', 'a/b', 'x'.repeat(65), 'ä']) expect(at(errors({ ...patient, id })), id).toEqual(['Patient.id']);
  });
});

describe('validateFhirResource: profiles', () => {
  it('loads the shipped Haven Patient profile with its snapshot', () => {
    expect(havenProfiles.get(HAVEN_PATIENT_URL)?.snapshot?.element.length).toBeGreaterThan(40);
    expect(isProfileLoaded(HAVEN_PATIENT_URL)).toBe(true);
  });

  it('accepts a Patient that meets the Haven profile', () => {
    expect(validateFhirResource(havenPatient as Resource)).toEqual([]);
    expect(validateFhirResource({ ...havenPatient, meta: { profile: [`${HAVEN_PATIENT_URL}|0.1.0`] } } as Resource)).toEqual([]);
  });

  it('enforces the Haven profile, naming each missing element', () => {
    const { birthDate: _b, identifier: _i, ...rest } = havenPatient;
    const issues = errors(rest);
    expect(at(issues).sort()).toEqual(['Patient.birthDate', 'Patient.identifier']);
    for (const i of issues) expect(i.details?.text).toContain(HAVEN_PATIENT_URL);
  });

  it('reports a base R4 problem once, not again for the profile', () => {
    const issues = errors({ ...havenPatient, birthDate: 'yesterday' });
    expect(issues.map((i) => [i.expression?.[0], i.details?.text])).toEqual([['Patient.birthDate', 'Invalid date format']]);
  });

  it('does not apply the profile to resources that do not claim it', () => {
    expect(errors({ resourceType: 'Patient' })).toEqual([]);
  });

  it('warns, without failing, about a profile Haven does not ship', () => {
    const claimed = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient';
    const issues = validateFhirResource({ ...patient, meta: { profile: [claimed] } } as Resource);
    expect(issues).toEqual([expect.objectContaining({ severity: 'warning', expression: ['Patient.meta.profile[0]'] })]);
    expect(issues[0]?.details?.text).toContain(claimed);
    expect(() => assertValidResource({ ...patient, meta: { profile: [claimed] } } as Resource)).not.toThrow();
  });

  it('treats another version of a shipped profile as unknown', () => {
    const issues = validateFhirResource({ ...havenPatient, meta: { profile: [`${HAVEN_PATIENT_URL}|9.9`] } } as Resource);
    expect(issues.map((i) => i.severity)).toEqual(['warning']);
  });

  it('rejects a profile claimed by the wrong resource type', () => {
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, meta: { profile: [HAVEN_PATIENT_URL] } };
    expect(at(errors(obs))).toEqual(['Observation.meta.profile[0]']);
  });

  it('keeps the committed snapshot identical to what the generator produces', () => {
    expect(readFileSync(OUTPUT_PATH, 'utf8')).toBe(renderHavenPatient());
  });

  it('ships a profile that is itself a valid R4 StructureDefinition', () => {
    expect(errors(havenProfiles.get(HAVEN_PATIENT_URL))).toEqual([]);
  });
});

describe('validateFhirResource: realistic R4 resources stay valid', () => {
  const subject = { reference: 'Patient/p1' };
  const loinc = (code: string) => ({ coding: [{ system: 'http://loinc.org', code }] });
  const mmHg = (value: number) => ({ value, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' });
  it.each<[string, Record<string, unknown>]>([
    [
      'Observation with valueQuantity',
      {
        resourceType: 'Observation',
        status: 'final',
        code: loinc('44261-6'),
        subject,
        effectiveDateTime: '2024-01-02T10:00:00Z',
        valueQuantity: { value: 14, unit: '{score}', system: 'http://unitsofmeasure.org', code: '{score}' },
      },
    ],
    [
      'Observation with components',
      {
        resourceType: 'Observation',
        status: 'final',
        code: loinc('85354-9'),
        subject,
        component: [
          { code: loinc('8480-6'), valueQuantity: mmHg(120) },
          { code: loinc('8462-4'), valueQuantity: mmHg(80) },
        ],
      },
    ],
    [
      'Encounter',
      {
        resourceType: 'Encounter',
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        subject,
        period: { start: '2024-01-01T09:00:00-05:00', end: '2024-01-01T09:30:00-05:00' },
        participant: [{ individual: { reference: 'Practitioner/2' } }],
        location: [{ location: { reference: 'Location/l' }, status: 'completed' }],
      },
    ],
    [
      'QuestionnaireResponse with nested items',
      {
        resourceType: 'QuestionnaireResponse',
        status: 'completed',
        questionnaire: 'https://haven.health/fhir/Questionnaire/phq-9|1.0',
        subject,
        authored: '2024-01-01T10:00:00Z',
        item: [
          {
            linkId: 'g',
            item: [
              { linkId: 'q1', answer: [{ valueCoding: { system: 'http://loinc.org', code: 'LA6568-5' } }] },
              { linkId: 'q2', answer: [{ valueBoolean: true, item: [{ linkId: 'q2a', answer: [{ valueString: 'details' }] }] }] },
            ],
          },
        ],
      },
    ],
    [
      'transaction Bundle with urn:uuid references',
      {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a',
            resource: patient,
            request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:oid:1.2.3|MRN-1' },
          },
          {
            resource: {
              resourceType: 'Observation',
              status: 'final',
              code: loinc('44261-6'),
              subject: { reference: 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a' },
              valueInteger: 14,
            },
            request: { method: 'POST', url: 'Observation' },
          },
          { request: { method: 'DELETE', url: 'Patient/old' } },
        ],
      },
    ],
    [
      'primitive extensions with null placeholders',
      {
        resourceType: 'Patient',
        name: [{ given: ['A', null], _given: [null, { extension: [{ url: 'http://example.org/x', valueString: 'y' }] }] }],
      },
    ],
  ])('%s', (_label, resource) => {
    expect(validateFhirResource(resource as unknown as Resource)).toEqual([]);
  });
});

describe('assertValidResource', () => {
  it('passes a valid resource', () => {
    expect(() => assertValidResource(patient as Resource)).not.toThrow();
  });

  it('throws a 400 OperationOutcomeError carrying only the error issues', () => {
    let thrown: unknown;
    try {
      assertValidResource({ ...patient, birthDate: 'soon', meta: { profile: ['http://example.org/unknown'] } } as Resource);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(OperationOutcomeError);
    const outcome = (thrown as OperationOutcomeError).outcome;
    expect(getStatus(outcome)).toBe(400);
    expect(outcome.issue.map((i) => [i.severity, i.code, i.expression?.[0]])).toEqual([['error', 'structure', 'Patient.birthDate']]);
  });

  it('throws for a non-object body and an unknown resourceType', () => {
    expect(() => assertValidResource(null as unknown as Resource)).toThrow(OperationOutcomeError);
    expect(() => assertValidResource({ resourceType: 'Nope' } as unknown as Resource)).toThrow(/Unknown resourceType/);
  });
});

describe('validateFhirResource: properties named like Object.prototype members (issue 13 item 7)', () => {
  // Every name `key in {}` finds through the prototype, and its `_` (primitive extension) form.
  const names = Object.getOwnPropertyNames(Object.prototype).flatMap((n) => [n, `_${n}`]);
  /** Where a client could put an undeclared property: each level and kind of element. */
  const places: [string, (key: string) => string][] = [
    ['resource', (k) => `{"resourceType":"Patient","${k}":1}`],
    ['Meta', (k) => `{"resourceType":"Patient","meta":{"${k}":"x"}}`],
    ['HumanName in an array', (k) => `{"resourceType":"Patient","name":[{"family":"x","${k}":{"a":1}}]}`],
    ['BackboneElement', (k) => `{"resourceType":"Patient","contact":[{"gender":"male","${k}":[1]}]}`],
    [
      'Quantity in a choice',
      (k) => `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1,"${k}":true}}`,
    ],
    ['Extension', (k) => `{"resourceType":"Patient","extension":[{"url":"http://x/e","valueString":"v","${k}":null}]}`],
    ['primitive extension', (k) => `{"resourceType":"Patient","birthDate":"2000-01-01","_birthDate":{"${k}":"x"}}`],
    ['contained resource', (k) => `{"resourceType":"Patient","contained":[{"resourceType":"Practitioner","id":"p","${k}":1}]}`],
  ];

  it('refuses each name at each place, as it refuses any undeclared property', () => {
    for (const [where, body] of places) {
      expect(errors(JSON.parse(body('undeclaredName'))).length, `${where}: control`).toBeGreaterThan(0);
      for (const name of names) {
        const found = errors(JSON.parse(body(name)));
        expect(found.length, `${where}: ${name}`).toBeGreaterThan(0);
        expect(found[0].diagnostics, `${where}: ${name}`).toContain(`"${name}"`);
      }
    }
    // The valid forms of the same places still pass.
    expect(errors(JSON.parse('{"resourceType":"Patient","meta":{"source":"x"},"birthDate":"2000-01-01","_birthDate":{"id":"b"}}'))).toEqual(
      [],
    );
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('refuses them with a 400 through assertValidResource, so no write path stores one', () => {
    for (const name of names) {
      try {
        assertValidResource(JSON.parse(`{"resourceType":"Patient","${name}":{"x":1}}`));
        expect.unreachable(name);
      } catch (err) {
        expect(err, name).toBeInstanceOf(OperationOutcomeError);
        expect(getStatus((err as OperationOutcomeError).outcome), name).toBe(400);
      }
    }
  });
});
