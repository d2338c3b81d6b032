/**
 * The demo clinic of `haven seed --demo`: practitioners with roles and licenses, care teams, four patients with
 * months of weekly PHQ-9/GAD-7 totals, care plans and goals, upcoming appointments, assessments waiting to be
 * filled in, a suicide-risk screen that the risk bot turns into a risk Task, and a 42 CFR Part 2 program patient.
 * Pure and deterministic for a given `now`: fixed ids (`demo-…`, so seeding again updates instead of
 * duplicating), no randomness. Every resource carries the tag `demo` so the data can be found and removed.
 *
 * Score history is written as total-score Observations (the form a clinic's imported history takes), without
 * QuestionnaireResponses, so the risk bot does not re-read months of past screens as new ones; the outcomes bot
 * still marks response and remission on them. The one risk screen is a real completed PHQ-9 response.
 */

import type { ClinicalConfig } from '../../../bots/clinical/config.ts';
import { demoOutcomes, demoScreenWrites, previousTotalOf } from './demo-derived.ts';

/** A FHIR resource as plain JSON. */
type Json = Record<string, unknown>;

/** Tag on every demo resource. */
export const DEMO_TAG = { system: 'https://haven.health/fhir/CodeSystem/demo', code: 'demo', display: 'Demo data' } as const;
/** Password of every demo user. Public: demo data only. */
export const DEMO_PASSWORD = 'haven-demo-2026';

const LOINC = 'http://loinc.org';
const SCORE_BAND = 'https://haven.health/fhir/CodeSystem/score-band';
const CREDENTIAL_KIND = 'https://haven.health/fhir/CodeSystem/credential-kind';
const EXT = 'https://haven.health/fhir/StructureDefinition';
const PHQ9 = 'https://haven.health/fhir/Questionnaire/phq-9|1.0.0';
const GAD7 = 'https://haven.health/fhir/Questionnaire/gad-7|1.0.0';
const DAY = 86_400_000;

/** A demo login. */
export interface DemoUser {
  username: string;
  fhirUser: string;
  roles: string[];
  who: string;
}

/** Everyone who can sign in to the demo (password {@link DEMO_PASSWORD}). */
export const DEMO_USERS: readonly DemoUser[] = [
  { username: 'dr.chen', fhirUser: 'Practitioner/demo-chen', roles: ['clinician'], who: 'Dr. Maya Chen, psychiatric consultant' },
  {
    username: 'sam.rivera',
    fhirUser: 'Practitioner/demo-rivera',
    roles: ['clinician'],
    who: 'Sam Rivera, LCSW, behavioral health care manager',
  },
  { username: 'alex', fhirUser: 'Patient/demo-alex', roles: ['patient'], who: 'Alex Morgan, patient' },
  { username: 'taylor', fhirUser: 'Patient/demo-taylor', roles: ['patient'], who: 'Taylor Brooks, patient' },
];

const tagged = (r: Json): Json => ({ ...r, meta: { tag: [DEMO_TAG] } });
const ref = (reference: string, display?: string) => ({ reference, ...(display ? { display } : {}) });

function license(state: string, number: string, kind = 'license'): Json {
  return {
    identifier: [{ system: `https://license.example/${state.toLowerCase()}`, value: number }],
    code: { coding: [{ system: CREDENTIAL_KIND, code: kind }], text: `${state} license` },
    extension: [{ url: `${EXT}/jurisdiction`, valueCode: state }],
    period: { start: '2015-01-01', end: '2030-12-31' },
  };
}

function practitioner(id: string, given: string, family: string, suffix: string, states: string[]): Json {
  return tagged({
    resourceType: 'Practitioner',
    id,
    active: true,
    name: [{ given: [given], family, suffix: [suffix], text: `${given} ${family}, ${suffix}` }],
    qualification: states.map((s, i) => license(s, `${s}-${id.slice(5).toUpperCase()}-${1000 + i}`)),
  });
}

function role(id: string, practitionerId: string, text: string, code: string): Json {
  return tagged({
    resourceType: 'PractitionerRole',
    id,
    active: true,
    practitioner: ref(`Practitioner/${practitionerId}`),
    organization: ref('Organization/demo-clinic'),
    code: [{ coding: [{ system: 'http://snomed.info/sct', code }], text }],
  });
}

/** The demo patients: who they are and the shape of their score history. */
interface DemoPatient {
  id: string;
  given: string;
  family: string;
  gender: 'female' | 'male' | 'other';
  birthDate: string;
  /** PHQ-9 totals from 26 weeks ago to last week (interpolated), or none. */
  phq9?: [number, number];
  gad7?: [number, number];
  weeks: number;
}

const PATIENTS: readonly DemoPatient[] = [
  { id: 'demo-alex', given: 'Alex', family: 'Morgan', gender: 'other', birthDate: '1991-04-12', phq9: [19, 8], gad7: [15, 7], weeks: 26 },
  { id: 'demo-jordan', given: 'Jordan', family: 'Lee', gender: 'male', birthDate: '1973-09-30', phq9: [16, 3], gad7: [11, 3], weeks: 26 },
  { id: 'demo-taylor', given: 'Taylor', family: 'Brooks', gender: 'female', birthDate: '1998-01-22', phq9: [13, 15], weeks: 12 },
  { id: 'demo-casey', given: 'Casey', family: 'Nguyen', gender: 'female', birthDate: '1980-06-05', gad7: [12, 9], weeks: 20 },
];

const BANDS = {
  '44261-6': [
    [4, 'none-minimal'],
    [9, 'mild'],
    [14, 'moderate'],
    [19, 'moderately-severe'],
    [27, 'severe'],
  ],
  '70274-6': [
    [4, 'none-minimal'],
    [9, 'mild'],
    [14, 'moderate'],
    [21, 'severe'],
  ],
} as const;

/** A week's total: a straight line from `from` to `to`, with a fixed, small wobble so the chart looks lived-in. */
export function weeklyTotal(from: number, to: number, week: number, weeks: number): number {
  const line = from + ((to - from) * week) / Math.max(1, weeks - 1);
  const wobble = [0, 1, -1, 2, 0, -2, 1, 0, -1, 1][week % 10];
  const last = week === weeks - 1;
  return Math.max(0, Math.round(last ? to : line + wobble));
}

function totalObservation(patient: string, code: '44261-6' | '70274-6', value: number, when: Date, n: number): Json {
  const band = BANDS[code].find(([max]) => value <= max)?.[1];
  return tagged({
    resourceType: 'Observation',
    id: `${patient}-${code === '44261-6' ? 'phq9' : 'gad7'}-${n}`,
    identifier: [{ system: 'https://haven.health/fhir/sid/demo-score', value: `${patient}:${code}:${n}` }],
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey', display: 'Survey' }] }],
    code: { coding: [{ system: LOINC, code }] },
    subject: ref(`Patient/${patient}`),
    effectiveDateTime: when.toISOString(),
    valueInteger: value,
    ...(band ? { interpretation: [{ coding: [{ system: SCORE_BAND, code: band }] }] } : {}),
  });
}

function history(p: DemoPatient, now: Date): Json[] {
  const out: Json[] = [];
  for (let w = 0; w < p.weeks; w++) {
    // Weekly check-ins, the last one 7 days ago, at 10:00 UTC.
    const when = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 10) - (p.weeks - w) * 7 * DAY);
    if (p.phq9) out.push(totalObservation(p.id, '44261-6', weeklyTotal(p.phq9[0], p.phq9[1], w, p.weeks), when, w + 1));
    if (p.gad7)
      out.push(totalObservation(p.id, '70274-6', weeklyTotal(p.gad7[0], p.gad7[1], w, p.weeks), new Date(when.getTime() + 60_000), w + 1));
  }
  return out;
}

function carePlan(p: DemoPatient, now: Date): Json[] {
  const start = new Date(now.getTime() - (p.weeks + 1) * 7 * DAY).toISOString().slice(0, 10);
  const goals: Json[] = [];
  if (p.phq9) {
    goals.push(
      tagged({
        resourceType: 'Goal',
        id: `${p.id}-goal-phq9`,
        lifecycleStatus: 'active',
        description: { text: 'Feel less depressed: PHQ-9 below 5 (remission)' },
        subject: ref(`Patient/${p.id}`),
        startDate: start,
        target: [{ measure: { coding: [{ system: LOINC, code: '44261-6' }] }, detailQuantity: { value: 5, comparator: '<' } }],
      }),
    );
  }
  if (p.gad7) {
    goals.push(
      tagged({
        resourceType: 'Goal',
        id: `${p.id}-goal-gad7`,
        lifecycleStatus: 'active',
        description: { text: 'Worry less: GAD-7 below 5' },
        subject: ref(`Patient/${p.id}`),
        startDate: start,
        target: [{ measure: { coding: [{ system: LOINC, code: '70274-6' }] }, detailQuantity: { value: 5, comparator: '<' } }],
      }),
    );
  }
  goals.push(
    tagged({
      resourceType: 'Goal',
      id: `${p.id}-goal-activity`,
      lifecycleStatus: 'active',
      description: { text: 'Walk outside three times a week' },
      subject: ref(`Patient/${p.id}`),
      startDate: start,
    }),
  );
  const plan = tagged({
    resourceType: 'CarePlan',
    id: `${p.id}-plan`,
    status: 'active',
    intent: 'plan',
    title: 'Collaborative care plan',
    description: 'Weekly check-ins with your care manager, measurement every week, medication review with the psychiatric consultant.',
    subject: ref(`Patient/${p.id}`),
    period: { start },
    author: ref('Practitioner/demo-rivera', 'Sam Rivera, LCSW'),
    careTeam: [ref(`CareTeam/${p.id}-team`)],
    goal: goals.map((g) => ref(`Goal/${g.id}`)),
    activity: [
      { detail: { status: 'in-progress', description: 'Weekly check-in call with your care manager' } },
      { detail: { status: 'in-progress', description: 'Fill in the PHQ-9 and GAD-7 each week' } },
      { detail: { status: 'scheduled', description: 'Behavioral activation: plan one enjoyable activity each day' } },
    ],
  });
  const team = tagged({
    resourceType: 'CareTeam',
    id: `${p.id}-team`,
    status: 'active',
    name: `Care team of ${p.given} ${p.family}`,
    subject: ref(`Patient/${p.id}`),
    participant: [
      { role: [{ text: 'Behavioral health care manager' }], member: ref('Practitioner/demo-rivera', 'Sam Rivera, LCSW') },
      { role: [{ text: 'Psychiatric consultant' }], member: ref('Practitioner/demo-chen', 'Dr. Maya Chen') },
      { role: [{ text: 'Treating practitioner' }], member: ref('Practitioner/demo-okafor', 'Dr. Ada Okafor') },
    ],
    managingOrganization: [ref('Organization/demo-clinic')],
  });
  return [team, ...goals, plan];
}

function appointment(p: DemoPatient, now: Date, inDays: number, hour: number): Json {
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + inDays, hour));
  return tagged({
    resourceType: 'Appointment',
    id: `${p.id}-appt-${inDays}`,
    status: 'booked',
    extension: [
      { url: `${EXT}/patient-location`, valueCode: 'CA' },
      { url: `${EXT}/modality`, valueCode: 'telehealth' },
    ],
    description: 'Check-in with your care manager (video)',
    start: start.toISOString(),
    end: new Date(start.getTime() + 30 * 60_000).toISOString(),
    participant: [
      { actor: ref(`Patient/${p.id}`, `${p.given} ${p.family}`), status: 'accepted' },
      { actor: ref('Practitioner/demo-rivera', 'Sam Rivera, LCSW'), status: 'accepted' },
    ],
  });
}

/** An assessment sent to the patient: a response in progress, due in `dueDays`. */
function assignment(p: DemoPatient, questionnaire: string, now: Date, dueDays: number): Json {
  return tagged({
    resourceType: 'QuestionnaireResponse',
    id: `${p.id}-todo-${questionnaire.includes('phq-9') ? 'phq9' : 'gad7'}`,
    extension: [{ url: `${EXT}/assessment-due`, valueDateTime: new Date(now.getTime() + dueDays * DAY).toISOString() }],
    questionnaire,
    status: 'in-progress',
    subject: ref(`Patient/${p.id}`),
    authored: now.toISOString(),
    author: ref('Practitioner/demo-rivera', 'Sam Rivera, LCSW'),
  });
}

const RISK_SCREEN_ID = 'demo-taylor-phq9-risk';

/** Taylor's screen of yesterday: PHQ-9 total 15 with item 9 "More than half the days" (the risk bot escalates). */
function riskScreen(now: Date): Json {
  const answers: [string, string, string][] = [
    ['/44250-9', 'LA6570-1', 'More than half the days'],
    ['/44255-8', 'LA6570-1', 'More than half the days'],
    ['/44259-0', 'LA6569-3', 'Several days'],
    ['/44254-1', 'LA6570-1', 'More than half the days'],
    ['/44251-7', 'LA6569-3', 'Several days'],
    ['/44258-2', 'LA6570-1', 'More than half the days'],
    ['/44252-5', 'LA6569-3', 'Several days'],
    ['/44253-3', 'LA6569-3', 'Several days'],
    ['/44260-8', 'LA6570-1', 'More than half the days'],
  ];
  return tagged({
    resourceType: 'QuestionnaireResponse',
    id: RISK_SCREEN_ID,
    questionnaire: PHQ9,
    status: 'completed',
    subject: ref('Patient/demo-taylor'),
    author: ref('Patient/demo-taylor'),
    source: ref('Patient/demo-taylor'),
    authored: new Date(now.getTime() - DAY).toISOString(),
    item: answers.map(([linkId, code, display]) => ({ linkId, answer: [{ valueCoding: { system: LOINC, code, display } }] })),
  });
}

/** The Part 2 program: Casey's alcohol use disorder diagnosis, labelled as 42 CFR Part 2 data (not yet enforced). */
function part2(now: Date): Json[] {
  return [
    {
      resourceType: 'Condition',
      id: 'demo-casey-aud',
      meta: {
        tag: [DEMO_TAG],
        security: [
          { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: '42CFRPart2', display: '42 CFR Part2' },
          { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R', display: 'restricted' },
        ],
      },
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
      code: { coding: [{ system: 'http://snomed.info/sct', code: '7200002', display: 'Alcoholism' }], text: 'Alcohol use disorder' },
      subject: ref('Patient/demo-casey'),
      recordedDate: new Date(now.getTime() - 120 * DAY).toISOString().slice(0, 10),
      note: [{ text: 'Treated in the clinic’s Part 2 program (demo). Part 2 controls are not enforced by Haven yet (issue 14).' }],
    },
  ];
}

/** Most updates the FHIR router accepts in one transaction Bundle. */
const MAX_PER_TRANSACTION = 50;

/**
 * Every resource of the demo clinic, as transaction Bundles of upserts (fixed ids), to be sent in order: each
 * holds at most 50 entries (the router's limit), and what a resource references comes in the same or an earlier
 * Bundle (practitioners before the appointments the licensure check reads them for).
 */
export function demoClinicBundles(now: Date, config: ClinicalConfig): Json[] {
  const resources = demoClinicResources(now);
  // What the bots would derive (outcomes, Goal status; the risk screen's scores and risk Task): see demo-derived.ts.
  resources.push(...demoOutcomes(resources, config));
  const screen = resources.find((r) => r.id === RISK_SCREEN_ID)!;
  const previous = previousTotalOf(resources, 'Patient/demo-taylor', '44261-6');
  const bundles: Json[] = [];
  for (let i = 0; i < resources.length; i += MAX_PER_TRANSACTION) {
    bundles.push({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: resources.slice(i, i + MAX_PER_TRANSACTION).map((resource) => ({
        resource,
        request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}` },
      })),
    });
  }
  const writes = demoScreenWrites(screen, {
    ...(previous !== undefined ? { previousTotal: previous } : {}),
    owner: 'Practitioner/demo-okafor',
    now,
    config,
  });
  return [...bundles, ...(writes as unknown as Json[])];
}

/** Every resource of the demo clinic, in dependency order. */
export function demoClinicResources(now: Date): Json[] {
  const resources: Json[] = [
    tagged({ resourceType: 'Organization', id: 'demo-clinic', active: true, name: 'Haven Demo Clinic' }),
    practitioner('demo-chen', 'Maya', 'Chen', 'MD', ['CA', 'WA']),
    practitioner('demo-rivera', 'Sam', 'Rivera', 'LCSW', ['CA']),
    practitioner('demo-okafor', 'Ada', 'Okafor', 'MD', ['CA']),
    role('demo-chen-role', 'demo-chen', 'Psychiatric consultant', '80546007'),
    role('demo-rivera-role', 'demo-rivera', 'Behavioral health care manager', '768820003'),
    role('demo-okafor-role', 'demo-okafor', 'Treating practitioner (primary care)', '446050000'),
  ];
  for (const p of PATIENTS) {
    resources.push(
      tagged({
        resourceType: 'Patient',
        id: p.id,
        active: true,
        name: [{ given: [p.given], family: p.family }],
        gender: p.gender,
        birthDate: p.birthDate,
        address: [{ state: 'CA', country: 'US' }],
        generalPractitioner: [ref('Practitioner/demo-okafor', 'Dr. Ada Okafor')],
        managingOrganization: ref('Organization/demo-clinic'),
      }),
      ...carePlan(p, now),
      appointment(p, now, 3 + PATIENTS.indexOf(p), 16),
      ...history(p, now),
    );
  }
  const alex = PATIENTS[0];
  resources.push(assignment(alex, PHQ9, now, 2), assignment(alex, GAD7, now, 2));
  resources.push(
    tagged({
      resourceType: 'Encounter',
      id: 'demo-alex-visit',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR', display: 'virtual' },
      type: [{ text: 'Care management check-in (video)' }],
      subject: ref('Patient/demo-alex'),
      participant: [{ individual: ref('Practitioner/demo-rivera', 'Sam Rivera, LCSW') }],
      period: { start: new Date(now.getTime() - 2 * 3_600_000).toISOString(), end: new Date(now.getTime() - 3_600_000).toISOString() },
    }),
  );
  resources.push(...part2(now), riskScreen(now));
  return resources;
}
