/**
 * Which logged minutes count toward which care-management family (clinical.md §2.2): by role, minus minutes of
 * separately billed services, inpatient/observation time and other months. Pure.
 */
import type { BillingConfig, CareRole, PayerRules } from './config.ts';
import { monthOf } from './months.ts';
import type { ExcludedMinutes, MinuteEntry } from './types.ts';

/** Countable minutes per family and the minutes left out. */
export interface MinuteCount {
  readonly cocm: number;
  readonly generalBhi: number;
  readonly g0323: number;
  readonly excluded: ExcludedMinutes[];
}

/** Roles whose minutes count for CoCM under `payer` (the consultant only where the payer counts the whole triad). */
export function cocmRoles(config: BillingConfig, payer: PayerRules): ReadonlySet<CareRole> {
  const roles = new Set(config.cocm.countingRoles);
  if (payer.countConsultantTime) roles.add('psychiatric-consultant');
  return roles;
}

/** Counts `entries` of `month`; an entry that counts for no family is listed in `excluded` with the reason. */
export function countMinutes(config: BillingConfig, payer: PayerRules, month: string, entries: readonly MinuteEntry[]): MinuteCount {
  const cocm = cocmRoles(config, payer);
  const bhi = new Set(config.generalBhi.countingRoles);
  const g0323 = new Set(config.g0323.countingRoles);
  const out = { cocm: 0, generalBhi: 0, g0323: 0, excluded: [] as ExcludedMinutes[] };
  for (const e of entries) {
    const exclude = (reason: string) => out.excluded.push({ source: e.source, minutes: e.minutes, reason });
    if (monthOf(e.date) !== month) exclude(`dated ${e.date}, outside ${month}`);
    else if (e.separatelyBilled) exclude('used for a separately billed service');
    else if (e.patientInpatient) exclude('patient inpatient or in observation status');
    else if (config.excludedActivities.includes(e.activity)) exclude(`activity "${e.activity}" is a separately reported service`);
    else {
      const counts = [cocm.has(e.role), bhi.has(e.role), g0323.has(e.role)];
      if (counts[0]) out.cocm += e.minutes;
      if (counts[1]) out.generalBhi += e.minutes;
      if (counts[2]) out.g0323 += e.minutes;
      if (!counts.some(Boolean)) {
        exclude(
          e.role === 'psychiatric-consultant'
            ? "psychiatric consultant's time does not count (payer countConsultantTime is off)"
            : `role ${e.role} counts for no care-management code`,
        );
      }
    }
  }
  return out;
}
