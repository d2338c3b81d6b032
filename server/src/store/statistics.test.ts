/**
 * Planner statistics follow a resource type that appears in a database that already has rows of other types
 * (./analyze-schedule.ts, the type rule): without them the planner believes the type has one row, and plans its
 * searches as nested loops over every row of the type. Where nothing else vacuums (PGlite, PostgreSQL with
 * autovacuum off), the volume rule's runs vacuum too.
 */
import { describe, expect, it } from 'vitest';
import { testRepository } from '../test-support/harness.ts';
import { useScratchDb } from '../test-support/scratch-db.ts';

const scratch = useScratchDb();

/** The planner's row estimate for the current rows of one type. */
async function estimatedRows(resourceType: string): Promise<number> {
  const { rows } = await scratch.db.query<Record<string, string>>(
    `EXPLAIN SELECT 1 FROM resources WHERE tenant = 'default' AND resource_type = '${resourceType}'`,
    undefined,
  );
  const plan = Object.values(rows[0] ?? {})[0] ?? '';
  return Number(/rows=(\d+)/.exec(plan)?.[1] ?? 0);
}

/** How many times `table` has been vacuumed (by anyone) since the database was created. */
async function vacuumCount(table: string): Promise<number> {
  const { rows } = await scratch.db.query<{ n: string }>(
    'SELECT vacuum_count + autovacuum_count AS n FROM pg_stat_user_tables WHERE relname = $1',
    [table],
  );
  return Number(rows[0]?.n ?? 0);
}

describe('statistics', () => {
  it('are refreshed when a new type gets its first 50 rows, without waiting for the volume threshold', async () => {
    const repo = testRepository(scratch.db);
    await repo.withTransaction(async (tx) => {
      for (let i = 0; i < 200; i++) await tx.createResource({ resourceType: 'Basic', code: { text: `b${i}` } });
    });
    await scratch.db.query('ANALYZE', undefined);
    expect(await estimatedRows('Task')).toBeLessThan(5);
    for (let i = 0; i < 60; i++) {
      await repo.createResource({ resourceType: 'Task', status: 'requested', intent: 'order', code: { text: `t${i}` } });
    }
    const deadline = Date.now() + 30_000;
    while ((await estimatedRows('Task')) < 30) {
      if (Date.now() > deadline) throw new Error(`still estimated at ${await estimatedRows('Task')} Task rows`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('know that columns of the search tables go together: a common code is estimated near its real count', async () => {
    const repo = testRepository(scratch.db);
    await repo.withTransaction(async (tx) => {
      for (let i = 0; i < 400; i++) {
        const code = i % 2 === 0 ? '8480-6' : `other-${i % 40}`;
        await tx.createResource({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code }] } });
        if (i % 4 === 0)
          await tx.createResource({
            resourceType: 'Condition',
            subject: { reference: 'Patient/p' },
            code: { coding: [{ system: 'http://snomed.info/sct', code: `c${i}` }] },
          });
      }
    });
    await scratch.db.query('ANALYZE', undefined);
    const { rows } = await scratch.db.query<Record<string, string>>(
      `EXPLAIN SELECT 1 FROM sp_token WHERE tenant = 'default' AND resource_type = 'Observation' AND code = 'code'
       AND system = 'http://loinc.org' AND value = '8480-6'`,
      undefined,
    );
    const estimate = Number(/rows=(\d+)/.exec(Object.values(rows[0] ?? {})[0] ?? '')?.[1] ?? 0);
    // 200 rows; multiplying the columns' selectivities as if independent gives a small fraction of that.
    expect(estimate).toBeGreaterThan(100);
    expect(estimate).toBeLessThan(400);
  });

  it('where nothing else vacuums, the volume runs vacuum: updated resources and numbered events leave dead rows', async (ctx) => {
    const { rows } = await scratch.db.query<{ autovacuum: string }>('SHOW autovacuum', undefined);
    if (scratch.db.kind === 'pg' && rows[0]?.autovacuum === 'on') ctx.skip(); // autovacuum's job there
    const before = await vacuumCount('resources');
    const repo = testRepository(scratch.db);
    const created = await repo.withTransaction(async (tx) => {
      const out = [];
      for (let i = 0; i < 100; i++) out.push(await tx.createResource({ resourceType: 'Basic', code: { text: `v${i}` } }));
      return out;
    });
    // 1,600 versions, 1,500 of them updates leaving dead rows: past the volume rule's threshold (1,000 at first,
    // 1,500 after the first run, which the type rule of the first test may have started).
    for (let round = 0; round < 15; round++) {
      await repo.withTransaction(async (tx) => {
        for (const r of created) await tx.updateResource({ ...r, code: { text: `${r.code.text}-${round}` } });
      });
    }
    const deadline = Date.now() + 45_000;
    while ((await vacuumCount('resources')) <= before || (await vacuumCount('haven_events')) === 0) {
      if (Date.now() > deadline) throw new Error('no VACUUM of resources and haven_events within 45 s of 1,600 written versions');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});
