/**
 * A Questionnaire as a form: which questions are shown (R4 `enableWhen`, `enableBehavior`), which required ones
 * are unanswered, and the QuestionnaireResponse the answers make. Pure functions over plain data, so the form
 * component stays a view. Covers the item types Haven's instruments use (display, group, choice) and the
 * simple ones (boolean, integer, decimal, string, text, date).
 *
 * The response names its Questionnaire by canonical `url|version`, as the score bot matches it
 * (questionnaires/README.md); answers are copied from the answer options, codes and ordinal extensions included.
 */

/** A Coding. */
export interface Coding {
  system?: string;
  code?: string;
  display?: string;
  extension?: { url: string; valueDecimal?: number }[];
}

/** The parts of R4 Questionnaire.item the form uses. */
export interface QuestionnaireItem {
  linkId: string;
  text?: string;
  type: string;
  required?: boolean;
  repeats?: boolean;
  item?: QuestionnaireItem[];
  answerOption?: { valueCoding?: Coding; valueString?: string; valueInteger?: number }[];
  enableWhen?: {
    question: string;
    operator: string;
    answerCoding?: Coding;
    answerBoolean?: boolean;
    answerInteger?: number;
    answerDecimal?: number;
    answerString?: string;
  }[];
  enableBehavior?: 'all' | 'any';
}

/** The parts of R4 Questionnaire the form uses. */
export interface Questionnaire {
  resourceType: 'Questionnaire';
  id?: string;
  url?: string;
  version?: string;
  title?: string;
  name?: string;
  description?: string;
  item?: QuestionnaireItem[];
}

/** One answer value, as in QuestionnaireResponse.item.answer. */
export type AnswerValue =
  | { valueCoding: Coding }
  | { valueBoolean: boolean }
  | { valueInteger: number }
  | { valueDecimal: number }
  | { valueString: string }
  | { valueDate: string };

/** Answers by linkId. */
export type Answers = Readonly<Record<string, AnswerValue | undefined>>;

/** A QuestionnaireResponse (the parts written here). */
export interface QuestionnaireResponse {
  resourceType: 'QuestionnaireResponse';
  id?: string;
  meta?: { versionId?: string; lastUpdated?: string };
  questionnaire?: string;
  status: 'in-progress' | 'completed' | 'amended' | 'entered-in-error' | 'stopped';
  subject?: { reference: string; display?: string };
  author?: { reference: string };
  source?: { reference: string };
  authored?: string;
  basedOn?: { reference: string }[];
  extension?: { url: string; valueDateTime?: string; valueReference?: { reference: string } }[];
  item?: ResponseItem[];
  [key: string]: unknown;
}

/** QuestionnaireResponse.item. */
export interface ResponseItem {
  linkId: string;
  text?: string;
  answer?: AnswerValue[];
  item?: ResponseItem[];
}

/** `url|version`, or the url alone when the Questionnaire has no version. */
export function canonicalOf(q: Questionnaire): string {
  if (!q.url) throw new Error('The Questionnaire has no canonical url');
  return q.version ? `${q.url}|${q.version}` : q.url;
}

function sameCoding(a: Coding | undefined, b: Coding | undefined): boolean {
  return !!a && !!b && a.code === b.code && (a.system === undefined || b.system === undefined || a.system === b.system);
}

function answerEquals(answer: AnswerValue | undefined, when: NonNullable<QuestionnaireItem['enableWhen']>[number]): boolean {
  if (!answer) return false;
  if (when.answerCoding && 'valueCoding' in answer) return sameCoding(answer.valueCoding, when.answerCoding);
  if (when.answerBoolean !== undefined && 'valueBoolean' in answer) return answer.valueBoolean === when.answerBoolean;
  if (when.answerInteger !== undefined && 'valueInteger' in answer) return answer.valueInteger === when.answerInteger;
  if (when.answerDecimal !== undefined && 'valueDecimal' in answer) return answer.valueDecimal === when.answerDecimal;
  if (when.answerString !== undefined && 'valueString' in answer) return answer.valueString === when.answerString;
  return false;
}

/** True when the item is shown given `answers` (R4 Questionnaire.item.enableWhen; unknown operators disable). */
export function isEnabled(item: QuestionnaireItem, answers: Answers): boolean {
  const conditions = item.enableWhen ?? [];
  if (conditions.length === 0) return true;
  const results = conditions.map((w) => {
    const answer = answers[w.question];
    switch (w.operator) {
      case 'exists':
        return (answer !== undefined) === (w.answerBoolean ?? true);
      case '=':
        return answerEquals(answer, w);
      case '!=':
        return answer !== undefined && !answerEquals(answer, w);
      default:
        return false;
    }
  });
  return item.enableBehavior === 'any' ? results.some(Boolean) : results.every(Boolean);
}

/** Every question (not group or display) that is shown, in form order; a hidden group hides its children. */
export function visibleQuestions(items: readonly QuestionnaireItem[] | undefined, answers: Answers): QuestionnaireItem[] {
  const out: QuestionnaireItem[] = [];
  for (const item of items ?? []) {
    if (!isEnabled(item, answers)) continue;
    if (item.type !== 'group' && item.type !== 'display') out.push(item);
    out.push(...visibleQuestions(item.item, answers));
  }
  return out;
}

/** Required questions that are shown and unanswered. */
export function missingRequired(q: Questionnaire, answers: Answers): QuestionnaireItem[] {
  return visibleQuestions(q.item, answers).filter((i) => i.required && answers[i.linkId] === undefined);
}

function responseItems(items: readonly QuestionnaireItem[] | undefined, answers: Answers): ResponseItem[] {
  const out: ResponseItem[] = [];
  for (const item of items ?? []) {
    if (!isEnabled(item, answers) || item.type === 'display') continue;
    if (item.type === 'group') {
      const children = responseItems(item.item, answers);
      if (children.length) out.push({ linkId: item.linkId, ...(item.text ? { text: item.text } : {}), item: children });
      continue;
    }
    const answer = answers[item.linkId];
    if (answer) out.push({ linkId: item.linkId, ...(item.text ? { text: item.text } : {}), answer: [answer] });
  }
  return out;
}

/**
 * The response for `answers`: only shown questions that have an answer (an answer to a question that was later
 * hidden is dropped, as R4 requires). `base` carries id, meta, subject and the rest of an assigned response.
 */
export function buildResponse(
  q: Questionnaire,
  answers: Answers,
  base: Omit<QuestionnaireResponse, 'resourceType' | 'item' | 'questionnaire'>,
): QuestionnaireResponse {
  const { item: _ignored, ...rest } = base as QuestionnaireResponse;
  return { ...rest, resourceType: 'QuestionnaireResponse', questionnaire: canonicalOf(q), item: responseItems(q.item, answers) };
}

/** The answers a (draft) response holds, by linkId (first answer of each item). */
export function answersOf(qr: Pick<QuestionnaireResponse, 'item'> | undefined): Record<string, AnswerValue> {
  const out: Record<string, AnswerValue> = {};
  const walk = (items: readonly ResponseItem[] | undefined) => {
    for (const i of items ?? []) {
      if (i.answer?.[0]) out[i.linkId] = i.answer[0];
      walk(i.item);
    }
  };
  walk(qr?.item);
  return out;
}

/** The answer value an answer option gives (the Coding as the Questionnaire has it; scores are looked up by code). */
export function optionValue(option: NonNullable<QuestionnaireItem['answerOption']>[number]): AnswerValue | undefined {
  if (option.valueCoding) {
    const { system, code, display } = option.valueCoding;
    return { valueCoding: { ...(system ? { system } : {}), ...(code ? { code } : {}), ...(display ? { display } : {}) } };
  }
  if (option.valueString !== undefined) return { valueString: option.valueString };
  if (option.valueInteger !== undefined) return { valueInteger: option.valueInteger };
  return undefined;
}

/** A stable key for comparing a chosen answer with an option. */
export function answerKey(value: AnswerValue | undefined): string {
  if (!value) return '';
  if ('valueCoding' in value) return `c:${value.valueCoding.system ?? ''}|${value.valueCoding.code ?? ''}`;
  const [k, v] = Object.entries(value)[0] ?? ['', ''];
  return `${k}:${String(v)}`;
}

/** Data-absent "asked but declined": a choice a patient may make on a safety question. */
export function isDeclined(value: AnswerValue | undefined): boolean {
  return (
    !!value &&
    'valueCoding' in value &&
    value.valueCoding.system === 'http://terminology.hl7.org/CodeSystem/data-absent-reason' &&
    value.valueCoding.code === 'asked-declined'
  );
}
