/**
 * Who acts on a risk Task. A risk Task without an owner is work nobody is told to do, so the owner is taken from the
 * first source that names one, in this order (issue 13, "every risk Task names who acts"):
 * 1. the on-call roster, for the levels routed on call (a covering entry, else the roster's own fallback);
 * 2. the patient's treating practitioner (`Patient.generalPractitioner`, a Practitioner or PractitionerRole);
 * 3. the patient's active CareTeam (R4 `Task.owner` may reference a CareTeam: the team owns it, and its members'
 *    work lists show it);
 * 4. the tenant's fallback owner (configuration `escalation.fallbackOwner` / `escalation.tenants.<t>.fallbackOwner`).
 * Independently of the owner, every risk Task carries `performerType` (the on-call role), so a role queue sees it.
 * Pure: the glue (../risk.ts) reads the Patient and CareTeams and passes them in.
 */
import type { CareTeam, Patient } from '@medplum/fhirtypes';

/** Where the owner came from (recorded on the Task as an `owner-route` input; never change a value). */
export const OWNER_ROUTES = ['on-call', 'treating-practitioner', 'care-team', 'fallback', 'none'] as const;
export type OwnerRoute = (typeof OWNER_ROUTES)[number];

/** What each source names, where it names anyone. */
export interface OwnerCandidates {
  readonly onCall?: string;
  readonly treatingPractitioner?: string;
  readonly careTeam?: string;
  readonly fallback?: string;
}

/** The chosen owner (absent only when no source names one: route `none`). */
export interface OwnerChoice {
  readonly owner?: string;
  readonly route: OwnerRoute;
}

/** The first candidate in roster → treating practitioner → care team → fallback order. */
export function chooseRiskOwner(c: OwnerCandidates): OwnerChoice {
  if (c.onCall) return { owner: c.onCall, route: 'on-call' };
  if (c.treatingPractitioner) return { owner: c.treatingPractitioner, route: 'treating-practitioner' };
  if (c.careTeam) return { owner: c.careTeam, route: 'care-team' };
  if (c.fallback) return { owner: c.fallback, route: 'fallback' };
  return { route: 'none' };
}

/** The patient's treating practitioner: the first Practitioner or PractitionerRole in `generalPractitioner`. */
export function treatingPractitionerOf(patient: Patient | undefined): string | undefined {
  return patient?.generalPractitioner
    ?.map((g) => g.reference)
    .find((r): r is string => /^(Practitioner|PractitionerRole)\/[^/]+$/.test(r ?? ''));
}

/**
 * The care team that owns the patient's risk work: an `active` CareTeam whose period has not ended (and has begun),
 * most recently updated first. Teams without an id cannot be referenced and are skipped.
 */
export function activeCareTeamOf(teams: readonly CareTeam[], now: Date): string | undefined {
  const t = now.getTime();
  const current = teams.filter((team) => {
    if (team.status !== 'active' || !team.id) return false;
    const start = team.period?.start ? Date.parse(team.period.start) : Number.NaN;
    const end = team.period?.end ? Date.parse(team.period.end) : Number.NaN;
    return !(start > t) && !(end < t);
  });
  const newest = [...current].sort((a, b) => (b.meta?.lastUpdated ?? '').localeCompare(a.meta?.lastUpdated ?? ''))[0];
  return newest ? `CareTeam/${newest.id}` : undefined;
}
