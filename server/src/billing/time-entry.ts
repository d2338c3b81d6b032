/**
 * Care-management time entries: how minutes are stored, read and checked (issue 17 §1). Pure.
 *
 * Encoding (the one the clinician app already writes, smart-apps/clinician/src/writes.ts `minutesRecord`): a
 * `Procedure` with
 * - `status` `completed` (`entered-in-error` withdraws it; no other status is a time entry),
 * - `category` coding `https://haven.health/fhir/CodeSystem/care-management#care-management` (or, as the app
 *   writes it, `category.text` "Behavioral health care management"),
 * - `code` coding in `https://haven.health/fhir/CodeSystem/care-management-activity` (or one of the app's four
 *   activity texts, mapped below),
 * - `subject` the Patient, `performer[0].actor` the Practitioner (or PractitionerRole) who did the work and
 *   `performer[0].function` their role in `https://haven.health/fhir/CodeSystem/care-role` (absent: `bhcm`),
 * - `performedPeriod` start and end with a UTC offset: the minutes are end − start, whole minutes; the billing month
 *   is the date written in `start` (the practice's local date when the client writes its own offset),
 * - optional extension `https://haven.health/fhir/StructureDefinition/separately-billed` valueBoolean true when the
 *   time was used for another billed service (never counted).
 * Why Procedure: it has a subject, a performer with a function (role), a performed period and a category, and the
 * app already records minutes that way; Tasks are Haven's work queue (risk and missed-care Tasks), and an Encounter
 * would count as patient contact for the no-contact bot and be checked by the licensure bot.
 */
import type { Procedure, Resource } from '@medplum/fhirtypes';
import { CARE_ROLES, type CareRole } from './config.ts';
import type { MinuteEntry } from './types.ts';

export const CARE_MANAGEMENT_SYSTEM = 'https://haven.health/fhir/CodeSystem/care-management';
export const ACTIVITY_SYSTEM = 'https://haven.health/fhir/CodeSystem/care-management-activity';
export const CARE_ROLE_SYSTEM = 'https://haven.health/fhir/CodeSystem/care-role';
export const SEPARATELY_BILLED_URL = 'https://haven.health/fhir/StructureDefinition/separately-billed';
/** The category text the clinician app writes. */
export const CARE_MANAGEMENT_TEXT = 'Behavioral health care management';

/** Activities a time entry can record. */
export const ACTIVITIES = [
  'patient-contact',
  'outreach',
  'assessment',
  'care-planning',
  'caseload-consultation',
  'psychiatric-review',
  'brief-intervention',
  'coordination',
  'registry-review',
  'relapse-prevention',
  'psychotherapy',
  'e-m-visit',
  'psychiatric-evaluation',
  'other',
] as const;
export type Activity = (typeof ACTIVITIES)[number];

/** The clinician app's activity texts. */
export const APP_ACTIVITY_TEXTS: Readonly<Record<string, Activity>> = {
  'Care management call with the patient': 'patient-contact',
  'Caseload review with the psychiatric consultant': 'caseload-consultation',
  'Care coordination with other clinicians': 'coordination',
  'Measurement and registry follow-up': 'registry-review',
};

/** Activities that are contact with the patient (the registry's "last contact"). */
export const CONTACT_ACTIVITIES: ReadonlySet<Activity> = new Set(['patient-contact', 'outreach', 'assessment', 'brief-intervention']);
/** Activities that document psychiatric consultant review or caseload consultation. */
export const REVIEW_ACTIVITIES: ReadonlySet<Activity> = new Set(['caseload-consultation', 'psychiatric-review']);

/** Longest single entry: a longer one is almost certainly a typo (a forgotten stop). */
export const MAX_ENTRY_MINUTES = 480;

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** A parsed time entry. */
export interface TimeEntry {
  /** `Procedure/{id}` when stored. */
  readonly ref?: string;
  readonly patient: string;
  readonly performer: string;
  readonly role: CareRole;
  readonly activity: Activity;
  readonly start: string;
  readonly end: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly minutes: number;
  /** Local date of service (`YYYY-MM-DD` as written in start). */
  readonly date: string;
  readonly separatelyBilled: boolean;
  readonly withdrawn: boolean;
}

/** True for a Procedure that claims to be a care-management time entry (by category). */
export function isTimeEntry(resource: Resource | undefined): resource is Procedure {
  if (resource?.resourceType !== 'Procedure') return false;
  const cat = resource.category;
  return (
    cat?.text === CARE_MANAGEMENT_TEXT ||
    (cat?.coding ?? []).some((c) => c.system === CARE_MANAGEMENT_SYSTEM && c.code === 'care-management')
  );
}

/** The entry, or every problem that keeps it from being one. */
export function parseTimeEntry(p: Procedure): { entry: TimeEntry; problems: [] } | { entry?: undefined; problems: string[] } {
  const problems: string[] = [];
  if (p.status !== 'completed' && p.status !== 'entered-in-error')
    problems.push(`status must be completed (or entered-in-error to withdraw), got ${JSON.stringify(p.status)}`);
  const patient = p.subject?.reference;
  if (!patient || !/^Patient\/[A-Za-z0-9\-.]{1,64}$/.test(patient)) problems.push('subject must reference a Patient');
  const performer = p.performer?.[0]?.actor?.reference;
  if (!performer || !/^(Practitioner|PractitionerRole)\/[A-Za-z0-9\-.]{1,64}$/.test(performer))
    problems.push('performer[0].actor must reference the Practitioner (or PractitionerRole) who did the work');
  const roleCode = p.performer?.[0]?.function?.coding?.find((c) => c.system === CARE_ROLE_SYSTEM)?.code;
  const role = (roleCode ?? 'bhcm') as CareRole;
  if (!CARE_ROLES.includes(role)) problems.push(`performer[0].function must be one of ${CARE_ROLES.join(', ')} (${CARE_ROLE_SYSTEM})`);
  const activityCode = p.code?.coding?.find((c) => c.system === ACTIVITY_SYSTEM)?.code;
  const activity = (activityCode ?? APP_ACTIVITY_TEXTS[p.code?.text ?? ''] ?? (p.code?.text ? 'other' : undefined)) as Activity | undefined;
  if (!activity || !ACTIVITIES.includes(activity))
    problems.push(`code must be an activity of ${ACTIVITY_SYSTEM}: ${ACTIVITIES.join(', ')}`);
  const start = p.performedPeriod?.start;
  const end = p.performedPeriod?.end;
  let minutes = 0;
  if (!start || !end || !INSTANT.test(start) || !INSTANT.test(end)) {
    problems.push('performedPeriod needs start and end as date-times with a UTC offset (e.g. 2026-03-04T10:00:00-05:00)');
  } else {
    const ms = Date.parse(end) - Date.parse(start);
    minutes = ms / 60_000;
    if (Number.isNaN(ms) || ms <= 0) problems.push('performedPeriod.end must be after its start');
    else if (!Number.isInteger(minutes)) problems.push('performedPeriod must span whole minutes');
    else if (minutes > MAX_ENTRY_MINUTES) problems.push(`one entry may span at most ${MAX_ENTRY_MINUTES} minutes, got ${minutes}`);
  }
  const flag = p.extension?.find((e) => e.url === SEPARATELY_BILLED_URL);
  if (flag && typeof flag.valueBoolean !== 'boolean') problems.push(`extension ${SEPARATELY_BILLED_URL} needs valueBoolean`);
  if (problems.length > 0) return { problems };
  return {
    problems: [],
    entry: {
      ref: p.id ? `Procedure/${p.id}` : undefined,
      patient: patient as string,
      performer: performer as string,
      role,
      activity: activity as Activity,
      start: start as string,
      end: end as string,
      startMs: Date.parse(start as string),
      endMs: Date.parse(end as string),
      minutes,
      date: (start as string).slice(0, 10),
      separatelyBilled: flag?.valueBoolean === true,
      withdrawn: p.status === 'entered-in-error',
    },
  };
}

/** Another entry of the same performer that `entry` collides with. */
export interface EntryConflict {
  readonly other: TimeEntry;
  /** `duplicate`: same patient and same period (logged twice); `overlap`: the periods intersect. */
  readonly kind: 'duplicate' | 'overlap';
}

/** Active entries of the same performer whose period intersects `entry`'s (the entry itself excluded). */
export function conflictsOf(entry: TimeEntry, others: readonly TimeEntry[]): EntryConflict[] {
  if (entry.withdrawn) return [];
  return others
    .filter((o) => !o.withdrawn && o.performer === entry.performer && (entry.ref === undefined || o.ref !== entry.ref))
    .filter((o) => o.startMs < entry.endMs && entry.startMs < o.endMs)
    .map((o) => ({
      other: o,
      kind: o.patient === entry.patient && o.startMs === entry.startMs && o.endMs === entry.endMs ? 'duplicate' : 'overlap',
    }));
}

/** A readable sentence for a conflict (references and times only, no PHI). */
export function describeConflict(c: EntryConflict): string {
  const what = c.other.ref ?? 'another entry';
  return c.kind === 'duplicate'
    ? `these minutes are already logged (${what}, ${c.other.start} to ${c.other.end}, same practitioner and patient)`
    : `the period overlaps ${what} (${c.other.start} to ${c.other.end}) of the same practitioner`;
}

/**
 * Countable minutes per entry with overlaps of one performer counted once: entries are taken in start order (then
 * by reference) and each counts only the part not already covered by an earlier one. Entries that lost minutes are
 * reported, so an overlap that slipped past the write check (two concurrent writes) is never double-counted and
 * shows up for review.
 */
export function countOnce(entries: readonly TimeEntry[]): { entries: { entry: TimeEntry; minutes: number }[]; trimmed: string[] } {
  const active = entries.filter((e) => !e.withdrawn);
  const sorted = [...active].sort((a, b) => a.startMs - b.startMs || (a.ref ?? '').localeCompare(b.ref ?? ''));
  const coveredUntil = new Map<string, number>();
  const out: { entry: TimeEntry; minutes: number }[] = [];
  const trimmed: string[] = [];
  for (const e of sorted) {
    const covered = coveredUntil.get(e.performer) ?? Number.NEGATIVE_INFINITY;
    const from = Math.max(e.startMs, covered);
    const minutes = Math.max(0, Math.floor((e.endMs - from) / 60_000));
    if (minutes < e.minutes)
      trimmed.push(
        `${e.ref ?? 'an entry'}: ${e.minutes - minutes} of ${e.minutes} minutes overlap an earlier entry of ${e.performer} and are not counted`,
      );
    coveredUntil.set(e.performer, Math.max(covered, e.endMs));
    out.push({ entry: e, minutes });
  }
  return { entries: out, trimmed };
}

/** The engine's minute entries of one patient (after `countOnce`). */
export function minuteEntries(counted: readonly { entry: TimeEntry; minutes: number }[]): MinuteEntry[] {
  return counted.map(({ entry, minutes }) => ({
    source: entry.ref,
    date: entry.date,
    role: entry.role,
    activity: entry.activity,
    minutes,
    separatelyBilled: entry.separatelyBilled,
  }));
}
