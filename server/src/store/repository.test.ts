/**
 * The repository's FhirRepository contract where no HTTP route reaches it directly (instance history).
 */
import type { Patient } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { testRepository } from '../test-support/harness.ts';
import { useScratchDb } from '../test-support/scratch-db.ts';

const scratch = useScratchDb();

const repo = () => testRepository(scratch.db);

describe('readHistory', () => {
  it('lists every version newest first, deletes included, with the total and paging', async () => {
    const r = repo();
    const p = await r.createResource({ resourceType: 'Patient', name: [{ family: 'H1' }] });
    await r.updateResource({ ...p, name: [{ family: 'H2' }] });
    await r.deleteResource('Patient', p.id);
    const all = await r.readHistory('Patient', p.id);
    expect(all.total).toBe(3);
    expect(all.entry?.map((e) => e.request?.method)).toEqual(['DELETE', 'PUT', 'POST']);
    expect((all.entry?.[1].resource as Patient | undefined)?.name?.[0].family).toBe('H2');
    const page = await r.readHistory('Patient', p.id, { offset: 1, limit: 1 });
    expect(page.entry?.map((e) => e.response?.etag)).toEqual(['W/"2"']);
  });

  it('is a 404 for a resource that never existed', async () => {
    await expect(repo().readHistory('Patient', 'never-was')).rejects.toThrow(/Not found/);
  });
});
