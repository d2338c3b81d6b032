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
import { INDEX_KINDS, INDEX_TABLES } from './index-rows.ts';
import { appendEventsCte, notifySelect, type EventDraft, type EventOrigin } from '../events/outbox.ts';
import { SqlParams } from './sql.ts';
import { findUnsafeText, jsonTextHasUnsafeText, unsafeTextError } from './text-guard.ts';

/** Columns of each sp_* table after (tenant, resource_type, id), with their SQL array types. */
const INDEX_COLUMNS: { [K in keyof IndexRows]: readonly (readonly [keyof IndexRows[K][number] & string, string])[] } = {
  string: [
    ['code', 'text'],
    ['norm', 'text'],
    ['raw', 'text'],
  ],
  token: [
    ['code', 'text'],
    ['system', 'text'],
    ['value', 'text'],
    ['display', 'text'],
  ],
  reference: [
    ['code', 'text'],
    ['target_type', 'text'],
    ['target_id', 'text'],
    ['url', 'text'],
    ['ident_system', 'text'],
    ['ident_value', 'text'],
  ],
  date: [
    ['code', 'text'],
    ['low', 'timestamptz'],
    ['high', 'timestamptz'],
  ],
  number: [
    ['code', 'text'],
    ['value', 'numeric'],
  ],
  quantity: [
    ['code', 'text'],
    ['value', 'numeric'],
    ['system', 'text'],
    ['unit_code', 'text'],
    ['unit', 'text'],
  ],
  uri: [
    ['code', 'text'],
    ['value', 'text'],
  ],
  composite: [
    ['code', 'text'],
    ['c1_system', 'text'],
    ['c1_value', 'text'],
    ['c2_system', 'text'],
    ['c2_value', 'text'],
    ['c2_number', 'numeric'],
    ['c2_unit_code', 'text'],
    ['c2_low', 'timestamptz'],
    ['c2_high', 'timestamptz'],
    ['c2_string', 'text'],
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
  /**
   * The index tables whose rows are known to be the same for the replaced version and this one (see
   * `unchangedIndexKinds` in ./indexer.ts): left alone instead of being deleted and inserted again. An update that
   * changes an Observation's value touches two of the eight tables. Absent: every table is rewritten.
   */
  unchangedKinds?: ReadonlySet<keyof IndexRows>;
}

/** Does writing `w` change its `kind` rows? */
function touches(w: VersionWrite, kind: keyof IndexRows): boolean {
  return !w.unchangedKinds?.has(kind);
}

/** Outbox events to append in the same statement (../events/outbox.ts), with who caused them. */
export interface EventsToAppend {
  readonly drafts: readonly EventDraft[];
  readonly origin: EventOrigin | undefined;
}

/**
 * A condition on the current row for a single write outside a transaction: the version that is replaced must still
 * be `expectedVersion` (null: no row may exist yet). When it no longer is, the statement writes nothing and its
 * `written` column is 0; the caller reads again and retries.
 */
export interface WriteGuard {
  readonly expectedVersion: number | null;
}

/** The current row's CTE of a guarded write: RETURNING a row only when the guard held. */
function guardedCurrentRow(t: string, p: SqlParams, guard: WriteGuard): string {
  if (guard.expectedVersion === null) {
    return `cur AS (INSERT INTO resources (tenant, resource_type, id, version_id, last_updated, deleted, content)
           SELECT ${t}, resource_type, id, version_id, last_updated, deleted, content FROM v
           ON CONFLICT (tenant, resource_type, id) DO NOTHING RETURNING 1)`;
  }
  // Under READ COMMITTED a concurrent writer's commit is waited for and the condition re-checked on its row.
  return `cur AS (UPDATE resources r SET version_id = v.version_id, last_updated = v.last_updated, deleted = v.deleted, content = v.content
           FROM v WHERE r.tenant = ${t} AND r.resource_type = v.resource_type AND r.id = v.id AND r.version_id = ${p.add(guard.expectedVersion)}::int
           RETURNING 1)`;
}

/**
 * The JSON text of `versions`, or a 400 naming the first element whose text PostgreSQL cannot hold (a NUL or an
 * unpaired surrogate arrives here escaped, past the parameter check of ./pg-db.ts and ./pglite-db.ts).
 */
function storableJson(versions: readonly { resource_type: string; content: unknown }[]): string {
  const json = JSON.stringify(versions);
  if (!jsonTextHasUnsafeText(json)) return json;
  for (const v of versions) {
    const bad = findUnsafeText(v.content);
    if (bad) throw unsafeTextError(`${v.resource_type}.${bad.path}`, bad.reason);
  }
  throw unsafeTextError('The resource', 'contains text that is not valid Unicode');
}

/**
 * Returns the statement and parameters that write `writes` (at most one version per resource) for `tenant`
 * atomically, and append `events` when given (they may include events of versions written earlier in the same
 * transaction). With no writes, only the events are appended. With a `guard` (exactly one write), everything the
 * statement does depends on it, and its one row has `written` = 1 when it held, 0 when it did not.
 */
export function buildVersionsWrite(
  tenant: string,
  writes: readonly VersionWrite[],
  events?: EventsToAppend,
  guard?: WriteGuard,
): { sql: string; params: unknown[] } {
  if (guard && writes.length !== 1) throw new Error('A guarded write writes exactly one version');
  const p = new SqlParams();
  const ctes: string[] = [];
  // With a guard, every other part runs only when the current row was written.
  const when = guard ? ' AND EXISTS (SELECT 1 FROM cur)' : '';
  if (writes.length > 0) {
    // Bound only when used: PostgreSQL refuses a placeholder the statement never references.
    const t = p.add(tenant);
    const versions = writes.map((w) => ({
      resource_type: w.resourceType,
      id: w.id,
      version_id: w.versionId,
      last_updated: w.lastUpdated,
      deleted: w.content === null,
      method: w.method,
      content: w.content,
    }));
    ctes.push(`v AS (SELECT * FROM jsonb_to_recordset(${p.add(storableJson(versions))}::jsonb)
           AS v(resource_type text, id text, version_id integer, last_updated timestamptz, deleted boolean, method text, content jsonb))`);
    const replacing = writes.filter((w) => w.replaces);
    ctes.push(
      guard
        ? guardedCurrentRow(t, p, guard)
        : `cur AS (INSERT INTO resources (tenant, resource_type, id, version_id, last_updated, deleted, content)
           SELECT ${t}, resource_type, id, version_id, last_updated, deleted, content FROM v${
             replacing.length > 0
               ? `
           ON CONFLICT (tenant, resource_type, id) DO UPDATE SET version_id = EXCLUDED.version_id,
             last_updated = EXCLUDED.last_updated, deleted = EXCLUDED.deleted, content = EXCLUDED.content`
               : ''
           })`,
    );
    ctes.push(`hist AS (INSERT INTO resource_history (tenant, resource_type, id, version_id, last_updated, deleted, method, content)
           SELECT ${t}, resource_type, id, version_id, last_updated, deleted, method, content FROM v WHERE true${when})`);
    for (const kind of INDEX_KINDS) {
      const table = INDEX_TABLES[kind];
      const changed = writes.filter((w) => touches(w, kind));
      const replaced = changed.filter((w) => w.replaces);
      if (replaced.length > 0) {
        // Only the replaced resources' rows: the statement's snapshot does not see the rows inserted below.
        ctes.push(`del_${kind} AS (DELETE FROM ${table} x
           USING unnest(${p.add(replaced.map((w) => w.resourceType))}::text[], ${p.add(replaced.map((w) => w.id))}::text[]) AS r(rt, rid)
           WHERE x.tenant = ${t} AND x.resource_type = r.rt AND x.id = r.rid${when})`);
      }
      const owners: { resourceType: string; id: string }[] = [];
      const rows: Record<string, unknown>[] = [];
      for (const w of changed) {
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
           SELECT ${t}, u.* FROM unnest(${arrays.join(', ')}) AS u WHERE true${when})`);
    }
  }
  const written = guard ? ', (SELECT count(*)::int FROM cur) AS written' : '';
  if (events && events.drafts.length > 0) {
    ctes.push(appendEventsCte(p, tenant, events.drafts, events.origin, guard ? 'EXISTS (SELECT 1 FROM cur)' : undefined));
    return { sql: `WITH ${ctes.join(',\n')}\n${notifySelect(p, tenant)}${written}`, params: p.values };
  }
  if (ctes.length === 0) return { sql: 'SELECT 1', params: [] };
  return { sql: `WITH ${ctes.join(',\n')}\nSELECT 1${written}`, params: p.values };
}
