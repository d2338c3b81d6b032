/**
 * The embedded Db contract, on both placements of the PGlite session (this thread and a worker thread): rows and
 * types as on PostgreSQL, errors with their SQLSTATE, atomic transactions, a transaction owning the session while
 * other queries wait, a failed COMMIT reported, and NOTIFY delivered after COMMIT only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from './db.ts';
import { openPgliteDb, type EmbeddedThread } from './pglite-db.ts';

describe.each<EmbeddedThread>(['inline', 'worker'])('embedded database (%s)', (thread) => {
  let db: Db;
  beforeAll(async () => {
    db = await openPgliteDb(undefined, thread);
    await db.exec(`CREATE TABLE t (id text PRIMARY KEY, n bigint, x numeric, doc jsonb, at timestamptz, tags text[]);
                   CREATE TABLE d (id int PRIMARY KEY, ref text REFERENCES t(id) DEFERRABLE INITIALLY DEFERRED)`);
  });
  afterAll(async () => {
    await db.close();
  });

  it('binds parameters of every shape Haven sends and returns rows shaped as pg returns them', async () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    const ins = await db.query(`INSERT INTO t VALUES ($1, $2, $3, $4::jsonb, $5, $6::text[]), ('b', NULL, NULL, NULL, NULL, NULL)`, [
      'a',
      9007199254740991,
      12.5,
      JSON.stringify({ k: ['v', 1], q: "it's" }),
      at,
      ['x', 'y,z', 'q"uote'],
    ]);
    expect(ins.rowCount).toBe(2);
    const { rows, rowCount } = await db.query<Record<string, unknown>>(`SELECT * FROM t WHERE id = ANY($1::text[]) ORDER BY id`, [
      ['a', 'b'],
    ]);
    expect(rowCount).toBe(2);
    expect(rows[0]).toEqual({ id: 'a', n: 9007199254740991, x: 12.5, doc: { k: ['v', 1], q: "it's" }, at, tags: ['x', 'y,z', 'q"uote'] });
    expect(rows[1]).toEqual({ id: 'b', n: null, x: null, doc: null, at: null, tags: null });
    const upd = await db.query(`UPDATE t SET n = n + 1 WHERE id = $1 AND n IS NULL`, ['b']);
    expect(upd.rowCount).toBe(1);
    expect((await db.query(`SELECT 1 WHERE false`)).rowCount).toBe(0);
  });

  it('rejects with the SQLSTATE and constraint, and the session stays usable', async () => {
    const err = await db.query(`INSERT INTO t (id) VALUES ($1)`, ['a']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: '23505', constraint: 't_pkey' });
    await expect(db.query(`SELECT nope FROM t`)).rejects.toMatchObject({ code: '42703' });
    expect((await db.query(`SELECT count(*) AS c FROM t`)).rows[0]).toEqual({ c: 2 });
  });

  it('rolls a transaction back when its callback throws, and commits it when it returns', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO t (id) VALUES ('rolled-back')`);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const result = await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO t (id) VALUES ('committed')`);
      return 'done';
    });
    expect(result).toBe('done');
    const { rows } = await db.query<{ id: string }>(`SELECT id FROM t WHERE id IN ('rolled-back', 'committed')`);
    expect(rows.map((r) => r.id)).toEqual(['committed']);
  });

  it('reports a COMMIT that failed (deferred constraint) and keeps nothing of the transaction', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO t (id) VALUES ('kept-out')`);
        await tx.query(`INSERT INTO d VALUES (1, 'no-such-row')`);
      }),
    ).rejects.toMatchObject({ code: '23503' });
    expect((await db.query(`SELECT id FROM t WHERE id = 'kept-out'`)).rowCount).toBe(0);
  });

  it('reports a COMMIT of a transaction whose statement failed, even when the caller swallowed the error', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO t (id) VALUES ('swallowed')`);
        await tx.query(`INSERT INTO t (id) VALUES ('a')`).catch(() => undefined);
      }),
    ).rejects.toMatchObject({ code: '25P02' });
    expect((await db.query(`SELECT id FROM t WHERE id = 'swallowed'`)).rowCount).toBe(0);
  });

  it('lets a transaction own the session: a query from outside waits for its end and sees only committed rows', async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const tx = db.transaction(async (t) => {
      await t.query(`INSERT INTO t (id) VALUES ('owned')`);
      order.push('tx wrote');
      await gate;
      await t.query(`UPDATE t SET n = 1 WHERE id = 'owned'`);
      order.push('tx updated');
    });
    await new Promise((r) => setTimeout(r, 20));
    const outside = db.query<{ n: number | null }>(`SELECT n FROM t WHERE id = 'owned'`).then((res) => {
      order.push('outside read');
      return res.rows;
    });
    await new Promise((r) => setTimeout(r, 20));
    release();
    await tx;
    expect(await outside).toEqual([{ n: 1 }]);
    expect(order).toEqual(['tx wrote', 'tx updated', 'outside read']);
  });

  it('delivers NOTIFY after COMMIT, not before, and never for a rolled-back transaction', async () => {
    const got: string[] = [];
    const unlisten = await db.listen('haven_test', (p) => got.push(p));
    await db.transaction(async (tx) => {
      await tx.query(`SELECT pg_notify('haven_test', 'in-tx')`);
      await new Promise((r) => setTimeout(r, 10));
      expect(got).toEqual([]);
    });
    await db
      .transaction(async (tx) => {
        await tx.query(`SELECT pg_notify('haven_test', 'rolled-back')`);
        throw new Error('undo');
      })
      .catch(() => undefined);
    await db.query(`SELECT pg_notify('haven_test', 'plain')`);
    await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(['in-tx', 'plain']);
    await unlisten();
    await db.query(`SELECT pg_notify('haven_test', 'after-unlisten')`);
    await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(['in-tx', 'plain']);
  });

  it('plans every run of a prepared statement for its values', async () => {
    expect((await db.query(`SHOW plan_cache_mode`)).rows).toEqual([{ plan_cache_mode: 'force_custom_plan' }]);
  });

  it('reuses prepared statements safely: after a failed run, after a syntax error, and after the table changed', async () => {
    const insert = `INSERT INTO t (id) VALUES ($1)`;
    await expect(db.query(insert, ['a'])).rejects.toMatchObject({ code: '23505' });
    expect((await db.query(insert, ['p1'])).rowCount).toBe(1);
    for (let i = 0; i < 2; i++) await expect(db.query(`SELEC id FROM t WHERE id = $1`, ['a'])).rejects.toMatchObject({ code: '42601' });
    await db.exec(`CREATE TABLE w (id text PRIMARY KEY)`);
    const select = `SELECT * FROM w WHERE id = $1`;
    await db.query(`INSERT INTO w VALUES ('w1')`);
    for (let i = 0; i < 6; i++) expect((await db.query(select, ['w1'])).rows).toEqual([{ id: 'w1' }]);
    await db.exec(`ALTER TABLE w ADD COLUMN extra int DEFAULT 7`);
    expect((await db.query(select, ['w1'])).rows).toEqual([{ id: 'w1', extra: 7 }]);
    // Within a transaction too; and the session still answers afterwards.
    await db
      .transaction(async (tx) => {
        await expect(tx.query(insert, ['a'])).rejects.toMatchObject({ code: '23505' });
      })
      .catch(() => undefined);
    expect((await db.query(insert, ['p2'])).rowCount).toBe(1);
  });

  it('runs multi-statement scripts atomically', async () => {
    await expect(db.exec(`INSERT INTO t (id) VALUES ('s1'); INSERT INTO t (id) VALUES ('a')`)).rejects.toMatchObject({ code: '23505' });
    expect((await db.query(`SELECT id FROM t WHERE id = 's1'`)).rowCount).toBe(0);
  });
});
