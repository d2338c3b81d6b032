/**
 * Scores a QuestionnaireResponse against an {@link Instrument}: a pure function of the two.
 *
 * Rules (clinical.md §1): a total exists only when every scored item has a valid answer; a missing or
 * declined safety item is never read as 0; answers outside the Questionnaire's answer list are reported,
 * never scored; unknown linkIds are ignored but reported.
 */
import type {
  Coding,
  QuestionnaireItemEnableWhen,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  QuestionnaireResponseItemAnswer,
} from '@medplum/fhirtypes';
import { LOINC, SCORE_BAND_SYSTEM } from './instruments.ts';
import type { Band, BandCode, CssrsRisk, Instrument, InstrumentItem, InstrumentScoring } from './instruments.ts';

export type ItemStatus = 'answered' | 'missing' | 'declined';
export type Sex = 'male' | 'female' | 'other' | 'unknown';

/** How one question was answered. */
export interface ItemResult {
  readonly linkId: string;
  /** The question's code (LOINC, or the local PHQ-A system). */
  readonly code: Coding;
  readonly status: ItemStatus;
  /** Whether the question's enableWhen holds (always true without one); a disabled question is not asked. */
  readonly enabled: boolean;
  /** Score of the chosen answer, when the item is scored and answered. */
  readonly ordinal?: number;
  /** The chosen answer as the Questionnaire spells it (also set when declined). */
  readonly answer?: Coding;
}

/** An answer that could not be used. */
export interface InvalidAnswer {
  readonly linkId: string;
  readonly reason: string;
}

/** PHQ-9 / PHQ-A item 9: answered with its score, or unknown (which is never the same as 0). */
export type Item9Signal = { readonly status: 'answered'; readonly ordinal: number } | { readonly status: 'missing' | 'declined' };

/** The safety-relevant facts of a response, for risk routing. */
export interface SafetySignals {
  readonly item9?: Item9Signal;
  /** C-SSRS risk tier; absent when unanswered screener questions leave it open. */
  readonly cssrsRisk?: CssrsRisk;
  /** Why the C-SSRS tier is what it is (and what was assumed). */
  readonly cssrsReasons?: readonly string[];
  /** PHQ-A: serious thoughts of ending one's life in the past month (absent when not answered). */
  readonly seriousThoughtsPastMonth?: boolean;
  /** PHQ-A: ever attempted suicide (absent when not answered). */
  readonly everAttempted?: boolean;
}

/** The outcome of {@link scoreResponse}. */
export interface ScoreResult {
  readonly instrumentId: Instrument['id'];
  /** One entry per question of the instrument, in questionnaire order. */
  readonly items: readonly ItemResult[];
  /** Sum of the scored items; absent when any of them lacks a valid answer. */
  readonly total?: number;
  /** Band of the total (system {@link SCORE_BAND_SYSTEM}); absent without a total. */
  readonly band?: Coding;
  /** linkIds of required, enabled questions without a valid answer (declined counts as unanswered). */
  readonly missingRequired: readonly string[];
  readonly invalidAnswers: readonly InvalidAnswer[];
  /** linkIds that carry answers but are not questions of this instrument; they are ignored. */
  readonly unknownLinkIds: readonly string[];
  readonly safety: SafetySignals;
  /** Other observations about the response, e.g. answers to questions that were not enabled. */
  readonly notes: readonly string[];
}

/** Options of {@link scoreResponse}. */
export interface ScoreOptions {
  /** Administrative sex of the patient; selects the AUDIT-C cut-off ('other' and absent use the 'unknown' one). */
  readonly sex?: Sex;
}

/** C-SSRS screener answers: true = Yes, false = No, undefined = not (validly) answered or declined. */
export interface CssrsAnswers {
  readonly q1: boolean | undefined;
  readonly q2: boolean | undefined;
  readonly q3: boolean | undefined;
  readonly q4: boolean | undefined;
  readonly q5: boolean | undefined;
  readonly q6: boolean | undefined;
  readonly q6b: boolean | undefined;
}

const RISK_ORDER: readonly CssrsRisk[] = ['none', 'low', 'moderate', 'high'];

/**
 * C-SSRS screener risk tier (clinical.md §1.5, Columbia triage guidance):
 * high = Q4 or Q5 Yes, or Q6 Yes with Q6b Yes; moderate = Q3 Yes, or Q6 Yes with Q6b No;
 * low = Q1 and/or Q2 Yes only; none = all No.
 *
 * Unknowns are resolved toward safety. An unanswered follow-up that the skip logic asked for counts as the
 * worst answer it could have been (Q6 Yes with Q6b unknown → high, since recency is unknown; Q2 Yes with
 * Q4/Q5 unknown → high; with Q3 unknown → at least moderate). An unanswered gate question (Q1, Q2, Q6) leaves
 * the tier open unless the known answers already make it high: the result then has no risk, and the caller
 * must treat it as "unknown → clinician review", never as none. A Yes to Q3–Q5 counts even when Q2 was No.
 */
export function stratifyCssrs(a: CssrsAnswers): { risk?: CssrsRisk; reasons: string[] } {
  // Widened on purpose: `raise` changes it inside a closure, which narrowing cannot see.
  let tier = 'none' as CssrsRisk;
  const reasons: string[] = [];
  const raise = (to: CssrsRisk, reason: string): void => {
    if (RISK_ORDER.indexOf(to) > RISK_ORDER.indexOf(tier)) tier = to;
    reasons.push(reason);
  };
  if (a.q1) raise('low', 'Q1 Yes: wish to be dead (past month)');
  if (a.q2) raise('low', 'Q2 Yes: suicidal thoughts (past month)');
  if (a.q3) raise('moderate', 'Q3 Yes: thoughts of method (past month)');
  if (a.q4) raise('high', 'Q4 Yes: suicidal intent (past month)');
  if (a.q5) raise('high', 'Q5 Yes: plan and intent (past month)');
  if (a.q2 === true) {
    if (a.q3 === undefined) raise('moderate', 'Q2 Yes and Q3 unanswered: treated as Yes');
    if (a.q4 === undefined || a.q5 === undefined) raise('high', 'Q2 Yes and Q4/Q5 unanswered: treated as Yes (intent not ruled out)');
  }
  if (a.q6 === true) {
    if (a.q6b === true) raise('high', 'Q6 Yes and Q6b Yes: suicidal behavior in the past 3 months');
    else if (a.q6b === false) raise('moderate', 'Q6 Yes and Q6b No: suicidal behavior more than 3 months ago');
    else raise('high', 'Q6 Yes and Q6b unanswered: recency unknown, treated as within the past 3 months');
  } else if (a.q6b === true) {
    reasons.push('Q6b Yes although Q6 is not Yes: Q6b ignored');
  }
  const openGates = (['q1', 'q2', 'q6'] as const).filter((q) => a[q] === undefined);
  if (openGates.length > 0 && tier !== 'high') {
    reasons.push(`${openGates.map((q) => q.toUpperCase()).join(', ')} unanswered: risk level cannot be determined`);
    return { reasons };
  }
  if (tier === 'none') reasons.push('All screener answers No');
  return { risk: tier, reasons };
}

const YES = 'LA33-6';
const NO = 'LA32-8';

/** Every answer of the response by linkId, looking inside groups and nested answer items. */
function collectAnswers(
  items: readonly QuestionnaireResponseItem[] | undefined,
  into: Map<string, QuestionnaireResponseItemAnswer[]>,
): void {
  for (const item of items ?? []) {
    if (item.answer?.length) {
      const list = into.get(item.linkId as string) ?? [];
      list.push(...item.answer);
      into.set(item.linkId as string, list);
    }
    collectAnswers(item.item, into);
    for (const answer of item.answer ?? []) collectAnswers(answer.item, into);
  }
}

/**
 * Maps the response's linkIds to the instrument's. A bare LOINC linkId (`44250-9`, HL7 PHR IG style) is
 * read as `/44250-9` (LHC-Forms / US Core style) when only the latter is a question.
 */
function resolveLinkId(instrument: Instrument, linkId: string): string | undefined {
  if (instrument.items.some((i) => i.linkId === linkId)) return linkId;
  const slashed = `/${linkId}`;
  return instrument.items.some((i) => i.linkId === slashed) ? slashed : undefined;
}

function sameCoding(a: Coding, b: Coding | undefined): boolean {
  return b !== undefined && a.system === b.system && a.code === b.code;
}

type ReadItem = Omit<ItemResult, 'enabled'>;

function readItem(item: InstrumentItem, answers: readonly QuestionnaireResponseItemAnswer[], invalid: InvalidAnswer[]): ReadItem {
  const base = { linkId: item.linkId, code: item.code };
  if (answers.length === 0) return { ...base, status: 'missing' };
  if (answers.length > 1) {
    invalid.push({ linkId: item.linkId, reason: `${answers.length} answers to a single-answer question` });
    return { ...base, status: 'missing' };
  }
  const coding = answers[0]?.valueCoding;
  if (!coding) {
    invalid.push({ linkId: item.linkId, reason: 'expected a valueCoding from the answer list' });
    return { ...base, status: 'missing' };
  }
  const choice = item.choices.find((c) => sameCoding(c.coding, coding));
  if (!choice) {
    const given = `${coding.system ?? '(no system)'}|${coding.code ?? '(no code)'}`;
    invalid.push({ linkId: item.linkId, reason: `${given} is not an answer option` });
    return { ...base, status: 'missing' };
  }
  if (choice.declines) return { ...base, status: 'declined', answer: choice.coding };
  return { ...base, status: 'answered', answer: choice.coding, ...(choice.weight === undefined ? {} : { ordinal: choice.weight }) };
}

/**
 * Whether a question is enabled (FHIR R4 Questionnaire.item.enableWhen), judged on the valid answers.
 * Operators other than `=`, `!=` and `exists` are taken as enabled, so an unsupported condition can only add
 * a question to missingRequired, never hide one.
 */
function isEnabled(item: InstrumentItem, byLinkId: ReadonlyMap<string, ReadItem>): boolean {
  if (!item.enableWhen?.length) return true;
  const holds = (cond: QuestionnaireItemEnableWhen): boolean => {
    const other = byLinkId.get(cond.question as string);
    const answered = other?.status === 'answered';
    switch (cond.operator) {
      case '=':
        return cond.answerCoding ? answered && sameCoding(cond.answerCoding, other?.answer) : true;
      case '!=':
        return cond.answerCoding ? !(answered && sameCoding(cond.answerCoding, other?.answer)) : true;
      case 'exists':
        return cond.answerBoolean === answered;
      default:
        return true;
    }
  };
  return item.enableBehavior === 'any' ? item.enableWhen.some(holds) : item.enableWhen.every(holds);
}

/** The band of a total; undefined only when the configured bands leave the total uncovered. */
export function bandFor(scoring: InstrumentScoring, total: number, sex: Sex | undefined): Coding | undefined {
  const coding = (code: BandCode, display: string): Coding => ({ system: SCORE_BAND_SYSTEM, code, display });
  const screen = (positiveAt: number): Coding =>
    total >= positiveAt ? coding('positive', 'Positive screen') : coding('negative', 'Negative screen');
  switch (scoring.kind) {
    case 'bands': {
      const band: Band | undefined = scoring.bands.find((b) => total >= b.min && total <= b.max);
      return band ? coding(band.code, band.display) : undefined;
    }
    case 'cutoff':
      return screen(scoring.positiveAt);
    case 'sex-cutoff':
      return screen(sex === 'male' ? scoring.positiveAt.male : sex === 'female' ? scoring.positiveAt.female : scoring.positiveAt.unknown);
    case 'cssrs':
      return undefined;
    default:
      return scoring satisfies never;
  }
}

function yesNo(result: ItemResult | undefined): boolean | undefined {
  if (result?.status !== 'answered' || result.answer?.system !== LOINC) return undefined;
  return result.answer.code === YES ? true : result.answer.code === NO ? false : undefined;
}

/** Scores a response. Pure: the same inputs always give the same result. */
export function scoreResponse(instrument: Instrument, qr: QuestionnaireResponse, opts: ScoreOptions = {}): ScoreResult {
  const raw = new Map<string, QuestionnaireResponseItemAnswer[]>();
  collectAnswers(qr.item, raw);

  const answers = new Map<string, QuestionnaireResponseItemAnswer[]>();
  const unknownLinkIds: string[] = [];
  for (const [linkId, list] of raw) {
    const resolved = resolveLinkId(instrument, linkId);
    if (resolved === undefined) unknownLinkIds.push(linkId);
    // `/44250-9` and `44250-9` in one response are one question answered twice: merged, then refused as such.
    else answers.set(resolved, [...(answers.get(resolved) ?? []), ...list]);
  }

  const invalidAnswers: InvalidAnswer[] = [];
  const read = new Map(instrument.items.map((item) => [item.linkId, readItem(item, answers.get(item.linkId) ?? [], invalidAnswers)]));
  const items: ItemResult[] = instrument.items.map((item) => ({ ...(read.get(item.linkId) as ReadItem), enabled: isEnabled(item, read) }));
  const byLinkId = new Map(items.map((r) => [r.linkId, r]));

  const notes: string[] = [];
  const missingRequired: string[] = [];
  for (const item of instrument.items) {
    const result = byLinkId.get(item.linkId);
    if (item.required && result?.enabled && result.status !== 'answered') missingRequired.push(item.linkId);
    if (!result?.enabled && result?.status === 'answered') notes.push(`${item.linkId} was answered although it was not enabled`);
  }

  // Every scored item needs a valid answer: a gap is unknown, not 0 (clinical.md §1.2).
  const scored = instrument.scoredItems.map((i) => byLinkId.get(i.linkId));
  const complete = instrument.totalCode !== undefined && missingRequired.length === 0 && scored.every((r) => r?.ordinal !== undefined);
  const total = complete ? scored.reduce((sum, r) => sum + (r?.ordinal ?? 0), 0) : undefined;
  const band = total === undefined ? undefined : bandFor(instrument.scoring, total, opts.sex);

  return {
    instrumentId: instrument.id,
    items,
    ...(total === undefined ? {} : { total }),
    ...(band ? { band } : {}),
    missingRequired,
    invalidAnswers,
    unknownLinkIds,
    safety: safetySignals(instrument, byLinkId),
    notes,
  };
}

function safetySignals(instrument: Instrument, byLinkId: ReadonlyMap<string, ItemResult>): SafetySignals {
  const { item9, seriousThoughtsPastMonth, everAttempted, cssrs } = instrument.safety;
  const out: { -readonly [K in keyof SafetySignals]: SafetySignals[K] } = {};
  if (item9) {
    const r = byLinkId.get(item9);
    out.item9 =
      r?.status === 'answered' && r.ordinal !== undefined
        ? { status: 'answered', ordinal: r.ordinal }
        : { status: r?.status === 'declined' ? 'declined' : 'missing' };
  }
  const thoughts = seriousThoughtsPastMonth ? yesNo(byLinkId.get(seriousThoughtsPastMonth)) : undefined;
  if (thoughts !== undefined) out.seriousThoughtsPastMonth = thoughts;
  const attempted = everAttempted ? yesNo(byLinkId.get(everAttempted)) : undefined;
  if (attempted !== undefined) out.everAttempted = attempted;
  if (cssrs) {
    const answers: CssrsAnswers = {
      q1: yesNo(byLinkId.get(cssrs.q1)),
      q2: yesNo(byLinkId.get(cssrs.q2)),
      q3: yesNo(byLinkId.get(cssrs.q3)),
      q4: yesNo(byLinkId.get(cssrs.q4)),
      q5: yesNo(byLinkId.get(cssrs.q5)),
      q6: yesNo(byLinkId.get(cssrs.q6)),
      q6b: yesNo(byLinkId.get(cssrs.q6b)),
    };
    const { risk, reasons } = stratifyCssrs(answers);
    if (risk) out.cssrsRisk = risk;
    out.cssrsReasons = reasons;
  }
  return out;
}
