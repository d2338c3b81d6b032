/**
 * SMART scope grammar and the subset relation the authorization server needs: what a client may be
 * granted (its registered maximum), and whether a refresh asks for more than the original grant.
 * Enforcement on FHIR paths lives in policy/, not here.
 *
 * Grammar (SMART App Launch 2.2 scopes-and-launch-context.md): `(patient|user|system)/(Type|*).perms`
 * with v2 `perms` = `c?r?u?d?s?` in that order, optionally `?param=value(&param=value)*`, and v1 `read`,
 * `write`, `*` (permission-v1: `.read` = `.rs`, `.write` = `.cud`, `.*` = `.cruds`).
 */

/** Context and identity scopes Haven grants (besides resource scopes). */
export const NON_RESOURCE_SCOPES = [
  'openid',
  'fhirUser',
  'launch',
  'launch/patient',
  'launch/encounter',
  'offline_access',
  'online_access',
  /** Haven extension (SMART "extension scopes" use a `__` prefix): may call POST /auth/launch. */
  '__haven_launch',
] as const;
const NON_RESOURCE = new Set<string>(NON_RESOURCE_SCOPES);

/** A parsed resource scope. */
export interface ResourceScope {
  context: 'patient' | 'user' | 'system';
  /** Resource type or '*'. */
  type: string;
  /** Normalised v2 permissions, a subset of 'cruds' in that order. */
  perms: string;
  /** v2 query constraint without the '?', if any. */
  query?: string;
}

const RESOURCE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]{1,63})\.(read|write|\*|c?r?u?d?s?)(?:\?(.+))?$/;
// RFC 6749 §3.3 scope-token: printable ASCII except space, '"' and '\'.
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const QUERY_PART = /^[A-Za-z0-9_.:-]+=[^&=\s]+$/;
const V1_PERMS: Record<string, string> = { read: 'rs', write: 'cud', '*': 'cruds' };

/**
 * Parses a resource scope; undefined when `scope` is not one (or is malformed: empty or out-of-order
 * permissions, a query on a v1 scope, a malformed query).
 */
export function parseResourceScope(scope: string): ResourceScope | undefined {
  const m = RESOURCE.exec(scope);
  if (!m) return undefined;
  const [, context, type, rawPerms, query] = m;
  const v1 = Object.hasOwn(V1_PERMS, rawPerms);
  if (!v1 && rawPerms === '') return undefined;
  if (query !== undefined && (v1 || !query.split('&').every((p) => QUERY_PART.test(p)))) return undefined;
  return { context: context as ResourceScope['context'], type, perms: v1 ? V1_PERMS[rawPerms] : rawPerms, ...(query ? { query } : {}) };
}

/** True when `scope` looks like a resource scope (has a context prefix), well-formed or not. */
function looksLikeResourceScope(scope: string): boolean {
  return /^(patient|user|system)\//.test(scope);
}

/** Splits a scope parameter on spaces (RFC 6749 §3.3), dropping duplicates and keeping order. */
export function splitScopes(scope: string | undefined): string[] {
  return [...new Set((scope ?? '').split(' ').filter((s) => s !== ''))];
}

/** Outcome of checking a requested scope string. */
export type ScopeCheck = { ok: true; scopes: string[] } | { ok: false; reason: string };

/**
 * Validates requested scopes (RFC 6749 §3.3 and the SMART grammar). Malformed tokens and resource scopes
 * with an unknown type are errors (`invalid_scope`); well-formed scopes Haven does not define (e.g. OIDC
 * `profile`) are dropped, as RFC 6749 §3.3 lets the server grant fewer scopes than asked.
 */
export function checkRequestedScopes(scope: string | undefined, resourceTypes: ReadonlySet<string>): ScopeCheck {
  const out: string[] = [];
  for (const s of splitScopes(scope)) {
    if (!SCOPE_TOKEN.test(s)) return { ok: false, reason: 'Scope contains characters RFC 6749 §3.3 does not allow' };
    if (NON_RESOURCE.has(s)) {
      out.push(s);
      continue;
    }
    if (!looksLikeResourceScope(s)) continue;
    const parsed = parseResourceScope(s);
    if (!parsed) return { ok: false, reason: `Malformed scope "${s.slice(0, 80)}"` };
    if (parsed.type !== '*' && !resourceTypes.has(parsed.type))
      return { ok: false, reason: `Unknown resource type in scope "${s.slice(0, 80)}"` };
    out.push(s);
  }
  return { ok: true, scopes: out };
}

/** True when granting `held` already includes everything `wanted` allows. */
export function scopeCovers(held: string, wanted: string): boolean {
  if (held === wanted) return true;
  const h = parseResourceScope(held);
  const w = parseResourceScope(wanted);
  if (!h || !w) return false;
  if (h.context !== w.context) return false;
  if (h.type !== '*' && h.type !== w.type) return false;
  if (![...w.perms].every((p) => h.perms.includes(p))) return false;
  // A constrained scope only covers the same constraint; an unconstrained one covers any constraint.
  return h.query === undefined || h.query === w.query;
}

/** The scopes of `wanted` that some scope in `held` covers. */
export function coveredScopes(held: readonly string[], wanted: readonly string[]): string[] {
  return wanted.filter((w) => held.some((h) => scopeCovers(h, w)));
}

/** True when every scope of `wanted` is covered by `held`. */
export function allCovered(held: readonly string[], wanted: readonly string[]): boolean {
  return coveredScopes(held, wanted).length === wanted.length;
}

/** True when any scope is a resource scope with the given context. */
export function hasContext(scopes: readonly string[], context: ResourceScope['context']): boolean {
  return scopes.some((s) => parseResourceScope(s)?.context === context);
}

/** Default maximum grant for `haven clients add` without `--scopes`, by client type. */
export function defaultMaxScopes(type: string): string {
  return type === 'backend'
    ? 'system/*.rs'
    : 'openid fhirUser launch launch/patient launch/encounter offline_access online_access patient/*.cruds user/*.cruds';
}
