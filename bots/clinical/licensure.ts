/**
 * Interstate licensure check for a veto bot (clinical.md §5): may this provider deliver this service to a
 * patient located in `patientState` on `date`? Care is delivered where the patient is at the time of service.
 *
 * Check algorithm (§5), first passing path wins:
 * 1. `license`: an active, unexpired, unencumbered license in the patient's state.
 * 2. PSYPACT `psypact-apit` (telehealth): the provider is physically in the declared home state, holds a
 *    valid home-state license, and both states are PSYPACT members.
 * 3. PSYPACT `psypact-tap` (in person): both states members, valid home-state license, and the temporary
 *    authorization's day limit per state per year (default 30) not used up.
 * 4. Counseling Compact `counseling-privilege`: a privilege for the patient's state (privileges are per remote
 *    state), backed by a valid home-state license, where the compact is operational in both states.
 * 5. Social Work Licensure Compact `social-work-multistate`: modelled, refused while disabled (not operational).
 * Otherwise refuse with every path's reason. Membership and operational status are configuration (VERIFY:
 * the PSYPACT member list ships empty, so PSYPACT never passes until a deployment fills it).
 * IMLC grants ordinary full licenses, so it is path 1. License type (psychologist vs counselor) and DEA
 * registration for controlled substances are not checked here.
 *
 * Practitioner encoding ({@link credentialsFromPractitioner}): one `qualification` per credential;
 * - kind: `qualification.code.coding` in {@link CREDENTIAL_KIND_SYSTEM} (license, psypact-apit, psypact-tap,
 *   counseling-privilege, social-work-multistate); qualifications without it (degrees) are ignored;
 * - state: extension {@link JURISDICTION_EXTENSION} (valueCode, USPS code): the licensing state of a license,
 *   the declared home state of a PSYPACT authorization or multistate license, the remote state of a
 *   counseling privilege (whose home state is in {@link HOME_JURISDICTION_EXTENSION});
 * - validity: `qualification.period`; number: `qualification.identifier[0].value`;
 * - status: extension {@link CREDENTIAL_STATUS_EXTENSION} valueCode `active` (the default when absent),
 *   `encumbered` (restricted by a board), `inactive`; any other code counts as inactive (fail closed).
 */
import type { Extension, Practitioner } from '@medplum/fhirtypes';
import { US_JURISDICTIONS, type LicensureConfig } from './config.ts';

export const CREDENTIAL_KIND_SYSTEM = 'https://haven.health/fhir/CodeSystem/credential-kind';
export const JURISDICTION_EXTENSION = 'https://haven.health/fhir/StructureDefinition/jurisdiction';
export const HOME_JURISDICTION_EXTENSION = 'https://haven.health/fhir/StructureDefinition/home-jurisdiction';
export const CREDENTIAL_STATUS_EXTENSION = 'https://haven.health/fhir/StructureDefinition/credential-status';
export const LICENSURE_OVERRIDE_EXTENSION = 'https://haven.health/fhir/StructureDefinition/licensure-override';

export const CREDENTIAL_KINDS = ['license', 'psypact-apit', 'psypact-tap', 'counseling-privilege', 'social-work-multistate'] as const;
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];

export const CREDENTIAL_STATUSES = ['active', 'encumbered', 'inactive'] as const;
export type CredentialStatus = (typeof CREDENTIAL_STATUSES)[number];

/** One credential, as plain data. */
export interface Credential {
  kind: CredentialKind;
  /** USPS code; meaning per kind (see the module comment). */
  state: string;
  /** counseling-privilege: the home state whose license backs it. */
  homeState?: string;
  status: CredentialStatus;
  period?: { start?: string; end?: string };
  number?: string;
}

/** Stable refusal codes. */
export const LICENSURE_REFUSAL = {
  invalidInput: 'invalid-input',
  noCredential: 'no-credential',
  inactive: 'inactive',
  encumbered: 'encumbered',
  notYetValid: 'not-yet-valid',
  expired: 'expired',
  compactDisabled: 'compact-disabled',
  stateNotMember: 'state-not-member',
  providerLocationUnknown: 'provider-location-unknown',
  providerNotInHomeState: 'provider-not-in-home-state',
  noHomeLicense: 'no-home-license',
  tapDaysUnknown: 'tap-days-unknown',
  tapDaysExhausted: 'tap-days-exhausted',
} as const;
export type LicensureRefusalCode = (typeof LICENSURE_REFUSAL)[keyof typeof LICENSURE_REFUSAL];

/** Why one path did not pass. */
export interface Refusal {
  path: CredentialKind | 'input';
  code: LicensureRefusalCode;
  detail: string;
}

/** Arguments of {@link checkLicensure}. */
export interface LicensureInput {
  credentials: readonly Credential[];
  /** Where the patient is at the time of service (asked each session, not the address on file). */
  patientState: string;
  /** Where the provider physically is (required for PSYPACT telepsychology). */
  providerState?: string;
  modality: 'in-person' | 'telehealth';
  /** Date of service, YYYY-MM-DD (a dateTime is cut to its date). */
  date: string;
  /** PSYPACT TAP: in-person days already used in the patient's state this calendar year, before `date`. */
  tapDaysUsed?: number;
  config: LicensureConfig;
}

/** The decision; `basis` names the path (a {@link CredentialKind}) and `detail` the credential. */
export type LicensureDecision =
  | { allowed: true; basis: CredentialKind; detail: string }
  | { allowed: false; reason: string; refusals: Refusal[] };

const dateOf = (s: string): string => s.slice(0, 10);

/** Why a credential does not cover `date`, or undefined when it does. */
function invalidity(c: Credential, date: string): Refusal | undefined {
  const what = `${c.kind} ${c.state}${c.number ? ` (${c.number})` : ''}`;
  const R = LICENSURE_REFUSAL;
  if (c.status === 'inactive') return { path: c.kind, code: R.inactive, detail: `${what} is not active` };
  if (c.status === 'encumbered') return { path: c.kind, code: R.encumbered, detail: `${what} is encumbered` };
  if (c.period?.start && dateOf(c.period.start) > date)
    return { path: c.kind, code: R.notYetValid, detail: `${what} starts ${dateOf(c.period.start)}` };
  if (c.period?.end && dateOf(c.period.end) < date)
    return { path: c.kind, code: R.expired, detail: `${what} expired ${dateOf(c.period.end)}` };
  return undefined;
}

function describeCredential(c: Credential): string {
  return `${c.kind} ${c.state}${c.number ? ` (${c.number})` : ''}${c.period?.end ? ` valid through ${dateOf(c.period.end)}` : ''}`;
}

interface Context {
  input: LicensureInput;
  patientState: string;
  date: string;
}

/** A valid license in `state` on the date, or the refusal that explains its absence. */
function licenseIn(ctx: Context, state: string, path: CredentialKind): Credential | Refusal {
  const licenses = ctx.input.credentials.filter((c) => c.kind === 'license' && c.state === state);
  const problems: Refusal[] = [];
  for (const c of licenses) {
    const problem = invalidity(c, ctx.date);
    if (!problem) return c;
    problems.push(problem);
  }
  const detail = problems.length ? `no valid license in ${state}: ${problems.map((p) => p.detail).join(', ')}` : `no license in ${state}`;
  // On the license path the license's own problem is the answer; on a compact path it is a missing home license.
  if (path !== 'license') return { path, code: LICENSURE_REFUSAL.noHomeLicense, detail };
  return { path, code: problems[0]?.code ?? LICENSURE_REFUSAL.noCredential, detail };
}

const ofKind = (ctx: Context, kind: CredentialKind): Credential[] => ctx.input.credentials.filter((c) => c.kind === kind);

const isRefusal = (x: Credential | Refusal): x is Refusal => 'code' in x;

/** Runs one compact path over candidate credentials: the first that passes, else each one's refusal. */
function tryEach(ctx: Context, candidates: readonly Credential[], check: (c: Credential) => Refusal | undefined): Credential | Refusal[] {
  const refusals: Refusal[] = [];
  for (const c of candidates) {
    const r = invalidity(c, ctx.date) ?? check(c);
    if (!r) return c;
    refusals.push(r);
  }
  return refusals;
}

function psypact(ctx: Context, kind: 'psypact-apit' | 'psypact-tap'): Credential | Refusal[] {
  const { config, providerState, tapDaysUsed } = ctx.input;
  const R = LICENSURE_REFUSAL;
  return tryEach(ctx, ofKind(ctx, kind), (c) => {
    if (!config.psypact.enabled) return { path: kind, code: R.compactDisabled, detail: 'PSYPACT is disabled in configuration' };
    for (const s of [c.state, ctx.patientState]) {
      if (!config.psypact.members.includes(s))
        return { path: kind, code: R.stateNotMember, detail: `${s} is not a PSYPACT member in configuration` };
    }
    if (kind === 'psypact-apit') {
      if (!providerState)
        return { path: kind, code: R.providerLocationUnknown, detail: 'provider location at the time of service is unknown' };
      if (providerState.toUpperCase() !== c.state) {
        return {
          path: kind,
          code: R.providerNotInHomeState,
          detail: `provider is in ${providerState.toUpperCase()}, not in home state ${c.state}`,
        };
      }
    }
    const home = licenseIn(ctx, c.state, kind);
    if (isRefusal(home)) return home;
    if (kind === 'psypact-tap') {
      const limit = config.psypact.tapDaysPerYear;
      if (tapDaysUsed === undefined)
        return { path: kind, code: R.tapDaysUnknown, detail: `TAP days used in ${ctx.patientState} this year are unknown` };
      if (tapDaysUsed + 1 > limit) {
        return { path: kind, code: R.tapDaysExhausted, detail: `TAP days in ${ctx.patientState} used up (${tapDaysUsed} of ${limit})` };
      }
    }
    return undefined;
  });
}

function counseling(ctx: Context): Credential | Refusal[] {
  const { config } = ctx.input;
  const kind = 'counseling-privilege';
  const R = LICENSURE_REFUSAL;
  const all = ofKind(ctx, kind);
  const here = all.filter((c) => c.state === ctx.patientState);
  // Privileges are state-specific: one for another state says nothing here, beyond its absence.
  if (all.length > 0 && here.length === 0) {
    return [
      { path: kind, code: R.noCredential, detail: `no privilege for ${ctx.patientState} (has ${all.map((c) => c.state).join(', ')})` },
    ];
  }
  return tryEach(ctx, here, (c) => {
    if (!config.counselingCompact.enabled)
      return { path: kind, code: R.compactDisabled, detail: 'Counseling Compact is disabled in configuration' };
    if (!c.homeState) return { path: kind, code: R.noHomeLicense, detail: 'privilege names no home state' };
    for (const s of [ctx.patientState, c.homeState]) {
      if (!config.counselingCompact.operational.includes(s)) {
        return { path: kind, code: R.stateNotMember, detail: `Counseling Compact is not operational in ${s} in configuration` };
      }
    }
    const home = licenseIn(ctx, c.homeState, kind);
    return isRefusal(home) ? home : undefined;
  });
}

function socialWork(ctx: Context): Credential | Refusal[] {
  const { config } = ctx.input;
  const kind = 'social-work-multistate';
  const R = LICENSURE_REFUSAL;
  return tryEach(ctx, ofKind(ctx, kind), (c) => {
    if (!config.socialWorkCompact.enabled)
      return {
        path: kind,
        code: R.compactDisabled,
        detail: 'Social Work Licensure Compact is not operational (disabled in configuration)',
      };
    for (const s of [c.state, ctx.patientState]) {
      if (!config.socialWorkCompact.members.includes(s))
        return { path: kind, code: R.stateNotMember, detail: `${s} is not a Social Work Compact member in configuration` };
    }
    return undefined;
  });
}

function refuse(ctx: Context | undefined, refusals: Refusal[]): LicensureDecision {
  const where = ctx ? ` in ${ctx.patientState} on ${ctx.date} (${ctx.input.modality})` : '';
  return {
    allowed: false,
    reason: `No authorization to practice${where}: ${refusals.map((r) => `${r.path}: ${r.detail}`).join('; ')}`,
    refusals,
  };
}

/** Decides whether the provider may practice for a patient in `patientState` on `date`. Pure. */
export function checkLicensure(input: LicensureInput): LicensureDecision {
  const patientState = input.patientState.toUpperCase();
  const date = dateOf(input.date);
  if (!US_JURISDICTIONS.has(patientState)) {
    return refuse(undefined, [
      { path: 'input', code: LICENSURE_REFUSAL.invalidInput, detail: `patient location "${input.patientState}" is not a USPS state code` },
    ]);
  }
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) {
    return refuse(undefined, [
      { path: 'input', code: LICENSURE_REFUSAL.invalidInput, detail: `date of service "${input.date}" is not YYYY-MM-DD` },
    ]);
  }
  const ctx: Context = { input, patientState, date };
  const license = licenseIn(ctx, patientState, 'license');
  if (!isRefusal(license)) return { allowed: true, basis: 'license', detail: describeCredential(license) };
  const refusals: Refusal[] = [license];
  const paths: [CredentialKind, () => Credential | Refusal[]][] = [
    input.modality === 'telehealth'
      ? ['psypact-apit', () => psypact(ctx, 'psypact-apit')]
      : ['psypact-tap', () => psypact(ctx, 'psypact-tap')],
    ['counseling-privilege', () => counseling(ctx)],
    ['social-work-multistate', () => socialWork(ctx)],
  ];
  for (const [basis, run] of paths) {
    const result = run();
    if (!Array.isArray(result)) return { allowed: true, basis, detail: describeCredential(result) };
    refusals.push(...result);
  }
  return refuse(ctx, refusals);
}

// ---------------------------------------------------------------------------------------------------------
// FHIR encoding

function ext(extensions: readonly Extension[] | undefined, url: string): Extension | undefined {
  return extensions?.find((e) => e.url === url);
}

function stateCode(e: Extension | undefined): string | undefined {
  const code = e?.valueCode?.toUpperCase();
  return code && US_JURISDICTIONS.has(code) ? code : undefined;
}

/** Maps `Practitioner.qualification[]` to credentials (encoding in the module comment); others are skipped. */
export function credentialsFromPractitioner(practitioner: Practitioner): Credential[] {
  const out: Credential[] = [];
  for (const q of practitioner.qualification ?? []) {
    const kind = q.code.coding?.find((c) => c.system === CREDENTIAL_KIND_SYSTEM && CREDENTIAL_KINDS.includes(c.code as CredentialKind))
      ?.code as CredentialKind | undefined;
    const state = stateCode(ext(q.extension, JURISDICTION_EXTENSION));
    if (!kind || !state) continue;
    const rawStatus = ext(q.extension, CREDENTIAL_STATUS_EXTENSION)?.valueCode ?? 'active';
    // Suspended, revoked, lapsed or a typo: not a status we can practice under.
    const status: CredentialStatus = CREDENTIAL_STATUSES.includes(rawStatus as CredentialStatus)
      ? (rawStatus as CredentialStatus)
      : 'inactive';
    const homeState = stateCode(ext(q.extension, HOME_JURISDICTION_EXTENSION));
    const number = q.identifier?.[0]?.value;
    out.push({
      kind,
      state,
      status,
      ...(homeState ? { homeState } : {}),
      ...(q.period
        ? { period: { ...(q.period.start ? { start: q.period.start } : {}), ...(q.period.end ? { end: q.period.end } : {}) } }
        : {}),
      ...(number ? { number } : {}),
    });
  }
  return out;
}

/**
 * The documented reason for overriding a licensure refusal (extension {@link LICENSURE_OVERRIDE_EXTENSION},
 * valueString, non-blank) on the resource being written, or undefined when there is none.
 */
export function licensureOverride(resource: { extension?: readonly Extension[] }): string | undefined {
  const reason = ext(resource.extension, LICENSURE_OVERRIDE_EXTENSION)?.valueString?.trim();
  return reason ? reason : undefined;
}
