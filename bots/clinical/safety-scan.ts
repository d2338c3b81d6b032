/**
 * The safety answers of any QuestionnaireResponse, scored or not: PHQ-9 / PHQ-A item 9, the PHQ-A suicide questions
 * and the C-SSRS screener questions, wherever they appear. A positive answer must reach the risk bot whatever the
 * response's `questionnaire` says and whether or not a total can be computed (issue 13), so this reads them from the
 * response alone. Pure.
 *
 * A response question is a safety question when its linkId is the instrument's (`/44260-8`, or bare `44260-8`), or
 * when the stored Questionnaire the response names codes that linkId with the safety question's code. Answers are
 * read toward safety:
 * - item 9: an answer from Haven's answer list (its ordinalValue), a decline (unknown, never 0), the form's own
 *   ordinalValue/itemWeight for that answer, one on the answer's Coding, or an integer 0–3. Anything else cannot be
 *   read and is reviewed by a clinician (never dropped, never 0);
 * - Yes/No questions: LOINC LA33-6 / LA32-8 or a boolean; a decline is unknown;
 * - C-SSRS: the tier the known answers reach (./scoring.ts stratifyCssrs, with gate questions the form did not ask
 *   taken as No: an absent question is not a Yes); an unreadable answer with no Yes → review.
 */
import type {
  Coding,
  Questionnaire,
  QuestionnaireItemAnswerOption,
  QuestionnaireResponse,
  QuestionnaireResponseItemAnswer,
} from '@medplum/fhirtypes';
import type { Instrument as InstrumentId, RiskConfig } from './config.ts';
import { instrumentLinkId } from './instrument-match.ts';
import {
  DATA_ABSENT_REASON,
  LOINC,
  optionWeight,
  questions,
  type CssrsLinkIds,
  type Instrument,
  type InstrumentItem,
} from './instruments.ts';
import { RISK_REASON, assessRisk, maxLevel, type Item9, type RiskAssessment, type RiskInput } from './risk.ts';
import { stratifyCssrs } from './scoring.ts';

type YesNoRole = 'seriousThoughtsPastMonth' | 'everAttempted' | keyof CssrsLinkIds;
type Role = 'item9' | YesNoRole;

/** A safety question of an instrument. */
interface SafetyQuestion {
  readonly instrument: Instrument;
  readonly role: Role;
  readonly item: InstrumentItem;
}

function sameCoding(a: Coding, b: Coding | undefined): boolean {
  return b !== undefined && a.system === b.system && a.code === b.code;
}

/** Every safety question of every instrument. */
function safetyQuestions(all: readonly Instrument[]): SafetyQuestion[] {
  return all.flatMap((instrument) => {
    const { item9, seriousThoughtsPastMonth, everAttempted, cssrs } = instrument.safety;
    const roles: [Role, string | undefined][] = [
      ['item9', item9],
      ['seriousThoughtsPastMonth', seriousThoughtsPastMonth],
      ['everAttempted', everAttempted],
      ...(Object.entries(cssrs ?? {}) as [keyof CssrsLinkIds, string][]),
    ];
    return roles.flatMap(([role, linkId]) => {
      const item = instrument.items.find((i) => i.linkId === linkId);
      return item ? [{ instrument, role, item }] : [];
    });
  });
}

/** Every answer list of the response by linkId (inside groups and nested answers too). */
function answersByLinkId(qr: QuestionnaireResponse): Map<string, QuestionnaireResponseItemAnswer[]> {
  const out = new Map<string, QuestionnaireResponseItemAnswer[]>();
  const walk = (items: QuestionnaireResponse['item']): void => {
    for (const item of items ?? []) {
      if (item.linkId && item.answer?.length) out.set(item.linkId, [...(out.get(item.linkId) ?? []), ...item.answer]);
      walk(item.item);
      for (const a of item.answer ?? []) walk(a.item);
    }
  };
  walk(qr.item);
  return out;
}

const UNREADABLE: Item9 = { status: 'answered', ordinal: Number.NaN };

/** Item 9 as answered (see the module comment); NaN ordinal = could not be read (assessRisk reviews it). */
export function readItem9(
  item: InstrumentItem,
  answers: readonly QuestionnaireResponseItemAnswer[],
  formOptions: readonly QuestionnaireItemAnswerOption[] = [],
): Item9 {
  if (answers.length !== 1) return UNREADABLE;
  const answer = answers[0];
  const coding = answer.valueCoding;
  if (coding) {
    const choice = item.choices.find((c) => sameCoding(c.coding, coding));
    if (choice?.declines || (coding.system === DATA_ABSENT_REASON && coding.code === 'asked-declined')) return { status: 'declined' };
    const weight =
      choice?.weight ??
      formOptions.map((o) => (sameCoding(coding, o.valueCoding) ? optionWeight(o) : undefined)).find((w) => w !== undefined) ??
      optionWeight({ valueCoding: coding });
    return weight === undefined ? UNREADABLE : { status: 'answered', ordinal: weight };
  }
  const n = answer.valueInteger ?? answer.valueDecimal;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 3 ? { status: 'answered', ordinal: n } : UNREADABLE;
}

/** A Yes/No answer: true, false, null for a decline, undefined when it cannot be read. */
export function readYesNo(answers: readonly QuestionnaireResponseItemAnswer[]): boolean | null | undefined {
  if (answers.length !== 1) return undefined;
  const { valueBoolean, valueCoding } = answers[0];
  if (typeof valueBoolean === 'boolean') return valueBoolean;
  if (valueCoding?.system === LOINC && valueCoding.code === 'LA33-6') return true;
  if (valueCoding?.system === LOINC && valueCoding.code === 'LA32-8') return false;
  if (valueCoding?.system === DATA_ABSENT_REASON && valueCoding.code === 'asked-declined') return null;
  return undefined;
}

/**
 * Risk inputs from the safety answers of `qr`, one per instrument with at least one answered safety question.
 * `stored` is the Questionnaire the response names, when one was found (its item codes identify questions whose
 * linkIds are not Haven's).
 */
export function scanSafety(all: readonly Instrument[], qr: QuestionnaireResponse, stored?: Questionnaire): RiskInput[] {
  const answers = answersByLinkId(qr);
  const formItems = stored ? questions(stored.item) : [];
  const safety = safetyQuestions(all);
  const found = new Map<InstrumentId, { input: RiskInput; cssrs: Record<string, boolean | undefined>; unknown: boolean }>();
  for (const [linkId, list] of answers) {
    const formItem = formItems.find((f) => f.linkId === linkId);
    for (const q of safety) {
      const byCode = formItem?.code?.some((c) => sameCoding(c, q.item.code)) === true;
      if (!byCode && instrumentLinkId(q.instrument, linkId) !== q.item.linkId) continue;
      const id = q.instrument.id as InstrumentId;
      const entry = found.get(id) ?? { input: { instrument: id }, cssrs: {}, unknown: false };
      found.set(id, entry);
      if (q.role === 'item9') {
        entry.input.item9 = readItem9(q.item, list, formItem?.answerOption);
        continue;
      }
      const yes = readYesNo(list);
      if (q.role === 'seriousThoughtsPastMonth' || q.role === 'everAttempted') {
        // As in the scored PHQ-A: a decline adds nothing; an answer that cannot be read is reviewed.
        if (yes === true || yes === false) entry.input[q.role] = yes;
        else if (yes === undefined) entry.input.missingRequired = [...(entry.input.missingRequired ?? []), q.item.linkId];
      } else {
        // As in the scored screener: a declined or unreadable C-SSRS answer is unknown.
        if (yes === undefined || yes === null) entry.unknown = true;
        entry.cssrs[q.role] = yes ?? undefined;
      }
    }
  }
  return [...found.values()].map(({ input, cssrs, unknown }) => {
    if (input.instrument !== 'cssrs-screener') return input;
    // A gate question the form did not ask is not a Yes; unanswered follow-ups keep stratifyCssrs's worst case.
    const { risk } = stratifyCssrs({
      q1: cssrs.q1 ?? false,
      q2: cssrs.q2 ?? false,
      q3: cssrs.q3,
      q4: cssrs.q4,
      q5: cssrs.q5,
      q6: cssrs.q6 ?? false,
      q6b: cssrs.q6b,
    });
    return unknown && risk === 'none' ? input : { ...input, ...(risk ? { cssrsRisk: risk } : {}) };
  });
}

/**
 * One assessment of the safety answers of a response that was not scored as a whole: each instrument's answers
 * assessed (./risk.ts), the highest level wins, and `why` (the reason it was not scored) is added at `review` when
 * anything escalates, so the Task says that no total backs it. An item 9 the form did not ask says nothing.
 */
export function assessSafetyAnswers(inputs: readonly RiskInput[], config: RiskConfig, why: string): RiskAssessment {
  const reasons = inputs.flatMap((input) =>
    assessRisk(input, config).reasons.filter((r) => input.item9 !== undefined || r.code !== RISK_REASON.item9Unanswered),
  );
  const level = reasons.reduce((l, r) => maxLevel(l, r.level), 'none' as RiskAssessment['level']);
  if (level === 'none') return { level, reasons };
  return { level, reasons: [...reasons, { code: RISK_REASON.safetyItemsOnly, text: why, level: 'review' }] };
}
