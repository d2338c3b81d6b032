/**
 * Opens the configured storage: PostgreSQL when DATABASE_URL is set, else PGlite in DATA_DIR/pg.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MaintenanceListener } from './analyze-schedule.ts';
import type { Db } from './db.ts';
import { migrate } from './migrate.ts';
import { openPgDb } from './pg-db.ts';
import { openPgliteDb, type EmbeddedThread } from './pglite-db.ts';

/** Where embedded storage keeps its database files inside DATA_DIR. */
export function embeddedDbDir(dataDir: string): string {
  return join(dataDir, 'pg');
}

/** Opens and migrates the database. `onMaintenance` hears of every scheduled statistics/vacuum run. */
export async function openDatabase(opts: {
  databaseUrl?: string;
  dataDir: string;
  embeddedThread?: EmbeddedThread;
  onMaintenance?: MaintenanceListener;
}): Promise<Db> {
  let db: Db;
  if (opts.databaseUrl) {
    db = openPgDb(opts.databaseUrl, undefined, opts.onMaintenance);
  } else {
    mkdirSync(opts.dataDir, { recursive: true });
    db = await openPgliteDb(embeddedDbDir(opts.dataDir), opts.embeddedThread, opts.onMaintenance);
  }
  try {
    await migrate(db);
    await db.analyze();
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}
