/**
 * Where the store applies a caller's {@link Access} (decided by ../../policy, received as a value). Every check either
 * throws (403 / 404) or returns SQL that the caller puts into its one statement, so a path either asks
 * here or cannot see rows at all when the policy is restricted.
 *
 * Status decisions (documented in ./README.md):
 * - No grant for the interaction on the type at all → 403 `forbidden` naming the scopes that would grant it
 *   (RFC 6750 §3.1 `insufficient_scope`; SMART 2.2 §Scopes "resource type not granted" → 403).
 * - The type is granted but this row is outside every grant → 404, exactly as if it did not exist, so a
 *   patient app cannot probe ids of other patients' records. If the row is visible (`r` or `s`) but the
 *   write permission's grants do not reach it → 403 (its existence is already known to the caller).
 * - A write whose result would fall outside the write grants (another patient, another category) → 403,
 *   and the transaction rolls back.
 */
import { notFound, OperationOutcomeError } from '@medplum/core';
import { forbidden, isRestricted, VISIBLE, type Access, type Permission } from '../../model/access.ts';
import type { Queryable } from '../db.ts';
import { SqlParams } from '../sql.ts';
import { ruleSql } from './sql.ts';

/** 403 unless some grant gives `permission` on some rows of `resourceType`. */
export function requireGrant(access: Access | undefined, permission: Permission, resourceType: string, what?: string): void {
  if (!isRestricted(access)) return;
  if (access.rule(permission, resourceType).kind === 'none') throw forbidden(access.refusal(permission, resourceType, what));
}

/** What a principal may do with one existing row. */
export type RowVerdict = 'allowed' | 'forbidden' | 'hidden';

/**
 * Checks the current row of (type, id) against the grants of `permission`: `allowed`, `forbidden` (visible
 * through `r`/`s` but not granted for this permission) or `hidden` (outside every read grant, or absent).
 * A deleted row has no index rows, so only an unconstrained grant reaches it.
 */
export async function rowVerdict(
  q: Queryable,
  tenant: string,
  access: Access | undefined,
  permission: Permission,
  resourceType: string,
  id: string,
): Promise<RowVerdict> {
  if (!isRestricted(access)) return 'allowed';
  const rule = access.rule(permission, resourceType);
  if (rule.kind === 'all') return 'allowed';
  const p = new SqlParams();
  const allowed = ruleSql(rule, 'r', resourceType, p, tenant) ?? 'true';
  const visible = ruleSql(access.rule(VISIBLE, resourceType), 'r', resourceType, p, tenant) ?? 'true';
  const { rows } = await q.query<{ allowed: boolean; visible: boolean }>(
    `SELECT (${allowed}) AS allowed, (${visible}) AS visible FROM resources r
     WHERE r.tenant = ${p.add(tenant)} AND r.resource_type = ${p.add(resourceType)} AND r.id = ${p.add(id)}`,
    p.values,
  );
  const row = rows[0];
  if (!row) return 'hidden';
  return row.allowed ? 'allowed' : row.visible ? 'forbidden' : 'hidden';
}

/** A 404 that is indistinguishable from a missing row. */
function hiddenError(): OperationOutcomeError {
  return new OperationOutcomeError(notFound);
}

/**
 * Throws unless `permission` reaches the current row of (type, id): 404 when the row is hidden, 403 when it
 * is visible but not granted for `permission`. Rows that do not exist are left to the caller (404/201).
 */
export async function assertRow(
  q: Queryable,
  tenant: string,
  access: Access | undefined,
  permission: Permission,
  resourceType: string,
  id: string,
  what: string,
): Promise<void> {
  const verdict = await rowVerdict(q, tenant, access, permission, resourceType, id);
  if (verdict === 'allowed') return;
  if (verdict === 'forbidden') throw forbidden(`Insufficient scope: the granted scopes do not allow ${what} of this ${resourceType}`);
  throw hiddenError();
}

/**
 * After a write, inside its transaction: throws 403 unless the written row (its new index rows) is within
 * the grants of `permission`, so the transaction rolls back. Writes use exclusive compartment membership.
 */
export async function assertWritten(
  q: Queryable,
  tenant: string,
  access: Access | undefined,
  permission: 'c' | 'u',
  resourceType: string,
  id: string,
): Promise<void> {
  if (!isRestricted(access)) return;
  const rule = access.rule(permission, resourceType);
  if (rule.kind === 'all') return;
  const p = new SqlParams();
  const cond = ruleSql(rule, 'r', resourceType, p, tenant) ?? 'true';
  const { rows } = await q.query<{ ok: boolean }>(
    `SELECT (${cond}) AS ok FROM resources r WHERE r.tenant = ${p.add(tenant)} AND r.resource_type = ${p.add(resourceType)} AND r.id = ${p.add(id)}`,
    p.values,
  );
  if (!rows[0]?.ok) {
    const verb = permission === 'c' ? 'create' : 'update';
    throw forbidden(
      `Insufficient scope: the granted scopes do not allow ${verb} of a ${resourceType} with this content` +
        ' (it must stay within the patient compartment and the query constraints of the granted scopes)',
    );
  }
}
