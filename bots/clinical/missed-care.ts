/**
 * Missed care: repeated no-shows and an active care plan without contact, and the care-manager Task that
 * follows. Pure decisions from plain data; counts and windows from {@link MissedCareConfig}.
 *
 * Time is measured in 24-hour days from `now` (instants, so DST and time zones do not move a boundary).
 * "Within N days" includes an event exactly N days ago: a no-show exactly 30 days ago still counts, and a
 * contact exactly 30 days ago still counts as contact. Appointments with an unreadable or future start are
 * ignored (a future no-show is bad data, not a missed visit).
 */
import type { Identifier, Task, TaskInput } from '@medplum/fhirtypes';
import type { MissedCareConfig } from './config.ts';
import { HAVEN_TASK_SYSTEM, TASK_INPUT_SYSTEM, ref } from './escalation.ts';

/** Identifier system of missed-care Tasks (one open Task per patient and finding kind). */
export const MISSED_CARE_IDENTIFIER_SYSTEM = 'https://haven.health/fhir/NamingSystem/missed-care-task';

const DAY_MS = 24 * 60 * 60 * 1000;

/** What was found. `text` holds no PHI beyond counts and dates the chart already holds. */
export type MissedCareFinding =
  | { kind: 'repeated-no-shows'; count: number; windowDays: number; text: string; appointments: string[] }
  | { kind: 'no-contact'; days?: number; noContactDays: number; text: string };

/** An appointment as plain data (`reference` lets the Task point at it). */
export interface AppointmentFact {
  status: string;
  start: string;
  reference?: string;
}

function instant(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

/** A finding when at least `noShows.count` appointments were `noshow` within the last `noShows.windowDays`. */
export function repeatedNoShows(
  appointments: readonly AppointmentFact[],
  now: Date,
  config: MissedCareConfig,
): MissedCareFinding | undefined {
  const { count, windowDays } = config.noShows;
  const since = now.getTime() - windowDays * DAY_MS;
  // Only `noshow` counts: a cancelled appointment was handled, not missed.
  const missed = appointments.filter((a) => {
    const t = instant(a.start);
    return a.status === 'noshow' && t !== undefined && t >= since && t <= now.getTime();
  });
  if (missed.length < count) return undefined;
  return {
    kind: 'repeated-no-shows',
    count: missed.length,
    windowDays,
    text: `${missed.length} missed appointments (no-show) in the last ${windowDays} days`,
    appointments: missed.flatMap((a) => (a.reference ? [a.reference] : [])),
  };
}

/** Arguments of {@link carePlanWithoutContact}. */
export interface CarePlanContactInput {
  carePlan: { status: string; period?: { start?: string; end?: string } };
  /** Last contact with the patient (visit, call, message), ISO; the plan's start stands in when absent. */
  lastContact?: string;
  now: Date;
  config: MissedCareConfig;
}

/** A finding when an active, current care plan had no contact for more than `noContactDays` days. */
export function carePlanWithoutContact(input: CarePlanContactInput): MissedCareFinding | undefined {
  const { carePlan, now, config } = input;
  if (carePlan.status !== 'active') return undefined;
  const start = instant(carePlan.period?.start);
  const end = instant(carePlan.period?.end);
  // A plan not yet started or already ended expects no contact.
  if ((start !== undefined && start > now.getTime()) || (end !== undefined && end < now.getTime())) return undefined;
  const limit = config.noContactDays;
  const last = instant(input.lastContact) ?? start;
  if (last === undefined) {
    return { kind: 'no-contact', noContactDays: limit, text: `Active care plan with no recorded contact (limit ${limit} days)` };
  }
  const elapsed = now.getTime() - last;
  if (elapsed <= limit * DAY_MS) return undefined;
  const days = Math.floor(elapsed / DAY_MS);
  return {
    kind: 'no-contact',
    days,
    noContactDays: limit,
    text: `Active care plan with no contact for ${days} days (limit ${limit} days)`,
  };
}

/** Arguments of {@link buildCareManagerTask}. */
export interface CareManagerTaskArgs {
  patient: string;
  finding: MissedCareFinding;
  /** The care plan concerned; its author owns the Task when configuration names no care manager. */
  carePlan?: { reference: string; author?: string };
  encounter?: string;
  now: Date;
  config: MissedCareConfig;
}

/** Identifier of the missed-care Task of a patient and finding kind. */
export function missedCareIdentifier(patient: string, kind: MissedCareFinding['kind']): Identifier {
  return { system: MISSED_CARE_IDENTIFIER_SYSTEM, value: `${patient}/${kind}` };
}

/** The care-manager Task (code `missed-care`, no id) for a finding. */
export function buildCareManagerTask(args: CareManagerTaskArgs): Task {
  const { patient, finding, carePlan, now, config } = args;
  const owner = config.careManager ?? carePlan?.author;
  const input: TaskInput[] = [
    { type: { coding: [{ system: TASK_INPUT_SYSTEM, code: 'finding' }] }, valueCode: finding.kind },
    ...(finding.kind === 'repeated-no-shows'
      ? finding.appointments.map((a) => ({
          type: { coding: [{ system: TASK_INPUT_SYSTEM, code: 'appointment' }] },
          valueReference: ref(a),
        }))
      : []),
  ];
  return {
    resourceType: 'Task',
    identifier: [missedCareIdentifier(patient, finding.kind)],
    status: 'requested',
    intent: 'order',
    priority: config.taskPriority,
    code: { coding: [{ system: HAVEN_TASK_SYSTEM, code: 'missed-care', display: 'Missed care outreach' }], text: 'Missed care outreach' },
    description: finding.text,
    ...(carePlan ? { focus: ref(carePlan.reference) } : {}),
    for: ref(patient),
    ...(args.encounter ? { encounter: ref(args.encounter) } : {}),
    authoredOn: now.toISOString(),
    ...(owner ? { owner: ref(owner) } : {}),
    restriction: { period: { end: new Date(now.getTime() + config.taskDueMinutes * 60_000).toISOString() } },
    input,
  };
}
