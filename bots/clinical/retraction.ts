/**
 * What a response marked `entered-in-error`, or deleted, does to the work it started (issue 13: "a retracted response
 * retracts its results"). Results are data and are retracted (score Observations → `entered-in-error`, by the score
 * bot); work assigned to people is not: an open Task the response raised, or added evidence to, is never cancelled
 * silently. It gets a note saying what happened to its source and stays open for a clinician to review and close. Pure.
 */
import type { Annotation, Task } from '@medplum/fhirtypes';

/** How a source was withdrawn: its status changed to `entered-in-error`, or it was deleted. */
export type Withdrawal = 'entered-in-error' | 'deleted';

const WITHDRAWN: Record<Withdrawal, string> = { 'entered-in-error': 'was marked entered-in-error', deleted: 'was deleted' };

/** The note left on an open Task whose source was retracted (no PHI: a reference). */
export function retractionNote(source: string, now: string, how: Withdrawal = 'entered-in-error'): Annotation {
  return {
    time: now,
    text: `Source ${source} ${WITHDRAWN[how]}: the results derived from it are retracted. This Task stays open for a clinician to review and close.`,
  };
}

/**
 * Whether `task` rests on `source`: its focus, or evidence it was given later (the risk bot's note
 * "New evidence (<source>): …"). A Task that already carries the retraction note is not noted twice.
 */
export function needsRetractionNote(task: Task, source: string): boolean {
  const cites = task.focus?.reference === source || (task.note ?? []).some((n) => n.text?.startsWith(`New evidence (${source}):`));
  const noted = (task.note ?? []).some((n) => Object.values(WITHDRAWN).some((w) => n.text?.startsWith(`Source ${source} ${w}`)));
  return cites && !noted;
}

/** The Task with the retraction note added (status, owner and priority unchanged: a person decides). */
export function noteRetraction(task: Task, source: string, now: string, how: Withdrawal = 'entered-in-error'): Task {
  return { ...task, lastModified: now, note: [...(task.note ?? []), retractionNote(source, now, how)] };
}
