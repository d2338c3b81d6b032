import { describe, expect, it } from 'vitest';
import cssrs from '../../../questionnaires/Questionnaire-cssrs-screener.json' with { type: 'json' };
import phq9 from '../../../questionnaires/Questionnaire-phq-9.json' with { type: 'json' };
import {
  answersOf,
  buildResponse,
  canonicalOf,
  isDeclined,
  isEnabled,
  missingRequired,
  optionValue,
  visibleQuestions,
  type Answers,
  type Questionnaire,
  type QuestionnaireItem,
} from './questionnaire.ts';

const PHQ9 = phq9 as unknown as Questionnaire;
const CSSRS = cssrs as unknown as Questionnaire;
const YES = { valueCoding: { system: 'http://loinc.org', code: 'LA33-6', display: 'Yes' } };
const NO = { valueCoding: { system: 'http://loinc.org', code: 'LA32-8', display: 'No' } };

/** Every PHQ-9 question answered with option `index` of its list. */
function phq9Answers(index: number): Record<string, NonNullable<Answers[string]>> {
  const out: Record<string, NonNullable<Answers[string]>> = {};
  for (const q of visibleQuestions(PHQ9.item, {})) out[q.linkId] = optionValue(q.answerOption![index])!;
  return out;
}

describe('questionnaire model', () => {
  it('names the Questionnaire by url|version', () => {
    expect(canonicalOf(PHQ9)).toBe('https://haven.health/fhir/Questionnaire/phq-9|1.0.0');
  });

  it('lists the nine PHQ-9 items and the difficulty item, without the display text', () => {
    const qs = visibleQuestions(PHQ9.item, {});
    expect(qs).toHaveLength(10);
    expect(qs[8].linkId).toBe('/44260-8');
    expect(qs.every((q) => q.type === 'choice')).toBe(true);
  });

  it('reports unanswered required items; the optional difficulty item is not required', () => {
    expect(missingRequired(PHQ9, {}).map((q) => q.linkId)).toHaveLength(9);
    const answers = phq9Answers(0);
    delete answers['/69722-7'];
    expect(missingRequired(PHQ9, answers)).toEqual([]);
    delete answers['/44260-8'];
    expect(missingRequired(PHQ9, answers).map((q) => q.linkId)).toEqual(['/44260-8']);
  });

  it('builds a response with the canonical, the answer codes, and no display items', () => {
    const qr = buildResponse(PHQ9, phq9Answers(1), { status: 'completed', subject: { reference: 'Patient/p1' }, id: 'qr1' });
    expect(qr).toMatchObject({ resourceType: 'QuestionnaireResponse', id: 'qr1', status: 'completed', questionnaire: canonicalOf(PHQ9) });
    expect(qr.item).toHaveLength(10);
    expect(qr.item!.some((i) => i.linkId === 'instructions')).toBe(false);
    expect(qr.item![8]).toMatchObject({ linkId: '/44260-8', answer: [{ valueCoding: { system: 'http://loinc.org', code: 'LA6569-3' } }] });
    expect(answersOf(qr)['/44260-8']).toEqual(qr.item![8].answer![0]);
  });

  it('recognises the declined answer of item 9', () => {
    const item9 = visibleQuestions(PHQ9.item, {})[8];
    const declined = optionValue(item9.answerOption!.at(-1)!);
    expect(isDeclined(declined)).toBe(true);
    expect(isDeclined(optionValue(item9.answerOption![0]))).toBe(false);
  });

  it('follows C-SSRS enableWhen: Q3-Q5 only after Yes to Q2, Q6b only after Yes to Q6', () => {
    expect(visibleQuestions(CSSRS.item, {}).map((q) => q.linkId)).toEqual(['/93246-7', '/93247-5', '/93267-3']);
    const yesToQ2 = { '/93246-7': NO, '/93247-5': YES, '/93267-3': YES };
    expect(visibleQuestions(CSSRS.item, yesToQ2).map((q) => q.linkId)).toEqual([
      '/93246-7',
      '/93247-5',
      '/93248-3',
      '/93249-1',
      '/93250-9',
      '/93267-3',
      '/93269-9',
    ]);
    expect(missingRequired(CSSRS, yesToQ2).map((q) => q.linkId)).toEqual(['/93248-3', '/93249-1', '/93250-9', '/93269-9']);
  });

  it('drops answers to questions that became hidden', () => {
    const answers = { '/93246-7': NO, '/93247-5': NO, '/93248-3': YES, '/93267-3': NO };
    const qr = buildResponse(CSSRS, answers, { status: 'completed' });
    expect(qr.item!.map((i) => i.linkId)).toEqual(['/93246-7', '/93247-5', '/93267-3']);
  });

  it('evaluates exists, != and enableBehavior any', () => {
    const item: QuestionnaireItem = {
      linkId: 'x',
      type: 'string',
      enableBehavior: 'any',
      enableWhen: [
        { question: 'a', operator: 'exists', answerBoolean: true },
        { question: 'b', operator: '!=', answerBoolean: true },
      ],
    };
    expect(isEnabled(item, {})).toBe(false);
    expect(isEnabled(item, { a: { valueString: 'hi' } })).toBe(true);
    expect(isEnabled(item, { b: { valueBoolean: false } })).toBe(true);
    expect(isEnabled(item, { b: { valueBoolean: true } })).toBe(false);
    expect(isEnabled({ ...item, enableWhen: [{ question: 'a', operator: '>', answerInteger: 1 }] }, { a: { valueInteger: 5 } })).toBe(
      false,
    );
  });
});
