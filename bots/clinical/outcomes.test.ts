import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../server/src/fhir/definitions.ts';
import { validateFhirResource } from '../../server/src/fhir/validate.ts';
import { defaultClinicalConfig, type Instrument } from './config.ts';
import {
  achievementStatusConcept,
  buildOutcomeObservations,
  episodeOutcomes,
  evaluateOutcome,
  type OutcomeEvaluation,
} from './outcomes.ts';

const config = defaultClinicalConfig().outcomes;
const NOW = new Date('2026-03-04T15:00:00.000Z');
const errors = (r: Resource): OperationOutcomeIssue[] =>
  validateFhirResource(r).filter((i) => i.severity === 'error' || i.severity === 'fatal');

beforeAll(() => loadDefinitions());

const result = (response: boolean, remission: boolean, achievementStatus: OutcomeEvaluation['achievementStatus']): OutcomeEvaluation => ({
  response,
  remission,
  achievementStatus,
});

describe('evaluateOutcome (clinical.md §1.2, §1.4)', () => {
  it.each([
    ['no baseline → in-progress', 'phq-9', undefined, 3, result(false, false, 'in-progress')],
    ['PHQ-9 20 → 4: response and remission → achieved', 'phq-9', 20, 4, result(true, true, 'achieved')],
    ['PHQ-9 20 → 5: response, not remission (< 5) → improving', 'phq-9', 20, 5, result(true, false, 'improving')],
    ['PHQ-9 20 → 10: exactly 50 % is a response', 'phq-9', 20, 10, result(true, false, 'improving')],
    ['PHQ-9 20 → 11: 45 % drop, ≥ 5 points → improving', 'phq-9', 20, 11, result(false, false, 'improving')],
    ['PHQ-9 20 → 16: 4-point drop → no-change', 'phq-9', 20, 16, result(false, false, 'no-change')],
    ['PHQ-9 12 → 12: no change', 'phq-9', 12, 12, result(false, false, 'no-change')],
    ['PHQ-9 12 → 13: any rise → worsening', 'phq-9', 12, 13, result(false, false, 'worsening')],
    ['PHQ-9 3 → 2: below 5 → achieved', 'phq-9', 3, 2, result(false, true, 'achieved')],
    ['PHQ-9 0 → 0: no division by zero', 'phq-9', 0, 0, result(false, true, 'achieved')],
    ['PHQ-A 15 → 7: response', 'phq-a', 15, 7, result(true, false, 'improving')],
    ['GAD-7 16 → 8: 50 % response', 'gad-7', 16, 8, result(true, false, 'improving')],
    ['GAD-7 16 → 12: 25 % is not a response by default (MBHR2 uses 25 %)', 'gad-7', 16, 12, result(false, false, 'improving')],
    ['GAD-7 16 → 13: 3-point drop < GAD-7 MCID 4 → no-change', 'gad-7', 16, 13, result(false, false, 'no-change')],
    ['GAD-7 10 → 4: remission (VERIFY convention)', 'gad-7', 10, 4, result(true, true, 'achieved')],
  ] as [string, Instrument, number | undefined, number, OutcomeEvaluation][])('%s', (_name, instrument, baseline, current, expected) => {
    expect(evaluateOutcome({ instrument, ...(baseline === undefined ? {} : { baseline }), current, config })).toEqual(expected);
  });

  it('follows configuration: GAD-7 at the MBHR2 25 % threshold', () => {
    const mbhr2 = { ...config, 'gad-7': { ...config['gad-7']!, responseDropFraction: 0.25 } };
    expect(evaluateOutcome({ instrument: 'gad-7', baseline: 16, current: 12, config: mbhr2 })).toEqual(result(true, false, 'improving'));
  });

  it('refuses an instrument without outcome rules, and unreadable scores', () => {
    expect(() => evaluateOutcome({ instrument: 'audit-c', baseline: 8, current: 2, config })).toThrow(/outcomes\.audit-c/);
    expect(() => evaluateOutcome({ instrument: 'phq-9', baseline: 8, current: Number.NaN, config })).toThrow(RangeError);
    expect(() => evaluateOutcome({ instrument: 'phq-9', baseline: -1, current: 2, config })).toThrow(RangeError);
  });

  it('maps statuses to goal-achievement codes', () => {
    expect(achievementStatusConcept('no-change')).toEqual({
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/goal-achievement', code: 'no-change', display: 'No Change' }],
    });
  });
});

describe('buildOutcomeObservations', () => {
  it('builds valid response and remission Observations derived from the total', () => {
    const [response, remission] = buildOutcomeObservations({
      patient: 'Patient/p1',
      instrument: 'phq-9',
      response: true,
      remission: false,
      focus: 'Observation/total',
      now: NOW,
      config,
    });
    for (const o of [response, remission]) {
      expect(errors(o)).toEqual([]);
      expect(o).toMatchObject({
        status: 'final',
        subject: { reference: 'Patient/p1' },
        derivedFrom: [{ reference: 'Observation/total' }],
        effectiveDateTime: NOW.toISOString(),
        method: { coding: [{ system: 'http://loinc.org', code: '44249-1' }] },
      });
    }
    expect(response.code.coding?.[0]).toMatchObject({ system: 'https://haven.health/fhir/CodeSystem/mbc-outcome', code: 'response' });
    expect(response.valueBoolean).toBe(true);
    expect(remission.code.coding?.[0]?.code).toBe('remission');
    expect(remission.valueBoolean).toBe(false);
    expect(remission.code.text).toBe('PHQ-9 remission (total below 5)');
  });

  it('works without configuration (no method)', () => {
    const [response] = buildOutcomeObservations({
      patient: 'Patient/p1',
      instrument: 'gad-7',
      response: false,
      remission: false,
      focus: 'Observation/t',
      now: NOW,
    });
    expect(errors(response)).toEqual([]);
    expect(response.method).toBeUndefined();
    expect(response.valueBoolean).toBe(false);
  });
});

describe('episodeOutcomes: an episode recomputed from the totals that remain (after a retraction)', () => {
  it.each([
    ['no total left: nothing, and no Goal status', [], undefined, [], undefined],
    ['one total: it is the baseline, in progress', [16], 't0', [], 'in-progress'],
    [
      'baseline 16, then 9, then 4: each measured against 16; the latest sets the Goal',
      [16, 9, 4],
      't0',
      [
        ['t1', 'improving'],
        ['t2', 'achieved'],
      ],
      'achieved',
    ],
    ['the old baseline retracted: 9 is the index, 12 is a rise', [9, 12], 't0', [['t1', 'worsening']], 'worsening'],
  ] as [string, number[], string | undefined, [string, string][], string | undefined][])(
    '%s',
    (_name, values, baseline, outcomes, latest) => {
      const e = episodeOutcomes(
        values.map((value, i) => ({ id: `t${i}`, value })),
        'phq-9',
        config,
      );
      expect(e.baseline).toBe(baseline);
      expect([...e.outcomes].map(([id, o]) => [id, o.achievementStatus])).toEqual(outcomes);
      expect(e.latest).toBe(latest);
    },
  );
});
