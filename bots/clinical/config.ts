/**
 * Configuration of the clinical bots: every threshold, due time and compact list they decide with.
 *
 * The defaults live in `bots/config/defaults.json`; a deployment names an override file in env
 * `HAVEN_BOT_CONFIG`, deep-merged over them, because escalation times and compact membership are set by each
 * organization's written policy and change with the law (clinical.md §4.3, §5), not with the code.
 * The merged JSON is parsed into typed values here, once; an invalid value or an unknown key (a typo in an
 * override would otherwise be silently ignored) throws an Error that names the key. Keys beginning with `_`
 * are notes (sources, VERIFY marks) and are ignored. This is the only module of bots/clinical that does I/O.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Instruments the clinical bots know (questionnaires/ holds their FHIR Questionnaires). */
export const INSTRUMENTS = ['phq-9', 'phq-a', 'cssrs-screener', 'phq-2', 'gad-7', 'audit-c'] as const;
export type Instrument = (typeof INSTRUMENTS)[number];

/** Names shown in task and reason text. */
export const INSTRUMENT_LABELS: Readonly<Record<Instrument, string>> = {
  'phq-9': 'PHQ-9',
  'phq-a': 'PHQ-A',
  'cssrs-screener': 'C-SSRS screener',
  'phq-2': 'PHQ-2',
  'gad-7': 'GAD-7',
  'audit-c': 'AUDIT-C',
};

/** Risk levels, lowest first: the order is the ranking ("highest level wins"). */
export const RISK_LEVELS = ['none', 'review', 'low', 'moderate', 'high'] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

/** Levels that start an escalation (every level except `none`). */
export const ESCALATION_LEVELS = ['review', 'low', 'moderate', 'high'] as const;
export type EscalationLevel = (typeof ESCALATION_LEVELS)[number];

/** FHIR R4 request-priority, lowest first (http://hl7.org/fhir/R4/valueset-request-priority.html). */
export const TASK_PRIORITIES = ['routine', 'urgent', 'asap', 'stat'] as const;
export type TaskPriority = (typeof TASK_PRIORITIES)[number];

/** The escalation checklist, in order. */
export const ESCALATION_STEPS = ['contact', 'response', 'follow-up'] as const;
export type EscalationStep = (typeof ESCALATION_STEPS)[number];

/** USPS codes of the states, DC and the inhabited territories (licensing jurisdictions). */
export const US_JURISDICTIONS: ReadonlySet<string> = new Set(
  (
    'AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK ' +
    'OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP'
  ).split(' '),
);

/** Risk rules (clinical.md §1.2 item 9, §1.5, §1.6, §4.3). A rule with level `none` is off. */
export interface RiskConfig {
  /** PHQ-9/PHQ-A item 9: the highest tier whose `minOrdinal` the answer reaches applies. */
  readonly item9Tiers: readonly { readonly minOrdinal: number; readonly level: RiskLevel }[];
  /** Item 9 missing or declined: unknown, never 0, so at least `review`. */
  readonly item9UnansweredLevel: EscalationLevel;
  readonly missingRequiredLevel: RiskLevel;
  readonly phqaSeriousThoughtsLevel: RiskLevel;
  readonly phqaEverAttemptedLevel: RiskLevel;
  readonly severeTotal: Partial<Record<Instrument, { readonly atLeast: number; readonly level: RiskLevel }>>;
  readonly scoreRise: Partial<Record<Instrument, { readonly points: number; readonly level: RiskLevel }>>;
}

/** One on-call window. `days` are the days a window starts on (0 = Sunday); `from` > `to` wraps midnight. */
export interface OnCallEntry {
  readonly practitioner: string;
  readonly days?: readonly number[];
  readonly from?: string;
  readonly to?: string;
  readonly timezone?: string;
}

/** On-call roster: first matching entry wins, else `fallback`. */
export interface OnCallRoster {
  /** IANA zone for entries that name none. */
  readonly timezone: string;
  readonly entries: readonly OnCallEntry[];
  readonly fallback?: string;
}

/** A Coding as configuration gives it (system, code and display all required). */
export interface ConfiguredCoding {
  readonly system: string;
  readonly code: string;
  readonly display: string;
}

/** Settings that differ per tenant (references are tenant-local: `Practitioner/x` names a resource of that tenant). */
export interface TenantEscalationConfig {
  /** Owner of risk Tasks when no roster entry, treating practitioner or care team names one (overrides the global one). */
  readonly fallbackOwner?: string;
}

/** Escalation policy per level (clinical.md §4.3: platform defaults, set by each organization's policy). */
export interface EscalationConfig {
  readonly priority: Readonly<Record<EscalationLevel, TaskPriority>>;
  /** Minutes after the triggering result by which each checklist step is due. */
  readonly dueMinutes: Readonly<Record<EscalationLevel, Readonly<Record<EscalationStep, number>>>>;
  readonly notifyPatientWith988: Readonly<Record<EscalationLevel, boolean>>;
  /** Levels routed to the on-call clinician. */
  readonly onCallLevels: readonly EscalationLevel[];
  readonly onCall: OnCallRoster;
  /**
   * The role that acts on risk Tasks (Task.performerType on every risk and checklist Task), so a work queue can pick
   * them up whoever owns them.
   */
  readonly performerType: ConfiguredCoding;
  /**
   * Last resort owner of risk Tasks (after roster → treating practitioner → care team): required wherever the risk
   * bot runs (`haven doctor` fails and the server warns at start without one). Per tenant in `tenants`.
   */
  readonly fallbackOwner?: string;
  /** Per-tenant settings, by tenant id. */
  readonly tenants: Readonly<Record<string, TenantEscalationConfig>>;
}

/** Crisis resources shown to patients (clinical.md §4.1). */
export interface CrisisConfig {
  readonly patientMessage: string;
}

/** Response/remission rule of one instrument (clinical.md §1.2, §1.4). */
export interface OutcomeRule {
  /** The instrument's panel code, recorded as the outcome Observation's method. */
  readonly panel: { readonly system: string; readonly code: string; readonly display: string };
  readonly responseDropFraction: number;
  readonly remissionBelow: number;
  readonly improvingMinDrop: number;
  readonly worseningMinRise: number;
}

/** Missed-care rules. */
export interface MissedCareConfig {
  readonly noShows: { readonly count: number; readonly windowDays: number };
  readonly noContactDays: number;
  /** Owner of missed-care Tasks; the CarePlan's author when unset. */
  readonly careManager?: string;
  readonly taskPriority: TaskPriority;
  readonly taskDueMinutes: number;
}

/** Compact data (clinical.md §5). */
export interface LicensureConfig {
  readonly psypact: { readonly enabled: boolean; readonly members: readonly string[]; readonly tapDaysPerYear: number };
  readonly counselingCompact: { readonly enabled: boolean; readonly operational: readonly string[] };
  readonly socialWorkCompact: { readonly enabled: boolean; readonly members: readonly string[] };
}

/** Everything the clinical bots read. */
export interface ClinicalConfig {
  readonly risk: RiskConfig;
  readonly escalation: EscalationConfig;
  readonly crisis: CrisisConfig;
  readonly outcomes: Partial<Record<Instrument, OutcomeRule>>;
  readonly missedCare: MissedCareConfig;
  readonly licensure: LicensureConfig;
}

/** Path of the shipped defaults. */
export const DEFAULTS_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'config', 'defaults.json');

/** Reads the defaults, then the `HAVEN_BOT_CONFIG` file if set, merges and parses them. */
export function loadClinicalConfig(env: NodeJS.ProcessEnv = process.env): ClinicalConfig {
  const defaults = readJsonFile(DEFAULTS_PATH, 'bots/config/defaults.json');
  const overridePath = env.HAVEN_BOT_CONFIG;
  if (!overridePath) return parseClinicalConfig(defaults);
  return parseClinicalConfig(mergeConfig(defaults, readJsonFile(resolve(overridePath), `HAVEN_BOT_CONFIG (${overridePath})`)));
}

function readJsonFile(path: string, label: string): unknown {
  let body: string;
  try {
    body = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`Cannot read bot configuration ${label}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(body);
  } catch (err) {
    throw new Error(`Bot configuration ${label} is not valid JSON: ${(err as Error).message}`);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Deep merge: objects merge key by key, arrays and scalars replace (a roster or a state list is one value),
 * and `null` removes an optional key (e.g. a default `careManager`).
 */
export function mergeConfig(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    // JSON.parse makes "__proto__" an own key; assigning it would swap the merged object's prototype.
    if (key === '__proto__') throw new Error('Invalid bot configuration: "__proto__" is not a configuration key');
    if (value === null) delete out[key];
    else out[key] = Object.hasOwn(base, key) ? mergeConfig(base[key], value) : value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Parsing. Each reader takes the value and its dotted path, and throws naming that path.

function fail(path: string, expected: string, got: unknown): never {
  const shown = got === undefined ? 'nothing' : JSON.stringify(got)?.slice(0, 80);
  throw new Error(`Invalid bot configuration at "${path}": expected ${expected}, got ${shown}`);
}

type Reader<T> = (value: unknown, path: string) => T;

function object(value: unknown, path: string, keys: readonly string[]): Record<string, unknown> {
  if (!isPlainObject(value)) fail(path, 'an object', value);
  for (const key of Object.keys(value)) {
    if (!key.startsWith('_') && !keys.includes(key)) {
      throw new Error(`Invalid bot configuration at "${path}.${key}": unknown key (known: ${keys.join(', ')})`);
    }
  }
  return value;
}

const int =
  (min: number, max = Number.MAX_SAFE_INTEGER): Reader<number> =>
  (v, path) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
      ? v
      : fail(path, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`, v);

const fraction: Reader<number> = (v, path) =>
  typeof v === 'number' && v > 0 && v <= 1 ? v : fail(path, 'a number greater than 0 and at most 1', v);

const bool: Reader<boolean> = (v, path) => (typeof v === 'boolean' ? v : fail(path, 'true or false', v));

const text: Reader<string> = (v, path) => (typeof v === 'string' && v.trim() !== '' ? v : fail(path, 'a non-empty string', v));

function oneOf<T extends string>(values: readonly T[]): Reader<T> {
  return (v, path) => (values.includes(v as T) ? (v as T) : fail(path, `one of ${values.join(', ')}`, v));
}

function list<T>(each: Reader<T>): Reader<T[]> {
  return (v, path) => (Array.isArray(v) ? v.map((item, n) => each(item, `${path}[${n}]`)) : fail(path, 'an array', v));
}

/** A record with exactly these keys (`all`) or a subset of them. */
function record<K extends string, T>(keys: readonly K[], each: Reader<T>, all: boolean): Reader<Record<K, T>> {
  return (v, path) => {
    const o = object(v, path, keys);
    const out = {} as Record<K, T>;
    for (const key of keys) {
      if (o[key] !== undefined) out[key] = each(o[key], `${path}.${key}`);
      else if (all) fail(`${path}.${key}`, 'a value', undefined);
    }
    return out;
  };
}

const reference =
  (types: readonly string[]): Reader<string> =>
  (v, path) =>
    typeof v === 'string' && new RegExp(`^(${types.join('|')})/[A-Za-z0-9\\-.]{1,64}$`).test(v)
      ? v
      : fail(path, `a reference ${types.map((t) => `${t}/<id>`).join(' or ')}`, v);

const OWNER_TYPES = ['Practitioner', 'PractitionerRole', 'CareTeam', 'Organization'];

const state: Reader<string> = (v, path) =>
  typeof v === 'string' && US_JURISDICTIONS.has(v) ? v : fail(path, 'a USPS state code (e.g. "AZ")', v);

const hhmm =
  (allow24: boolean): Reader<string> =>
  (v, path) =>
    typeof v === 'string' && (/^([01]\d|2[0-3]):[0-5]\d$/.test(v) || (allow24 && v === '24:00'))
      ? v
      : fail(path, `a time HH:MM${allow24 ? ' (or 24:00)' : ''}`, v);

const timezone: Reader<string> = (v, path) => {
  try {
    if (typeof v === 'string') {
      new Intl.DateTimeFormat('en-US', { timeZone: v });
      return v;
    }
  } catch {
    // fall through: not an IANA zone this runtime knows
  }
  return fail(path, 'an IANA time zone (e.g. "America/New_York")', v);
};

function optional<T>(o: Record<string, unknown>, key: string, path: string, read: Reader<T>): { [k: string]: T } {
  return o[key] === undefined ? {} : { [key]: read(o[key], `${path}.${key}`) };
}

const riskLevel = oneOf(RISK_LEVELS);

function parseRisk(v: unknown, path: string): RiskConfig {
  const o = object(v, path, [
    'item9Tiers',
    'item9UnansweredLevel',
    'missingRequiredLevel',
    'phqaSeriousThoughtsLevel',
    'phqaEverAttemptedLevel',
    'severeTotal',
    'scoreRise',
  ]);
  const tier: Reader<RiskConfig['item9Tiers'][number]> = (t, p) => {
    const to = object(t, p, ['minOrdinal', 'level']);
    return { minOrdinal: int(1, 3)(to.minOrdinal, `${p}.minOrdinal`), level: riskLevel(to.level, `${p}.level`) };
  };
  const severe = record(
    INSTRUMENTS,
    (t, p) => {
      const to = object(t, p, ['atLeast', 'level']);
      return { atLeast: int(0)(to.atLeast, `${p}.atLeast`), level: riskLevel(to.level, `${p}.level`) };
    },
    false,
  );
  const rise = record(
    INSTRUMENTS,
    (t, p) => {
      const to = object(t, p, ['points', 'level']);
      return { points: int(1)(to.points, `${p}.points`), level: riskLevel(to.level, `${p}.level`) };
    },
    false,
  );
  return {
    item9Tiers: list(tier)(o.item9Tiers, `${path}.item9Tiers`),
    item9UnansweredLevel: oneOf(ESCALATION_LEVELS)(o.item9UnansweredLevel, `${path}.item9UnansweredLevel`),
    missingRequiredLevel: riskLevel(o.missingRequiredLevel, `${path}.missingRequiredLevel`),
    phqaSeriousThoughtsLevel: riskLevel(o.phqaSeriousThoughtsLevel, `${path}.phqaSeriousThoughtsLevel`),
    phqaEverAttemptedLevel: riskLevel(o.phqaEverAttemptedLevel, `${path}.phqaEverAttemptedLevel`),
    severeTotal: severe(o.severeTotal, `${path}.severeTotal`),
    scoreRise: rise(o.scoreRise, `${path}.scoreRise`),
  };
}

function parseOnCall(v: unknown, path: string): OnCallRoster {
  const o = object(v, path, ['timezone', 'entries', 'fallback']);
  const entry: Reader<OnCallEntry> = (e, p) => {
    const eo = object(e, p, ['practitioner', 'days', 'from', 'to', 'timezone']);
    return {
      practitioner: reference(OWNER_TYPES)(eo.practitioner, `${p}.practitioner`),
      ...optional(eo, 'days', p, list(int(0, 6))),
      ...optional(eo, 'from', p, hhmm(false)),
      ...optional(eo, 'to', p, hhmm(true)),
      ...optional(eo, 'timezone', p, timezone),
    };
  };
  return {
    timezone: timezone(o.timezone, `${path}.timezone`),
    entries: list(entry)(o.entries, `${path}.entries`),
    ...optional(o, 'fallback', path, reference(OWNER_TYPES)),
  };
}

const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

function parseCoding(v: unknown, path: string): ConfiguredCoding {
  const o = object(v, path, ['system', 'code', 'display']);
  return { system: text(o.system, `${path}.system`), code: text(o.code, `${path}.code`), display: text(o.display, `${path}.display`) };
}

function parseTenants(v: unknown, path: string): Record<string, TenantEscalationConfig> {
  if (!isPlainObject(v)) fail(path, 'an object of tenant ids', v);
  const out: Record<string, TenantEscalationConfig> = {};
  for (const [tenant, settings] of Object.entries(v)) {
    if (tenant.startsWith('_')) continue;
    if (!TENANT_ID.test(tenant)) fail(`${path}.${tenant}`, 'a tenant id (lower-case letters, digits and "-")', tenant);
    const o = object(settings, `${path}.${tenant}`, ['fallbackOwner']);
    out[tenant] = optional(o, 'fallbackOwner', `${path}.${tenant}`, reference(OWNER_TYPES));
  }
  return out;
}

function parseEscalation(v: unknown, path: string): EscalationConfig {
  const o = object(v, path, [
    'priority',
    'dueMinutes',
    'notifyPatientWith988',
    'onCallLevels',
    'onCall',
    'performerType',
    'fallbackOwner',
    'tenants',
  ]);
  const steps: Reader<Record<EscalationStep, number>> = (s, p) => {
    const due = record(ESCALATION_STEPS, int(0), true)(s, p);
    // A checklist whose later step falls due before an earlier one cannot be worked in order.
    if (due.response < due.contact) fail(`${p}.response`, `at least contact (${due.contact})`, due.response);
    if (due['follow-up'] < due.response) fail(`${p}.follow-up`, `at least response (${due.response})`, due['follow-up']);
    return due;
  };
  return {
    priority: record(ESCALATION_LEVELS, oneOf(TASK_PRIORITIES), true)(o.priority, `${path}.priority`),
    dueMinutes: record(ESCALATION_LEVELS, steps, true)(o.dueMinutes, `${path}.dueMinutes`),
    notifyPatientWith988: record(ESCALATION_LEVELS, bool, true)(o.notifyPatientWith988, `${path}.notifyPatientWith988`),
    onCallLevels: list(oneOf(ESCALATION_LEVELS))(o.onCallLevels, `${path}.onCallLevels`),
    onCall: parseOnCall(o.onCall, `${path}.onCall`),
    performerType: parseCoding(o.performerType, `${path}.performerType`),
    ...optional(o, 'fallbackOwner', path, reference(OWNER_TYPES)),
    tenants: o.tenants === undefined ? {} : parseTenants(o.tenants, `${path}.tenants`),
  };
}

/** The tenant's fallback owner of risk Tasks: its own setting, else the global one (undefined: none configured). */
export function fallbackOwnerFor(config: EscalationConfig, tenant: string): string | undefined {
  const own = Object.hasOwn(config.tenants, tenant) ? config.tenants[tenant]?.fallbackOwner : undefined;
  return own ?? config.fallbackOwner;
}

/** The 988 menu option 3 (LGBTQ+ youth) ended 2025-07-17 (clinical.md §4.1): a message naming it is wrong. */
const PRESS_3 = /\b(press|oprima|marque)\s+(el\s+)?3\b/i;

function parseCrisis(v: unknown, path: string): CrisisConfig {
  const o = object(v, path, ['patientMessage']);
  const message = text(o.patientMessage, `${path}.patientMessage`);
  if (!/\b988\b/.test(message)) fail(`${path}.patientMessage`, 'a message that names 988', message);
  if (PRESS_3.test(message)) fail(`${path}.patientMessage`, 'no "press 3" option (ended 2025-07-17)', message);
  return { patientMessage: message };
}

function parseOutcome(v: unknown, path: string): OutcomeRule {
  const o = object(v, path, ['panel', 'responseDropFraction', 'remissionBelow', 'improvingMinDrop', 'worseningMinRise']);
  const panel = object(o.panel, `${path}.panel`, ['system', 'code', 'display']);
  return {
    panel: {
      system: text(panel.system, `${path}.panel.system`),
      code: text(panel.code, `${path}.panel.code`),
      display: text(panel.display, `${path}.panel.display`),
    },
    responseDropFraction: fraction(o.responseDropFraction, `${path}.responseDropFraction`),
    remissionBelow: int(1)(o.remissionBelow, `${path}.remissionBelow`),
    improvingMinDrop: int(1)(o.improvingMinDrop, `${path}.improvingMinDrop`),
    worseningMinRise: int(1)(o.worseningMinRise, `${path}.worseningMinRise`),
  };
}

function parseMissedCare(v: unknown, path: string): MissedCareConfig {
  const o = object(v, path, ['noShows', 'noContactDays', 'careManager', 'taskPriority', 'taskDueMinutes']);
  const ns = object(o.noShows, `${path}.noShows`, ['count', 'windowDays']);
  return {
    noShows: { count: int(1)(ns.count, `${path}.noShows.count`), windowDays: int(1)(ns.windowDays, `${path}.noShows.windowDays`) },
    noContactDays: int(1)(o.noContactDays, `${path}.noContactDays`),
    ...optional(o, 'careManager', path, reference(OWNER_TYPES)),
    taskPriority: oneOf(TASK_PRIORITIES)(o.taskPriority, `${path}.taskPriority`),
    taskDueMinutes: int(0)(o.taskDueMinutes, `${path}.taskDueMinutes`),
  };
}

function parseLicensure(v: unknown, path: string): LicensureConfig {
  const o = object(v, path, ['psypact', 'counselingCompact', 'socialWorkCompact']);
  const p = object(o.psypact, `${path}.psypact`, ['enabled', 'members', 'tapDaysPerYear']);
  const c = object(o.counselingCompact, `${path}.counselingCompact`, ['enabled', 'operational']);
  const s = object(o.socialWorkCompact, `${path}.socialWorkCompact`, ['enabled', 'members']);
  return {
    psypact: {
      enabled: bool(p.enabled, `${path}.psypact.enabled`),
      members: list(state)(p.members, `${path}.psypact.members`),
      tapDaysPerYear: int(0, 366)(p.tapDaysPerYear, `${path}.psypact.tapDaysPerYear`),
    },
    counselingCompact: {
      enabled: bool(c.enabled, `${path}.counselingCompact.enabled`),
      operational: list(state)(c.operational, `${path}.counselingCompact.operational`),
    },
    socialWorkCompact: {
      enabled: bool(s.enabled, `${path}.socialWorkCompact.enabled`),
      members: list(state)(s.members, `${path}.socialWorkCompact.members`),
    },
  };
}

/** Parses merged configuration JSON into typed values; throws an Error naming the first bad key. */
export function parseClinicalConfig(raw: unknown): ClinicalConfig {
  const o = object(raw, 'config', ['risk', 'escalation', 'crisis', 'outcomes', 'missedCare', 'licensure']);
  return {
    risk: parseRisk(o.risk, 'risk'),
    escalation: parseEscalation(o.escalation, 'escalation'),
    crisis: parseCrisis(o.crisis, 'crisis'),
    outcomes: record(INSTRUMENTS, parseOutcome, false)(o.outcomes, 'outcomes'),
    missedCare: parseMissedCare(o.missedCare, 'missedCare'),
    licensure: parseLicensure(o.licensure, 'licensure'),
  };
}

/** The shipped defaults, parsed (no override). */
export function defaultClinicalConfig(): ClinicalConfig {
  return parseClinicalConfig(readJsonFile(DEFAULTS_PATH, 'bots/config/defaults.json'));
}

/** Rank of a risk level: higher is more severe. */
export function riskRank(level: RiskLevel): number {
  return RISK_LEVELS.indexOf(level);
}

/** Rank of a task priority: higher is more pressing. */
export function priorityRank(priority: TaskPriority): number {
  return TASK_PRIORITIES.indexOf(priority);
}

/** The configuration handed to every bot (bots/runtime.ts): the clinical configuration. */
export type BotConfig = ClinicalConfig;
