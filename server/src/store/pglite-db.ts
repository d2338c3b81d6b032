/**
 * {@link Db} on PGlite (PostgreSQL compiled to WASM) stored in a folder. PGlite has one connection and
 * runs queries on the Node thread; its own mutex serialises transactions against other queries.
 *
 * PGlite runs no autovacuum, so planner statistics would never be collected and lookups by key would
 * degrade into scans as tables grow. This wrapper runs ANALYZE after migrations and then again each time
 * the number of resource versions written since the last ANALYZE passes a threshold that grows with the
 * database (see ./analyze-schedule.ts).
 */
import { PGlite } from '@electric-sql/pglite';
import { AnalyzeSchedule } from './analyze-schedule.ts';
import type { Db, Tx } from './db.ts';

function toNumber(v: string): number {
  return Number(v);
}

// PGlite reports affectedRows = 0 for a SELECT; rowCount must count returned rows there (as pg does), or
// `migrate` sees no applied migrations when it reopens an existing DATA_DIR and runs them again.
function rowCountOf(res: { affectedRows?: number; rows: unknown[] }): number {
  return Math.max(res.affectedRows ?? 0, res.rows.length);
}

/** Opens (creating if needed) the embedded database in `dataDir`; `undefined` keeps it in memory. */
export async function openPgliteDb(dataDir: string | undefined): Promise<Db> {
  const lite = await PGlite.create(dataDir, {
    // Same JS shapes as pg-db.ts: int8 and numeric as numbers.
    parsers: { 20: toNumber, 1700: toNumber },
  });
  const schedule = new AnalyzeSchedule();
  let closed = false;
  const analyzeAfter = (delayMs: number): void => {
    // Not awaited: it queues behind PGlite's mutex and must not delay the write that made it due.
    const timer = setTimeout(() => {
      if (closed) return;
      lite.exec('ANALYZE').catch(() => undefined).finally(() => schedule.ran(Date.now()));
    }, delayMs);
    timer.unref();
  };
  return {
    kind: 'pglite',
    async query(sql, params) {
      const res = await lite.query(sql, params as unknown[] | undefined);
      return { rows: res.rows as never[], rowCount: rowCountOf(res) };
    },
    async transaction(fn) {
      const result = await lite.transaction(async (t) => {
        const tx: Tx = {
          inTransaction: true,
          async query(sql, params) {
            const res = await t.query(sql, params as unknown[] | undefined);
            return { rows: res.rows as never[], rowCount: rowCountOf(res) };
          },
        };
        return fn(tx);
      });
      return result;
    },
    async exec(sql) {
      await lite.exec(sql);
    },
    async analyze() {
      // Not recorded as a scheduled run: the first one due after start must not wait for the gap (a fresh
      // database needs statistics as soon as it has rows).
      await lite.exec('ANALYZE');
    },
    noteWrites(count) {
      const delay = schedule.noteWrites(count, Date.now());
      if (delay !== undefined) analyzeAfter(delay);
    },
    async listen(channel, onNotify) {
      const unsubscribe = await lite.listen(channel, onNotify);
      return async () => {
        if (!closed) await unsubscribe();
      };
    },
    async close() {
      closed = true;
      await lite.close();
    },
  };
}
