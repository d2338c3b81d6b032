/**
 * The outbox on real storage, without a server: every committed write gets an event in its transaction; the
 * sequencer numbers them per tenant without gaps, in commit order; nothing of a rolled-back write remains.
 */
import { describe, expect, it } from 'vitest';
import type { Resource } from '@medplum/fhirtypes';
import type { HavenRepository } from '../store/repository.ts';
import { testRepository } from '../test-support/harness.ts';
import { useScratchDb } from '../test-support/scratch-db.ts';
import { hasUnnumbered, numberEvents, readEvents } from './outbox.ts';

const scratch = useScratchDb();

function repo(tenant: string): HavenRepository {
  return testRepository(scratch.db, tenant, `http://x/t/${tenant}/fhir`);
}

async function numbered(tenant: string): Promise<{ seq: number; ref: string; interaction: string }[]> {
  while (await hasUnnumbered(scratch.db)) await numberEvents(scratch.db);
  return (await readEvents(scratch.db, tenant, 0, 1000)).map((e) => ({
    seq: e.seq,
    ref: `${e.resourceType}/${e.id}/${e.versionId}`,
    interaction: e.interaction,
  }));
}

describe('outbox', () => {
  it('numbers each tenant 1..n without gaps, in write order: create, update, delete', async () => {
    const a = repo('ev-a');
    const b = repo('ev-b');
    const p = await a.createResource({ resourceType: 'Patient' });
    await b.createResource({ resourceType: 'Patient' });
    await a.updateResource({ ...p, gender: 'other' });
    await b.createResource({ resourceType: 'Patient' });
    await a.deleteResource('Patient', p.id);
    expect(await numbered('ev-a')).toEqual([
      { seq: 1, ref: `Patient/${p.id}/1`, interaction: 'create' },
      { seq: 2, ref: `Patient/${p.id}/2`, interaction: 'update' },
      { seq: 3, ref: `Patient/${p.id}/3`, interaction: 'delete' },
    ]);
    expect((await numbered('ev-b')).map((e) => e.seq)).toEqual([1, 2]);
  });

  it('a transaction appends its events in write order, and a rolled-back one leaves none', async () => {
    const r = repo('ev-tx');
    const ids = await r.withTransaction(async (tx) => {
      const one = await tx.createResource<Resource>({ resourceType: 'Basic', code: { text: '1' } } as Resource);
      const two = await tx.createResource<Resource>({ resourceType: 'Basic', code: { text: '2' } } as Resource);
      return [one.id, two.id];
    });
    await expect(
      r.withTransaction(async (tx) => {
        await tx.createResource({ resourceType: 'Basic', code: { text: 'never' } } as Resource);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect((await numbered('ev-tx')).map((e) => e.ref)).toEqual([`Basic/${ids[0]}/1`, `Basic/${ids[1]}/1`]);
  });

  it.skipIf(!process.env.DATABASE_URL)(
    'numbers by commit order: a transaction open while others commit gets its number when it commits (PostgreSQL: concurrent transactions)',
    async () => {
      const r = repo('ev-order');
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let slowId = '';
      const slow = r.withTransaction(async (tx) => {
        slowId = (await tx.createResource({ resourceType: 'Basic', code: { text: 'slow' } } as Resource)).id;
        await gate;
      });
      await new Promise((res) => setTimeout(res, 50));
      const fast = await r.createResource({ resourceType: 'Basic', code: { text: 'fast' } } as Resource);
      expect((await numbered('ev-order')).map((e) => e.ref)).toEqual([`Basic/${fast.id}/1`]);
      release();
      await slow;
      expect((await numbered('ev-order')).map((e) => e.ref)).toEqual([`Basic/${fast.id}/1`, `Basic/${slowId}/1`]);
    },
  );

  it('carries the content of the version each event names, for the asked types only', async () => {
    const r = repo('ev-content');
    const p = await r.createResource({ resourceType: 'Patient', gender: 'female' });
    await r.updateResource({ ...p, gender: 'male' });
    await r.createResource({ resourceType: 'Basic', code: { text: 'b' } } as Resource);
    await r.deleteResource('Patient', p.id);
    while (await hasUnnumbered(scratch.db)) await numberEvents(scratch.db);
    const events = await readEvents(scratch.db, 'ev-content', 0, 10, ['Patient']);
    expect(
      events.map((e) => [e.resourceType, e.versionId, (e.content as { gender?: string } | undefined)?.gender ?? e.content ?? null]),
    ).toEqual([
      ['Patient', 1, 'female'],
      ['Patient', 2, 'male'],
      ['Basic', 1, null],
      ['Patient', 3, null],
    ]);
    expect((await readEvents(scratch.db, 'ev-content', 0, 10)).every((e) => e.content === undefined)).toBe(true);
    expect((await readEvents(scratch.db, 'ev-content', 2, 1, ['Patient', 'Basic'])).map((e) => [e.seq, e.content?.resourceType])).toEqual([
      [3, 'Basic'],
    ]);
  });
});
