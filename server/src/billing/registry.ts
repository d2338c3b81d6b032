/**
 * The month's CoCM registry of one care manager (issue 17 §1): per patient, minutes so far, last score, last
 * contact and whether psychiatric review is due. Pure: the caller gathers the data (./operations.ts), this decides.
 */
import { payerRules, type BillingConfig } from './config.ts';
import { countMinutes } from './minutes.ts';
import { monthBounds, monthOf } from './months.ts';
import { CONTACT_ACTIVITIES, REVIEW_ACTIVITIES, countOnce, minuteEntries, type TimeEntry } from './time-entry.ts';

/** A total score of a validated scale. */
export interface ScoreFact {
  readonly patient: string;
  readonly code: string;
  readonly display?: string;
  readonly value: number;
  /** Effective date-time. */
  readonly date: string;
}

/** What the registry is built from. */
export interface RegistryData {
  readonly month: string;
  readonly patients: readonly { readonly ref: string; readonly name?: string }[];
  /** Time entries of these patients (any practitioner); entries of other months are ignored. */
  readonly entries: readonly TimeEntry[];
  readonly scores: readonly ScoreFact[];
  /** Contacts other than time entries (finished or ongoing Encounters), by date-time. */
  readonly contacts: readonly { readonly patient: string; readonly date: string }[];
}

/** One registry row. */
export interface RegistryRow {
  readonly patient: string;
  readonly name?: string;
  /** Minutes that count toward CoCM this month (default payer rules, overlaps counted once). */
  readonly cocmMinutes: number;
  /** All active minutes logged this month, whatever their role or activity. */
  readonly loggedMinutes: number;
  readonly lastScore?: ScoreFact;
  readonly validatedScaleThisMonth: boolean;
  readonly lastContact?: string;
  readonly psychiatricReviewDue: boolean;
  /** Why a row needs attention (overlaps counted once, no scale this month, …). */
  readonly notes: readonly string[];
}

const latest = <T>(items: readonly T[], dateOf: (t: T) => string): T | undefined =>
  items.reduce<T | undefined>((best, t) => (best === undefined || Date.parse(dateOf(t)) > Date.parse(dateOf(best)) ? t : best), undefined);

/** The registry rows, patients in the order given. */
export function buildRegistry(config: BillingConfig, data: RegistryData): RegistryRow[] {
  const payer = payerRules(config, undefined);
  const monthEnd = monthBounds(data.month).last;
  return data.patients.map(({ ref, name }) => {
    const mine = data.entries.filter((e) => e.patient === ref && monthOf(e.date) === data.month && !e.withdrawn);
    // Overlaps are per performer across all patients, so count them over every entry of the month first.
    const once = countOnce(data.entries.filter((e) => monthOf(e.date) === data.month));
    const counted = once.entries.filter((c) => c.entry.patient === ref);
    const minutes = countMinutes(config, payer, data.month, minuteEntries(counted));
    const scores = data.scores.filter((s) => s.patient === ref && s.date.slice(0, 10) <= monthEnd);
    const lastScore = latest(scores, (s) => s.date);
    const validated = scores.some((s) => monthOf(s.date) === data.month && config.validatedScales.includes(s.code));
    const contactDates = [
      ...data.contacts.filter((c) => c.patient === ref && c.date.slice(0, 10) <= monthEnd).map((c) => c.date),
      ...mine.filter((e) => CONTACT_ACTIVITIES.has(e.activity)).map((e) => e.start),
    ];
    const reviewed = mine.some((e) => REVIEW_ACTIVITIES.has(e.activity) || e.role === 'psychiatric-consultant');
    const notes = [
      ...once.trimmed.filter((t) => counted.some((c) => t.startsWith(`${c.entry.ref}:`))),
      ...(validated ? [] : ['no validated rating scale this month']),
      ...(reviewed ? [] : ['no psychiatric consultant review or caseload consultation logged this month']),
    ];
    return {
      patient: ref,
      ...(name ? { name } : {}),
      cocmMinutes: minutes.cocm,
      loggedMinutes: counted.reduce((n, c) => n + c.minutes, 0),
      ...(lastScore ? { lastScore } : {}),
      validatedScaleThisMonth: validated,
      ...(contactDates.length > 0 ? { lastContact: latest(contactDates, (d) => d) } : {}),
      psychiatricReviewDue: config.cocm.require.psychiatricConsultantReview && !reviewed,
      notes,
    };
  });
}
