/**
 * Writes inside a transaction are queued and sent together (./write-batch.ts): fewer statements, the same
 * results. Every read inside the transaction sees the earlier writes; a failure stores nothing.
 */
import type { Observation, Patient } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { testRepository } from '../test-support/harness.ts';
import { useScratchDb } from '../test-support/scratch-db.ts';
import type { Db, Tx } from './db.ts';
import { HavenRepository } from './repository.ts';

const scratch = useScratchDb();

/** A Db that records the statements it runs, inside transactions or not. */
function counting(inner: Db): { db: Db; statements: string[] } {
  const statements: string[] = [];
  const wrapped: Db = {
    ...inner,
    kind: inner.kind,
    query: (sql, params) => {
      statements.push(sql);
      return inner.query(sql, params);
    },
    transaction: (fn) =>
      inner.transaction((tx) =>
        fn({
          inTransaction: true,
          query: (sql, params) => {
            statements.push(sql);
            return tx.query(sql, params);
          },
        } satisfies Tx),
      ),
    noteWrites: (n, type) => inner.noteWrites(n, type),
    exec: (sql) => inner.exec(sql),
    close: () => inner.close(),
  };
  return { db: wrapped, statements };
}

function observation(subject: string, n: number): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    subject: { reference: subject },
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    valueQuantity: { value: 60 + n, unit: '/min' },
  };
}

async function count(repo: HavenRepository, query: string): Promise<number> {
  const [type, params] = query.split('?');
  const bundle = await repo.search({
    resourceType: type as 'Observation',
    filters: params.split('&').map((p) => {
      const [code, value] = p.split('=');
      return { code, operator: 'eq' as const, value };
    }),
    total: 'accurate',
    count: 0,
  });
  return bundle.total ?? -1;
}

describe('transaction write batches', () => {
  it('sends a transaction of 50 creates as one statement, with the events, and stores and indexes each', async () => {
    const { db: counted, statements } = counting(scratch.db);
    const repo = new HavenRepository({ ...testRepository(scratch.db).ctx, db: counted });
    const patient = await testRepository(scratch.db).createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Batch' }] });
    const created = await repo.withTransaction(async (tx) => {
      const out = [];
      for (let i = 0; i < 50; i++) out.push(await tx.createResource(observation(`Patient/${patient.id}`, i)));
      return out;
    });
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/jsonb_to_recordset[\s\S]*haven_events/);
    expect(await count(testRepository(scratch.db), `Observation?subject=Patient/${patient.id}`)).toBe(50);
    expect(await count(testRepository(scratch.db), `Observation?subject=Patient/${patient.id}&value-quantity=109`)).toBe(1);
    const { rows } = await scratch.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM haven_events WHERE resource_type = 'Observation' AND resource_id = ANY($1::text[])`,
      [created.map((o) => o.id)],
    );
    expect(rows[0].n).toBe(50);
    const read = await testRepository(scratch.db).readResource<Observation>('Observation', created[49].id);
    expect(read.meta?.versionId).toBe('1');
  });

  it('a read or search inside the transaction sees the writes queued before it', async () => {
    const repo = testRepository(scratch.db);
    await repo.withTransaction(async (tx) => {
      const p = await tx.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Queued' }] });
      expect((await tx.readResource<Patient>('Patient', p.id)).name?.[0].family).toBe('Queued');
      const o = await tx.createResource(observation(`Patient/${p.id}`, 1));
      expect(await count(tx, `Observation?subject=Patient/${p.id}`)).toBe(1);
      // A second version of the same resource in the same transaction: the first is sent before it.
      const updated = await tx.updateResource<Observation>({ ...o, status: 'amended' });
      expect(updated.meta?.versionId).toBe('2');
      await tx.deleteResource('Observation', o.id);
    });
  });

  it('updates and deletes in one batch replace and remove exactly their own index rows', async () => {
    const repo = testRepository(scratch.db);
    const p = await repo.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Mixed' }] });
    const [a, b, c] = await Promise.all([0, 1, 2].map((i) => repo.createResource(observation(`Patient/${p.id}`, i))));
    await repo.withTransaction(async (tx) => {
      await tx.updateResource<Observation>({ ...a, valueQuantity: { value: 200, unit: '/min' } });
      await tx.deleteResource('Observation', b.id);
      await tx.createResource(observation(`Patient/${p.id}`, 7));
    });
    expect(await count(repo, `Observation?subject=Patient/${p.id}`)).toBe(3);
    expect(await count(repo, `Observation?subject=Patient/${p.id}&value-quantity=200`)).toBe(1);
    expect(await count(repo, `Observation?subject=Patient/${p.id}&value-quantity=60`)).toBe(0);
    expect(await count(repo, `Observation?subject=Patient/${p.id}&value-quantity=62`)).toBe(1);
    expect((await repo.readResource<Observation>('Observation', c.id)).meta?.versionId).toBe('1');
    await expect(repo.readResource('Observation', b.id)).rejects.toThrow(/Gone|deleted/i);
    const history = await repo.readHistory('Observation', a.id);
    expect(history.entry?.map((e) => e.response?.etag)).toEqual(['W/"2"', 'W/"1"']);
  });

  it('a transaction that fails after queued writes stores none of them', async () => {
    const repo = testRepository(scratch.db);
    const family = `Rollback-${Date.now()}`;
    await expect(
      repo.withTransaction(async (tx) => {
        await tx.createResource<Patient>({ resourceType: 'Patient', name: [{ family }] });
        await tx.createResource<Patient>({ resourceType: 'Patient', name: [{ family }] });
        throw new Error('refused after the writes');
      }),
    ).rejects.toThrow(/refused/);
    expect(await count(repo, `Patient?family=${family}`)).toBe(0);
  });

  it('a statement error in a queued write fails the transaction and nothing of it is stored', async () => {
    const repo = testRepository(scratch.db);
    const existing = await repo.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Taken' }] });
    const family = `Dup-${Date.now()}`;
    // A preassigned id that is taken: the primary key refuses the batch that carries it.
    await expect(
      repo.withTransaction(async (tx) => {
        await tx.createResource<Patient>({ resourceType: 'Patient', name: [{ family }] });
        await tx.createResource<Patient>({ resourceType: 'Patient', id: existing.id, name: [{ family }] }, { assignedId: true });
      }),
    ).rejects.toThrow();
    expect(await count(repo, `Patient?family=${family}`)).toBe(0);
    expect((await repo.readResource<Patient>('Patient', existing.id)).name?.[0].family).toBe('Taken');
  });

  it('an update is one read and one guarded statement that leaves the index tables whose rows stay the same alone', async () => {
    const { db: counted, statements } = counting(scratch.db);
    const repo = new HavenRepository({ ...testRepository(scratch.db).ctx, db: counted });
    const p = await testRepository(scratch.db).createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Diff' }] });
    const o = await repo.createResource(observation(`Patient/${p.id}`, 0));
    statements.length = 0;
    await repo.updateResource<Observation>({ ...o, valueQuantity: { value: 99, unit: '/min' } });
    expect(statements).toHaveLength(2);
    const write = statements[1];
    expect(write).toMatch(/UPDATE resources[\s\S]*version_id = \$\d+::int/);
    expect(write).toMatch(/del_quantity/);
    expect(write).not.toMatch(/del_token|del_reference|ins_token|ins_reference/);
    const plain = testRepository(scratch.db);
    expect(await count(plain, `Observation?subject=Patient/${p.id}&code=http://loinc.org|8867-4&value-quantity=99`)).toBe(1);
    expect(await count(plain, `Observation?subject=Patient/${p.id}&value-quantity=60`)).toBe(0);
    // Deleted, then written again with other content: only the new content is found.
    await repo.deleteResource('Observation', o.id);
    expect(await count(plain, `Observation?subject=Patient/${p.id}`)).toBe(0);
    await repo.updateResource<Observation>({ ...observation(`Patient/${p.id}`, 5), id: o.id, status: 'amended' });
    expect(await count(plain, `Observation?subject=Patient/${p.id}&status=amended&value-quantity=65`)).toBe(1);
    expect(await count(plain, `Observation?subject=Patient/${p.id}&status=final`)).toBe(0);
  });
});
