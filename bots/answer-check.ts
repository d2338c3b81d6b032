/**
 * Answer-check bot (veto): a QuestionnaireResponse to one of Haven's instruments whose answers are outside the
 * instrument's answer lists is refused at write time with an OperationOutcome naming the items, so a bad
 * response never reaches scoring. Responses to other questionnaires pass untouched.
 */
import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import { scoreResponse } from './clinical/scoring.ts';
import { instruments } from './instruments-registry.ts';
import { defineBot } from './runtime.ts';

/** Canonical base of Haven's instruments (questionnaires/). */
export const HAVEN_QUESTIONNAIRE_BASE = 'https://haven.health/fhir/Questionnaire/';

export default defineBot({
  id: 'answer-check',
  description: 'Refuses responses to known instruments with answers outside the answer list',
  mode: 'veto',
  triggers: [{ resourceType: 'QuestionnaireResponse', interactions: ['create', 'update'] }],
  async handle(input) {
    const qr = input.resource as QuestionnaireResponse;
    const instrument = qr.questionnaire ? instruments().find(qr.questionnaire) : undefined;
    if (!instrument) {
      // A response claiming one of Haven's own questionnaires that does not exist (or another version) would never
      // be scored: refuse it rather than let a safety answer go unread.
      if (qr.questionnaire?.startsWith(HAVEN_QUESTIONNAIRE_BASE)) {
        const known = instruments()
          .all()
          .map((i) => i.canonical)
          .join(', ');
        return { allow: false, reason: `unknown instrument ${qr.questionnaire.slice(0, 120)}; Haven serves ${known}` };
      }
      return { allow: true };
    }
    const invalid = scoreResponse(instrument, qr).invalidAnswers;
    if (invalid.length === 0) return { allow: true };
    return {
      allow: false,
      reason: `answers outside the ${instrument.id} answer list: ${invalid.map((i) => `${i.linkId} (${i.reason})`).join('; ')}`,
    };
  },
});
