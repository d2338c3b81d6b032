import { indexSearchParameterBundle } from '@medplum/core';
import type {
  Bundle,
  CarePlan,
  Condition,
  Encounter,
  Invoice,
  Observation,
  Patient,
  QuestionnaireResponse,
  Resource,
  RiskAssessment,
  SearchParameter,
} from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../fhir/definitions.ts';
import type { CompositeRow, IndexRows, ReferenceRow } from './index-rows.ts';
import { dateRange } from './index-dates.ts';
import { extractIndexRows, indexedSearchParameters } from './indexer.ts';

beforeAll(() => {
  loadDefinitions();
});

/** Index a resource, failing the test if any parameter's evaluation throws. */
function index(resource: Resource): IndexRows {
  const errors: string[] = [];
  const rows = extractIndexRows(resource, (code) => errors.push(code));
  expect(errors).toEqual([]);
  return rows;
}

function rowsOf<K extends keyof IndexRows>(rows: IndexRows, table: K, code: string): IndexRows[K] {
  return rows[table].filter((r) => r.code === code) as IndexRows[K];
}

function ref(code: string, fields: Partial<Omit<ReferenceRow, 'code'>>): ReferenceRow {
  return { code, target_type: null, target_id: null, url: null, ident_system: null, ident_value: null, ...fields };
}

function composite(code: string, fields: Partial<Omit<CompositeRow, 'code'>>): CompositeRow {
  return {
    code,
    c1_system: null,
    c1_value: null,
    c2_system: null,
    c2_value: null,
    c2_number: null,
    c2_unit_code: null,
    c2_low: null,
    c2_high: null,
    c2_string: null,
    ...fields,
  };
}

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';

const patient: Patient = {
  resourceType: 'Patient',
  id: 'p1',
  meta: { lastUpdated: '2024-05-01T10:00:00Z' },
  active: true,
  identifier: [
    { system: 'urn:mrn', value: 'MRN-1', type: { text: 'Medical Record Number' } },
    { system: 'urn:ssn', value: '123-45' },
  ],
  name: [
    { use: 'official', family: 'Müller', given: ['José', 'Ángel'], prefix: ['Dr.'], suffix: ['Jr'], text: 'Dr. José Ángel Müller Jr' },
    { given: ['  '], family: '' },
  ],
  telecom: [
    { system: 'phone', value: '+1 555 0100', use: 'home' },
    { system: 'email', value: 'Jose@Example.org' },
  ],
  gender: 'male',
  birthDate: '1974-12-25',
  address: [
    {
      line: ['1 Rue de l’Église', 'Apt 2'],
      city: 'Montréal',
      district: 'Ville-Marie',
      state: 'QC',
      postalCode: 'H2X 1Y4',
      country: 'CA',
      text: '1 Rue de l’Église, Montréal',
    },
  ],
  generalPractitioner: [{ reference: 'Practitioner/dr1' }],
  managingOrganization: { reference: 'Organization/org1' },
};

describe('indexedSearchParameters', () => {
  it('leaves out resource columns, Medplum-only and special parameters', () => {
    const codes = indexedSearchParameters('Patient').map((p) => p.code);
    for (const excluded of ['_id', '_lastUpdated', '_project', '_compartment']) expect(codes).not.toContain(excluded);
    expect(codes).toEqual(expect.arrayContaining(['_tag', '_security', '_profile', '_source', 'name', 'birthdate', 'identifier']));
    expect(indexedSearchParameters('Location').map((p) => p.code)).not.toContain('near');
    expect(indexedSearchParameters('Observation').map((p) => p.code)).toContain('component-code-value-quantity');
  });

  it('leaves out composites sp_composite cannot hold', () => {
    expect(indexedSearchParameters('DocumentReference').map((p) => p.code)).not.toContain('relationship'); // reference first
    expect(indexedSearchParameters('MolecularSequence').map((p) => p.code)).not.toContain('chromosome-variant-coordinate'); // 3 parts
    expect(indexedSearchParameters('Group').map((p) => p.code)).toContain('characteristic-value');
  });

  it('is empty for an unknown type', () => {
    expect(indexedSearchParameters('NotAType')).toEqual([]);
    expect(extractIndexRows({ resourceType: 'NotAType' } as unknown as Resource)).toEqual(
      expect.objectContaining({ token: [], string: [] }),
    );
  });
});

describe('Patient', () => {
  const rows = (): IndexRows => index(patient);

  it('indexes every HumanName part, normalised without accents, raw as written', () => {
    const name = rowsOf(rows(), 'string', 'name');
    expect(name).toEqual(
      expect.arrayContaining([
        { code: 'name', norm: 'muller', raw: 'Müller' },
        { code: 'name', norm: 'jose', raw: 'José' },
        { code: 'name', norm: 'angel', raw: 'Ángel' },
        { code: 'name', norm: 'dr.', raw: 'Dr.' },
        { code: 'name', norm: 'jr', raw: 'Jr' },
        { code: 'name', norm: 'dr. jose angel muller jr', raw: 'Dr. José Ángel Müller Jr' },
      ]),
    );
    expect(name).toHaveLength(6); // blank given and empty family are skipped
    expect(rowsOf(rows(), 'string', 'family')).toEqual([{ code: 'family', norm: 'muller', raw: 'Müller' }]);
    expect(rowsOf(rows(), 'string', 'given')).toHaveLength(2);
  });

  it('indexes every Address part', () => {
    const address = rowsOf(rows(), 'string', 'address');
    expect(address.map((r) => r.raw).sort()).toEqual(
      ['1 Rue de l’Église', 'Apt 2', 'Montréal', 'Ville-Marie', 'QC', 'H2X 1Y4', 'CA', '1 Rue de l’Église, Montréal'].sort(),
    );
    expect(address).toContainEqual({ code: 'address', norm: 'montreal', raw: 'Montréal' });
    expect(rowsOf(rows(), 'string', 'address-city')).toEqual([{ code: 'address-city', norm: 'montreal', raw: 'Montréal' }]);
    expect(rowsOf(rows(), 'string', 'address-postalcode')).toEqual([{ code: 'address-postalcode', norm: 'h2x 1y4', raw: 'H2X 1Y4' }]);
  });

  it.each([
    ['gender', [{ system: null, value: 'male', display: null }]],
    ['active', [{ system: null, value: 'true', display: null }]],
    // FHIRPath `deceased.exists() and deceased != false` is false when deceased is absent: living patients match deceased=false.
    ['deceased', [{ system: null, value: 'false', display: null }]],
    [
      'identifier',
      [
        { system: 'urn:mrn', value: 'MRN-1', display: 'medical record number' },
        { system: 'urn:ssn', value: '123-45', display: null },
      ],
    ],
    // ContactPoint: value only, no system (R4 token mapping); values are not lower-cased.
    [
      'telecom',
      [
        { system: null, value: '+1 555 0100', display: null },
        { system: null, value: 'Jose@Example.org', display: null },
      ],
    ],
    ['phone', [{ system: null, value: '+1 555 0100', display: null }]],
    ['email', [{ system: null, value: 'Jose@Example.org', display: null }]],
  ])('token %s', (code, expected) => {
    expect(rowsOf(rows(), 'token', code)).toEqual(expected.map((t) => ({ code, ...t })));
  });

  it('birthdate covers the whole day', () => {
    expect(rowsOf(rows(), 'date', 'birthdate')).toEqual([
      { code: 'birthdate', low: '1974-12-25T00:00:00.000Z', high: '1974-12-25T23:59:59.999Z' },
    ]);
  });

  it('references', () => {
    expect(rowsOf(rows(), 'reference', 'general-practitioner')).toEqual([
      ref('general-practitioner', { target_type: 'Practitioner', target_id: 'dr1' }),
    ]);
    expect(rowsOf(rows(), 'reference', 'organization')).toEqual([ref('organization', { target_type: 'Organization', target_id: 'org1' })]);
  });

  it('indexes deceasedBoolean true', () => {
    expect(rowsOf(index({ resourceType: 'Patient', deceasedBoolean: true }), 'token', 'deceased')).toEqual([
      { code: 'deceased', system: null, value: 'true', display: null },
    ]);
  });
});

const bp: Observation = {
  resourceType: 'Observation',
  id: 'bp',
  meta: {
    profile: ['http://hl7.org/fhir/StructureDefinition/bp|4.0.1'],
    tag: [
      { system: 'http://haven.example/tag', code: 'intake', display: 'Intake' },
      { system: 'http://haven.example/tag', code: 'intake', display: 'Intake' },
    ],
    security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }],
    source: 'urn:haven:ingest',
  },
  status: 'final',
  category: [
    { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs', display: 'Vital Signs' }] },
  ],
  code: {
    coding: [
      { system: LOINC, code: '85354-9', display: 'Blood Pressure panel' },
      { system: 'http://snomed.info/sct', code: '75367002' },
    ],
    text: 'Blood Pressure',
  },
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2020-03-04T10:00:00+02:00',
  valueQuantity: { value: 120, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' },
  component: [
    { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: { value: 120, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' } },
    { code: { coding: [{ system: LOINC, code: '8462-4' }] }, valueQuantity: { value: 80, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' } },
  ],
};

describe('Observation', () => {
  const rows = (): IndexRows => index(bp);

  it('code: one row per coding, display lower-cased, plus the text', () => {
    expect(rowsOf(rows(), 'token', 'code')).toEqual([
      { code: 'code', system: LOINC, value: '85354-9', display: 'blood pressure panel' },
      { code: 'code', system: 'http://snomed.info/sct', value: '75367002', display: null },
      { code: 'code', system: null, value: null, display: 'blood pressure' },
    ]);
    expect(rowsOf(rows(), 'token', 'category')).toEqual([
      {
        code: 'category',
        system: 'http://terminology.hl7.org/CodeSystem/observation-category',
        value: 'vital-signs',
        display: 'vital signs',
      },
    ]);
  });

  it('meta: _tag (deduplicated), _security, _profile with and without version, _source', () => {
    expect(rowsOf(rows(), 'token', '_tag')).toEqual([
      { code: '_tag', system: 'http://haven.example/tag', value: 'intake', display: 'intake' },
    ]);
    expect(rowsOf(rows(), 'token', '_security')).toEqual([
      { code: '_security', system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', value: 'PSY', display: null },
    ]);
    expect(rowsOf(rows(), 'uri', '_profile')).toEqual([
      { code: '_profile', value: 'http://hl7.org/fhir/StructureDefinition/bp' },
      { code: '_profile', value: 'http://hl7.org/fhir/StructureDefinition/bp|4.0.1' },
    ]);
    expect(rowsOf(rows(), 'uri', '_source')).toEqual([{ code: '_source', value: 'urn:haven:ingest' }]);
  });

  it('value-quantity and component-value-quantity', () => {
    expect(rowsOf(rows(), 'quantity', 'value-quantity')).toEqual([
      { code: 'value-quantity', value: 120, system: UCUM, unit_code: 'mm[Hg]', unit: 'mmHg' },
    ]);
    expect(rowsOf(rows(), 'quantity', 'component-value-quantity').map((r) => r.value)).toEqual([120, 80]);
  });

  it('code-value-quantity: every coding of code × the value', () => {
    const q = { c2_number: 120, c2_system: UCUM, c2_unit_code: 'mm[Hg]' };
    expect(rowsOf(rows(), 'composite', 'code-value-quantity')).toEqual([
      composite('code-value-quantity', { c1_system: LOINC, c1_value: '85354-9', ...q }),
      composite('code-value-quantity', { c1_system: 'http://snomed.info/sct', c1_value: '75367002', ...q }),
    ]);
  });

  it('component-code-value-quantity pairs each component code with its own value only', () => {
    expect(rowsOf(rows(), 'composite', 'component-code-value-quantity')).toEqual([
      composite('component-code-value-quantity', {
        c1_system: LOINC,
        c1_value: '8480-6',
        c2_number: 120,
        c2_system: UCUM,
        c2_unit_code: 'mm[Hg]',
      }),
      composite('component-code-value-quantity', {
        c1_system: LOINC,
        c1_value: '8462-4',
        c2_number: 80,
        c2_system: UCUM,
        c2_unit_code: 'mm[Hg]',
      }),
    ]);
  });

  it('combo-code-value-quantity covers the Observation and its components (Medplum drops the bare `Observation` branch)', () => {
    expect(rowsOf(rows(), 'composite', 'combo-code-value-quantity').map((r) => `${r.c1_value}=${r.c2_number}`)).toEqual([
      '85354-9=120',
      '75367002=120',
      '8480-6=120',
      '8462-4=80',
    ]);
  });

  it('combo-code deduplicates a code that appears twice', () => {
    const obs: Observation = { ...bp, component: [{ code: bp.code }] };
    expect(rowsOf(index(obs), 'token', 'combo-code')).toHaveLength(3);
  });

  it.each<[string, Observation['subject'], ReferenceRow | undefined, ReferenceRow | undefined]>([
    [
      'relative',
      { reference: 'Patient/p1' },
      ref('subject', { target_type: 'Patient', target_id: 'p1' }),
      ref('patient', { target_type: 'Patient', target_id: 'p1' }),
    ],
    [
      'history stripped',
      { reference: 'Patient/p1/_history/3' },
      ref('subject', { target_type: 'Patient', target_id: 'p1' }),
      ref('patient', { target_type: 'Patient', target_id: 'p1' }),
    ],
    ['not a patient', { reference: 'Group/g1' }, ref('subject', { target_type: 'Group', target_id: 'g1' }), undefined],
    [
      'absolute URL (Medplum resolve() cannot type it)',
      { reference: 'https://ehr.example/fhir/Patient/e9/_history/1' },
      ref('subject', { target_type: 'Patient', target_id: 'e9', url: 'https://ehr.example/fhir/Patient/e9' }),
      ref('patient', { target_type: 'Patient', target_id: 'e9', url: 'https://ehr.example/fhir/Patient/e9' }),
    ],
    [
      'absolute URL that is not Type/id',
      { reference: 'https://ehr.example/things/42' },
      ref('subject', { url: 'https://ehr.example/things/42' }),
      undefined,
    ],
    [
      'urn:uuid',
      { reference: 'urn:uuid:6f1c0f0e-1111-4222-8333-944455556666' },
      ref('subject', { url: 'urn:uuid:6f1c0f0e-1111-4222-8333-944455556666' }),
      undefined,
    ],
    [
      'identifier only, typed',
      { type: 'Patient', identifier: { system: 'urn:mrn', value: 'MRN-1' } },
      ref('subject', { ident_system: 'urn:mrn', ident_value: 'MRN-1' }),
      ref('patient', { ident_system: 'urn:mrn', ident_value: 'MRN-1' }),
    ],
    [
      'identifier only, untyped',
      { identifier: { system: 'urn:mrn', value: 'MRN-1' } },
      ref('subject', { ident_system: 'urn:mrn', ident_value: 'MRN-1' }),
      undefined,
    ],
    [
      'reference and identifier: one row',
      { reference: 'Patient/p1', identifier: { system: 'urn:mrn', value: 'MRN-1' } },
      ref('subject', { target_type: 'Patient', target_id: 'p1', ident_system: 'urn:mrn', ident_value: 'MRN-1' }),
      ref('patient', { target_type: 'Patient', target_id: 'p1', ident_system: 'urn:mrn', ident_value: 'MRN-1' }),
    ],
    ['contained', { reference: '#p' }, undefined, undefined],
    ['display only', { display: 'Someone' }, undefined, undefined],
  ])('subject and patient: %s', (_name, subject, subjectRow, patientRow) => {
    const rows = index({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject });
    expect(rowsOf(rows, 'reference', 'subject')).toEqual(subjectRow ? [subjectRow] : []);
    expect(rowsOf(rows, 'reference', 'patient')).toEqual(patientRow ? [patientRow] : []);
  });

  it.each<[string, Partial<Observation>, [string, string][]]>([
    ['year', { effectiveDateTime: '2020' }, [['2020-01-01T00:00:00.000Z', '2020-12-31T23:59:59.999Z']]],
    ['month (leap February)', { effectiveDateTime: '2024-02' }, [['2024-02-01T00:00:00.000Z', '2024-02-29T23:59:59.999Z']]],
    ['day', { effectiveDateTime: '2020-03-04' }, [['2020-03-04T00:00:00.000Z', '2020-03-04T23:59:59.999Z']]],
    ['seconds with offset', { effectiveDateTime: '2020-03-04T10:00:00+02:00' }, [['2020-03-04T08:00:00.000Z', '2020-03-04T08:00:00.999Z']]],
    [
      'negative offset crossing midnight',
      { effectiveDateTime: '2020-12-31T22:30:00-05:00' },
      [['2021-01-01T03:30:00.000Z', '2021-01-01T03:30:00.999Z']],
    ],
    ['no zone is UTC', { effectiveDateTime: '2020-03-04T10:00:00' }, [['2020-03-04T10:00:00.000Z', '2020-03-04T10:00:00.999Z']]],
    ['milliseconds', { effectiveDateTime: '2020-03-04T10:00:00.123Z' }, [['2020-03-04T10:00:00.123Z', '2020-03-04T10:00:00.123Z']]],
    ['tenths', { effectiveDateTime: '2020-03-04T10:00:00.5Z' }, [['2020-03-04T10:00:00.500Z', '2020-03-04T10:00:00.599Z']]],
    ['instant', { effectiveInstant: '2020-03-04T10:00:00.000Z' }, [['2020-03-04T10:00:00.000Z', '2020-03-04T10:00:00.000Z']]],
    [
      'period',
      { effectivePeriod: { start: '2020-03-04', end: '2020-03-06T12:00:00Z' } },
      [['2020-03-04T00:00:00.000Z', '2020-03-06T12:00:00.999Z']],
    ],
    ['period open end', { effectivePeriod: { start: '2020-03' } }, [['2020-03-01T00:00:00.000Z', 'infinity']]],
    ['period open start', { effectivePeriod: { end: '2020' } }, [['-infinity', '2020-12-31T23:59:59.999Z']]],
    ['empty period', { effectivePeriod: {} }, []],
    ['invalid month', { effectiveDateTime: '2020-13' }, []],
    ['invalid day', { effectiveDateTime: '2021-02-29' }, []],
    ['not a date', { effectiveDateTime: 'yesterday' }, []],
  ])('date: %s', (_name, effective, expected) => {
    const rows = index({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, ...effective });
    expect(rowsOf(rows, 'date', 'date')).toEqual(expected.map(([low, high]) => ({ code: 'date', low, high })));
  });

  it('value-concept keeps the text for :text; the composite uses codings only', () => {
    const rows = index({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: LOINC, code: '44261-6' }] },
      valueCodeableConcept: {
        coding: [{ system: 'http://snomed.info/sct', code: '6471000179103', display: 'Minimal Depression' }],
        text: 'Minimal depression',
      },
    });
    expect(rowsOf(rows, 'token', 'value-concept')).toEqual([
      { code: 'value-concept', system: 'http://snomed.info/sct', value: '6471000179103', display: 'minimal depression' },
      { code: 'value-concept', system: null, value: null, display: 'minimal depression' },
    ]);
    expect(rowsOf(rows, 'composite', 'code-value-concept')).toEqual([
      composite('code-value-concept', {
        c1_system: LOINC,
        c1_value: '44261-6',
        c2_system: 'http://snomed.info/sct',
        c2_value: '6471000179103',
      }),
    ]);
    expect(rowsOf(rows, 'string', 'value-string')).toEqual([
      { code: 'value-string', norm: 'minimal depression', raw: 'Minimal depression' },
    ]);
  });

  it('code-value-string and code-value-date fill their own columns', () => {
    const code = { coding: [{ system: LOINC, code: 'x-1' }] };
    const str = index({ resourceType: 'Observation', status: 'final', code, valueString: 'Élevé' });
    expect(rowsOf(str, 'composite', 'code-value-string')).toEqual([
      composite('code-value-string', { c1_system: LOINC, c1_value: 'x-1', c2_string: 'eleve' }),
    ]);
    expect(rowsOf(str, 'string', 'value-string')).toEqual([{ code: 'value-string', norm: 'eleve', raw: 'Élevé' }]);
    const date = index({ resourceType: 'Observation', status: 'final', code, valueDateTime: '2021-06' });
    expect(rowsOf(date, 'composite', 'code-value-date')).toEqual([
      composite('code-value-date', {
        c1_system: LOINC,
        c1_value: 'x-1',
        c2_low: '2021-06-01T00:00:00.000Z',
        c2_high: '2021-06-30T23:59:59.999Z',
      }),
    ]);
  });

  it('SampledData and values without a number give no quantity rows', () => {
    const rows = index({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: LOINC, code: 'ecg' }] },
      valueSampledData: { origin: { value: 0 }, period: 1, dimensions: 1, data: '1 2 3' },
      component: [{ code: { text: 'no value' }, valueQuantity: { unit: 'mmHg' } }],
    });
    expect(rows.quantity).toEqual([]);
    expect(rows.composite).toEqual([]);
  });
});

describe('other resource types', () => {
  it('Encounter period, subject and practitioner (resolve() is Practitioner)', () => {
    const encounter: Encounter = {
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: { reference: 'Patient/p1' },
      period: { start: '2024-05-01T09:00:00-04:00', end: '2024-05-01T09:45:00-04:00' },
      length: { value: 45, unit: 'min', system: UCUM, code: 'min' },
      participant: [{ individual: { reference: 'Practitioner/dr1' } }, { individual: { reference: 'RelatedPerson/rp1' } }],
    };
    const rows = index(encounter);
    expect(rowsOf(rows, 'date', 'date')).toEqual([{ code: 'date', low: '2024-05-01T13:00:00.000Z', high: '2024-05-01T13:45:00.999Z' }]);
    expect(rowsOf(rows, 'reference', 'subject')).toEqual([ref('subject', { target_type: 'Patient', target_id: 'p1' })]);
    expect(rowsOf(rows, 'reference', 'patient')).toEqual([ref('patient', { target_type: 'Patient', target_id: 'p1' })]);
    expect(rowsOf(rows, 'reference', 'participant')).toHaveLength(2);
    expect(rowsOf(rows, 'reference', 'practitioner')).toEqual([ref('practitioner', { target_type: 'Practitioner', target_id: 'dr1' })]);
    expect(rowsOf(rows, 'token', 'class')).toEqual([
      { code: 'class', system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', value: 'AMB', display: null },
    ]);
    expect(rowsOf(rows, 'quantity', 'length')).toEqual([{ code: 'length', value: 45, system: UCUM, unit_code: 'min', unit: 'min' }]);
  });

  it('QuestionnaireResponse questionnaire: canonical without its version', () => {
    const qr: QuestionnaireResponse = {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      subject: { reference: 'Patient/p1' },
      questionnaire: 'http://haven.example/Questionnaire/phq-9|2.0',
      authored: '2024-05-01T10:00:00Z',
    };
    const rows = index(qr);
    expect(rowsOf(rows, 'reference', 'questionnaire')).toEqual([ref('questionnaire', { url: 'http://haven.example/Questionnaire/phq-9' })]);
    expect(rowsOf(rows, 'reference', 'patient')).toEqual([ref('patient', { target_type: 'Patient', target_id: 'p1' })]);
    expect(rowsOf(rows, 'date', 'authored')).toEqual([
      { code: 'authored', low: '2024-05-01T10:00:00.000Z', high: '2024-05-01T10:00:00.999Z' },
    ]);
  });

  it.each<[string, Partial<Condition>, keyof IndexRows, string, unknown[]]>([
    [
      'onsetDateTime',
      { onsetDateTime: '2019-06' },
      'date',
      'onset-date',
      [{ code: 'onset-date', low: '2019-06-01T00:00:00.000Z', high: '2019-06-30T23:59:59.999Z' }],
    ],
    [
      'onsetPeriod',
      { onsetPeriod: { start: '2019-06-01', end: '2019-07-15' } },
      'date',
      'onset-date',
      [{ code: 'onset-date', low: '2019-06-01T00:00:00.000Z', high: '2019-07-15T23:59:59.999Z' }],
    ],
    [
      'onsetAge',
      { onsetAge: { value: 14, unit: 'yr', system: UCUM, code: 'a' } },
      'quantity',
      'onset-age',
      [{ code: 'onset-age', value: 14, system: UCUM, unit_code: 'a', unit: 'yr' }],
    ],
    [
      'onsetRange is not indexed',
      { onsetRange: { low: { value: 10, unit: 'a' }, high: { value: 20, unit: 'a' } } },
      'quantity',
      'onset-age',
      [],
    ],
    [
      'onsetString',
      { onsetString: 'Since childhood' },
      'string',
      'onset-info',
      [{ code: 'onset-info', norm: 'since childhood', raw: 'Since childhood' }],
    ],
    [
      'abatementDateTime',
      { abatementDateTime: '2021' },
      'date',
      'abatement-date',
      [{ code: 'abatement-date', low: '2021-01-01T00:00:00.000Z', high: '2021-12-31T23:59:59.999Z' }],
    ],
  ])('Condition %s', (_name, onset, table, code, expected) => {
    const rows = index({ resourceType: 'Condition', subject: { reference: 'Patient/p1' }, ...onset });
    expect(rowsOf(rows, table, code)).toEqual(expected);
  });

  it('CarePlan patient and activity Timing events and bounds', () => {
    const plan: CarePlan = {
      resourceType: 'CarePlan',
      status: 'active',
      intent: 'plan',
      subject: { reference: 'Patient/p1' },
      activity: [
        {
          detail: {
            status: 'scheduled',
            scheduledTiming: { event: ['2024-06-01T09:00:00Z'], repeat: { boundsPeriod: { start: '2024-06-01', end: '2024-08-31' } } },
          },
        },
        { detail: { status: 'scheduled', scheduledString: 'every morning' } },
      ],
    };
    const rows = index(plan);
    expect(rowsOf(rows, 'reference', 'patient')).toEqual([ref('patient', { target_type: 'Patient', target_id: 'p1' })]);
    expect(rowsOf(rows, 'date', 'activity-date')).toEqual([
      { code: 'activity-date', low: '2024-06-01T09:00:00.000Z', high: '2024-06-01T09:00:00.999Z' },
      { code: 'activity-date', low: '2024-06-01T00:00:00.000Z', high: '2024-08-31T23:59:59.999Z' },
    ]);
  });

  it('RiskAssessment probability is a number; a Range probability is not', () => {
    const risk: RiskAssessment = {
      resourceType: 'RiskAssessment',
      status: 'final',
      subject: { reference: 'Patient/p1' },
      prediction: [
        {
          probabilityDecimal: 0.37,
          qualitativeRisk: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/risk-probability', code: 'moderate' }] },
        },
        { probabilityRange: { low: { value: 0.1 } } },
      ],
    };
    const rows = index(risk);
    expect(rowsOf(rows, 'number', 'probability')).toEqual([{ code: 'probability', value: 0.37 }]);
    expect(rowsOf(rows, 'token', 'risk')).toEqual([
      { code: 'risk', system: 'http://terminology.hl7.org/CodeSystem/risk-probability', value: 'moderate', display: null },
    ]);
  });

  it('Money is a quantity in ISO 4217', () => {
    const invoice: Invoice = {
      resourceType: 'Invoice',
      status: 'issued',
      totalGross: { value: 150.5, currency: 'USD' },
      totalNet: { currency: 'USD' },
    };
    const rows = index(invoice);
    expect(rows.quantity).toEqual([{ code: 'totalgross', value: 150.5, system: 'urn:iso:std:iso:4217', unit_code: 'USD', unit: null }]);
  });
});

describe('dateRange', () => {
  it.each<[string, [string, string] | undefined]>([
    ['0001', ['0001-01-01T00:00:00.000Z', '0001-12-31T23:59:59.999Z']],
    ['0050-02', ['0050-02-01T00:00:00.000Z', '0050-02-28T23:59:59.999Z']],
    ['2020-03-04T10:00', ['2020-03-04T10:00:00.000Z', '2020-03-04T10:00:59.999Z']],
    ['0000', undefined],
    ['2020-03-04T25:00:00Z', undefined],
  ])('%s', (value, expected) => {
    const range = dateRange(value);
    expect(range?.map((ms) => new Date(ms).toISOString())).toEqual(expected);
  });
});

describe('odd data', () => {
  it('never throws, and indexes what it can', () => {
    const odd = {
      resourceType: 'Patient',
      name: 'Smith',
      birthDate: 19741225,
      gender: { code: 'male' },
      telecom: [null, { value: 5 }],
      identifier: [{}, { value: 'ok' }],
      managingOrganization: { reference: 42 },
      generalPractitioner: [{ reference: 'not a reference' }],
    } as unknown as Patient;
    const rows = extractIndexRows(odd);
    expect(rowsOf(rows, 'token', 'identifier')).toEqual([{ code: 'identifier', system: null, value: 'ok', display: null }]);
    expect(rows.date).toEqual([]);
    expect(rows.reference).toEqual([]);
  });

  it('a parameter whose FHIRPath throws is skipped and reported; the others are indexed', () => {
    const sp: SearchParameter = {
      resourceType: 'SearchParameter',
      url: 'urn:haven:test:basic-note',
      name: 'note',
      status: 'active',
      description: 'test',
      code: 'note',
      base: ['Basic'],
      type: 'string',
      expression: 'Basic.extension.value as string',
    };
    indexSearchParameterBundle({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: sp }] } as Bundle<SearchParameter>);
    const errors: string[] = [];
    const basic = {
      resourceType: 'Basic',
      code: { coding: [{ system: 'urn:kind', code: 'k' }] },
      extension: [
        { url: 'urn:a', valueString: 'one' },
        { url: 'urn:b', valueString: 'two' },
      ],
    } as Resource;
    const rows = extractIndexRows(basic, (code) => errors.push(code));
    expect(errors).toEqual(['note']); // `as` needs a single item: Medplum throws
    expect(rows.string).toEqual([]);
    expect(rowsOf(rows, 'token', 'code')).toEqual([{ code: 'code', system: 'urn:kind', value: 'k', display: null }]);
    expect(rowsOf(extractIndexRows({ ...basic, extension: [{ url: 'urn:a', valueString: 'one' }] } as Resource), 'string', 'note')).toEqual(
      [{ code: 'note', norm: 'one', raw: 'one' }],
    );
  });
});
