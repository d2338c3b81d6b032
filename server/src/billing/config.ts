/**
 * Configuration of the billing engine: every threshold, counting role, exclusion and payer rule it decides with.
 *
 * The defaults live in `./defaults.json` (each key names its source in clinical.md §2; keys with a `_verify` note
 * are the rules clinical.md marks VERIFY). A deployment names an override file in env `HAVEN_BILLING_CONFIG`,
 * deep-merged over them, because payers and MACs differ and the fee schedule changes every year, not with the code.
 * The merged JSON is parsed into a plain typed object here, once; an invalid value or an unknown key (a typo in an
 * override would otherwise be silently ignored) throws an Error naming the key. This is the only billing module that
 * does I/O; the engine takes the parsed object as an argument.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mergeConfig } from '../../../bots/clinical/config.ts';

/** Roles whose minutes a care-management entry can carry (Task.owner's PractitionerRole code, or given by the client). */
export const CARE_ROLES = [
  'bhcm',
  'treating-practitioner',
  'psychiatric-consultant',
  'clinical-staff',
  'clinical-psychologist',
  'clinical-social-worker',
  'mental-health-counselor',
  'marriage-family-therapist',
] as const;
export type CareRole = (typeof CARE_ROLES)[number];

/** Care-management models a patient-month is enrolled in (clinical.md §2.6 `model`). */
export const CARE_MODELS = ['CoCM', 'GeneralBHI', 'G0323'] as const;
export type CareModel = (typeof CARE_MODELS)[number];

/** Code families for same-month exclusions: `cocm` is 99492/99493/99494/G2214. */
export const CODE_FAMILIES = ['cocm', '99484', 'G0323'] as const;
export type CodeFamily = (typeof CODE_FAMILIES)[number];

/** One psychotherapy time band: from `minMinutes`, `code` (standalone) or `withEM` (add-on to an E/M). */
export interface PsychotherapyBand {
  readonly minMinutes: number;
  readonly code: string;
  readonly withEM: string;
}

/** A payer's own rules (clinical.md §2.2, §2.3, §2.5). */
export interface PayerRules {
  readonly countConsultantTime: boolean;
  /** Cap on +99494 units per month after the formula; null = none. */
  readonly max99494Units: number | null;
  readonly initialCoCMOncePerCalendarYear: boolean;
  /** The payer's own 99484 minimum; null = `generalBhi.minMinutes`. */
  readonly generalBhiMinMinutes: number | null;
  readonly allowG2214: boolean;
}

/** Everything the billing engine reads. */
export interface BillingConfig {
  readonly cocm: {
    readonly initialMinMinutes: number;
    readonly subsequentMinMinutes: number;
    readonly g2214MinMinutes: number;
    readonly g2214UpToInitialThreshold: boolean;
    readonly addOnFirstAtInitial: number;
    readonly addOnFirstAtSubsequent: number;
    readonly addOnBlockMinutes: number;
    readonly countingRoles: readonly CareRole[];
    readonly episodeBreakMonths: number;
    readonly initialMonthIsFirstEpisodeMonth: boolean;
    readonly require: {
      readonly registry: boolean;
      readonly psychiatricConsultantReview: boolean;
      readonly validatedScaleInitialMonth: boolean;
      readonly validatedScaleSubsequentMonth: boolean;
    };
  };
  readonly generalBhi: { readonly minMinutes: number; readonly countingRoles: readonly CareRole[] };
  readonly g0323: { readonly minMinutes: number; readonly countingRoles: readonly CareRole[] };
  /** LOINC codes of score Observations that count as a validated rating scale. */
  readonly validatedScales: readonly string[];
  readonly excludedActivities: readonly string[];
  readonly initiatingVisit: {
    readonly lookbackMonths: number;
    readonly qualifyingTypes: Readonly<Record<CareModel, readonly string[]>>;
  };
  readonly exclusiveFamilies: readonly (readonly [CodeFamily, CodeFamily])[];
  readonly psychotherapy: { readonly bands: readonly PsychotherapyBand[] };
  readonly interactiveComplexity: { readonly qualifyingFactors: readonly string[]; readonly notWith: readonly string[] };
  readonly group: { readonly maxParticipants: number | null };
  /** `default` plus named payer profiles, each already merged over `default`. */
  readonly payers: Readonly<Record<string, PayerRules>>;
}

/** Path of the shipped defaults. */
export const BILLING_DEFAULTS_PATH = join(dirname(fileURLToPath(import.meta.url)), 'defaults.json');

function readJson(path: string, label: string): unknown {
  let body: string;
  try {
    body = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`Cannot read billing configuration ${label}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(body);
  } catch (err) {
    throw new Error(`Billing configuration ${label} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Reads the defaults, then the `HAVEN_BILLING_CONFIG` file if set, merges and parses them. */
export function loadBillingConfig(env: NodeJS.ProcessEnv = process.env): BillingConfig {
  const defaults = readJson(BILLING_DEFAULTS_PATH, 'server/src/billing/defaults.json');
  const overridePath = env.HAVEN_BILLING_CONFIG;
  if (!overridePath) return parseBillingConfig(defaults);
  return parseBillingConfig(mergeConfig(defaults, readJson(resolve(overridePath), `HAVEN_BILLING_CONFIG (${overridePath})`)));
}

/** The shipped defaults, parsed (no override). */
export function defaultBillingConfig(): BillingConfig {
  return parseBillingConfig(readJson(BILLING_DEFAULTS_PATH, 'server/src/billing/defaults.json'));
}

// ---- strict readers: each throws naming the key path ----

type Reader<T> = (v: unknown, path: string) => T;

function fail(path: string, expected: string, got: unknown): never {
  throw new Error(`Invalid billing configuration: ${path} must be ${expected}, got ${JSON.stringify(got)?.slice(0, 80)}`);
}

function object(v: unknown, path: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'an object', v);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!k.startsWith('_') && !keys.includes(k)) throw new Error(`Invalid billing configuration: unknown key ${path}.${k}`);
  }
  for (const k of keys) if (!(k in o)) throw new Error(`Invalid billing configuration: ${path}.${k} is missing`);
  return o;
}

const minutes: Reader<number> = (v, path) =>
  Number.isInteger(v) && (v as number) >= 0 ? (v as number) : fail(path, 'a whole number ≥ 0', v);
const positive: Reader<number> = (v, path) =>
  Number.isInteger(v) && (v as number) >= 1 ? (v as number) : fail(path, 'a whole number ≥ 1', v);
const bool: Reader<boolean> = (v, path) => (typeof v === 'boolean' ? v : fail(path, 'true or false', v));
const code: Reader<string> = (v, path) =>
  typeof v === 'string' && /^[A-Z0-9]{5}$/.test(v) ? v : fail(path, 'a 5-character CPT/HCPCS code', v);
const token: Reader<string> = (v, path) =>
  typeof v === 'string' && /^[a-z0-9][a-z0-9-]*$/.test(v) ? v : fail(path, 'a lower-case token', v);
const loinc: Reader<string> = (v, path) => (typeof v === 'string' && /^\d{1,7}-\d$/.test(v) ? v : fail(path, 'a LOINC code', v));
const nullable =
  <T>(r: Reader<T>): Reader<T | null> =>
  (v, path) =>
    v === null ? null : r(v, path);
const oneOf =
  <T extends string>(values: readonly T[]): Reader<T> =>
  (v, path) =>
    values.includes(v as T) ? (v as T) : fail(path, `one of ${values.join(', ')}`, v);
const list =
  <T>(each: Reader<T>): Reader<T[]> =>
  (v, path) =>
    Array.isArray(v) ? v.map((x, i) => each(x, `${path}[${i}]`)) : fail(path, 'an array', v);

const role = oneOf(CARE_ROLES);
const family = oneOf(CODE_FAMILIES);

function parsePayer(v: unknown, path: string, base: PayerRules | undefined): PayerRules {
  const keys = ['countConsultantTime', 'max99494Units', 'initialCoCMOncePerCalendarYear', 'generalBhiMinMinutes', 'allowG2214'] as const;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'an object', v);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!k.startsWith('_') && !(keys as readonly string[]).includes(k))
      throw new Error(`Invalid billing configuration: unknown key ${path}.${k}`);
  }
  const pick = <T>(k: (typeof keys)[number], r: Reader<T>, fallback: T | undefined): T => {
    if (k in o) return r(o[k], `${path}.${k}`);
    if (fallback === undefined) throw new Error(`Invalid billing configuration: ${path}.${k} is missing`);
    return fallback;
  };
  return {
    countConsultantTime: pick('countConsultantTime', bool, base?.countConsultantTime),
    max99494Units: pick('max99494Units', nullable(minutes), base?.max99494Units),
    initialCoCMOncePerCalendarYear: pick('initialCoCMOncePerCalendarYear', bool, base?.initialCoCMOncePerCalendarYear),
    generalBhiMinMinutes: pick('generalBhiMinMinutes', nullable(positive), base?.generalBhiMinMinutes),
    allowG2214: pick('allowG2214', bool, base?.allowG2214),
  };
}

function parsePayers(v: unknown, path: string): Record<string, PayerRules> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'an object', v);
  const o = v as Record<string, unknown>;
  if (!('default' in o)) throw new Error(`Invalid billing configuration: ${path}.default is missing`);
  const base = parsePayer(o.default, `${path}.default`, undefined);
  const out: Record<string, PayerRules> = { default: base };
  for (const [name, value] of Object.entries(o)) {
    if (name.startsWith('_') || name === 'default') continue;
    token(name, `${path} key "${name}"`);
    out[name] = parsePayer(value, `${path}.${name}`, base);
  }
  return out;
}

function parseBands(v: unknown, path: string): PsychotherapyBand[] {
  const bands = list((b, p) => {
    const o = object(b, p, ['minMinutes', 'code', 'withEM']);
    return {
      minMinutes: positive(o.minMinutes, `${p}.minMinutes`),
      code: code(o.code, `${p}.code`),
      withEM: code(o.withEM, `${p}.withEM`),
    };
  })(v, path);
  if (bands.length === 0) fail(path, 'a non-empty array', v);
  for (let i = 1; i < bands.length; i++) {
    if (bands[i].minMinutes <= bands[i - 1].minMinutes)
      fail(`${path}[${i}].minMinutes`, 'greater than the previous band', bands[i].minMinutes);
  }
  return bands;
}

/** Parses merged configuration JSON into typed values; throws an Error naming the first bad key. */
export function parseBillingConfig(raw: unknown): BillingConfig {
  const o = object(raw, 'config', [
    'cocm',
    'generalBhi',
    'g0323',
    'validatedScales',
    'excludedActivities',
    'initiatingVisit',
    'exclusiveFamilies',
    'psychotherapy',
    'interactiveComplexity',
    'group',
    'payers',
  ]);
  const c = object(o.cocm, 'cocm', [
    'initialMinMinutes',
    'subsequentMinMinutes',
    'g2214MinMinutes',
    'g2214UpToInitialThreshold',
    'addOnFirstAtInitial',
    'addOnFirstAtSubsequent',
    'addOnBlockMinutes',
    'countingRoles',
    'episodeBreakMonths',
    'initialMonthIsFirstEpisodeMonth',
    'require',
  ]);
  const req = object(c.require, 'cocm.require', [
    'registry',
    'psychiatricConsultantReview',
    'validatedScaleInitialMonth',
    'validatedScaleSubsequentMonth',
  ]);
  const cocm = {
    initialMinMinutes: positive(c.initialMinMinutes, 'cocm.initialMinMinutes'),
    subsequentMinMinutes: positive(c.subsequentMinMinutes, 'cocm.subsequentMinMinutes'),
    g2214MinMinutes: positive(c.g2214MinMinutes, 'cocm.g2214MinMinutes'),
    g2214UpToInitialThreshold: bool(c.g2214UpToInitialThreshold, 'cocm.g2214UpToInitialThreshold'),
    addOnFirstAtInitial: positive(c.addOnFirstAtInitial, 'cocm.addOnFirstAtInitial'),
    addOnFirstAtSubsequent: positive(c.addOnFirstAtSubsequent, 'cocm.addOnFirstAtSubsequent'),
    addOnBlockMinutes: positive(c.addOnBlockMinutes, 'cocm.addOnBlockMinutes'),
    countingRoles: list(role)(c.countingRoles, 'cocm.countingRoles'),
    episodeBreakMonths: positive(c.episodeBreakMonths, 'cocm.episodeBreakMonths'),
    initialMonthIsFirstEpisodeMonth: bool(c.initialMonthIsFirstEpisodeMonth, 'cocm.initialMonthIsFirstEpisodeMonth'),
    require: {
      registry: bool(req.registry, 'cocm.require.registry'),
      psychiatricConsultantReview: bool(req.psychiatricConsultantReview, 'cocm.require.psychiatricConsultantReview'),
      validatedScaleInitialMonth: bool(req.validatedScaleInitialMonth, 'cocm.require.validatedScaleInitialMonth'),
      validatedScaleSubsequentMonth: bool(req.validatedScaleSubsequentMonth, 'cocm.require.validatedScaleSubsequentMonth'),
    },
  };
  if (cocm.g2214MinMinutes >= cocm.subsequentMinMinutes)
    fail('cocm.g2214MinMinutes', 'below cocm.subsequentMinMinutes', cocm.g2214MinMinutes);
  if (cocm.addOnFirstAtInitial <= cocm.initialMinMinutes)
    fail('cocm.addOnFirstAtInitial', 'above cocm.initialMinMinutes', cocm.addOnFirstAtInitial);
  if (cocm.addOnFirstAtSubsequent <= cocm.subsequentMinMinutes)
    fail('cocm.addOnFirstAtSubsequent', 'above cocm.subsequentMinMinutes', cocm.addOnFirstAtSubsequent);
  const bhi = object(o.generalBhi, 'generalBhi', ['minMinutes', 'countingRoles']);
  const g = object(o.g0323, 'g0323', ['minMinutes', 'countingRoles']);
  const iv = object(o.initiatingVisit, 'initiatingVisit', ['lookbackMonths', 'qualifyingTypes']);
  const qt = object(iv.qualifyingTypes, 'initiatingVisit.qualifyingTypes', CARE_MODELS);
  const ic = object(o.interactiveComplexity, 'interactiveComplexity', ['qualifyingFactors', 'notWith']);
  const grp = object(o.group, 'group', ['maxParticipants']);
  const pt = object(o.psychotherapy, 'psychotherapy', ['bands']);
  return {
    cocm,
    generalBhi: {
      minMinutes: positive(bhi.minMinutes, 'generalBhi.minMinutes'),
      countingRoles: list(role)(bhi.countingRoles, 'generalBhi.countingRoles'),
    },
    g0323: { minMinutes: positive(g.minMinutes, 'g0323.minMinutes'), countingRoles: list(role)(g.countingRoles, 'g0323.countingRoles') },
    validatedScales: list(loinc)(o.validatedScales, 'validatedScales'),
    excludedActivities: list(token)(o.excludedActivities, 'excludedActivities'),
    initiatingVisit: {
      lookbackMonths: positive(iv.lookbackMonths, 'initiatingVisit.lookbackMonths'),
      qualifyingTypes: {
        CoCM: list(token)(qt.CoCM, 'initiatingVisit.qualifyingTypes.CoCM'),
        GeneralBHI: list(token)(qt.GeneralBHI, 'initiatingVisit.qualifyingTypes.GeneralBHI'),
        G0323: list(token)(qt.G0323, 'initiatingVisit.qualifyingTypes.G0323'),
      },
    },
    exclusiveFamilies: list((p, path) => {
      const pair = list(family)(p, path);
      if (pair.length !== 2 || pair[0] === pair[1]) fail(path, 'a pair of two different families', p);
      return [pair[0], pair[1]] as const;
    })(o.exclusiveFamilies, 'exclusiveFamilies'),
    psychotherapy: { bands: parseBands(pt.bands, 'psychotherapy.bands') },
    interactiveComplexity: {
      qualifyingFactors: list(token)(ic.qualifyingFactors, 'interactiveComplexity.qualifyingFactors'),
      notWith: list(code)(ic.notWith, 'interactiveComplexity.notWith'),
    },
    group: { maxParticipants: nullable(positive)(grp.maxParticipants, 'group.maxParticipants') },
    payers: parsePayers(o.payers, 'payers'),
  };
}

/** The rules of `payer` (a profile name), or the default profile when it has none. */
export function payerRules(config: BillingConfig, payer: string | undefined): PayerRules {
  return (payer !== undefined && Object.hasOwn(config.payers, payer) ? config.payers[payer] : undefined) ?? config.payers.default;
}
