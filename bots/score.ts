/**
 * Score bot: a completed or amended QuestionnaireResponse of a known instrument (questionnaires/), whatever form its
 * `questionnaire` reference takes (./questionnaire-resolver.ts), becomes a total-score Observation, a panel
 * Observation with `hasMember`, and item Observations for safety items, all as conditional updates keyed by the
 * response id, so an amended response updates and never duplicates (clinical/score-observations.ts). Missing required
 * answers: no total, and a review Task for the care team. A response it cannot score is recorded as
 * `not scored: <reason>` in its run (`haven events bot-runs`); the client was told at write time (answer-check).
 *
 * A response changed to `entered-in-error`, or deleted, retracts its results: every score Observation derived from it becomes
 * `entered-in-error` through the same conditional-update keys (the outcomes bot then recomputes what rested on the
 * total), and an open score-review Task gets a note and stays for a person to close.
 */
import type { BundleEntry, Observation, Patient, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { INSTRUMENT_LABELS } from './clinical/config.ts';
import { HAVEN_TASK_SYSTEM } from './clinical/escalation.ts';
import { inInstrumentTerms } from './clinical/instrument-match.ts';
import { needsRetractionNote, noteRetraction, type Withdrawal } from './clinical/retraction.ts';
import { buildScoreTransaction, SCORE_OBSERVATION_SYSTEM } from './clinical/score-observations.ts';
import { scoreResponse } from './clinical/scoring.ts';
import { resolveInstrument } from './questionnaire-resolver.ts';
import { defineBot, type BotContext, type BotOutput } from './runtime.ts';

/** Identifier system of score-review Tasks (value: the QuestionnaireResponse id). */
export const SCORE_REVIEW_SYSTEM = 'https://haven.health/fhir/NamingSystem/score-review';

/** Task statuses that are still work to do. */
export const OPEN_TASK_STATUSES = 'requested,received,accepted,ready,in-progress,on-hold';

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

/** Writes that retract what a response entered in error (or deleted) produced. */
async function retract(ctx: BotContext, qr: QuestionnaireResponse & { id: string }, how: Withdrawal): Promise<BotOutput> {
  const source = `QuestionnaireResponse/${qr.id}`;
  const derived = await ctx.search<Observation>('Observation', `derived-from=${source}&_count=200`);
  const writes: BundleEntry[] = [];
  for (const obs of derived) {
    const key = obs.identifier?.find((i) => i.system === SCORE_OBSERVATION_SYSTEM)?.value;
    if (!key || obs.status === 'entered-in-error') continue;
    writes.push({
      request: { method: 'PUT', url: `Observation?identifier=${encodeURIComponent(`${SCORE_OBSERVATION_SYSTEM}|${key}`)}` },
      resource: { ...obs, status: 'entered-in-error' },
    });
  }
  const retracted = writes.length;
  const reviews = await ctx.search<Task>(
    'Task',
    `identifier=${encodeURIComponent(`${SCORE_REVIEW_SYSTEM}|${qr.id}`)}&status=${OPEN_TASK_STATUSES}&_count=10`,
  );
  const noted = reviews.filter((t) => needsRetractionNote(t, source));
  for (const task of noted) {
    writes.push({
      request: { method: 'PUT', url: `Task/${task.id}`, ifMatch: `W/"${task.meta?.versionId}"` },
      resource: noteRetraction(task, source, ctx.now, how),
    });
  }
  return { writes, summary: `${how}: ${retracted} score Observation(s) retracted, ${noted.length} review Task(s) noted` };
}

export default defineBot({
  id: 'score',
  description:
    'Scores completed and amended responses to PHQ-9, PHQ-2, GAD-7, C-SSRS screener, PHQ-A and AUDIT-C; retracts the scores of responses entered in error',
  mode: 'after-commit',
  triggers: [
    { resourceType: 'QuestionnaireResponse', interactions: ['create', 'update'], criteria: 'status=completed,amended' },
    { resourceType: 'QuestionnaireResponse', interactions: ['update'], criteria: 'status=entered-in-error' },
    // A deleted response is withdrawn like one entered in error (the event carries the version before the delete).
    { resourceType: 'QuestionnaireResponse', interactions: ['delete'] },
  ],
  scopes: ['system/Observation.cus', 'system/Task.cus', 'system/Patient.r', 'system/Questionnaire.rs'],
  async handle(event, ctx) {
    const qr = event.resource as (QuestionnaireResponse & { id: string }) | undefined;
    if (!qr) return { summary: 'no response version: not scored' };
    if (event.interaction === 'delete') return retract(ctx, qr, 'deleted');
    if (qr.status === 'entered-in-error') return retract(ctx, qr, 'entered-in-error');
    const resolved = await resolveInstrument(qr, ctx, ctx.baseUrl);
    const match = resolved.match;
    if (!match) return { summary: `not scored: ${resolved.reason}` };
    const instrument = match.instrument;
    if (!qr.subject?.reference) return { summary: 'no subject: not scored' };
    let sex: Patient['gender'];
    if (instrument.id === 'audit-c' && qr.subject.reference.startsWith('Patient/')) {
      sex = (await ctx.read<Patient>('Patient', qr.subject.reference.slice('Patient/'.length)))?.gender;
    }
    const terms = inInstrumentTerms(qr, match);
    const result = scoreResponse(instrument, terms, sex ? { sex } : {});
    if (result.invalidAnswers.length > 0) {
      // Refused at write time for Haven's own forms (answer-check); another form with other answer codes is stored.
      return {
        summary: `not scored: ${INSTRUMENT_LABELS[instrument.id]} (${match.via}) with ${result.invalidAnswers.length} answer(s) outside the answer list`,
      };
    }
    const writes: BundleEntry[] = [...(buildScoreTransaction(instrument, terms, result).entry ?? [])];
    if (result.missingRequired.length > 0) {
      writes.push({
        request: { method: 'PUT', url: `Task?identifier=${encodeURIComponent(`${SCORE_REVIEW_SYSTEM}|${qr.id}`)}` },
        resource: scoreReviewTask(qr, result.missingRequired, ctx.now),
      });
    }
    const scored = result.total === undefined ? 'no total' : `total ${result.total}`;
    const via = match.via === 'canonical' ? '' : ` (${match.via})`;
    return { writes, summary: `${instrument.id}${via}: ${scored}, ${writes.length} write(s)` };
  },
});
