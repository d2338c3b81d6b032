/**
 * The access decision as a value: what ../policy decides for a caller and ../store applies to its queries. The
 * store never asks who the caller is or which scopes it holds; it asks an {@link Access} which rows of a type a
 * permission reaches ({@link RowRule}), turns that rule into SQL (or checks a stored version against it), and
 * refuses with the diagnostic the policy wrote. See ../policy/README.md, "Where each check sits".
 *
 * Permissions are SMART App Launch 2.2's (Scopes and Launch Context, §Clinical Scope Syntax): `c` create,
 * `r` read, `u` update, `d` delete, `s` search.
 */
import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';

/** The five SMART v2 permissions, in the order the scope grammar requires. */
export const PERMISSIONS = ['c', 'r', 'u', 'd', 's'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** `r` or `s`: what is needed to see a row that arrives beside a match (includes, chains, `_has`, $everything). */
export const VISIBLE = 'visible' as const;
export type Need = Permission | typeof VISIBLE;

/** One way a row may qualify; the fields that are set are ANDed. An empty branch admits every row. */
export interface RowBranch {
  /** Only rows in this patient's compartment (./compartment.ts). */
  patient?: string;
  /** Writes: the row must be in no other patient's compartment either. */
  exclusive?: boolean;
  /** Only these ids. */
  ids?: readonly string[];
  /** Only rows matching these search parameters (ANDed), meant exactly as the same search. */
  query?: readonly (readonly [string, string])[];
}

/** Which rows of one type a permission reaches: all, none, or those passing any branch. */
export type RowRule = { kind: 'all' } | { kind: 'none' } | { kind: 'some'; branches: readonly RowBranch[] };

/**
 * A caller's access, as the store receives it (the FHIR API builds it per request from the caller's token;
 * internal callers such as import pass none: full access).
 */
export interface Access {
  /** Every type, every permission, every row: no check or filter needs to run. */
  readonly unrestricted: boolean;
  /** Which rows of `resourceType` `need` reaches. */
  rule(need: Need, resourceType: string): RowRule;
  /** The 403 diagnostic when no row of `resourceType` is reachable with `permission`: scopes, never data. */
  refusal(permission: Permission, resourceType: string, what?: string): string;
}

/** True when `access` filters anything at all (undefined: an internal caller with full access). */
export function isRestricted<T extends { readonly unrestricted: boolean }>(access: T | undefined): access is T {
  return access !== undefined && !access.unrestricted;
}

/** True when some permission reaches some row of `resourceType` (`$validate` needs any grant on the type). */
export function reachesAny(access: Access, resourceType: string): boolean {
  return PERMISSIONS.some((p) => access.rule(p, resourceType).kind !== 'none');
}

/** The outcome of a refusal: HTTP 403 through @medplum/core's `getStatus` (id `forbidden`). */
export function forbiddenOutcome(diagnostics: string): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    id: 'forbidden',
    issue: [{ severity: 'error', code: 'forbidden', details: { text: diagnostics }, diagnostics }],
  };
}

/** A 403 error with `diagnostics`. */
export function forbidden(diagnostics: string): OperationOutcomeError {
  return new OperationOutcomeError(forbiddenOutcome(diagnostics));
}
