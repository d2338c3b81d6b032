/**
 * SMART clinical-data scopes, parsed (SMART App Launch 2.2, "Scopes and Launch Context",
 * https://hl7.org/fhir/smart-app-launch/STU2.2/scopes-and-launch-context.html). Pure: no I/O, no policy.
 *
 * Grammar (§Clinical Scope Syntax): `(patient|user|system)/(ResourceType|*).(permissions)[?query]`, where
 * v2 permissions are a non-empty, in-order subset of `cruds` and v1 permissions are `read`, `write` or `*`
 * (§Scopes v1 compatibility: `.read` ≡ `.rs`, `.write` ≡ `.cud`, `.*` ≡ `.cruds`). A v2 scope may narrow
 * itself with search parameters (§Finer-grained resource constraints using search parameters).
 *
 * Scopes that are not about clinical data (`openid`, `fhirUser`, `launch`, `launch/patient`,
 * `offline_access`, `online_access`, `profile`, extension scopes) are recognised and set aside. Scopes that
 * look like clinical scopes but break the grammar (`patient/Observation.dus`, `patient/Observation.rr`)
 * are ignored with a reason, never read loosely (§Clinical Scope Syntax: undefined suffixes MAY be ignored).
 */

import { PERMISSIONS, type Permission } from '../model/access.ts';

/** The five SMART v2 permissions (`cruds`), in the order the grammar requires. */
export { PERMISSIONS, type Permission };

/** Whose data a scope reaches (§Patient-specific scopes, §User-level scopes, §System-level scopes). */
export const ScopeContext = { Patient: 'patient', User: 'user', System: 'system' } as const;
export type ScopeContext = (typeof ScopeContext)[keyof typeof ScopeContext];

/** One clinical-data scope. */
export interface ResourceScope {
  /** The scope as granted. */
  raw: string;
  context: ScopeContext;
  /** A resource type name, or `*` (§Wildcard scopes). */
  resourceType: string;
  /** Granted permissions, in `cruds` order, without duplicates. */
  permissions: readonly Permission[];
  /** Search parameters that narrow the scope, as written (`[['category', 'survey']]`); absent when none. */
  query?: readonly (readonly [string, string])[];
  /** `v1` for `.read`/`.write`/`.*`, `v2` for permission letters. */
  syntax: 'v1' | 'v2';
}

/** The outcome of parsing one scope string. */
export type ParsedScope =
  | { kind: 'resource'; scope: ResourceScope }
  /** Identity, launch-context, refresh and extension scopes: valid, but grant no data access. */
  | { kind: 'other'; raw: string }
  /** Looks like a clinical scope but is not one: ignored, with the reason. */
  | { kind: 'invalid'; raw: string; reason: string };

const V1_PERMISSIONS: Readonly<Record<string, readonly Permission[]>> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};

/** Non-clinical scopes of SMART 2.2 (§Scopes for requesting context data / identity data / a refresh token). */
const OTHER_SCOPES: ReadonlySet<string> = new Set(['openid', 'fhirUser', 'profile', 'launch', 'offline_access', 'online_access']);

const RESOURCE_TYPE = /^(?:\*|[A-Z][A-Za-z]{1,63})$/;
const V2_LETTERS = /^c?r?u?d?s?$/;

/**
 * Parameters that control the result set rather than select resources: meaningless (or dangerous, like
 * `_include`) inside a scope. Chains (`subject.name`), `_has` and `_filter` are refused too, being
 * experimental in SMART 2.2 and able to reach other resources than the one being checked.
 */
const REFUSED_QUERY_PARAMS: ReadonlySet<string> = new Set([
  '_count',
  '_offset',
  '_sort',
  '_total',
  '_summary',
  '_elements',
  '_include',
  '_revinclude',
  '_contained',
  '_containedType',
  '_format',
  '_pretty',
  '_cursor',
  '_type',
  '_filter',
  '_query',
  '_list',
  '_text',
  '_content',
]);

/** Parses the query part of a v2 scope; returns the pairs or the reason they are unusable. */
function parseQuery(query: string): { pairs: [string, string][] } | { reason: string } {
  if (query === '') return { reason: 'empty query constraint' };
  const pairs: [string, string][] = [];
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return { reason: `query constraint "${part.slice(0, 40)}" is not name=value` };
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(part.slice(0, eq));
      value = decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      return { reason: 'query constraint is not valid percent-encoding' };
    }
    const base = name.split(':')[0];
    if (!/^[A-Za-z_][A-Za-z0-9_-]*(:[A-Za-z0-9_-]+)?$/.test(name))
      return {
        reason: `query parameter "${name.slice(0, 40)}" is not a plain search parameter (chains and _has are not allowed in scopes)`,
      };
    if (REFUSED_QUERY_PARAMS.has(base) || base === '_has') return { reason: `query parameter "${base}" cannot constrain a scope` };
    if (value === '') return { reason: `query parameter "${name}" has no value` };
    pairs.push([name, value]);
  }
  return { pairs };
}

/** Parses one scope string (§Clinical Scope Syntax). Never throws. */
export function parseScope(raw: string): ParsedScope {
  if (OTHER_SCOPES.has(raw) || raw.startsWith('launch/') || raw.startsWith('__') || /^[a-z][a-z0-9+.-]*:/i.test(raw)) {
    // launch/patient, launch/encounter, launch/<type>?role=…; extension scopes are `__x` or a URI (§Extensions).
    return { kind: 'other', raw };
  }
  const slash = raw.indexOf('/');
  if (slash < 0) return { kind: 'invalid', raw, reason: 'not a SMART scope: expected context/Type.permissions' };
  const context = raw.slice(0, slash);
  if (context !== 'patient' && context !== 'user' && context !== 'system') {
    return { kind: 'invalid', raw, reason: `unknown scope context "${context.slice(0, 20)}": expected patient, user or system` };
  }
  const rest = raw.slice(slash + 1);
  const question = rest.indexOf('?');
  const head = question < 0 ? rest : rest.slice(0, question);
  const dot = head.lastIndexOf('.');
  if (dot < 0) return { kind: 'invalid', raw, reason: 'missing permissions: expected Type.permissions (e.g. Observation.rs)' };
  const resourceType = head.slice(0, dot);
  const suffix = head.slice(dot + 1);
  if (!RESOURCE_TYPE.test(resourceType))
    return { kind: 'invalid', raw, reason: `"${resourceType.slice(0, 40)}" is not a resource type or *` };

  let permissions: readonly Permission[];
  let syntax: 'v1' | 'v2';
  if (Object.hasOwn(V1_PERMISSIONS, suffix)) {
    permissions = V1_PERMISSIONS[suffix];
    syntax = 'v1';
  } else if (suffix !== '' && V2_LETTERS.test(suffix)) {
    permissions = PERMISSIONS.filter((p) => suffix.includes(p));
    syntax = 'v2';
  } else {
    return { kind: 'invalid', raw, reason: `"${suffix.slice(0, 20)}" is not read, write, * or an in-order subset of cruds` };
  }

  const scope: ResourceScope = { raw, context, resourceType, permissions, syntax };
  if (question >= 0) {
    if (syntax === 'v1') return { kind: 'invalid', raw, reason: 'query constraints need v2 permissions (e.g. .rs?category=…)' };
    const parsed = parseQuery(rest.slice(question + 1));
    if ('reason' in parsed) return { kind: 'invalid', raw, reason: parsed.reason };
    scope.query = parsed.pairs;
  }
  return { kind: 'resource', scope };
}

/** The clinical scope `raw` is, or undefined when it is another kind of scope or breaks the grammar. */
export function resourceScope(raw: string): ResourceScope | undefined {
  const parsed = parseScope(raw);
  return parsed.kind === 'resource' ? parsed.scope : undefined;
}

/** Every granted scope sorted into clinical scopes, other scopes and ignored ones (with reasons). */
export interface ScopeSet {
  resources: ResourceScope[];
  other: string[];
  ignored: { raw: string; reason: string }[];
}

/** Parses a list of granted scopes; scopes are a union (§Scope Equivalence), so order does not matter. */
export function parseScopes(scopes: readonly string[]): ScopeSet {
  const out: ScopeSet = { resources: [], other: [], ignored: [] };
  for (const raw of scopes) {
    if (raw === '') continue;
    const parsed = parseScope(raw);
    if (parsed.kind === 'resource') out.resources.push(parsed.scope);
    else if (parsed.kind === 'other') out.other.push(raw);
    else out.ignored.push({ raw, reason: parsed.reason });
  }
  return out;
}

/** The query constraint of a scope as a query string (`category=survey`), for display and matching. */
export function queryString(query: readonly (readonly [string, string])[]): string {
  return query.map(([k, v]) => `${k}=${v}`).join('&');
}
