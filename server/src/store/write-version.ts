/**
 * Builds the single statement that writes resource versions: their current rows, history rows and search index
 * rows, as data-modifying CTEs. One version (a plain create or update) or many (the writes of a transaction
 * Bundle, ./write-batch.ts) take one round trip and one plan, and one statement inside the caller's transaction
 * keeps them atomic. The versions travel as one JSON parameter (read with `jsonb_to_recordset`, so the content is
 * parsed once) and the index rows as one array per column, so the statement's text depends only on its shape
 * (which tables get rows, whether anything is replaced, whether events are appended), never on how many versions
 * it writes: the same few texts are prepared once and reused.
 */
import type { IndexRows } from './index-rows.ts';
import { INDEX_TABLES } from './index-rows.ts';
import { appendEventsCte, notifySelect, type EventDraft, type EventOrigin } from '../events/outbox.ts';
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

/** One version to write. `content` is null for a delete. */
export interface VersionWrite {
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
}

/** Outbox events to append in the same statement (../events/outbox.ts), with who caused them. */
export interface EventsToAppend {
  readonly drafts: readonly EventDraft[];
  readonly origin: EventOrigin | undefined;
}

/**
 * Returns the statement and parameters that write `writes` (at most one version per resource) for `tenant`
 * atomically, and append `events` when given (they may include events of versions written earlier in the same
 * transaction). With no writes, only the events are appended.
 */
export function buildVersionsWrite(tenant: string, writes: readonly VersionWrite[], events?: EventsToAppend): { sql: string; params: unknown[] } {
  const p = new SqlParams();
  const ctes: string[] = [];
  if (writes.length > 0) {
    // Bound only when used: PostgreSQL refuses a placeholder the statement never references.
    const t = p.add(tenant);
    const versions = writes.map((w) => ({
      resource_type: w.resourceType, id: w.id, version_id: w.versionId, last_updated: w.lastUpdated,
      deleted: w.content === null, method: w.method, content: w.content,
    }));
    ctes.push(`v AS (SELECT * FROM jsonb_to_recordset(${p.add(JSON.stringify(versions))}::jsonb)
           AS v(resource_type text, id text, version_id integer, last_updated timestamptz, deleted boolean, method text, content jsonb))`);
    const replacing = writes.filter((w) => w.replaces);
    ctes.push(`cur AS (INSERT INTO resources (tenant, resource_type, id, version_id, last_updated, deleted, content)
           SELECT ${t}, resource_type, id, version_id, last_updated, deleted, content FROM v${replacing.length > 0
             ? `
           ON CONFLICT (tenant, resource_type, id) DO UPDATE SET version_id = EXCLUDED.version_id,
             last_updated = EXCLUDED.last_updated, deleted = EXCLUDED.deleted, content = EXCLUDED.content`
             : ''})`);
    ctes.push(`hist AS (INSERT INTO resource_history (tenant, resource_type, id, version_id, last_updated, deleted, method, content)
           SELECT ${t}, resource_type, id, version_id, last_updated, deleted, method, content FROM v)`);
    let replaced: [string, string] | undefined;
    if (replacing.length > 0) {
      replaced = [p.add(replacing.map((w) => w.resourceType)), p.add(replacing.map((w) => w.id))];
    }
    for (const kind of Object.keys(INDEX_TABLES) as (keyof IndexRows)[]) {
      const table = INDEX_TABLES[kind];
      if (replaced) {
        // Only the replaced resources' rows: the statement's snapshot does not see the rows inserted below.
        ctes.push(`del_${kind} AS (DELETE FROM ${table} x USING unnest(${replaced[0]}::text[], ${replaced[1]}::text[]) AS r(rt, rid)
           WHERE x.tenant = ${t} AND x.resource_type = r.rt AND x.id = r.rid)`);
      }
      const owners: { resourceType: string; id: string }[] = [];
      const rows: Record<string, unknown>[] = [];
      for (const w of writes) {
        for (const row of (w.index?.[kind] ?? []) as unknown as Record<string, unknown>[]) {
          owners.push(w);
          rows.push(row);
        }
      }
      if (rows.length === 0) continue;
      const cols = INDEX_COLUMNS[kind] as readonly (readonly [string, string])[];
      const arrays = [
        `${p.add(owners.map((o) => o.resourceType))}::text[]`,
        `${p.add(owners.map((o) => o.id))}::text[]`,
        ...cols.map(([col, sqlType]) => `${p.add(rows.map((r) => r[col] ?? null))}::${sqlType}[]`),
      ];
      ctes.push(`ins_${kind} AS (INSERT INTO ${table} (tenant, resource_type, id, ${cols.map(([c]) => c).join(', ')})
           SELECT ${t}, u.* FROM unnest(${arrays.join(', ')}) AS u)`);
    }
  }
  if (events && events.drafts.length > 0) {
    ctes.push(appendEventsCte(p, tenant, events.drafts, events.origin));
    return { sql: `WITH ${ctes.join(',\n')}\n${notifySelect(p, tenant)}`, params: p.values };
  }
  if (ctes.length === 0) return { sql: 'SELECT 1', params: [] };
  return { sql: `WITH ${ctes.join(',\n')}\nSELECT 1`, params: p.values };
}
