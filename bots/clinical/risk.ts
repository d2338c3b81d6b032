/**
 * Suicide-risk assessment of one scored instrument: a pure decision from plain data (the scoring glue
 * supplies totals and item answers) to a level and the reasons for it.
 *
 * Rules (thresholds and levels from {@link RiskConfig}; clinical.md):
 * - PHQ-9/PHQ-A item 9: any answer ≥ 1 is positive and "requires immediate clinical evaluation … regardless of
 *   the total score" (§1.2); ordinal 1 → low, ≥ 2 → moderate (§4.3).
 * - Item 9 missing or declined is unknown, never 0: at least `review` (§1.2 encoding caveat). Item 9 is not
 *   `required` in the reference encodings, so absence is common and must not read as "no ideation".
 * - C-SSRS screener tiers map to the same level (§1.5); a screener without a tier → `review`.
 * - PHQ-A "serious thoughts about ending your life in the past month" Yes → moderate (§4.3); "ever attempted"
 *   Yes → configurable (§1.6: any Yes needs further assessment).
 * - A severe total (PHQ-9/PHQ-A ≥ 20, the 20–27 band) and a rise of ≥ 5 points since the previous total of the
 *   same instrument (VERIFY: 5 points as meaningful change is common practice, §1.2) raise the level.
 * - Required answers missing → `review`.
 * The highest level wins; every reason is kept so the task can say why.
 */
import { INSTRUMENT_LABELS, riskRank, type Instrument, type RiskConfig, type RiskLevel } from './config.ts';

/** Item 9 as answered, or why it has no answer. */
export type Item9 = { status: 'answered'; ordinal: number } | { status: 'missing' | 'declined' };

/** One scored result, as plain data. */
export interface RiskInput {
  instrument: Instrument;
  total?: number;
  /** The previous total of the same instrument in this episode (the caller matches instruments). */
  previousTotal?: number;
  /** PHQ-9/PHQ-A only; absent on those instruments counts as missing. */
  item9?: Item9;
  /** C-SSRS screener tier (§1.5), computed by the scoring glue. */
  cssrsRisk?: 'none' | 'low' | 'moderate' | 'high';
  /** PHQ-A: "serious thoughts about ending your life" in the past month. */
  seriousThoughtsPastMonth?: boolean;
  /** PHQ-A: ever tried to kill yourself or made a suicide attempt. */
  everAttempted?: boolean;
  /** linkIds of required items left unanswered. */
  missingRequired?: string[];
}

/** Stable reason codes (used by tasks, tests and audit; never change a value). */
export const RISK_REASON = {
  phq9Item9Positive: 'phq9-item9-positive',
  phqaItem9Positive: 'phqa-item9-positive',
  item9Unanswered: 'item9-unanswered',
  item9Invalid: 'item9-invalid',
  cssrsLow: 'cssrs-low',
  cssrsModerate: 'cssrs-moderate',
  cssrsHigh: 'cssrs-high',
  cssrsUnscored: 'cssrs-unscored',
  phqaSeriousThoughts: 'phqa-serious-thoughts',
  phqaEverAttempted: 'phqa-ever-attempted',
  severeTotal: 'severe-total',
  scoreRise: 'score-rise',
  totalInvalid: 'total-invalid',
  missingRequired: 'missing-required',
  /** The response was not scored as a whole (unknown form, partial match): assessed from its safety answers only. */
  safetyItemsOnly: 'safety-items-only',
} as const;
export type RiskReasonCode = (typeof RISK_REASON)[keyof typeof RISK_REASON];

/** Why a level was reached: no PHI beyond what the chart holds (instrument names, scores, linkIds). */
export interface RiskReason {
  code: RiskReasonCode;
  text: string;
  /** The level this reason alone gives. */
  level: RiskLevel;
}

/** The outcome: the highest level of any reason, and all reasons (in rule order). */
export interface RiskAssessment {
  level: RiskLevel;
  reasons: RiskReason[];
}

/** The higher of two levels. */
export function maxLevel(a: RiskLevel, b: RiskLevel): RiskLevel {
  return riskRank(a) >= riskRank(b) ? a : b;
}

const ITEM9_INSTRUMENTS: ReadonlySet<Instrument> = new Set(['phq-9', 'phq-a']);

function validScore(n: number | undefined): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0;
}

function item9Reasons(input: RiskInput, config: RiskConfig): RiskReason[] {
  if (!ITEM9_INSTRUMENTS.has(input.instrument)) return [];
  const label = INSTRUMENT_LABELS[input.instrument];
  const item9: Item9 = input.item9 ?? { status: 'missing' };
  switch (item9.status) {
    case 'missing':
    case 'declined':
      return [
        {
          code: RISK_REASON.item9Unanswered,
          text: `${label} item 9 (thoughts of death or self-harm) was ${item9.status === 'missing' ? 'not answered' : 'declined'}: risk unknown, needs clinician review`,
          level: config.item9UnansweredLevel,
        },
      ];
    case 'answered': {
      const { ordinal } = item9;
      // An ordinal outside 0..3 means the answer could not be read: unknown, so reviewed, never dropped.
      if (!Number.isInteger(ordinal) || ordinal < 0 || ordinal > 3) {
        return [
          {
            code: RISK_REASON.item9Invalid,
            text: `${label} item 9 answer could not be scored: needs clinician review`,
            level: config.item9UnansweredLevel,
          },
        ];
      }
      let level: RiskLevel = 'none';
      for (const tier of config.item9Tiers) if (ordinal >= tier.minOrdinal) level = maxLevel(level, tier.level);
      if (level === 'none') return [];
      return [
        {
          code: input.instrument === 'phq-a' ? RISK_REASON.phqaItem9Positive : RISK_REASON.phq9Item9Positive,
          text: `${label} item 9 (thoughts of death or self-harm) positive: answered ${ordinal} of 3`,
          level,
        },
      ];
    }
    default:
      return item9 satisfies never;
  }
}

function cssrsReasons(input: RiskInput): RiskReason[] {
  const risk = input.cssrsRisk;
  switch (risk) {
    case undefined:
      // A C-SSRS screener without a tier could not be scored: unknown, so a human looks (as for item 9).
      return input.instrument === 'cssrs-screener'
        ? [{ code: RISK_REASON.cssrsUnscored, text: 'C-SSRS screener could not be scored: needs clinician review', level: 'review' }]
        : [];
    case 'none':
      return [];
    case 'low':
      return [{ code: RISK_REASON.cssrsLow, text: 'C-SSRS screener: low risk (wish to be dead or non-specific thoughts)', level: 'low' }];
    case 'moderate':
      return [
        {
          code: RISK_REASON.cssrsModerate,
          text: 'C-SSRS screener: moderate risk (method considered, or behaviour more than 3 months ago)',
          level: 'moderate',
        },
      ];
    case 'high':
      return [
        {
          code: RISK_REASON.cssrsHigh,
          text: 'C-SSRS screener: high risk (intent or plan in the past month, or behaviour in the past 3 months)',
          level: 'high',
        },
      ];
    default:
      return risk satisfies never;
  }
}

function reason(code: RiskReasonCode, text: string, level: RiskLevel): RiskReason[] {
  return level === 'none' ? [] : [{ code, text, level }];
}

function totalReasons(input: RiskInput, config: RiskConfig): RiskReason[] {
  const { instrument, total, previousTotal } = input;
  const label = INSTRUMENT_LABELS[instrument];
  if (total === undefined) return [];
  if (!validScore(total)) {
    // Garbage from the scoring glue must surface, not vanish: a human looks at it.
    return [{ code: RISK_REASON.totalInvalid, text: `${label} total could not be read: needs clinician review`, level: 'review' }];
  }
  const out: RiskReason[] = [];
  const severe = config.severeTotal[instrument];
  if (severe && total >= severe.atLeast) {
    out.push(...reason(RISK_REASON.severeTotal, `${label} total ${total} is at least ${severe.atLeast} (severe)`, severe.level));
  }
  const rise = config.scoreRise[instrument];
  if (rise && validScore(previousTotal) && total - previousTotal >= rise.points) {
    out.push(
      ...reason(RISK_REASON.scoreRise, `${label} total rose ${total - previousTotal} points (${previousTotal} to ${total})`, rise.level),
    );
  }
  return out;
}

/** Assesses suicide risk from one scored instrument. Pure. */
export function assessRisk(input: RiskInput, config: RiskConfig): RiskAssessment {
  const reasons: RiskReason[] = [
    ...item9Reasons(input, config),
    ...cssrsReasons(input),
    ...(input.seriousThoughtsPastMonth === true
      ? reason(
          RISK_REASON.phqaSeriousThoughts,
          'PHQ-A: serious thoughts about ending their life in the past month',
          config.phqaSeriousThoughtsLevel,
        )
      : []),
    ...(input.everAttempted === true
      ? reason(RISK_REASON.phqaEverAttempted, 'PHQ-A: a suicide attempt at some time in their life', config.phqaEverAttemptedLevel)
      : []),
    ...totalReasons(input, config),
    ...(input.missingRequired?.length
      ? reason(RISK_REASON.missingRequired, `Required answers missing: ${input.missingRequired.join(', ')}`, config.missingRequiredLevel)
      : []),
  ];
  return { level: reasons.reduce<RiskLevel>((level, r) => maxLevel(level, r.level), 'none'), reasons };
}
