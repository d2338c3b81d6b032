/**
 * Test support: QuestionnaireResponses for the shipped instruments, built from the Questionnaire JSON so that
 * tests say "PHQ-9 with these scores" instead of spelling out LOINC answer codes.
 */
import type { QuestionnaireResponse, QuestionnaireResponseItem } from '@medplum/fhirtypes';
import { optionWeight } from '../clinical/instruments.ts';
import { instruments } from '../instruments-registry.ts';

/** A response to `instrumentId` where scored item i gets the option whose weight is `scores[i]` (undefined: unanswered). */
export function phqLikeResponse(
  instrumentId: string,
  patient: string,
  scores: readonly (number | undefined)[],
  extra: Partial<QuestionnaireResponse> = {},
): QuestionnaireResponse {
  const instrument = instruments()
    .all()
    .find((i) => i.id === instrumentId);
  if (!instrument) throw new Error(`unknown instrument ${instrumentId}`);
  const item: QuestionnaireResponseItem[] = [];
  instrument.scoredItems.forEach((scored, i) => {
    const score = scores[i];
    if (score === undefined) return;
    const qItem = instrument.questionnaire.item?.find((q) => q.linkId === scored.linkId);
    const option = qItem?.answerOption?.find((o) => optionWeight(o) === score);
    if (!option?.valueCoding) throw new Error(`${instrumentId} ${scored.linkId} has no option weighted ${score}`);
    item.push({ linkId: scored.linkId, answer: [{ valueCoding: option.valueCoding }] });
  });
  return {
    resourceType: 'QuestionnaireResponse',
    status: 'completed',
    questionnaire: instrument.canonical,
    subject: { reference: `Patient/${patient}` },
    authored: '2026-11-20T10:00:00Z',
    item,
    ...extra,
  };
}
