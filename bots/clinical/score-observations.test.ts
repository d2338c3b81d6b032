import { readFileSync } from 'node:fs';
import { isProfileLoaded } from '@medplum/core';
import type { Bundle, Coding, Observation, OperationOutcomeIssue, QuestionnaireResponse, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  HAVEN_SCORE_OBSERVATION_URL,
  OUTPUT_PATH,
  renderHavenScoreObservation,
} from '../../profiles/tools/build-haven-score-observation.ts';
import { havenProfiles, loadDefinitions } from '../../server/src/fhir/definitions.ts';
import { validateFhirResource } from '../../server/src/fhir/validate.ts';
import {
  CSSRS_RISK_SYSTEM,
  DATA_ABSENT_REASON,
  INSTRUMENT_IDS,
  LOINC,
  ORDINAL_VALUE_URL,
  SCORE_BAND_SYSTEM,
  loadInstruments,
} from './instruments.ts';
import type { Instrument, InstrumentId } from './instruments.ts';
import {
  HAVEN_SCORE_OBSERVATION_PROFILE,
  INSTRUMENT_EXTENSION_URL,
  SCORE_OBSERVATION_SYSTEM,
  buildScoreTransaction,
  observationStatusFor,
  scoreObservationIdentifier,
} from './score-observations.ts';
import { scoreResponse } from './scoring.ts';

const registry = loadInstruments();
const get = (id: InstrumentId): Instrument => registry.all().find((i) => i.id === id) as Instrument;
const PHQ9 = get('phq-9');
const CSSRS = get('cssrs-screener');
const PHQA = get('phq-a');

const loinc = (code: string): Coding => ({ system: LOINC, code });
const YES = loinc('LA33-6');
const NO = loinc('LA32-8');
const DECLINED: Coding = { system: DATA_ABSENT_REASON, code: 'asked-declined' };

/** A response answering each scored item with the option of the given weight, plus extra answers. */
function response(instrument: Instrument, ordinals: readonly number[], extra: Record<string, Coding | null> = {}): QuestionnaireResponse {
  const answers: Record<string, Coding | null> = {};
  instrument.scoredItems.forEach((item, n) => {
    answers[item.linkId] = item.choices.find((c) => c.weight === ordinals[n])?.coding ?? null;
  });
  Object.assign(answers, extra);
  return {
    resourceType: 'QuestionnaireResponse',
    id: 'qr-1',
    status: 'completed',
    questionnaire: instrument.canonical,
    subject: { reference: 'Patient/p-1' },
    encounter: { reference: 'Encounter/e-1' },
    authored: '2025-03-04T10:15:00Z',
    item: Object.entries(answers).flatMap(([linkId, c]) => (c ? [{ linkId, answer: [{ valueCoding: c }] }] : [])),
  };
}

function build(instrument: Instrument, qr: QuestionnaireResponse): Bundle {
  return buildScoreTransaction(instrument, qr, scoreResponse(instrument, qr));
}

const observations = (b: Bundle): Observation[] => (b.entry ?? []).map((e) => e.resource as Observation);
const byCode = (b: Bundle, code: string): Observation | undefined => observations(b).find((o) => o.code.coding?.[0]?.code === code);
const codes = (b: Bundle): string[] => observations(b).map((o) => o.code.coding?.[0]?.code as string);
const errors = (r: unknown): OperationOutcomeIssue[] => validateFhirResource(r as Resource).filter((i) => i.severity === 'error');

beforeAll(() => loadDefinitions());

describe('buildScoreTransaction: PHQ-9', () => {
  const qr = response(PHQ9, [2, 2, 2, 2, 2, 2, 1, 1, 1]);
  const bundle = build(PHQ9, qr);

  it('is a transaction of conditional updates: item 9, the total, then the panel', () => {
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'transaction' });
    expect(codes(bundle)).toEqual(['44260-8', '44261-6', '44249-1']);
    for (const e of bundle.entry ?? []) {
      const code = (e.resource as Observation).code.coding?.[0]?.code as string;
      const identifier = scoreObservationIdentifier('qr-1', code);
      expect(identifier).toEqual({ system: SCORE_OBSERVATION_SYSTEM, value: `qr-1:${code}` });
      expect(e.request).toEqual({
        method: 'PUT',
        url: `Observation?identifier=https://haven.health/fhir/sid/score-observation|qr-1:${code}`,
      });
      expect((e.resource as Observation).identifier).toEqual([identifier]);
      expect(e.fullUrl).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it('writes the total with its band, provenance and instrument', () => {
    expect(byCode(bundle, '44261-6')).toEqual({
      resourceType: 'Observation',
      meta: { profile: [HAVEN_SCORE_OBSERVATION_PROFILE] },
      extension: [{ url: INSTRUMENT_EXTENSION_URL, valueCanonical: 'https://haven.health/fhir/Questionnaire/phq-9|1.0.0' }],
      identifier: [scoreObservationIdentifier('qr-1', '44261-6')],
      status: 'final',
      category: [
        {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey', display: 'Survey' }],
          text: 'Survey',
        },
      ],
      code: { coding: [PHQ9.totalCode], text: PHQ9.totalCode?.display },
      subject: { reference: 'Patient/p-1' },
      encounter: { reference: 'Encounter/e-1' },
      effectiveDateTime: '2025-03-04T10:15:00Z',
      derivedFrom: [{ reference: 'QuestionnaireResponse/qr-1' }],
      valueInteger: 15,
      interpretation: [
        { coding: [{ system: SCORE_BAND_SYSTEM, code: 'moderately-severe', display: 'Moderately severe' }], text: 'Moderately severe' },
      ],
    });
  });

  it('writes item 9 as the answer Coding with its ordinal', () => {
    expect(byCode(bundle, '44260-8')?.valueCodeableConcept).toEqual({
      coding: [{ system: LOINC, code: 'LA6569-3', display: 'Several days', extension: [{ url: ORDINAL_VALUE_URL, valueDecimal: 1 }] }],
      text: 'Several days',
    });
  });

  it('groups the members in a panel by their urn:uuid fullUrls', () => {
    const panel = byCode(bundle, '44249-1');
    const members = (bundle.entry ?? []).slice(0, 2).map((e) => ({ reference: e.fullUrl }));
    expect(panel).toMatchObject({ hasMember: members, derivedFrom: [{ reference: 'QuestionnaireResponse/qr-1' }] });
    expect(panel?.valueInteger).toBeUndefined();
  });

  it('keeps identifiers and requests stable across calls, with fresh fullUrls', () => {
    const again = build(PHQ9, qr);
    expect(again.entry?.map((e) => [e.request, (e.resource as Observation).identifier])).toEqual(
      bundle.entry?.map((e) => [e.request, (e.resource as Observation).identifier]),
    );
    expect(again.entry?.[0]?.fullUrl).not.toBe(bundle.entry?.[0]?.fullUrl);
  });

  it('marks every Observation amended when the response is amended', () => {
    const amended = build(PHQ9, { ...qr, status: 'amended' });
    expect(observations(amended).map((o) => o.status)).toEqual(['amended', 'amended', 'amended']);
    expect(amended.entry?.map((e) => e.request?.url)).toEqual(bundle.entry?.map((e) => e.request?.url));
  });

  it.each<[QuestionnaireResponse['status'], Observation['status']]>([
    ['completed', 'final'],
    ['amended', 'amended'],
    ['entered-in-error', 'entered-in-error'],
    ['in-progress', 'preliminary'],
    ['stopped', 'preliminary'],
  ])('response %s → Observation %s', (from, to) => {
    expect(observationStatusFor(from)).toBe(to);
  });
});

describe('buildScoreTransaction: incomplete responses', () => {
  it.each<[string, Coding | null, Record<string, unknown>]>([
    [
      'declined',
      DECLINED,
      {
        dataAbsentReason: {
          coding: [{ system: DATA_ABSENT_REASON, code: 'asked-declined', display: 'Asked But Declined' }],
          text: 'Asked But Declined',
        },
      },
    ],
    [
      'missing',
      null,
      { dataAbsentReason: { coding: [{ system: DATA_ABSENT_REASON, code: 'unknown', display: 'Unknown' }], text: 'Unknown' } },
    ],
  ])('item 9 %s: no total, item 9 written with a dataAbsentReason', (_label, answer, expected) => {
    const bundle = build(PHQ9, response(PHQ9, Array(9).fill(3), { '/44260-8': answer }));
    expect(codes(bundle)).toEqual(['44260-8', '44249-1']);
    const item9 = byCode(bundle, '44260-8');
    expect(item9).toMatchObject(expected);
    expect(item9?.valueCodeableConcept).toBeUndefined();
    expect(byCode(bundle, '44249-1')?.hasMember).toEqual([{ reference: bundle.entry?.[0]?.fullUrl }]);
  });

  it('writes a panel without members when nothing safety-relevant or total is available', () => {
    const phq2 = get('phq-2');
    const bundle = build(phq2, response(phq2, [1], { '/44255-8': null }));
    expect(codes(bundle)).toEqual(['55757-9']);
    expect(byCode(bundle, '55757-9')?.hasMember).toBeUndefined();
  });

  it('falls back to meta.lastUpdated and leaves out an absent encounter', () => {
    const { authored: _a, encounter: _e, ...rest } = response(PHQ9, Array(9).fill(0));
    const bundle = build(PHQ9, { ...rest, meta: { lastUpdated: '2025-03-05T00:00:00Z' } });
    for (const o of observations(bundle)) {
      expect(o.effectiveDateTime).toBe('2025-03-05T00:00:00Z');
      expect(o.encounter).toBeUndefined();
    }
  });

  it('refuses a response without id, subject or time', () => {
    const qr = response(PHQ9, Array(9).fill(0));
    const result = scoreResponse(PHQ9, qr);
    expect(() => buildScoreTransaction(PHQ9, { ...qr, id: undefined }, result)).toThrow(/needs an id/);
    expect(() => buildScoreTransaction(PHQ9, { ...qr, subject: undefined }, result)).toThrow(/no subject/);
    expect(() => buildScoreTransaction(PHQ9, { ...qr, authored: undefined }, result)).toThrow(/authored/);
  });
});

describe('buildScoreTransaction: C-SSRS screener and PHQ-A', () => {
  const cssrs = (answers: Record<string, Coding | null>) => build(CSSRS, response(CSSRS, [], answers));

  it('writes the answered and enabled questions, the risk level (93374-7) and the panel', () => {
    const bundle = cssrs({ '/93246-7': YES, '/93247-5': NO, '/93267-3': YES, '/93269-9': NO });
    expect(codes(bundle)).toEqual(['93246-7', '93247-5', '93267-3', '93269-9', '93374-7', '93373-9']);
    expect(byCode(bundle, '93374-7')?.valueCodeableConcept).toEqual({
      coding: [{ system: CSSRS_RISK_SYSTEM, code: 'moderate', display: 'Moderate risk' }],
      text: 'Moderate risk',
    });
    expect(byCode(bundle, '93374-7')?.note?.[0]?.text).toContain('Q6b No');
    expect(byCode(bundle, '93246-7')?.valueCodeableConcept?.coding).toEqual([{ system: LOINC, code: 'LA33-6', display: 'Yes' }]);
    expect(byCode(bundle, '93373-9')?.hasMember).toHaveLength(5);
  });

  it('writes an enabled but unanswered follow-up as unknown, and its worst-case risk', () => {
    const bundle = cssrs({ '/93246-7': NO, '/93247-5': NO, '/93267-3': YES });
    expect(codes(bundle)).toEqual(['93246-7', '93247-5', '93267-3', '93269-9', '93374-7', '93373-9']);
    expect(byCode(bundle, '93269-9')?.dataAbsentReason?.coding?.[0]?.code).toBe('unknown');
    expect(byCode(bundle, '93374-7')?.valueCodeableConcept?.coding?.[0]?.code).toBe('high');
  });

  it('writes an undetermined risk level as unknown rather than leaving an old one standing', () => {
    const bundle = cssrs({ '/93246-7': NO, '/93267-3': NO });
    const risk = byCode(bundle, '93374-7');
    expect(risk?.dataAbsentReason?.coding?.[0]?.code).toBe('unknown');
    expect(risk?.valueCodeableConcept).toBeUndefined();
    expect(byCode(bundle, '93247-5')?.dataAbsentReason?.coding?.[0]?.code).toBe('unknown');
  });

  it('PHQ-A: item 9 and the two suicide questions, the total 89204-2 and the panel 89206-7', () => {
    const bundle = build(PHQA, response(PHQA, Array(9).fill(1), { 'phq-a-serious-thoughts-past-month': YES }));
    expect(codes(bundle)).toEqual(['phq-a-9', 'phq-a-serious-thoughts-past-month', 'phq-a-ever-attempted', '89204-2', '89206-7']);
    expect(byCode(bundle, '89204-2')).toMatchObject({ valueInteger: 9, interpretation: [{ coding: [{ code: 'mild' }] }] });
    expect(byCode(bundle, 'phq-a-ever-attempted')?.dataAbsentReason?.coding?.[0]?.code).toBe('unknown');
    expect(bundle.entry?.[0]?.request?.url).toBe('Observation?identifier=https://haven.health/fhir/sid/score-observation|qr-1:phq-a-9');
  });
});

describe('every Observation produced passes the server validator', () => {
  const cases: [InstrumentId, QuestionnaireResponse][] = [
    ...INSTRUMENT_IDS.filter((id) => id !== 'cssrs-screener').map((id): [InstrumentId, QuestionnaireResponse] => {
      const inst = get(id);
      return [
        id,
        response(
          inst,
          inst.scoredItems.map(() => 1),
        ),
      ];
    }),
    ['phq-9', response(PHQ9, Array(9).fill(3), { '/44260-8': DECLINED })],
    ['phq-a', response(PHQA, Array(9).fill(0), { 'phq-a-serious-thoughts-past-month': NO, 'phq-a-ever-attempted': YES })],
    [
      'cssrs-screener',
      response(CSSRS, [], { '/93246-7': YES, '/93247-5': YES, '/93248-3': YES, '/93249-1': NO, '/93250-9': NO, '/93267-3': NO }),
    ],
    ['cssrs-screener', response(CSSRS, [], { '/93246-7': NO })],
  ];
  it.each(cases)('%s', (id, qr) => {
    const bundle = build(get(id), { ...qr, status: 'amended' });
    for (const o of observations(bundle)) expect(validateFhirResource(o), JSON.stringify(o.code)).toEqual([]);
    expect(errors(bundle)).toEqual([]);
  });
});

describe('profile haven-score-observation', () => {
  const total = () => byCode(build(PHQ9, response(PHQ9, Array(9).fill(1))), '44261-6') as Observation;

  it('is shipped with a snapshot, loaded, and is the profile the bot claims', () => {
    expect(HAVEN_SCORE_OBSERVATION_PROFILE).toBe(HAVEN_SCORE_OBSERVATION_URL);
    expect(havenProfiles.get(HAVEN_SCORE_OBSERVATION_URL)?.version).toBe('0.1.0');
    expect(isProfileLoaded(HAVEN_SCORE_OBSERVATION_URL)).toBe(true);
    expect(errors(havenProfiles.get(HAVEN_SCORE_OBSERVATION_URL))).toEqual([]);
  });

  it('keeps the committed snapshot identical to what the generator produces', () => {
    expect(readFileSync(OUTPUT_PATH, 'utf8')).toBe(renderHavenScoreObservation());
  });

  it('accepts a produced total Observation', () => {
    expect(validateFhirResource(total())).toEqual([]);
  });

  it.each<[keyof Observation, string]>([
    ['derivedFrom', 'Observation.derivedFrom'],
    ['category', 'Observation.category'],
    ['subject', 'Observation.subject'],
    ['effectiveDateTime', 'Observation.effective[x]'],
  ])('refuses one without %s, naming %s and the profile', (key, expression) => {
    const { [key]: _dropped, ...rest } = total();
    const issues = errors(rest);
    expect(issues.map((i) => i.expression?.[0])).toEqual([expression]);
    expect(issues[0]?.details?.text).toContain(HAVEN_SCORE_OBSERVATION_URL);
  });

  it('does not constrain Observations that do not claim it', () => {
    const { derivedFrom: _d, meta: _m, ...rest } = total();
    expect(errors(rest)).toEqual([]);
  });
});
