/**
 * What a granted SMART scope string lets the app do, so that features the EHR did not grant are hidden
 * instead of failing (SMART App Launch 2.2, "Scopes and Launch Context": §Clinical Scope Syntax, §Scopes v1
 * compatibility). EHRs differ in spelling: Epic sends v1 scopes (`patient/Observation.read`), some servers
 * capitalise (`Patient/Observation.Read`), v2 uses permission letters (`user/Task.cruds`) and query
 * constraints (`patient/Observation.rs?category=survey`). All are parsed case-insensitively here; a
 * constrained scope still counts as "may do this on some rows" (the server decides which).
 */

/** v2 permission letters: create, read, update, delete, search. */
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

/** The three scope contexts of SMART resource scopes. */
export const SCOPE_CONTEXTS = ['patient', 'user', 'system'] as const;
export type ScopeContext = (typeof SCOPE_CONTEXTS)[number];

/** One resource scope, normalised. */
export interface ResourceGrant {
  readonly context: ScopeContext;
  /** Resource type as written (`*` for all); compared case-insensitively. */
  readonly type: string;
  readonly permissions: ReadonlySet<Permission>;
  /** The query constraint (`category=survey`), if any: only some rows are granted. */
  readonly constraint?: string;
}

/** A parsed grant. */
export interface GrantedScopes {
  readonly resources: readonly ResourceGrant[];
  /** Non-resource scopes, lower-cased (`openid`, `fhiruser`, `launch`, `launch/patient`, `offline_access`…). */
  readonly other: ReadonlySet<string>;
}

const V1: Readonly<Record<string, readonly Permission[]>> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};
const V2 = /^c?r?u?d?s?$/;

function permissionsOf(action: string): Permission[] | undefined {
  const a = action.toLowerCase();
  if (a in V1) return [...V1[a]];
  if (a !== '' && V2.test(a)) return [...a] as Permission[];
  return undefined;
}

/** Parses one resource scope (`patient/Observation.rs?category=survey`), or undefined if it is not one. */
export function parseResourceScope(scope: string): ResourceGrant | undefined {
  const q = scope.indexOf('?');
  const head = q < 0 ? scope : scope.slice(0, q);
  const m = /^([A-Za-z]+)\/([A-Za-z]+|\*)\.([A-Za-z*]+)$/.exec(head);
  if (!m) return undefined;
  const context = m[1].toLowerCase();
  if (!(SCOPE_CONTEXTS as readonly string[]).includes(context)) return undefined;
  const permissions = permissionsOf(m[3]);
  if (!permissions) return undefined;
  return {
    context: context as ScopeContext,
    type: m[2],
    permissions: new Set(permissions),
    ...(q >= 0 && scope.length > q + 1 ? { constraint: scope.slice(q + 1) } : {}),
  };
}

/** Parses a space-separated scope string as granted in a token response. */
export function parseScopes(scope: string | undefined): GrantedScopes {
  const resources: ResourceGrant[] = [];
  const other = new Set<string>();
  for (const s of (scope ?? '').split(/\s+/)) {
    if (s === '') continue;
    const grant = parseResourceScope(s);
    if (grant) resources.push(grant);
    else other.add(s.toLowerCase());
  }
  return { resources, other };
}

/** True when some granted scope allows `permission` on `resourceType` (in any context). */
export function can(granted: GrantedScopes, resourceType: string, permission: Permission): boolean {
  const type = resourceType.toLowerCase();
  return granted.resources.some((g) => (g.type === '*' || g.type.toLowerCase() === type) && g.permissions.has(permission));
}

/** True when the non-resource scope (`openid`, `launch/patient`, …) was granted; case-insensitive. */
export function hasScope(granted: GrantedScopes, scope: string): boolean {
  return granted.other.has(scope.toLowerCase());
}
