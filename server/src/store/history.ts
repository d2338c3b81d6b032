/**
 * History at type and system level, and instance history with `_since`/`_at` (FHIR R4 §3.1.0.4 history).
 * Newest first; deletes appear as entries without a resource.
 */
import { OperationOutcomeError, badRequest, notFound } from '@medplum/core';
import type { Bundle } from '@medplum/fhirtypes';
import type { HavenRepository } from './repository.ts';
import { SqlParams } from './sql.ts';

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

/** Parses a FHIR instant/dateTime parameter value; 400 when it is not one. */
export function parseHistoryInstant(name: string, value: string): string {
  const ok = /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/.test(value);
  const date = ok ? new Date(value.length === 4 ? `${value}-01-01T00:00:00Z` : value.length === 7 ? `${value}-01T00:00:00Z` : value) : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw new OperationOutcomeError(badRequest(`Invalid ${name} value "${value.slice(0, 40)}": expected a FHIR instant such as 2024-01-31T12:00:00Z`, name));
  }
  return date.toISOString();
}

/** Reads one page of history. */
export async function readHistoryPage(repo: HavenRepository, q: HistoryQuery): Promise<Bundle> {
  const p = new SqlParams();
  const where = [`h.tenant = ${p.add(repo.ctx.tenant)}`];
  if (q.resourceType) where.push(`h.resource_type = ${p.add(q.resourceType)}`);
  if (q.id) where.push(`h.id = ${p.add(q.id)}`);
  if (q.since) where.push(`h.last_updated >= ${p.add(q.since)}`);
  let from = 'resource_history h';
  if (q.at) {
    // Per resource, the version current at `at`: the newest one written at or before it.
    const at = p.add(q.at);
    where.push(`h.last_updated <= ${at}`);
    where.push(`NOT EXISTS (SELECT 1 FROM resource_history n WHERE n.tenant = h.tenant AND n.resource_type = h.resource_type
      AND n.id = h.id AND n.version_id > h.version_id AND n.last_updated <= ${at})`);
    from = 'resource_history h';
  }
  const whereSql = where.join(' AND ');
  const { rows: countRows } = await repo.q.query<{ n: number }>(`SELECT count(*) AS n FROM ${from} WHERE ${whereSql}`, p.values);
  const total = Number(countRows[0]?.n ?? 0);
  if (q.id && total === 0 && !q.since && !q.at) throw new OperationOutcomeError(notFound);
  const limit = p.add(q.count);
  const offset = p.add(q.offset);
  const { rows } = await repo.q.query(
    `SELECT h.resource_type, h.id, h.version_id, h.last_updated, h.deleted, h.method, h.content FROM ${from}
     WHERE ${whereSql} ORDER BY h.last_updated DESC, h.seq DESC LIMIT ${limit} OFFSET ${offset}`,
    p.values,
  );
  return {
    resourceType: 'Bundle',
    type: 'history',
    total,
    entry: rows.map((r) => repo.historyEntry(r as never)),
  };
}
