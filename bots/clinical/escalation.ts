/**
 * Escalation after a risk assessment: who is on call, what priority and due times the work gets, whether an
 * open risk Task is raised or appended to, and the FHIR resources that carry it (Task + checklist, Flag,
 * 988 Communication). Pure: resources come back without ids; the glue writes them.
 *
 * clinical.md §4.3: no federal rule fixes time to contact; priorities and minutes per level are platform
 * defaults each organization sets by written policy (TJC NPSG.15.01.01), so all of them are configuration.
 * §4.1: the 988 message text is configuration too (validated to name 988 and never "press 3").
 */
import type { CodeableConcept, Communication, Extension, Flag, Identifier, Reference, Resource, Task, TaskInput } from '@medplum/fhirtypes';
import {
  ESCALATION_STEPS,
  RISK_LEVELS,
  TASK_PRIORITIES,
  priorityRank,
  riskRank,
  type CrisisConfig,
  type EscalationConfig,
  type EscalationLevel,
  type EscalationStep,
  type OnCallEntry,
  type OnCallRoster,
  type RiskLevel,
  type TaskPriority,
} from './config.ts';
import type { RiskAssessment } from './risk.ts';

/** Haven's local task codes (suicide-risk-review, escalation-*, missed-care). */
export const HAVEN_TASK_SYSTEM = 'https://haven.health/fhir/CodeSystem/haven-task';
/** Haven's local flag codes. */
export const HAVEN_FLAG_SYSTEM = 'https://haven.health/fhir/CodeSystem/haven-flag';
/** Risk levels as codes (values of {@link RISK_LEVELS}). */
export const RISK_LEVEL_SYSTEM = 'https://haven.health/fhir/CodeSystem/risk-level';
/** Risk reason codes (values of RISK_REASON in ./risk.ts). */
export const RISK_REASON_SYSTEM = 'https://haven.health/fhir/CodeSystem/risk-reason';
/** Types of Task.input Haven writes: `risk-level`, `risk-reason`, `owner-route`, `finding`. */
export const TASK_INPUT_SYSTEM = 'https://haven.health/fhir/CodeSystem/task-input';
/** Identifier system of the one open risk Task per patient and episode. */
export const RISK_TASK_IDENTIFIER_SYSTEM = 'https://haven.health/fhir/NamingSystem/risk-task';
/** Extension carrying a risk level (valueCode) on a Flag. */
export const RISK_LEVEL_EXTENSION = 'https://haven.health/fhir/StructureDefinition/risk-level';
/** R4 core extension pointing a Flag at the record that supports it. */
export const FLAG_DETAIL_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/flag-detail';

// ---------------------------------------------------------------------------------------------------------
// On call

const WEEKDAYS: Readonly<Record<string, number>> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
const formatters = new Map<string, Intl.DateTimeFormat>();

/** Day of week (0 = Sunday) and minute of day of an instant in an IANA zone. */
export function localDayMinute(now: Date, timeZone: string): { day: number; minute: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(now).map((p) => [p.type, p.value]));
  return { day: WEEKDAYS[parts.weekday] ?? 0, minute: Number(parts.hour) * 60 + Number(parts.minute) };
}

function minutesOf(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/**
 * Whether an entry covers an instant. `days` name the day a window starts, so Friday 22:00–06:00 covers
 * Saturday 02:00; `from` > `to` wraps past midnight and `from` = `to` is a 24-hour shift.
 */
export function entryCovers(entry: OnCallEntry, rosterZone: string, now: Date): boolean {
  const { day, minute } = localDayMinute(now, entry.timezone ?? rosterZone);
  const from = minutesOf(entry.from ?? '00:00');
  const to = minutesOf(entry.to ?? '24:00');
  const startsOn = (d: number): boolean => !entry.days || entry.days.includes(d);
  if (from < to) return startsOn(day) && minute >= from && minute < to;
  // Overnight (or 24 h): the part before midnight belongs to today's shift, the part after to yesterday's.
  return (startsOn(day) && minute >= from) || (startsOn((day + 6) % 7) && minute < to);
}

/** The on-call clinician at `now`: the first covering entry, else the roster's fallback (may be unset). */
export function onCallClinician(roster: OnCallRoster, now: Date): string | undefined {
  return roster.entries.find((e) => entryCovers(e, roster.timezone, now))?.practitioner ?? roster.fallback;
}

// ---------------------------------------------------------------------------------------------------------
// Plan and task action

/** One checklist step and when it is due (ISO instant). */
export interface PlannedStep {
  step: EscalationStep;
  due: string;
}

/** An escalation to carry out. */
export interface ActiveEscalation {
  escalate: true;
  level: EscalationLevel;
  priority: TaskPriority;
  /** contact → response → follow-up, in order. */
  steps: readonly PlannedStep[];
  /** Due instant of the first step (the main Task's restriction.period.end). */
  firstDue: string;
  notifyPatientWith988: boolean;
  /** On-call clinician when the level is routed on call and the roster names one. */
  onCall?: string;
  /** The role that acts on the Tasks (Task.performerType), from configuration. */
  performerType: CodeableConcept;
}

/** The plan for an assessment: nothing to do at level `none`. */
export type EscalationPlan = { escalate: false; level: 'none'; notifyPatientWith988: false } | ActiveEscalation;

/** Plans the escalation of an assessment: priority, due instants and 988 notice per level. Pure. */
export function planEscalation(assessment: RiskAssessment, config: EscalationConfig, now: Date): EscalationPlan {
  const level = assessment.level;
  if (level === 'none') return { escalate: false, level, notifyPatientWith988: false };
  const minutes = config.dueMinutes[level];
  const steps = ESCALATION_STEPS.map((step) => ({ step, due: new Date(now.getTime() + minutes[step] * 60_000).toISOString() }));
  const onCall = config.onCallLevels.includes(level) ? onCallClinician(config.onCall, now) : undefined;
  return {
    escalate: true,
    level,
    priority: config.priority[level],
    steps,
    firstDue: steps[0].due,
    notifyPatientWith988: config.notifyPatientWith988[level],
    ...(onCall ? { onCall } : {}),
    performerType: { coding: [{ ...config.performerType }], text: config.performerType.display },
  };
}

/** What to do with the patient's open risk Task (one per patient and episode). */
export type RiskTaskAction = { kind: 'create' } | { kind: 'raise'; to: TaskPriority; level: EscalationLevel } | { kind: 'append' };

function rankOf<T extends string>(values: readonly T[], value: string): number {
  return values.indexOf(value as T);
}

/**
 * Create a Task when none is open; raise the open one when the new level is higher (its priority never goes
 * down); otherwise append the new evidence to it. An unreadable level on the open Task counts as lowest, so
 * a real level always wins.
 */
export function decideRiskTaskAction(plan: ActiveEscalation, openTask?: { priority: string; level: string }): RiskTaskAction {
  if (!openTask) return { kind: 'create' };
  if (riskRank(plan.level) <= rankOf(RISK_LEVELS, openTask.level)) return { kind: 'append' };
  const current = rankOf(TASK_PRIORITIES, openTask.priority);
  const to = current > priorityRank(plan.priority) ? TASK_PRIORITIES[current] : plan.priority;
  return { kind: 'raise', to, level: plan.level };
}

/** Priority and level of an open risk Task written by {@link buildRiskTask} (inputs for the decision above). */
export function riskTaskState(task: Task): { priority: string; level: string } {
  const level = task.input?.find((i) => i.type.coding?.some((c) => c.system === TASK_INPUT_SYSTEM && c.code === 'risk-level'));
  return { priority: task.priority ?? 'routine', level: level?.valueCode ?? 'none' };
}

// ---------------------------------------------------------------------------------------------------------
// FHIR builders

/** A Reference typed to whatever the element allows: the glue passes references of the right type. */
export function ref<T extends Resource = Resource>(reference: string): Reference<T> {
  return { reference };
}

function inputType(code: string): CodeableConcept {
  return { coding: [{ system: TASK_INPUT_SYSTEM, code }] };
}

/** Identifier of the risk Task of a patient and episode (search `identifier=system|value` with an open status). */
export function riskTaskIdentifier(patient: string, episode?: string): Identifier {
  return { system: RISK_TASK_IDENTIFIER_SYSTEM, value: episode ? `${patient}/${episode}` : patient };
}

const LEVEL_DISPLAY: Readonly<Record<RiskLevel, string>> = {
  none: 'None',
  review: 'Needs review',
  low: 'Low',
  moderate: 'Moderate',
  high: 'High',
};

/** Task.input entries recording the level and every reason (codes and the text the chart already shows). */
export function riskInputs(level: RiskLevel, assessment: RiskAssessment): TaskInput[] {
  return [
    { type: inputType('risk-level'), valueCode: level },
    ...assessment.reasons.map((r) => ({
      type: inputType('risk-reason'),
      valueCodeableConcept: { coding: [{ system: RISK_REASON_SYSTEM, code: r.code }], text: r.text },
    })),
  ];
}

/** Arguments of {@link buildRiskTask}. References are relative (`Patient/1`) or `urn:uuid:` strings. */
export interface RiskTaskArgs {
  patient: string;
  encounter?: string;
  /** Episode for the one-open-task rule (an EpisodeOfCare or Encounter reference); defaults to `encounter`. */
  episode?: string;
  /** Owner; defaults to the plan's on-call clinician. */
  owner?: string;
  /** How the owner was chosen (./routing.ts), recorded as an `owner-route` input. */
  ownerRoute?: string;
  plan: ActiveEscalation;
  assessment: RiskAssessment;
  /** The Observation or QuestionnaireResponse that triggered the review. */
  focus: string;
  now: Date;
}

/** The suicide-risk review Task (no id). Description holds only level and reason texts (already in the chart). */
export function buildRiskTask(args: RiskTaskArgs): Task {
  const { patient, encounter, plan, assessment, focus, now } = args;
  const owner = args.owner ?? plan.onCall;
  const why = assessment.reasons.map((r) => r.text).join('; ');
  return {
    resourceType: 'Task',
    identifier: [riskTaskIdentifier(patient, args.episode ?? encounter)],
    status: 'requested',
    intent: 'order',
    priority: plan.priority,
    code: {
      coding: [{ system: HAVEN_TASK_SYSTEM, code: 'suicide-risk-review', display: 'Suicide risk review' }],
      text: 'Suicide risk review',
    },
    description: `Suicide risk review, level ${LEVEL_DISPLAY[plan.level].toLowerCase()}${why ? `: ${why}` : ''}`,
    focus: ref(focus),
    for: ref(patient),
    ...(encounter ? { encounter: ref(encounter) } : {}),
    authoredOn: now.toISOString(),
    lastModified: now.toISOString(),
    ...(owner ? { owner: ref(owner) } : {}),
    performerType: [plan.performerType],
    restriction: { period: { end: plan.firstDue } },
    input: [
      ...riskInputs(plan.level, assessment),
      ...(args.ownerRoute ? [{ type: inputType('owner-route'), valueCode: args.ownerRoute }] : []),
    ],
  };
}

const STEP_TEXT: Readonly<Record<EscalationStep, { code: string; display: string }>> = {
  contact: { code: 'escalation-contact', display: 'Contact the patient' },
  response: { code: 'escalation-response', display: 'Complete the suicide risk assessment and safety plan' },
  'follow-up': { code: 'escalation-follow-up', display: 'Follow up with the patient' },
};

/** Arguments of {@link buildChecklistTasks}. */
export interface ChecklistArgs {
  patient: string;
  /** Reference to the main risk Task (e.g. its `urn:uuid:` in the same transaction). */
  parent: string;
  plan: ActiveEscalation;
  encounter?: string;
  owner?: string;
  now: Date;
}

/** The three checklist Tasks, `partOf` the main one, each due per the plan. */
export function buildChecklistTasks(args: ChecklistArgs): Task[] {
  const owner = args.owner ?? args.plan.onCall;
  return args.plan.steps.map(({ step, due }) => ({
    resourceType: 'Task',
    partOf: [ref(args.parent)],
    status: 'requested',
    intent: 'order',
    priority: args.plan.priority,
    code: { coding: [{ system: HAVEN_TASK_SYSTEM, ...STEP_TEXT[step] }], text: STEP_TEXT[step].display },
    description: `${STEP_TEXT[step].display} (suicide risk ${args.plan.level})`,
    for: ref(args.patient),
    ...(args.encounter ? { encounter: ref(args.encounter) } : {}),
    authoredOn: args.now.toISOString(),
    ...(owner ? { owner: ref(owner) } : {}),
    performerType: [args.plan.performerType],
    restriction: { period: { end: due } },
  }));
}

/** An active safety Flag naming the risk level, pointing at its evidence (flag-detail extension). */
export function buildSafetyFlag(args: { patient: string; level: EscalationLevel; now: Date; evidence: readonly string[] }): Flag {
  const extension: Extension[] = [
    { url: RISK_LEVEL_EXTENSION, valueCode: args.level },
    ...args.evidence.map((e) => ({ url: FLAG_DETAIL_EXTENSION, valueReference: ref(e) })),
  ];
  return {
    resourceType: 'Flag',
    extension,
    status: 'active',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'safety', display: 'Safety' }] }],
    code: {
      coding: [{ system: HAVEN_FLAG_SYSTEM, code: 'suicide-risk', display: 'Suicide risk' }],
      text: `Suicide risk: ${LEVEL_DISPLAY[args.level].toLowerCase()}`,
    },
    subject: ref(args.patient),
    period: { start: args.now.toISOString() },
  };
}

/**
 * The record that the 988 crisis resources were given to the patient (clinical.md §4.1, §4.3: "show 988/911
 * resources … and record that they were shown"). The text comes from configuration, validated there.
 */
export function build988Communication(args: {
  patient: string;
  now: Date;
  config: CrisisConfig;
  about?: readonly string[];
  encounter?: string;
}): Communication {
  return {
    resourceType: 'Communication',
    status: 'completed',
    category: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'notification', display: 'Notification' }],
      },
    ],
    subject: ref(args.patient),
    ...(args.encounter ? { encounter: ref(args.encounter) } : {}),
    ...(args.about?.length ? { about: args.about.map((a) => ref(a)) } : {}),
    topic: { text: '988 Suicide & Crisis Lifeline' },
    recipient: [ref(args.patient)],
    sent: args.now.toISOString(),
    payload: [{ contentString: args.config.patientMessage }],
  };
}
