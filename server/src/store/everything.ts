/**
 * Patient/$everything (FHIR R4 patient-operation-everything): the patient, every resource in its
 * compartment (per the R4 Patient CompartmentDefinition) and the non-patient resources those refer to,
 * optionally limited by `_since` and `_type`, paged.
 *
 * Access policy: the patient itself must be readable by the caller (403 without a Patient read grant, 404
 * when that patient is outside the grants), and every returned row must be visible to the caller (a read
 * or search grant reaching it, ./access/sql.ts `multiTypeSql`), in the count as in the page.
 */
import { isRestricted, VISIBLE } from '../model/access.ts';
import { patientCompartmentParams } from '../model/compartment.ts';
import { multiTypeSql } from './access/sql.ts';
import type { HavenRepository } from './repository.ts';
import { allResourceTypes } from './search/params.ts';
import { SqlParams } from './sql.ts';
import { fromStored } from './stored.ts';

/** Options of one $everything page. */
export interface EverythingQuery {
  patientId: string;
  since?: string;
  types?: string[];
  count: number;
  offset: number;
}

/** Returns one page of the compartment, the patient first, then by type and id, with the total. */
export async function readEverythingPage(repo: HavenRepository, q: EverythingQuery): Promise<{ total: number; resources: object[] }> {
  await repo.readResource('Patient', q.patientId); // 404 / 410 for a missing patient
  const p = new SqlParams();
  const tenant = p.add(repo.ctx.tenant);
  const pid = p.add(q.patientId);
  const pairs = p.add(patientCompartmentParams());
  const filters: string[] = [];
  if (q.since) filters.push(`e.last_updated >= ${p.add(q.since)}`);
  if (q.types?.length) filters.push(`e.resource_type = ANY(${p.add(q.types)})`);
  if (isRestricted(repo.ctx.access)) {
    const visible = multiTypeSql(repo.ctx.access, VISIBLE, 'e', q.types?.length ? q.types : allResourceTypes(), p, repo.ctx.tenant);
    if (visible) filters.push(visible);
  }
  const extra = filters.length ? ` AND ${filters.join(' AND ')}` : '';
  // The compartment, then what its members refer to (practitioners, organizations, medications...).
  // Other patients are never pulled in through references: $everything is one patient's record.
  const members = `
    WITH compartment AS (
      SELECT r.resource_type, r.id, r.content, r.last_updated FROM resources r
      WHERE r.tenant = ${tenant} AND NOT r.deleted AND (
        (r.resource_type = 'Patient' AND r.id = ${pid})
        OR EXISTS (SELECT 1 FROM sp_reference s WHERE s.tenant = r.tenant AND s.resource_type = r.resource_type AND s.id = r.id
                   AND s.target_type = 'Patient' AND s.target_id = ${pid} AND (s.resource_type || ':' || s.code) = ANY(${pairs})))
    ),
    referenced AS (
      SELECT DISTINCT t.resource_type, t.id, t.content, t.last_updated FROM compartment c
      JOIN sp_reference s ON s.tenant = ${tenant} AND s.resource_type = c.resource_type AND s.id = c.id
      JOIN resources t ON t.tenant = s.tenant AND t.resource_type = s.target_type AND t.id = s.target_id
      WHERE NOT t.deleted AND t.resource_type <> 'Patient'
    ),
    everything AS (SELECT * FROM compartment UNION SELECT * FROM referenced)
    SELECT e.resource_type, e.id, e.content, CASE WHEN e.resource_type = 'Patient' AND e.id = ${pid} THEN 0 ELSE 1 END AS rank
    FROM everything e WHERE true${extra}`;
  const { rows: countRows } = await repo.q.query<{ n: number }>(`SELECT count(*) AS n FROM (${members}) m`, p.values);
  const limit = p.add(q.count);
  const offset = p.add(q.offset);
  const { rows } = await repo.q.query<{ content: object }>(
    `SELECT content FROM (${members}) m ORDER BY rank, resource_type, id LIMIT ${limit} OFFSET ${offset}`,
    p.values,
  );
  return { total: Number(countRows[0]?.n ?? 0), resources: rows.map((r) => fromStored(r.content)) };
}
