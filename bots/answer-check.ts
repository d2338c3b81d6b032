/**
 * Answer-check bot (veto). A QuestionnaireResponse is resolved to the instrument it answers, whatever form its
 * `questionnaire` reference takes (./questionnaire-resolver.ts), and then:
 * - Haven's own instrument (its canonical, or a stored Questionnaire with that canonical): answers outside the
 *   instrument's answer lists are refused with an OperationOutcome naming the items, so a bad response never reaches
 *   scoring; a canonical of Haven's with a version Haven does not serve is refused too;
 * - another form recognised as an instrument (its LOINC codes): stored, but when its answers are not the instrument's
 *   it cannot be scored, and the client is told so (a warning, not a refusal: Haven never promised to score it);
 * - a form Haven does not score: stored, with a warning saying it is not scored (issue 13: never silent).
 * Warnings are only given for `completed` and `amended` responses (the ones Haven scores); a response marked
 * `entered-in-error` is always let through, so that a retraction can never be refused.
 */
import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import { INSTRUMENT_LABELS } from './clinical/config.ts';
import { inInstrumentTerms } from './clinical/instrument-match.ts';
import { scoreResponse } from './clinical/scoring.ts';
import { instruments } from './instruments-registry.ts';
import { HAVEN_QUESTIONNAIRE_BASE, resolveInstrument } from './questionnaire-resolver.ts';
import { defineBot } from './runtime.ts';

export { HAVEN_QUESTIONNAIRE_BASE };

const SCORED_STATUSES: ReadonlySet<string> = new Set(['completed', 'amended']);

export default defineBot({
  id: 'answer-check',
  description: 'Refuses responses to known instruments with answers outside the answer list; warns about responses it cannot score',
  mode: 'veto',
  triggers: [{ resourceType: 'QuestionnaireResponse', interactions: ['create', 'update'] }],
  async handle(input, ctx) {
    const qr = input.resource as QuestionnaireResponse;
    if (qr.status === 'entered-in-error') return { allow: true };
    const resolved = await resolveInstrument(qr, ctx, ctx.baseUrl);
    const warn = SCORED_STATUSES.has(qr.status);
    if (resolved.unknownHavenVersion) {
      // A response claiming one of Haven's own questionnaires that does not exist (or another version) would never
      // be scored: refuse it rather than let a safety answer go unread.
      const known = instruments()
        .all()
        .map((i) => i.canonical)
        .join(', ');
      return { allow: false, reason: `unknown instrument ${(qr.questionnaire ?? '').slice(0, 120)}; Haven serves ${known}` };
    }
    const match = resolved.match;
    if (!match) return warn ? { allow: true, warning: `Not scored: ${resolved.reason}` } : { allow: true };
    const invalid = scoreResponse(match.instrument, inInstrumentTerms(qr, match)).invalidAnswers;
    if (invalid.length === 0) return { allow: true };
    const label = INSTRUMENT_LABELS[match.instrument.id];
    if (match.via === 'canonical' || match.via === 'stored-canonical') {
      return {
        allow: false,
        reason: `answers outside the ${match.instrument.id} answer list: ${invalid.map((i) => `${i.linkId} (${i.reason})`).join('; ')}`,
      };
    }
    // The form's own linkIds, never the answers (they are the patient's).
    const formLinkId = (linkId: string): string => [...match.linkIds].find(([, to]) => to === linkId)?.[0] ?? linkId;
    const where = invalid.map((i) => formLinkId(i.linkId)).join(', ');
    return warn ? { allow: true, warning: `Not scored as ${label}: answers outside its answer list at ${where}` } : { allow: true };
  },
});
