/**
 * Which assessments are due for a patient, from when each instrument was last scored and what was sent and not
 * yet returned. Pure. The cadence is a platform default, not a standard (measurement-based care commonly
 * measures at every contact or monthly): set per deployment in {@link DEFAULT_CADENCE_DAYS}.
 */

/** Instruments the clinician app tracks and offers to send. */
export const TRACKED = ['phq-9', 'gad-7'] as const;
export type Tracked = (typeof TRACKED)[number];

/** Days between measurements before an instrument is due (platform default; organizations set their own). */
export const DEFAULT_CADENCE_DAYS: Readonly<Record<Tracked, number>> = { 'phq-9': 28, 'gad-7': 28 };
/** Days past due before "due" becomes "overdue". */
export const OVERDUE_AFTER_DAYS = 7;

const DAY = 86_400_000;

/** What the app knows about one instrument. */
export interface InstrumentFacts {
  /** When it was last scored (ISO), if ever. */
  lastScored?: string;
  /** Assessments sent to the patient and not returned: their due dates (ISO) or undefined when none was set. */
  pending: { due?: string; sent?: string }[];
}

/** The state of one instrument. */
export type DueState =
  | { kind: 'up-to-date'; nextDue: string }
  | { kind: 'due'; since: string }
  | { kind: 'overdue'; since: string }
  | { kind: 'sent'; due?: string }
  | { kind: 'sent-overdue'; due: string }
  | { kind: 'never' };

/** Decides the state of one instrument at `now`. A sent assessment takes precedence over the cadence. */
export function dueState(facts: InstrumentFacts, cadenceDays: number, now: Date): DueState {
  const t = now.getTime();
  if (facts.pending.length > 0) {
    const dues = facts.pending
      .map((p) => p.due)
      .filter((d): d is string => !!d)
      .sort();
    const earliest = dues[0];
    if (earliest && Date.parse(earliest) < t) return { kind: 'sent-overdue', due: earliest };
    return { kind: 'sent', ...(earliest ? { due: earliest } : {}) };
  }
  if (!facts.lastScored) return { kind: 'never' };
  const dueAt = Date.parse(facts.lastScored) + cadenceDays * DAY;
  if (t < dueAt) return { kind: 'up-to-date', nextDue: new Date(dueAt).toISOString() };
  const since = new Date(dueAt).toISOString();
  return t >= dueAt + OVERDUE_AFTER_DAYS * DAY ? { kind: 'overdue', since } : { kind: 'due', since };
}

/** True when the state asks the clinician to act. */
export function needsAction(state: DueState): boolean {
  return state.kind === 'due' || state.kind === 'overdue' || state.kind === 'sent-overdue' || state.kind === 'never';
}
