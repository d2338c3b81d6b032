/**
 * {@link Db} on PGlite (PostgreSQL compiled to WASM) stored in a folder. PGlite has one connection and
 * runs queries on the Node thread; its own mutex serialises transactions against other queries.
 */
import { PGlite } from '@electric-sql/pglite';
import type { Db, Tx } from './db.ts';

function toNumber(v: string): number {
  return Number(v);
}

// PGlite reports affectedRows = 0 for a SELECT; rowCount must count returned rows there (as pg does), or
// `migrate` sees no applied migrations when it reopens an existing DATA_DIR and runs them again.

/** Opens (creating if needed) the embedded database in `dataDir`; `undefined` keeps it in memory. */
export async function openPgliteDb(dataDir: string | undefined): Promise<Db> {
  const lite = await PGlite.create(dataDir, {
    // Same JS shapes as pg-db.ts: int8 and numeric as numbers.
    parsers: { 20: toNumber, 1700: toNumber },
  });
  return {
    kind: 'pglite',
    async query(sql, params) {
      const res = await lite.query(sql, params as unknown[] | undefined);
      return { rows: res.rows as never[], rowCount: Math.max(res.affectedRows ?? 0, res.rows.length) };
    },
    async transaction(fn) {
      return lite.transaction(async (t) => {
        const tx: Tx = {
          inTransaction: true,
          async query(sql, params) {
            const res = await t.query(sql, params as unknown[] | undefined);
            return { rows: res.rows as never[], rowCount: Math.max(res.affectedRows ?? 0, res.rows.length) };
          },
        };
        return fn(tx);
      });
    },
    async exec(sql) {
      await lite.exec(sql);
    },
    async close() {
      await lite.close();
    },
  };
}
