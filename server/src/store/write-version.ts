/**
 * Builds the single statement that writes one resource version: the current row, the history row and
 * the search index rows, as data-modifying CTEs. One round trip per write keeps ingest fast, and one
 * statement inside the caller's transaction keeps it atomic.
 */
import type { IndexRows } from './index-rows.ts';
import { INDEX_TABLES } from './index-rows.ts';
import { appendEventsCte, notifySelect, type EventOrigin } from '../events/outbox.ts';
import { SqlParams } from './sql.ts';

/** Columns of each sp_* table after (tenant, resource_type, id), with their SQL array types. */
const INDEX_COLUMNS: { [K in keyof IndexRows]: readonly (readonly [keyof IndexRows[K][number] & string, string])[] } = {
  string: [['code', 'text'], ['norm', 'text'], ['raw', 'text']],
  token: [['code', 'text'], ['system', 'text'], ['value', 'text'], ['display', 'text']],
  reference: [['code', 'text'], ['target_type', 'text'], ['target_id', 'text'], ['url', 'text'], ['ident_system', 'text'], ['ident_value', 'text']],
  date: [['code', 'text'], ['low', 'timestamptz'], ['high', 'timestamptz']],
  number: [['code', 'text'], ['value', 'numeric']],
  quantity: [['code', 'text'], ['value', 'numeric'], ['system', 'text'], ['unit_code', 'text'], ['unit', 'text']],
  uri: [['code', 'text'], ['value', 'text']],
  composite: [
    ['code', 'text'], ['c1_system', 'text'], ['c1_value', 'text'], ['c2_system', 'text'], ['c2_value', 'text'],
    ['c2_number', 'numeric'], ['c2_unit_code', 'text'], ['c2_low', 'timestamptz'], ['c2_high', 'timestamptz'], ['c2_string', 'text'],
  ],
};

/** What to write. `content` is null for a delete. */
export interface VersionWrite {
  tenant: string;
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: string;
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  content: object | null;
  /** Index rows of the new version; empty for a delete. */
  index: IndexRows | undefined;
  /** True when a current row may exist already (update, delete, re-create after delete). */
  replaces: boolean;
  /**
   * Set for a write outside an explicit transaction: this same statement appends its outbox event
   * (../events/outbox.ts). Writes inside a transaction append theirs at the end of it.
   */
  event?: { interaction: 'create' | 'update' | 'delete'; origin: EventOrigin | undefined };
}

/** Returns the statement and parameters that write `w` atomically. */
export function buildVersionWrite(w: VersionWrite): { sql: string; params: unknown[] } {
  const p = new SqlParams();
  const tenant = p.add(w.tenant);
  const type = p.add(w.resourceType);
  const id = p.add(w.id);
  const version = p.add(w.versionId);
  const updated = p.add(w.lastUpdated);
  const deleted = p.add(w.content === null);
  const content = p.add(w.content === null ? null : JSON.stringify(w.content));
  const ctes: string[] = [];
  ctes.push(
    w.replaces
      ? `cur AS (INSERT INTO resources (tenant, resource_type, id, version_id, last_updated, deleted, content)
           VALUES (${tenant}, ${type}, ${id}, ${version}, ${updated}, ${deleted}, ${content}::jsonb)
           ON CONFLICT (tenant, resource_type, id) DO UPDATE SET version_id = EXCLUDED.version_id,
             last_updated = EXCLUDED.last_updated, deleted = EXCLUDED.deleted, content = EXCLUDED.content)`
      : `cur AS (INSERT INTO resources (tenant, resource_type, id, version_id, last_updated, deleted, content)
           VALUES (${tenant}, ${type}, ${id}, ${version}, ${updated}, ${deleted}, ${content}::jsonb))`,
  );
  ctes.push(`hist AS (INSERT INTO resource_history (tenant, resource_type, id, version_id, last_updated, deleted, method, content)
           VALUES (${tenant}, ${type}, ${id}, ${version}, ${updated}, ${deleted}, ${p.add(w.method)}, ${content}::jsonb))`);
  for (const kind of Object.keys(INDEX_TABLES) as (keyof IndexRows)[]) {
    const table = INDEX_TABLES[kind];
    if (w.replaces) {
      ctes.push(`del_${kind} AS (DELETE FROM ${table} WHERE tenant = ${tenant} AND resource_type = ${type} AND id = ${id})`);
    }
    const rows = (w.index?.[kind] ?? []) as unknown as Record<string, unknown>[];
    if (rows.length === 0) continue;
    const cols = INDEX_COLUMNS[kind] as readonly (readonly [string, string])[];
    const arrays = cols.map(([col, sqlType]) => `${p.add(rows.map((r) => r[col] ?? null))}::${sqlType}[]`);
    ctes.push(`ins_${kind} AS (INSERT INTO ${table} (tenant, resource_type, id, ${cols.map(([c]) => c).join(', ')})
           SELECT ${tenant}, ${type}, ${id}, u.* FROM unnest(${arrays.join(', ')}) AS u)`);
  }
  if (w.event) {
    ctes.push(appendEventsCte(p, w.tenant, [{ resourceType: w.resourceType, id: w.id, versionId: w.versionId, interaction: w.event.interaction }], w.event.origin));
    return { sql: `WITH ${ctes.join(',\n')}\n${notifySelect(p, w.tenant)}`, params: p.values };
  }
  return { sql: `WITH ${ctes.join(',\n')}\nSELECT 1`, params: p.values };
}
