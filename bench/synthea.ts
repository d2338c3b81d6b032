/**
 * A deterministic, Synthea-shaped record generator: one FHIR R4 `transaction` Bundle per patient with
 * about 100 resources (Patient, ~15 Encounter, ~8 Condition, ~50 Observation, ~8 MedicationRequest,
 * ~8 Procedure, ~6 Immunization, ~4 DiagnosticReport), linked by `urn:uuid` fullUrls the way Synthea's
 * transaction bundles are. Everything comes from a seeded PRNG and a fixed clock: no network, no
 * downloaded data, and patient N is the same on every run with the same seed.
 */
import { Rng } from './prng.ts';
import {
  CITIES,
  CONDITIONS,
  CVX,
  ENCOUNTER_TYPES,
  FAMILY_NAMES,
  GIVEN_FEMALE,
  GIVEN_MALE,
  LOINC,
  MEDICATIONS,
  PANELS,
  PROCEDURES,
  RXNORM,
  SNOMED,
  STREETS,
  UCUM,
  VACCINES,
  VITALS,
  type Code,
  type QuantityKind,
} from './synthea-codes.ts';

/** Loosely typed FHIR JSON: the bench only builds and forwards it; the server is what validates it. */
export type Json = Record<string, unknown>;

/** One generated patient record. */
export interface PatientRecord {
  readonly index: number;
  /** The transaction Bundle to POST to the FHIR base. */
  readonly bundle: Json;
  readonly family: string;
  readonly birthDate: string;
  /** Number of resources in the bundle. */
  readonly resourceCount: number;
}

/** The generator's clock: records end here, so output does not depend on when the bench runs. */
const NOW = Date.UTC(2025, 0, 1);
const DAY = 86_400_000;
const MINUTE = 60_000;

const OBS_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

/** FHIR dateTime / instant in UTC, second precision (what Synthea writes, with Z instead of an offset). */
export function fhirDateTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function fhirDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function concept(system: string, c: Code): Json {
  return { coding: [{ system, code: c.code, display: c.display }], text: c.display };
}

function ref(urn: string, display?: string): Json {
  return display ? { reference: urn, display } : { reference: urn };
}

/** A vital-sign or laboratory Observation with a valueQuantity. `subject`/`encounter` are references. */
export function quantityObservation(
  rng: Rng,
  kind: QuantityKind,
  category: 'vital-signs' | 'laboratory',
  subject: string,
  encounter: string | undefined,
  effective: number,
): Json {
  const value = rng.normal(kind.mean, kind.sd, kind.min, kind.max, kind.decimals);
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: OBS_CATEGORY, code: category, display: category === 'vital-signs' ? 'Vital signs' : 'Laboratory' }] }],
    code: concept(LOINC, kind),
    subject: ref(subject),
    ...(encounter ? { encounter: ref(encounter) } : {}),
    effectiveDateTime: fhirDateTime(effective),
    issued: new Date(effective + 5 * MINUTE).toISOString(),
    valueQuantity: { value, unit: kind.unit, system: UCUM, code: kind.unit },
  };
}

interface EncounterInfo {
  readonly urn: string;
  readonly start: number;
  readonly end: number;
}

/** Builds patient `index` of the population named by `seed`. */
export function generatePatient(seed: string, index: number): PatientRecord {
  const rng = new Rng(`${seed}/patient/${index}`);
  const entries: Json[] = [];
  const add = (resource: Json): string => {
    const urn = `urn:uuid:${rng.uuid()}`;
    entries.push({ fullUrl: urn, resource, request: { method: 'POST', url: resource.resourceType } });
    return urn;
  };

  // --- Patient
  const gender = rng.chance(0.5) ? 'female' : 'male';
  const family = rng.pick(FAMILY_NAMES);
  const given = rng.pick(gender === 'female' ? GIVEN_FEMALE : GIVEN_MALE);
  const birth = Date.UTC(rng.int(1940, 2012), rng.int(0, 11), rng.int(1, 28));
  const birthDate = fhirDate(birth);
  const place = rng.pick(CITIES);
  const married = rng.chance(0.5);
  const patientUrn = add({
    resourceType: 'Patient',
    identifier: [
      { system: 'https://github.com/synthetichealth/synthea', value: rng.uuid() },
      {
        type: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical Record Number' }],
          text: 'Medical Record Number',
        },
        system: 'http://hospital.smarthealthit.org',
        value: rng.uuid(),
      },
    ],
    name: [{ use: 'official', family, given: [given], prefix: [gender === 'female' ? 'Ms.' : 'Mr.'] }],
    telecom: [{ system: 'phone', value: `555-${rng.int(100, 999)}-${rng.int(1000, 9999)}`, use: 'home' }],
    gender,
    birthDate,
    address: [
      { line: [`${rng.int(1, 999)} ${rng.pick(STREETS)}`], city: place.city, state: 'MA', postalCode: place.postalCode, country: 'US' },
    ],
    maritalStatus: {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus',
          code: married ? 'M' : 'S',
          display: married ? 'Married' : 'Never Married',
        },
      ],
      text: married ? 'Married' : 'Never Married',
    },
    multipleBirthBoolean: false,
    communication: [
      { language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en-US', display: 'English (United States)' }], text: 'English' } },
    ],
  });
  const patientRef = patientUrn;
  const patientName = `${given} ${family}`;

  // --- Encounters, spread over the years the patient was alive and Haven-era (2012 onward).
  const first = Math.max(Date.UTC(2012, 0, 1), birth + 365 * DAY);
  const span = NOW - DAY - first;
  const encounterCount = rng.int(13, 17);
  const starts = Array.from({ length: encounterCount }, () => first + Math.floor(rng.next() * span)).sort((a, b) => a - b);
  const encounters: EncounterInfo[] = starts.map((day) => {
    const type = rng.pick(ENCOUNTER_TYPES);
    const start = Math.floor(day / DAY) * DAY + rng.int(8 * 60, 17 * 60) * MINUTE;
    const end = start + (type.class === 'IMP' ? rng.int(1, 5) * DAY : rng.int(15, 60) * MINUTE);
    const urn = add({
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: type.class },
      type: [concept(SNOMED, type)],
      subject: ref(patientRef, patientName),
      period: { start: fhirDateTime(start), end: fhirDateTime(end) },
    });
    return { urn, start, end };
  });
  const during = (e: EncounterInfo): number => e.start + Math.floor(rng.next() * Math.max(1, e.end - e.start));

  // --- Conditions
  const conditionUrns: string[] = [];
  const conditionCount = rng.int(6, 10);
  for (let i = 0; i < conditionCount; i++) {
    const e = rng.pick(encounters);
    const onset = during(e);
    const resolved = rng.chance(0.4) && onset + 30 * DAY < NOW;
    conditionUrns.push(
      add({
        resourceType: 'Condition',
        clinicalStatus: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: resolved ? 'resolved' : 'active' }],
        },
        verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] },
        category: [
          {
            coding: [
              {
                system: 'http://terminology.hl7.org/CodeSystem/condition-category',
                code: 'encounter-diagnosis',
                display: 'Encounter Diagnosis',
              },
            ],
          },
        ],
        code: concept(SNOMED, rng.pick(CONDITIONS)),
        subject: ref(patientRef),
        encounter: ref(e.urn),
        onsetDateTime: fhirDateTime(onset),
        ...(resolved ? { abatementDateTime: fhirDateTime(onset + rng.int(7, 30) * DAY) } : {}),
        recordedDate: fhirDateTime(onset),
      }),
    );
  }

  // --- Vital signs at six encounters (six Observations each)
  for (let v = 0; v < 6; v++) {
    const e = encounters[Math.floor((v * encounters.length) / 6)];
    const at = e.start + 10 * MINUTE;
    for (const kind of VITALS) add(quantityObservation(rng, kind, 'vital-signs', patientRef, e.urn, at));
  }

  // --- Laboratory panels: member Observations, then the DiagnosticReport that lists them
  const reportCount = rng.int(3, 5);
  for (let r = 0; r < reportCount; r++) {
    const panel = PANELS[(r + rng.int(0, PANELS.length - 1)) % PANELS.length];
    const e = rng.pick(encounters);
    const at = e.start + 20 * MINUTE;
    const results = panel.results.map((kind) => ({
      urn: add(quantityObservation(rng, kind, 'laboratory', patientRef, e.urn, at)),
      display: kind.display,
    }));
    add({
      resourceType: 'DiagnosticReport',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB', display: 'Laboratory' }] }],
      code: concept(LOINC, panel),
      subject: ref(patientRef),
      encounter: ref(e.urn),
      effectiveDateTime: fhirDateTime(at),
      issued: new Date(at + 60 * MINUTE).toISOString(),
      result: results.map((x) => ref(x.urn, x.display)),
    });
  }

  // --- Medication requests
  const medCount = rng.int(6, 10);
  for (let i = 0; i < medCount; i++) {
    const e = rng.pick(encounters);
    const status = e.start < NOW - 365 * DAY ? rng.pick(['stopped', 'completed'] as const) : 'active';
    add({
      resourceType: 'MedicationRequest',
      status,
      intent: 'order',
      medicationCodeableConcept: concept(RXNORM, rng.pick(MEDICATIONS)),
      subject: ref(patientRef),
      encounter: ref(e.urn),
      authoredOn: fhirDateTime(during(e)),
      ...(conditionUrns.length && rng.chance(0.5) ? { reasonReference: [ref(rng.pick(conditionUrns))] } : {}),
      dosageInstruction: [
        {
          sequence: 1,
          text: 'Take 1 tablet by mouth once daily',
          timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } },
          asNeededBoolean: false,
          doseAndRate: [
            {
              type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/dose-rate-type', code: 'ordered', display: 'Ordered' }] },
              doseQuantity: { value: 1 },
            },
          ],
        },
      ],
    });
  }

  // --- Procedures
  const procCount = rng.int(6, 10);
  for (let i = 0; i < procCount; i++) {
    const e = rng.pick(encounters);
    const start = during(e);
    add({
      resourceType: 'Procedure',
      status: 'completed',
      code: concept(SNOMED, rng.pick(PROCEDURES)),
      subject: ref(patientRef),
      encounter: ref(e.urn),
      performedPeriod: { start: fhirDateTime(start), end: fhirDateTime(start + rng.int(5, 45) * MINUTE) },
    });
  }

  // --- Immunizations
  const immCount = rng.int(4, 8);
  for (let i = 0; i < immCount; i++) {
    const e = rng.pick(encounters);
    add({
      resourceType: 'Immunization',
      status: 'completed',
      vaccineCode: concept(CVX, rng.pick(VACCINES)),
      patient: ref(patientRef),
      encounter: ref(e.urn),
      occurrenceDateTime: fhirDateTime(e.start + 15 * MINUTE),
      primarySource: true,
    });
  }

  return {
    index,
    bundle: { resourceType: 'Bundle', type: 'transaction', entry: entries },
    family,
    birthDate,
    resourceCount: entries.length,
  };
}

/**
 * Rewrites `urn:uuid:` references of a generated resource to the server's `Type/id` (after the transaction
 * assigned ids), so it can be sent again on its own (e.g. as a PUT body).
 */
export function resolveUrns(resource: Json, urnToRef: ReadonlyMap<string, string>): Json {
  return JSON.parse(
    JSON.stringify(resource).replace(/"(urn:uuid:[0-9a-f-]{36})"/g, (m, urn: string) => {
      const target = urnToRef.get(urn);
      return target ? `"${target}"` : m;
    }),
  ) as Json;
}

export { LOINC, VITALS };
