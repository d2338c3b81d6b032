/**
 * {@link Db} on a PostgreSQL server through `pg`'s connection pool.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import {
  AnalyzeSchedule,
  OWN_TABLES_SQL,
  TYPE_ROWS_SQL,
  runScheduledAnalyze,
  typeRowsOf,
  type MaintenanceListener,
} from './analyze-schedule.ts';
import { FIXED_PLAN, type Db, type Tx } from './db.ts';
import { assertStorableParams } from './text-guard.ts';
// Type parsers (int8 and numeric as numbers) and plan settings shared with the embedded engine.
import { PLAN_CACHE_MODE } from './pg-types.ts';

/** How many distinct statements are prepared by name (per connection); later ones run unnamed. */
const PREPARED_LIMIT = 500;

/**
 * Names statements for the server to prepare once per connection: later runs skip parsing and rewriting. Every run
 * is planned for its values (`plan_cache_mode`, set on each connection): a generic plan, made for average values,
 * could start a search or a range scan (events after a cursor) from the wrong index. Statements marked
 * {@link FIXED_PLAN} are the exception: they run on a second pool whose connections keep one plan per statement.
 * The name is derived from the text, so every connection agrees on it. Bounded:
 * `pg` keeps a connection's statements for its lifetime, so after {@link PREPARED_LIMIT} distinct texts the rest
 * run unnamed.
 */
class StatementNames {
  private readonly names = new Map<string, string>();

  nameOf(sql: string): string | undefined {
    const known = this.names.get(sql);
    if (known !== undefined) return known || undefined;
    if (this.names.size >= PREPARED_LIMIT) return undefined;
    const name = `haven_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
    this.names.set(sql, name);
    return name;
  }

  /** Runs `sql` unnamed from now on (its prepared statements are stale on some connections). */
  forget(sql: string): void {
    this.names.set(sql, '');
  }
}

/** A query config for `sql`, prepared by name when {@link StatementNames} gives it one. */
function queryConfig(names: StatementNames, sql: string, params: readonly unknown[] | undefined): pg.QueryConfig {
  const name = names.nameOf(sql);
  return { text: sql, values: params as unknown[] | undefined, ...(name ? { name } : {}) };
}

/** SQLSTATE of "cached plan must not change result type": a prepared statement outlived a schema change (restore). */
const STALE_PLAN = '0A000';

/**
 * Opens a pool on `url`. `max` bounds concurrent connections from this process; `onMaintenance` hears of every
 * scheduled statistics/vacuum run (./analyze-schedule.ts).
 */
export function openPgDb(url: string, max = 10, onMaintenance?: MaintenanceListener): Db {
  const pool = new pg.Pool({ connectionString: url, max, options: `-c plan_cache_mode=${PLAN_CACHE_MODE}` });
  // Statements marked FIXED_PLAN: their plan is made once per connection. Opened on demand, like the main pool.
  const fixedPool = new pg.Pool({ connectionString: url, max, options: '-c plan_cache_mode=force_generic_plan' });
  const names = new StatementNames();
  // An idle client that errors (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  fixedPool.on('error', () => undefined);
  // Set by analyze(): with autovacuum off Haven refreshes all statistics itself; with it on, only those of the
  // search tables when one resource type grows (./analyze-schedule.ts).
  let schedule: AnalyzeSchedule | undefined;
  let ownTables: string[] = [];
  const typeRows = async (): Promise<Map<string, number>> =>
    typeRowsOf((await pool.query<{ resource_type: string; n: number }>(TYPE_ROWS_SQL)).rows);
  return {
    kind: 'pg',
    async query(sql, params) {
      assertStorableParams(params);
      const on = sql.startsWith(FIXED_PLAN) ? fixedPool : pool;
      const res = await on.query(queryConfig(names, sql, params)).catch((err: unknown) => {
        if ((err as { code?: string }).code !== STALE_PLAN) throw err;
        names.forget(sql);
        return on.query(queryConfig(names, sql, params));
      });
      return { rows: res.rows, rowCount: res.rowCount ?? 0 };
    },
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const tx: Tx = {
          inTransaction: true,
          async query(sql, params) {
            assertStorableParams(params);
            const res = await client.query(queryConfig(names, sql, params)).catch((err: unknown) => {
              // No retry inside a transaction (it is aborted); later runs go unnamed.
              if ((err as { code?: string }).code === STALE_PLAN) names.forget(sql);
              throw err;
            });
            return { rows: res.rows, rowCount: res.rowCount ?? 0 };
          },
        };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async exec(sql) {
      await pool.query(sql);
    },
    noteWrites(count, resourceType) {
      const s = schedule;
      const delayMs = s?.noteWrites(count, Date.now(), resourceType);
      if (s === undefined || delayMs === undefined) return;
      setTimeout(() => void runScheduledAnalyze(s, (sql) => pool.query(sql), typeRows, ownTables, onMaintenance), delayMs).unref();
    },
    async analyze() {
      // With autovacuum off, stale statistics turn key lookups into scans as tables grow: analyse now and on the
      // same schedule as embedded storage. With it on, autovacuum keeps the volume in check, but not the growth
      // of one type inside the shared search tables: those are analysed by the schedule's type rule.
      const { rows } = await pool.query<{ autovacuum: string }>('SHOW autovacuum');
      if (rows[0]?.autovacuum === 'on') {
        schedule ??= new AnalyzeSchedule(undefined, undefined, undefined, false);
      } else {
        schedule ??= new AnalyzeSchedule();
        await pool.query('ANALYZE');
      }
      ownTables = (await pool.query<{ name: string }>(OWN_TABLES_SQL)).rows.map((r) => r.name);
      schedule.knowTypes(await typeRows());
    },
    listen(channel, onNotify) {
      return listenOn(url, channel, onNotify);
    },
    async close() {
      await Promise.all([pool.end(), fixedPool.end()]);
    },
  };
}

/**
 * LISTEN on a dedicated connection (a pooled one would be handed to other queries). Reconnects after a
 * connection loss, with a delay; notifications sent while disconnected are lost (listeners also poll).
 */
async function listenOn(url: string, channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`Invalid channel name: ${channel}`);
  let stopped = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    c.on('notification', (msg) => {
      if (msg.channel === channel) onNotify(msg.payload ?? '');
    });
    c.on('error', () => {
      c.end().catch(() => undefined);
      if (client === c) client = undefined;
      if (!stopped) retry = setTimeout(() => void connect().catch(() => undefined), 1000);
    });
    await c.connect();
    await c.query(`LISTEN ${channel}`);
    if (stopped) {
      await c.end();
      return;
    }
    client = c;
  };
  await connect();
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    await client?.end().catch(() => undefined);
  };
}
