/**
 * Measurement-based-care outcome of one total against the episode's baseline: response, remission and the
 * Goal.achievementStatus it implies, plus the Observations that record response and remission.
 *
 * Definitions (clinical.md §1.2, §1.4; thresholds per instrument in configuration):
 * - Response: a drop of at least 50 % from the index (baseline) total (CBE 1884/1885 for PHQ-9). GAD-7 uses
 *   50 % by default; the MBHR2 QCDR measure uses 25 %, so it is a setting.
 * - Remission: total below 5 (PHQ-9/PHQ-9M: CMS159). For GAD-7 "< 5" is a convention only (VERIFY, §1.4).
 * - Measure windows (6/12 months ± 60 days) and index eligibility (PHQ-9 > 9) belong to reporting, not to
 *   this per-result evaluation.
 * Status mapping (http://terminology.hl7.org/CodeSystem/goal-achievement): no baseline → in-progress;
 * remission → achieved; response → improving; a smaller drop of at least `improvingMinDrop` points (the
 * instrument's minimal meaningful change) → improving; a rise of at least `worseningMinRise` → worsening;
 * anything else → no-change.
 */
import type { CodeableConcept, Observation } from '@medplum/fhirtypes';
import { INSTRUMENT_LABELS, type Instrument, type OutcomeRule } from './config.ts';
import { ref } from './escalation.ts';

/** Haven's local codes for MBC outcomes (`response`, `remission`). */
export const MBC_OUTCOME_SYSTEM = 'https://haven.health/fhir/CodeSystem/mbc-outcome';
/** R4 Goal.achievementStatus code system. */
export const GOAL_ACHIEVEMENT_SYSTEM = 'http://terminology.hl7.org/CodeSystem/goal-achievement';

/** The Goal.achievementStatus codes this module produces. */
export type AchievementStatus = 'achieved' | 'improving' | 'no-change' | 'worsening' | 'in-progress';

/** Result of {@link evaluateOutcome}. */
export interface OutcomeEvaluation {
  response: boolean;
  remission: boolean;
  achievementStatus: AchievementStatus;
}

/** Arguments of {@link evaluateOutcome}; `config` is the `outcomes` section (rules per instrument). */
export interface OutcomeInput {
  instrument: Instrument;
  /** The first total in the episode (the caller finds it); absent for the first result. */
  baseline?: number;
  current: number;
  config: Partial<Record<Instrument, OutcomeRule>>;
}

function score(n: number, name: string): number {
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`${name} must be a finite score ≥ 0, got ${n}`);
  return n;
}

/** The rule for an instrument; throws for one without outcome rules (C-SSRS, AUDIT-C, PHQ-2 by default). */
export function outcomeRule(instrument: Instrument, config: Partial<Record<Instrument, OutcomeRule>>): OutcomeRule {
  const rule = config[instrument];
  if (!rule) throw new Error(`No outcome rule for ${instrument} (configure outcomes.${instrument})`);
  return rule;
}

/** Evaluates response, remission and achievement status of one total. Pure. */
export function evaluateOutcome(input: OutcomeInput): OutcomeEvaluation {
  const rule = outcomeRule(input.instrument, input.config);
  const current = score(input.current, 'current');
  // Without an index value neither response nor remission is defined (both are relative to the index event).
  if (input.baseline === undefined) return { response: false, remission: false, achievementStatus: 'in-progress' };
  const baseline = score(input.baseline, 'baseline');
  const drop = baseline - current;
  const response = baseline > 0 && drop / baseline >= rule.responseDropFraction;
  const remission = current < rule.remissionBelow;
  let achievementStatus: AchievementStatus;
  if (remission) achievementStatus = 'achieved';
  else if (response || drop >= rule.improvingMinDrop) achievementStatus = 'improving';
  else if (-drop >= rule.worseningMinRise) achievementStatus = 'worsening';
  else achievementStatus = 'no-change';
  return { response, remission, achievementStatus };
}

const ACHIEVEMENT_DISPLAY: Readonly<Record<AchievementStatus, string>> = {
  achieved: 'Achieved',
  improving: 'Improving',
  'no-change': 'No Change',
  worsening: 'Worsening',
  'in-progress': 'In Progress',
};

/** A status as the CodeableConcept Goal.achievementStatus takes. */
export function achievementStatusConcept(status: AchievementStatus): CodeableConcept {
  return { coding: [{ system: GOAL_ACHIEVEMENT_SYSTEM, code: status, display: ACHIEVEMENT_DISPLAY[status] }] };
}

/** Arguments of {@link buildOutcomeObservations}. */
export interface OutcomeObservationArgs {
  patient: string;
  instrument: Instrument;
  response: boolean;
  remission: boolean;
  /** The total-score Observation the outcome derives from. */
  focus: string;
  now: Date;
  /** The `outcomes` section: the instrument's panel code becomes the method, its thresholds the text. */
  config?: Partial<Record<Instrument, OutcomeRule>>;
}

/** Two Observations (response, remission), valueBoolean, derived from the total-score Observation. */
export function buildOutcomeObservations(args: OutcomeObservationArgs): [Observation, Observation] {
  const rule = args.config?.[args.instrument];
  const label = INSTRUMENT_LABELS[args.instrument];
  const build = (code: 'response' | 'remission', value: boolean, what: string): Observation => ({
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey', display: 'Survey' }] }],
    code: {
      coding: [{ system: MBC_OUTCOME_SYSTEM, code, display: code === 'response' ? 'Treatment response' : 'Remission' }],
      text: `${label} ${what}`,
    },
    subject: ref(args.patient),
    effectiveDateTime: args.now.toISOString(),
    issued: args.now.toISOString(),
    valueBoolean: value,
    ...(rule ? { method: { coding: [{ ...rule.panel }], text: label } } : {}),
    derivedFrom: [ref(args.focus)],
  });
  const pct = rule ? ` (drop of ${Math.round(rule.responseDropFraction * 100)} % or more from baseline)` : '';
  return [
    build('response', args.response, `response${pct}`),
    build('remission', args.remission, `remission${rule ? ` (total below ${rule.remissionBelow})` : ''}`),
  ];
}

/** A valid (final or amended) total of an episode. */
export interface EpisodeTotal {
  readonly id: string;
  readonly value: number;
}

/** The outcomes of an episode's totals, recomputed as a whole (after one of them was retracted). */
export interface EpisodeOutcomes {
  /** The first valid total: the index every other total is measured against (it has no outcome of its own). */
  readonly baseline?: string;
  /** Outcome of every valid total after the baseline, by total id. */
  readonly outcomes: ReadonlyMap<string, OutcomeEvaluation>;
  /** Goal.achievementStatus the latest valid total gives; undefined when no valid total is left. */
  readonly latest?: AchievementStatus;
}

/**
 * Recomputes an episode from its valid totals, oldest first (the caller leaves out retracted ones): the first is the
 * baseline, each later one is evaluated against it, and the latest sets the Goal. Pure.
 */
export function episodeOutcomes(
  totals: readonly EpisodeTotal[],
  instrument: Instrument,
  config: Partial<Record<Instrument, OutcomeRule>>,
): EpisodeOutcomes {
  const [first, ...later] = totals;
  if (!first) return { outcomes: new Map() };
  const outcomes = new Map(later.map((t) => [t.id, evaluateOutcome({ instrument, baseline: first.value, current: t.value, config })]));
  const last = later.at(-1);
  const latest = last ? (outcomes.get(last.id) as OutcomeEvaluation).achievementStatus : 'in-progress';
  return { baseline: first.id, outcomes, latest };
}
