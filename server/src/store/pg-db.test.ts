/**
 * PostgreSQL engine: statements prepared by name stay correct after failures and after a table changed shape
 * under them. Runs when the suite runs on PostgreSQL (DATABASE_URL); embedded storage has its own tests
 * (./pglite-db.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXED_PLAN, type Db } from './db.ts';
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

  it('plans a FIXED_PLAN statement once per connection, outside transactions only', async () => {
    expect((await db.query(`${FIXED_PLAN}SHOW plan_cache_mode`)).rows).toEqual([{ plan_cache_mode: 'force_generic_plan' }]);
    const inTx = await db.transaction((tx) => tx.query(`${FIXED_PLAN}SHOW plan_cache_mode`));
    expect(inTx.rows).toEqual([{ plan_cache_mode: 'force_custom_plan' }]);
    // A statement that reads its own planning counters (its session's pg_prepared_statements row); the parameter
    // makes the plan choice real (a statement without parameters is always planned generically).
    const counters = (marker: string, prefix: string): Promise<{ rows: { generic_plans: number; custom_plans: number }[] }> =>
      db.query(
        `${prefix}SELECT generic_plans::int, custom_plans::int FROM pg_prepared_statements WHERE statement LIKE '%' || $1 || '%' AND $1 = '${marker}'`,
        [marker],
      );
    for (let i = 0; i < 3; i++) {
      const fixed = (await counters('fixed-self-check', FIXED_PLAN)).rows[0];
      expect(fixed?.custom_plans).toBe(0);
      expect(fixed?.generic_plans).toBeGreaterThan(0);
      const planned = (await counters('custom-self-check', '')).rows[0];
      expect(planned?.generic_plans).toBe(0);
      expect(planned?.custom_plans).toBeGreaterThan(0);
    }
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
