/**
 * PostgreSQL engine: statements prepared by name stay correct after failures and after a table changed shape
 * under them. Runs when the suite runs on PostgreSQL (DATABASE_URL); embedded storage has its own tests
 * (./pglite-db.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from './db.ts';
import { openPgDb } from './pg-db.ts';
import { createScratchStorage, type ScratchStorage } from '../test-support/harness.ts';

describe.skipIf(!process.env.DATABASE_URL)('PostgreSQL engine: prepared statements', () => {
  let storage: ScratchStorage;
  let db: Db;
  beforeAll(async () => {
    storage = await createScratchStorage();
    db = openPgDb(storage.databaseUrl!, 3);
    await db.exec(`CREATE TABLE w (id text PRIMARY KEY)`);
  });
  afterAll(async () => {
    await db.close();
    await storage.drop();
  });

  it('plans every run of a prepared statement for its values', async () => {
    expect((await db.query(`SHOW plan_cache_mode`)).rows).toEqual([{ plan_cache_mode: 'force_custom_plan' }]);
  });

  it('reuses a statement after a failed run and never caches a syntax error', async () => {
    const insert = `INSERT INTO w (id) VALUES ($1)`;
    expect((await db.query(insert, ['a'])).rowCount).toBe(1);
    await expect(db.query(insert, ['a'])).rejects.toMatchObject({ code: '23505' });
    expect((await db.query(insert, ['b'])).rowCount).toBe(1);
    for (let i = 0; i < 2; i++) await expect(db.query(`SELEC id FROM w WHERE id = $1`, ['a'])).rejects.toMatchObject({ code: '42601' });
  });

  it('answers correctly on every pooled connection after the table changed shape (stale plans are retried unnamed)', async () => {
    const select = `SELECT * FROM w WHERE id = $1`;
    // Prepare the statement on several connections at once.
    await Promise.all(Array.from({ length: 6 }, () => db.query(select, ['a'])));
    await db.exec(`ALTER TABLE w ADD COLUMN extra int DEFAULT 7`);
    const results = await Promise.all(Array.from({ length: 6 }, () => db.query(select, ['a'])));
    for (const r of results) expect(r.rows).toEqual([{ id: 'a', extra: 7 }]);
  });
});
