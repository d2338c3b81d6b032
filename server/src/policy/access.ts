/**
 * Access decisions from a {@link Principal}: which interactions on which types its scopes grant, and which
 * rows of a type each grant reaches. Pure; the decision reaches the store as a value (./caller.ts, an
 * `Access` of ../model/access.ts), which compiles each {@link RowRule} to SQL (../store/access) on every path.
 *
 * SMART App Launch 2.2, Scopes and Launch Context:
 * - §Clinical Scope Syntax: `c` create, `r` read (read, vread, instance history), `u` update (update, patch,
 *   update-as-create), `d` delete, `s` search (type search, type and system history, system search).
 * - §Scope Equivalence: scopes are a union; each grant adds rows, none removes any.
 * - §Patient-specific scopes: `patient/` reaches the compartment of the patient in context (./compartment.ts).
 * - §User-level scopes: `user/` reaches what the user may access: cut by the user's role (./roles.ts).
 * - §System-level scopes: `system/` reaches what the client was pre-authorised for (Backend Services).
 * - §Finer-grained resource constraints using search parameters: a scope's query narrows its rows.
 * - §Scopes for requesting identity data: with `openid fhirUser` the user may read their own fhirUser
 *   resource (the g10 kit reads it with only `patient/*.rs` granted).
 */
import type { Principal } from '../auth/authenticate.ts';
import { PERMISSIONS, VISIBLE, type Need, type Permission, type RowBranch, type RowRule } from '../model/access.ts';
import { compartmentReach } from '../model/compartment.ts';
import { capsOf } from './roles.ts';
import { parseScopes, type ResourceScope, type ScopeContext } from './scopes.ts';

export { VISIBLE, type Need, type RowBranch, type RowRule };

/** A FHIR interaction (R4 restful-interaction, plus the two operations Haven serves). */
export type Interaction =
  | 'create'
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'search'
  | 'history-instance'
  | 'history-type'
  | 'history-system'
  | 'everything'
  | 'validate';

/** The SMART permission an interaction needs (§Clinical Scope Syntax). `validate` needs any. */
export function permissionOf(interaction: Exclude<Interaction, 'validate'>): Permission {
  switch (interaction) {
    case 'create':
      return 'c';
    case 'read':
    case 'vread':
    case 'history-instance':
    case 'everything':
      return 'r';
    case 'update':
    case 'patch':
      return 'u';
    case 'delete':
      return 'd';
    case 'search':
    case 'history-type':
    case 'history-system':
      return 's';
    default:
      return interaction satisfies never;
  }
}

/** One effective grant, after patient context, role cut and wildcards. */
export interface Grant {
  /** A type or `*`. */
  resourceType: string;
  permissions: readonly Permission[];
  /** Only rows in this patient's compartment. */
  patient?: string;
  /** Only these ids (the user's own fhirUser resource). */
  ids?: readonly string[];
  /** Only rows matching these search parameters (ANDed). */
  query?: readonly (readonly [string, string])[];
  /** The scope it came from (for diagnostics: scopes, never data). */
  scope: string;
}

/** The compiled access of one principal. */
export interface Policy {
  /** Every type, every permission, every row: no check or filter needs to run. */
  unrestricted: boolean;
  grants: readonly Grant[];
  /** Scopes that granted nothing, with why (invalid syntax, no patient in context, cut by role…). */
  ignored: readonly { scope: string; reason: string }[];
}

/** Full access: the development principal and admin system clients. */
export const UNRESTRICTED: Policy = { unrestricted: true, grants: [], ignored: [] };

/** `Patient/123` (relative or absolute) → ['Patient', '123']. */
function parseFhirUser(fhirUser: string | undefined): [string, string] | undefined {
  const m = fhirUser ? /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(fhirUser) : null;
  return m ? [m[1], m[2]] : undefined;
}

/** A principal is a user when it has roles or a fhirUser; a backend service has neither (./roles.ts). */
export function isUser(principal: Principal): boolean {
  return principal.roles.length > 0 || principal.fhirUser !== undefined;
}

function intersect(a: readonly Permission[], b: readonly Permission[]): Permission[] {
  return PERMISSIONS.filter((p) => a.includes(p) && b.includes(p));
}

/** A scope's grant before the role cut, or why it grants nothing. */
function scopeGrant(principal: Principal, s: ResourceScope): Grant | string {
  const base: Grant = { resourceType: s.resourceType, permissions: s.permissions, scope: s.raw, ...(s.query ? { query: s.query } : {}) };
  const context: ScopeContext = s.context;
  switch (context) {
    case 'patient':
      return principal.patient ? { ...base, patient: principal.patient } : 'patient/ scope without a patient in context';
    case 'user':
      return isUser(principal) ? base : 'user/ scope on a token with no user';
    case 'system':
      return base;
    default:
      return context satisfies never;
  }
}

/** The role cut of one grant (./roles.ts): zero or more narrower grants. */
function cutByRoles(principal: Principal, g: Grant): Grant[] {
  const self = parseFhirUser(principal.fhirUser);
  const out: Grant[] = [];
  for (const cap of capsOf(principal.roles)) {
    const type =
      g.resourceType === '*'
        ? cap.resourceType
        : cap.resourceType === '*' || cap.resourceType === g.resourceType
          ? g.resourceType
          : undefined;
    if (!type) continue;
    const permissions = intersect(g.permissions, cap.permissions);
    if (permissions.length === 0) continue;
    let patient = g.patient;
    if (cap.confine === 'self') {
      if (self?.[0] !== 'Patient') continue;
      if (patient !== undefined && patient !== self[1]) continue;
      patient = self[1];
    }
    out.push({ ...g, resourceType: type, permissions, ...(patient ? { patient } : {}) });
  }
  return out;
}

/** Compiles a principal's scopes into grants. Pure; call once per request. */
export function compilePolicy(principal: Principal): Policy {
  const parsed = parseScopes(principal.scopes);
  const ignored = parsed.ignored.map((i) => ({ scope: i.raw, reason: i.reason }));
  const grants: Grant[] = [];
  const user = isUser(principal);
  for (const s of parsed.resources) {
    const g = scopeGrant(principal, s);
    if (typeof g === 'string') {
      ignored.push({ scope: s.raw, reason: g });
      continue;
    }
    const cut = user ? cutByRoles(principal, g) : [g];
    if (cut.length === 0) ignored.push({ scope: s.raw, reason: "outside what the user's role allows" });
    grants.push(...cut);
  }
  const self = parseFhirUser(principal.fhirUser);
  if (self && parsed.other.includes('openid') && parsed.other.includes('fhirUser')) {
    grants.push({ resourceType: self[0], permissions: ['r'], ids: [self[1]], scope: 'openid fhirUser' });
  }
  const unrestricted = grants.some(
    (g) => g.resourceType === '*' && g.permissions.length === PERMISSIONS.length && !g.patient && !g.ids && !g.query,
  );
  return { unrestricted, grants, ignored };
}

function needs(need: Need): readonly Permission[] {
  return need === VISIBLE ? ['r', 's'] : [need];
}

/** Which rows of `resourceType` `need` reaches under `policy` (union of the grants, §Scope Equivalence). */
export function rowRule(policy: Policy, need: Need, resourceType: string): RowRule {
  if (policy.unrestricted) return { kind: 'all' };
  const wanted = needs(need);
  const write = need === 'c' || need === 'u' || need === 'd';
  const branches: RowBranch[] = [];
  for (const g of policy.grants) {
    if (g.resourceType !== '*' && g.resourceType !== resourceType) continue;
    if (!g.permissions.some((p) => wanted.includes(p))) continue;
    const branch: RowBranch = {};
    if (g.patient !== undefined) {
      const reach = compartmentReach(resourceType);
      if (reach === 'outside' || (reach === 'shared' && write)) continue;
      if (reach === 'compartment') {
        branch.patient = g.patient;
        if (write) branch.exclusive = true;
      }
    }
    if (g.ids) branch.ids = g.ids;
    if (g.query) branch.query = g.query;
    if (Object.keys(branch).length === 0) return { kind: 'all' };
    branches.push(branch);
  }
  if (branches.length === 0) return { kind: 'none' };
  // A branch that sets a subset of another's constraints (with equal values) admits all its rows: drop the narrower one.
  const kept = branches.filter((b, i) => !branches.some((o, j) => j !== i && narrows(b, o) && (!narrows(o, b) || j < i)));
  return { kind: 'some', branches: kept };
}

/** True when every constraint `wide` sets is set identically in `narrow`. */
function narrows(narrow: RowBranch, wide: RowBranch): boolean {
  return (Object.keys(wide) as (keyof RowBranch)[]).every((k) => JSON.stringify(wide[k]) === JSON.stringify(narrow[k]));
}

const VERBS: Readonly<Record<Permission, string>> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

/**
 * The 403 diagnostic when nothing grants `permission` on `resourceType`: names the scopes that would, and
 * whether granted ones were set aside, never any data (RFC 6750 §3.1 `insufficient_scope`).
 */
export function missingScopeMessage(
  policy: Policy,
  permission: Permission,
  resourceType: string,
  what: string = VERBS[permission],
): string {
  const wanted = ['patient', 'user', 'system'].map((c) => `${c}/${resourceType}.${permission}`).join(', ');
  const setAside =
    policy.ignored.length > 0
      ? ` Scopes set aside: ${policy.ignored
          .map((i) => `${i.scope} (${i.reason})`)
          .join('; ')
          .slice(0, 300)}.`
      : '';
  return `Insufficient scope: ${what} on ${resourceType} needs one of ${wanted} (or a wildcard such as patient/*.${permission}).${setAside}`;
}
