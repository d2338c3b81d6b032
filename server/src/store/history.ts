/**
 * History at type and system level, and instance history with `_since`/`_at` (FHIR R4 §3.1.0.4 history).
 * Newest first; deletes appear as entries without a resource.
 *
 * Restricted callers (an Access that filters rows, decided by ../policy) see a version only when the resource as
 * it is now is live and within their grants (SQL, on the current row's index) and the version's own
 * content is within them too (in memory, ./access/match.ts `resourceAllowed`); types they hold no grant for
 * are left out. Totals and paging count only what they see. See ../policy/README.md.
 */
import { OperationOutcomeError, badRequest, notFound } from '@medplum/core';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { forbidden, isRestricted, type Access, type RowRule } from '../model/access.ts';
import { requireGrant } from './access/guard.ts';
import { resourceAllowed } from './access/match.ts';
import { multiTypeSql } from './access/sql.ts';
import type { HavenRepository } from './repository.ts';
import { allResourceTypes } from './search/params.ts';
import { SqlParams } from './sql.ts';
import { dateRange } from './index-dates.ts';
import { fromStored } from './stored.ts';

/** Parsed history parameters. */
export interface HistoryQuery {
  resourceType?: string;
  id?: string;
  /** Only versions written at or after this instant. */
  since?: string;
  /** Only versions current at this instant (the latest version written at or before it, per resource). */
  at?: string;
  count: number;
  offset: number;
}

/**
 * Most versions a restricted history reads before filtering by content: past it the request is refused
 * (narrow it with `_since`, `_at` or a type) rather than answered with a total that is not exact.
 */
export const RESTRICTED_HISTORY_SCAN = 10_000;

/**
 * Parses a FHIR date/dateTime/instant parameter value to the instant where it starts, with the same
 * precision and time-zone rules as date search (./index-dates.ts); 400 when it is not one.
 */
export function parseHistoryInstant(name: string, value: string): string {
  // FHIR allows at most 9 fractional digits (R4 datatypes: dateTime/instant regex).
  const range = /\.\d{10,}/.test(value) ? undefined : dateRange(value);
  if (!range) {
    throw new OperationOutcomeError(
      badRequest(`Invalid ${name} value "${value.slice(0, 40)}": expected a FHIR instant such as 2024-01-31T12:00:00Z`, name),
    );
  }
  return new Date(range[0]).toISOString();
}

interface HistoryRow {
  resource_type: string;
  id: string;
  version_id: number;
  last_updated: string;
  deleted: boolean;
  method: string;
  content: Resource | null;
}

/**
 * The policy's part of the WHERE clause: fully granted types as they are, restricted types only while
 * their current row is live and within the grants, the rest left out. Returns the rules of the restricted
 * types (their versions are then checked one by one), or undefined when nothing is restricted.
 */
function policyWhere(access: Access, q: HistoryQuery, p: SqlParams, tenant: string, where: string[]): Map<string, RowRule> | undefined {
  const need = q.id ? 'r' : 's';
  if (q.resourceType) requireGrant(access, need, q.resourceType, q.id ? 'history' : 'type history');
  const types = q.resourceType ? [q.resourceType] : allResourceTypes();
  const free: string[] = [];
  const restricted = new Map<string, RowRule>();
  for (const type of types) {
    const rule = access.rule(need, type);
    if (rule.kind === 'all') free.push(type);
    else if (rule.kind === 'some') restricted.set(type, rule);
  }
  if (free.length === types.length) return undefined;
  if (free.length === 0 && restricted.size === 0)
    throw forbidden('Insufficient scope: system history needs a search grant (e.g. system/*.s or patient/*.s)');
  const parts: string[] = [];
  if (free.length > 0) parts.push(`h.resource_type = ANY(${p.add(free)}::text[])`);
  if (restricted.size > 0) {
    const live = multiTypeSql(access, need, 'cr', [...restricted.keys()], p, tenant) ?? 'true';
    parts.push(
      `EXISTS (SELECT 1 FROM resources cr WHERE cr.tenant = h.tenant AND cr.resource_type = h.resource_type AND cr.id = h.id AND NOT cr.deleted AND ${live})`,
    );
  }
  where.push(`(${parts.join(' OR ')})`);
  return restricted.size > 0 ? restricted : undefined;
}

/** Reads one page of history. */
export async function readHistoryPage(repo: HavenRepository, q: HistoryQuery): Promise<Bundle> {
  const p = new SqlParams();
  const where = [`h.tenant = ${p.add(repo.ctx.tenant)}`];
  if (q.resourceType) where.push(`h.resource_type = ${p.add(q.resourceType)}`);
  if (q.id) where.push(`h.id = ${p.add(q.id)}`);
  if (q.since) where.push(`h.last_updated >= ${p.add(q.since)}`);
  if (q.at) {
    // Per resource, the version current at `at`: the newest one written at or before it.
    const at = p.add(q.at);
    where.push(`h.last_updated <= ${at}`);
    where.push(`NOT EXISTS (SELECT 1 FROM resource_history n WHERE n.tenant = h.tenant AND n.resource_type = h.resource_type
      AND n.id = h.id AND n.version_id > h.version_id AND n.last_updated <= ${at})`);
  }
  const access = repo.ctx.access;
  const perVersion = isRestricted(access) ? policyWhere(access, q, p, repo.ctx.tenant, where) : undefined;
  const whereSql = where.join(' AND ');
  const columns = 'h.resource_type, h.id, h.version_id, h.last_updated, h.deleted, h.method, h.content';
  const order = 'ORDER BY h.last_updated DESC, h.seq DESC';

  let total: number;
  let rows: HistoryRow[];
  if (perVersion) {
    // Content checks happen in memory, so count and page after them (bounded by RESTRICTED_HISTORY_SCAN).
    const { rows: all } = await repo.q.query<HistoryRow>(
      `SELECT ${columns} FROM resource_history h WHERE ${whereSql} ${order} LIMIT ${p.add(RESTRICTED_HISTORY_SCAN + 1)}`,
      p.values,
    );
    if (all.length > RESTRICTED_HISTORY_SCAN) {
      throw new OperationOutcomeError(
        badRequest(
          `History too large to filter for this token (over ${RESTRICTED_HISTORY_SCAN} versions): narrow it with _since, _at or a resource type`,
        ),
      );
    }
    const seen = all.filter((r) => {
      const rule = perVersion.get(r.resource_type);
      return !rule || !r.content || resourceAllowed(rule, fromStored<Resource>(r.content));
    });
    total = seen.length;
    rows = seen.slice(q.offset, q.offset + q.count);
  } else {
    const { rows: countRows } = await repo.q.query<{ n: number }>(
      `SELECT count(*) AS n FROM resource_history h WHERE ${whereSql}`,
      p.values,
    );
    total = Number(countRows[0]?.n ?? 0);
    const limit = p.add(q.count);
    const offset = p.add(q.offset);
    rows = (
      await repo.q.query<HistoryRow>(
        `SELECT ${columns} FROM resource_history h WHERE ${whereSql} ${order} LIMIT ${limit} OFFSET ${offset}`,
        p.values,
      )
    ).rows;
  }
  if (q.id && total === 0 && !q.since && !q.at) throw new OperationOutcomeError(notFound);
  return {
    resourceType: 'Bundle',
    type: 'history',
    total,
    entry: rows.map((r) => repo.historyEntry(r as never)),
  };
}
