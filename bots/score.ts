/**
 * Score bot: a completed or amended QuestionnaireResponse of a known instrument (questionnaires/) becomes a
 * total-score Observation, a panel Observation with `hasMember`, and item Observations for safety items, all as
 * conditional updates keyed by the response id, so an amended response updates and never duplicates
 * (clinical/score-observations.ts). Missing required answers: no total, and a review Task for the care team.
 */
import type { BundleEntry, Patient, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { HAVEN_TASK_SYSTEM } from './clinical/escalation.ts';
import { buildScoreTransaction } from './clinical/score-observations.ts';
import { scoreResponse } from './clinical/scoring.ts';
import { instruments } from './instruments-registry.ts';
import { defineBot } from './runtime.ts';

/** Identifier system of score-review Tasks (value: the QuestionnaireResponse id). */
export const SCORE_REVIEW_SYSTEM = 'https://haven.health/fhir/NamingSystem/score-review';

/** A Task asking the care team to review a response that could not be scored. */
export function scoreReviewTask(qr: QuestionnaireResponse & { id: string }, missing: readonly string[], now: string): Task {
  return {
    resourceType: 'Task',
    identifier: [{ system: SCORE_REVIEW_SYSTEM, value: qr.id }],
    status: 'requested',
    intent: 'order',
    priority: 'routine',
    code: { coding: [{ system: HAVEN_TASK_SYSTEM, code: 'score-review', display: 'Review an incomplete assessment' }] },
    description: `Assessment could not be scored: ${missing.length} required answer(s) missing (${missing.join(', ')}).`,
    focus: { reference: `QuestionnaireResponse/${qr.id}` },
    ...(qr.subject ? { for: qr.subject } : {}),
    ...(qr.encounter ? { encounter: qr.encounter } : {}),
    authoredOn: now,
  };
}

export default defineBot({
  id: 'score',
  description: 'Scores completed and amended responses to PHQ-9, PHQ-2, GAD-7, C-SSRS screener, PHQ-A and AUDIT-C',
  mode: 'after-commit',
  triggers: [{ resourceType: 'QuestionnaireResponse', interactions: ['create', 'update'], criteria: 'status=completed,amended' }],
  scopes: ['system/Observation.cus', 'system/Task.cus', 'system/Patient.r'],
  async handle(event, ctx) {
    const qr = event.resource as (QuestionnaireResponse & { id: string }) | undefined;
    const instrument = qr?.questionnaire ? instruments().find(qr.questionnaire) : undefined;
    if (!qr || !instrument) return { summary: 'not a known instrument: not scored' };
    if (!qr.subject?.reference) return { summary: 'no subject: not scored' };
    let sex: Patient['gender'];
    if (instrument.id === 'audit-c' && qr.subject.reference.startsWith('Patient/')) {
      sex = (await ctx.read<Patient>('Patient', qr.subject.reference.slice('Patient/'.length)))?.gender;
    }
    const result = scoreResponse(instrument, qr, sex ? { sex } : {});
    if (result.invalidAnswers.length > 0) {
      // Normally refused at write time (answer-check bot); a response stored before that check is reported, not scored.
      return { summary: `${instrument.id}: ${result.invalidAnswers.length} answer(s) outside the answer list: not scored` };
    }
    const writes: BundleEntry[] = [...(buildScoreTransaction(instrument, qr, result).entry ?? [])];
    if (result.missingRequired.length > 0) {
      writes.push({
        request: { method: 'PUT', url: `Task?identifier=${encodeURIComponent(`${SCORE_REVIEW_SYSTEM}|${qr.id}`)}` },
        resource: scoreReviewTask(qr, result.missingRequired, ctx.now),
      });
    }
    const scored = result.total === undefined ? 'no total' : `total ${result.total}`;
    return { writes, summary: `${instrument.id}: ${scored}, ${writes.length} write(s)` };
  },
});
