/**
 * Logical dumps of the database, independent of the engine (a PGlite dump restores into PostgreSQL and
 * back): `export` (current resources of one tenant as NDJSON) and `backup`/`restore` (every row of every
 * tenant).
 *
 * Backup format (gzip of UTF-8 NDJSON):
 *   line 1    header  {"format":"haven-backup","formatVersion":1,"schemaVersion":N,"createdAt":…,"storage":…,
 *                      "tables":{"resources":{"columns":[{name,type}…],"rows":n},…},"indexes":"rebuilt"}
 *   lines     rows    {"t":"resources","v":[…]}  one per row, values as PostgreSQL text (null stays null):
 *                      exact for every type (numeric, jsonb), timestamps as UTC with microseconds
 *   last line trailer {"end":"haven-backup","rows":{…},"sha256":"<hex of every byte before this line>"}
 * A missing trailer (truncation), a digest or count mismatch, or a gzip error refuses the file.
 *
 * The sp_* index tables are not dumped: they are derived from `resources` and rebuilt by re-indexing on
 * restore. That keeps backups smaller and survives changes to the index schema or to the indexed
 * SearchParameters between the backing-up and the restoring version.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { Resource } from '@medplum/fhirtypes';
import { loadDefinitions } from '../fhir/definitions.ts';
import type { Db, Queryable, Tx } from './db.ts';
import { INDEX_KINDS, INDEX_TABLES, type IndexRows } from './index-rows.ts';
import { extractIndexRows } from './indexer.ts';
import { fromStored } from './stored.ts';

/**
 * Tables a backup carries, in file order. A table added by a migration must be added here or listed as
 * deliberately left out: `auth_signing_keys` (encrypted under this installation's key; a restored server
 * creates new ones, so users sign in again) and the short-lived auth tables (interactions, launches,
 * codes, grants, refresh tokens, assertion ids).
 */
export const BACKUP_TABLES = {
  haven_settings: ['key'],
  resources: ['tenant', 'resource_type', 'id'],
  resource_history: ['tenant', 'resource_type', 'id', 'version_id'],
  auth_clients: ['tenant', 'client_id'],
  auth_users: ['tenant', 'id'],
  // The events layer: without these a restored server would renumber events and forget Subscription owners,
  // consumer cursors, dead letters and bot runs (which keep bot effects from repeating).
  haven_event_counters: ['tenant'],
  haven_events: ['id'],
  haven_consumers: ['tenant', 'consumer'],
  haven_dead_letters: ['tenant', 'consumer', 'seq'],
  haven_bot_runs: ['tenant', 'bot', 'seq'],
  haven_subscriptions: ['tenant', 'id'],
  haven_subscription_events: ['tenant', 'subscription_id', 'event_number'],
} as const satisfies Record<string, readonly string[]>;
type BackupTable = keyof typeof BACKUP_TABLES;

const FORMAT = 'haven-backup';
const FORMAT_VERSION = 1;
const PAGE = 1000;
const INSERT_BATCH = 500;

/** A column as recorded in the header: name and PostgreSQL type. */
interface Column {
  name: string;
  type: string;
}

/** Header line of a backup. */
export interface BackupHeader {
  format: typeof FORMAT;
  formatVersion: number;
  schemaVersion: number;
  createdAt: string;
  storage: string;
  tables: Record<string, { columns: Column[]; rows: number }>;
  indexes: 'rebuilt';
}

/** What a backup or restore did. */
export interface BackupSummary {
  createdAt: string;
  schemaVersion: number;
  rows: Record<string, number>;
  /** Restore only: resources re-indexed. */
  indexed?: number;
}

/** The backup is unreadable, truncated, corrupted, or from an incompatible version. */
export class BackupFormatError extends Error {}
/** The target database has data and `force` was not given. */
export class RestoreRefusedError extends Error {}

// ---------------------------------------------------------------------------------------------- export

/** Resource types of a tenant with their count of current, non-deleted resources (all types, or `types`). */
export async function exportTypeCounts(
  db: Queryable,
  tenant: string,
  types?: readonly string[],
): Promise<{ type: string; count: number }[]> {
  const { rows } = await db.query<{ type: string; count: number }>(
    `SELECT resource_type AS type, count(*)::int AS count FROM resources
     WHERE tenant = $1 AND NOT deleted ${types ? 'AND resource_type = ANY($2::text[])' : ''}
     GROUP BY resource_type ORDER BY resource_type`,
    types ? [tenant, types] : [tenant],
  );
  return rows;
}

/**
 * Current non-deleted resources of one type as NDJSON lines, ordered by id, read in keyset pages so
 * memory stays flat however many there are. Not a snapshot across pages: a backup is.
 */
export async function* exportLines(db: Queryable, tenant: string, type: string): AsyncGenerator<string> {
  let after = '';
  for (;;) {
    const { rows } = await db.query<{ id: string; content: Resource }>(
      `SELECT id, content FROM resources WHERE tenant = $1 AND resource_type = $2 AND NOT deleted AND id > $3
       ORDER BY id LIMIT ${PAGE}`,
      [tenant, type, after],
    );
    for (const r of rows) yield JSON.stringify(fromStored(r.content));
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1].id;
  }
}

// ---------------------------------------------------------------------------------------------- backup

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Columns of a table in the connected database, in table order. */
async function tableColumns(q: Queryable, table: BackupTable): Promise<Column[]> {
  const { rows } = await q.query<Column>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
     WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [table],
  );
  return rows;
}

async function schemaVersion(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ v: number | null }>('SELECT max(version) AS v FROM haven_migrations');
  return rows[0]?.v ?? 0;
}

/** Select expression that renders a column as exact, session-independent text. */
function textOf(c: Column): string {
  const col = quoteIdent(c.name);
  if (c.type === 'timestamp with time zone') return `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
  return `${col}::text`;
}

/** Every row of `table` as arrays of text, in primary-key keyset pages. */
async function* tableRows(tx: Tx, table: BackupTable, columns: Column[]): AsyncGenerator<(string | null)[]> {
  const keys = BACKUP_TABLES[table] as readonly string[];
  const keyIdx = keys.map((k) => columns.findIndex((c) => c.name === k));
  const select = columns.map((c, i) => `${textOf(c)} AS c${i}`).join(', ');
  const keyList = keys.map(quoteIdent).join(', ');
  const keyCast = keys.map((_k, i) => `$${i + 1}::${columns[keyIdx[i]].type}`).join(', ');
  let after: (string | null)[] | undefined;
  for (;;) {
    const where = after ? `WHERE (${keyList}) > (${keyCast})` : '';
    const { rows } = await tx.query<Record<string, string | null>>(
      `SELECT ${select} FROM ${table} ${where} ORDER BY ${keyList} LIMIT ${PAGE}`,
      after ?? [],
    );
    for (const r of rows) yield columns.map((_, i) => r[`c${i}`]);
    if (rows.length < PAGE) return;
    const last = rows[rows.length - 1];
    after = keyIdx.map((i) => last[`c${i}`]);
  }
}

/**
 * Writes a gzip backup of every tenant to `out`, from one REPEATABLE READ snapshot so the rows agree with
 * each other. On PGlite the snapshot transaction holds the single connection for the duration: a
 * running server pauses its queries while a backup streams, which is the price of consistency there.
 */
export async function writeBackup(db: Db, out: NodeJS.WritableStream): Promise<BackupSummary> {
  const gzip = createGzip();
  const piping = pipeline(gzip, out);
  piping.catch(() => undefined); // awaited below; a late rejection must not go unhandled
  const hash = createHash('sha256');
  const write = async (line: string): Promise<void> => {
    const buf = Buffer.from(`${line}\n`, 'utf8');
    hash.update(buf);
    if (!gzip.write(buf)) await Promise.race([once(gzip, 'drain'), piping]);
  };
  try {
    const summary = await db.transaction(async (tx) => {
      await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const header: BackupHeader = {
        format: FORMAT,
        formatVersion: FORMAT_VERSION,
        schemaVersion: await schemaVersion(tx),
        createdAt: new Date().toISOString(),
        storage: db.kind,
        tables: {},
        indexes: 'rebuilt',
      };
      for (const table of Object.keys(BACKUP_TABLES) as BackupTable[]) {
        const { rows } = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
        header.tables[table] = { columns: await tableColumns(tx, table), rows: rows[0].n };
      }
      await write(JSON.stringify(header));
      const written: Record<string, number> = {};
      for (const table of Object.keys(BACKUP_TABLES) as BackupTable[]) {
        written[table] = 0;
        for await (const v of tableRows(tx, table, header.tables[table].columns)) {
          await write(JSON.stringify({ t: table, v }));
          written[table]++;
        }
      }
      return { createdAt: header.createdAt, schemaVersion: header.schemaVersion, rows: written };
    });
    gzip.end(`${JSON.stringify({ end: FORMAT, rows: summary.rows, sha256: hash.digest('hex') })}\n`);
    await piping;
    return summary;
  } catch (err) {
    gzip.destroy(err as Error);
    await piping.catch(() => undefined);
    throw err;
  }
}

// --------------------------------------------------------------------------------------------- reading

/** Lines of a gzip byte stream, without their newline. Gzip errors surface as BackupFormatError. */
async function* gunzipLines(input: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
  const gunzip = createGunzip();
  const feeding = pipeline(input, gunzip);
  feeding.catch(() => undefined); // its error also destroys gunzip, which the loop below reports
  let rest = Buffer.alloc(0);
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      let buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
      let nl: number;
      while ((nl = buf.indexOf(0x0a)) >= 0) {
        yield buf.subarray(0, nl);
        buf = buf.subarray(nl + 1);
      }
      rest = Buffer.from(buf);
    }
  } catch (err) {
    throw new BackupFormatError(`backup is corrupted or truncated (${(err as Error).message})`);
  }
  if (rest.length) yield rest;
}

/**
 * Reads a backup, checking header, digest and counts. `onRow` receives each row (awaited, so restore can
 * insert as it reads); `onHeader` may refuse the file before any row is read.
 */
export async function readBackup(
  input: AsyncIterable<Buffer | string>,
  onHeader: (h: BackupHeader) => Promise<void> = async () => {},
  onRow: (table: BackupTable, v: (string | null)[]) => Promise<void> = async () => {},
): Promise<BackupSummary> {
  const hash = createHash('sha256');
  const counts: Record<string, number> = {};
  let header: BackupHeader | undefined;
  type Trailer = { end?: string; rows?: Record<string, number>; sha256?: string };
  let trailer: Trailer | undefined;
  const parse = (line: Buffer, what: string): Record<string, unknown> => {
    try {
      return JSON.parse(line.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new BackupFormatError(`backup is corrupted: ${what} is not JSON`);
    }
  };
  for await (const line of gunzipLines(input)) {
    if (trailer) throw new BackupFormatError('backup is corrupted: data after the trailer');
    if (!header) {
      const h = parse(line, 'the header') as unknown as BackupHeader;
      if (h.format !== FORMAT) throw new BackupFormatError('not a Haven backup (missing header)');
      if (h.formatVersion !== FORMAT_VERSION) throw new BackupFormatError(`unsupported backup format version ${String(h.formatVersion)}`);
      header = h;
      hash.update(line).update('\n');
      await onHeader(h);
      continue;
    }
    const rec = parse(line, `line ${Object.values(counts).reduce((a, b) => a + b, 2)}`);
    if (rec.end === FORMAT) {
      trailer = rec as Trailer;
      continue;
    }
    hash.update(line).update('\n');
    const table = rec.t as BackupTable;
    const cols = header.tables[table as string]?.columns;
    if (!(table in BACKUP_TABLES) || !cols || !Array.isArray(rec.v) || rec.v.length !== cols.length) {
      throw new BackupFormatError('backup is corrupted: malformed row');
    }
    counts[table] = (counts[table] ?? 0) + 1;
    await onRow(table, rec.v as (string | null)[]);
  }
  if (!header) throw new BackupFormatError('backup is empty');
  if (!trailer) throw new BackupFormatError('backup is truncated (no trailer)');
  if (trailer.sha256 !== hash.digest('hex')) throw new BackupFormatError('backup is corrupted (SHA-256 mismatch)');
  for (const [table, { rows }] of Object.entries(header.tables)) {
    if ((counts[table] ?? 0) !== rows || trailer.rows?.[table] !== rows) {
      throw new BackupFormatError(`backup is corrupted (${table}: header says ${rows} rows, file has ${counts[table] ?? 0})`);
    }
  }
  return { createdAt: header.createdAt, schemaVersion: header.schemaVersion, rows: counts };
}

// --------------------------------------------------------------------------------------------- restore

/** Inserts buffered rows of one table: every value is bound as text and cast to the target column's type. */
async function insertRows(
  tx: Tx,
  table: BackupTable,
  columns: Column[],
  target: Map<string, string>,
  rows: (string | null)[][],
): Promise<void> {
  if (rows.length === 0) return;
  const params = columns.map((_, i) => rows.map((r) => r[i]));
  const casts = columns.map((c, i) => `u.c${i}::${target.get(c.name)}`).join(', ');
  const unnest = columns.map((_, i) => `$${i + 1}::text[]`).join(', ');
  await tx.query(
    `INSERT INTO ${table} (${columns.map((c) => quoteIdent(c.name)).join(', ')})
     SELECT ${casts} FROM unnest(${unnest}) AS u(${columns.map((_, i) => `c${i}`).join(', ')})`,
    params,
  );
}

/** Rebuilds every sp_* row from the current, non-deleted resources. */
async function reindex(tx: Tx): Promise<number> {
  loadDefinitions();
  let after: string[] = ['', '', ''];
  let indexed = 0;
  for (;;) {
    const { rows } = await tx.query<{ tenant: string; resource_type: string; id: string; content: Resource }>(
      `SELECT tenant, resource_type, id, content FROM resources WHERE NOT deleted AND (tenant, resource_type, id) > ($1, $2, $3)
       ORDER BY tenant, resource_type, id LIMIT ${PAGE}`,
      after,
    );
    const batch: Record<string, object[]> = {};
    for (const r of rows) {
      const index = extractIndexRows(r.content);
      for (const kind of INDEX_KINDS) {
        for (const row of index[kind]) (batch[kind] ??= []).push({ tenant: r.tenant, resource_type: r.resource_type, id: r.id, ...row });
      }
    }
    for (const [kind, list] of Object.entries(batch)) {
      const table = INDEX_TABLES[kind as keyof IndexRows];
      await tx.query(`INSERT INTO ${table} SELECT * FROM json_populate_recordset(NULL::${table}, $1::json)`, [JSON.stringify(list)]);
    }
    indexed += rows.length;
    if (rows.length < PAGE) return indexed;
    const last = rows[rows.length - 1];
    after = [last.tenant, last.resource_type, last.id];
  }
}

/**
 * Restores a backup in one transaction: all of it or nothing. Refuses a database that holds resources
 * unless `force`, which replaces everything. A backup from a newer schema than this database's is
 * refused (upgrade Haven first); an older one restores as long as its columns still exist.
 */
export async function restoreBackup(db: Db, input: AsyncIterable<Buffer | string>, opts: { force: boolean }): Promise<BackupSummary> {
  return db.transaction(async (tx) => {
    const current = await schemaVersion(tx);
    const targets = new Map<string, Map<string, string>>();
    const pending = new Map<BackupTable, (string | null)[][]>();
    let header: BackupHeader | undefined;
    const onHeader = async (h: BackupHeader): Promise<void> => {
      if (h.schemaVersion > current) {
        throw new BackupFormatError(
          `backup schema version ${h.schemaVersion} is newer than this database's (${current}): upgrade Haven first`,
        );
      }
      for (const table of Object.keys(BACKUP_TABLES) as BackupTable[]) {
        const target = new Map((await tableColumns(tx, table)).map((c) => [c.name, c.type]));
        const missing = (h.tables[table]?.columns ?? []).filter((c) => !target.has(c.name));
        if (!h.tables[table] || missing.length) throw new BackupFormatError(`backup does not match this schema (table ${table})`);
        targets.set(table, target);
      }
      const { rows } = await tx.query<{ used: boolean }>(
        'SELECT EXISTS (SELECT 1 FROM resources) OR EXISTS (SELECT 1 FROM resource_history) AS used',
      );
      if (rows[0].used && !opts.force) {
        throw new RestoreRefusedError('the database already holds resources; restore replaces everything only with --force');
      }
      await tx.query(`TRUNCATE ${[...Object.keys(BACKUP_TABLES), ...Object.values(INDEX_TABLES)].join(', ')}`);
      header = h;
    };
    const flush = async (table: BackupTable): Promise<void> => {
      await insertRows(tx, table, header!.tables[table].columns, targets.get(table)!, pending.get(table) ?? []);
      pending.set(table, []);
    };
    const onRow = async (table: BackupTable, v: (string | null)[]): Promise<void> => {
      const list = pending.get(table) ?? [];
      list.push(v);
      pending.set(table, list);
      if (list.length >= INSERT_BATCH) await flush(table);
    };
    const summary = await readBackup(input, onHeader, onRow);
    for (const table of pending.keys()) await flush(table);
    await tx.query(`SELECT setval(pg_get_serial_sequence('resource_history', 'seq'),
      COALESCE((SELECT max(seq) FROM resource_history), 0) + 1, false)`);
    await tx.query(`SELECT setval(pg_get_serial_sequence('haven_events', 'id'),
      COALESCE((SELECT max(id) FROM haven_events), 0) + 1, false)`);
    return { ...summary, indexed: await reindex(tx) };
  });
}
