/**
 * SMART scope grammar and the subset relation the authorization server needs: what a client may be
 * granted (its registered maximum), and whether a refresh asks for more than the original grant.
 * Enforcement on FHIR paths lives in policy/, not here.
 *
 * The grammar itself (SMART App Launch 2.2 §Clinical Scope Syntax, v1 and v2, wildcards, query constraints) is
 * parsed in one place, ../policy/scopes.ts, which the authorization server and the policy share.
 */
import { queryString, resourceScope, type ScopeContext } from '../policy/scopes.ts';

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

// RFC 6749 §3.3 scope-token: printable ASCII except space, '"' and '\'.
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

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
    const parsed = resourceScope(s);
    if (!parsed) return { ok: false, reason: `Malformed scope "${s.slice(0, 80)}"` };
    if (parsed.resourceType !== '*' && !resourceTypes.has(parsed.resourceType))
      return { ok: false, reason: `Unknown resource type in scope "${s.slice(0, 80)}"` };
    out.push(s);
  }
  return { ok: true, scopes: out };
}

/** True when granting `held` already includes everything `wanted` allows. */
export function scopeCovers(held: string, wanted: string): boolean {
  if (held === wanted) return true;
  const h = resourceScope(held);
  const w = resourceScope(wanted);
  if (!h || !w) return false;
  if (h.context !== w.context) return false;
  if (h.resourceType !== '*' && h.resourceType !== w.resourceType) return false;
  if (!w.permissions.every((p) => h.permissions.includes(p))) return false;
  // A constrained scope only covers the same constraint (compared decoded); an unconstrained one covers any.
  return h.query === undefined || (w.query !== undefined && queryString(h.query) === queryString(w.query));
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
export function hasContext(scopes: readonly string[], context: ScopeContext): boolean {
  return scopes.some((s) => resourceScope(s)?.context === context);
}

/** Default maximum grant for `haven clients add` without `--scopes`, by client type. */
export function defaultMaxScopes(type: string): string {
  return type === 'backend'
    ? 'system/*.rs'
    : 'openid fhirUser launch launch/patient launch/encounter offline_access online_access patient/*.cruds user/*.cruds';
}
