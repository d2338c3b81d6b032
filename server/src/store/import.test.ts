/**
 * Import through the repository on real storage: chunked upserts, per-item failures, isolation of a
 * storage error to its item, Bundles through the router.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle } from '@medplum/fhirtypes';
import { createFhirRouter } from '../http/routes.ts';
import { servedResourceTypes } from '../server.ts';
import { openScratchDb } from '../test-support/harness.ts';
import type { Db, Tx } from './db.ts';
import { collectionItems, importDocument, importResources, type ImportContext } from './import.ts';

let scratch: Awaited<ReturnType<typeof openScratchDb>>;
let db: Db;
let ctx: ImportContext;
beforeAll(async () => {
  scratch = await openScratchDb();
  db = scratch.db;
  ctx = {
    db,
    router: createFhirRouter(() => {}),
    tenant: 'imp',
    baseUrl: 'http://x/fhir',
    cursorSecret: 's',
    servedTypes: new Set(servedResourceTypes()),
  };
});
afterAll(async () => {
  await scratch?.close();
});

async function ids(type: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>("SELECT id FROM resources WHERE tenant = 'imp' AND resource_type = $1 ORDER BY id", [
    type,
  ]);
  return rows.map((r) => r.id);
}

describe('importResources', () => {
  it('upserts valid items and reports each invalid one by its location', async () => {
    const r = await importResources(
      ctx,
      [
        { at: 1, resource: { resourceType: 'Practitioner', id: 'pr-1' } },
        { at: 2, resource: { resourceType: 'Practitioner', id: 'pr-2', gender: 'robot' } },
        { at: 3, resource: 'not an object' },
        { at: 4, resource: { resourceType: 'Project', id: 'medplum-only' } },
        { at: 5, resource: { resourceType: 'Practitioner', id: 'bad id!' } },
        { at: 6, resource: { resourceType: 'Practitioner' } },
      ],
      'line',
    );
    expect(r.imported).toBe(2);
    expect(r.failures.map((f) => f.line)).toEqual([2, 3, 4, 5]);
    expect(r.failures[0].reason).toMatch(/Practitioner\.gender/);
    expect(r.failures[2].reason).toMatch(/not served/);
    expect((await ids('Practitioner')).filter((id) => id === 'pr-1')).toEqual(['pr-1']);
  });

  it('isolates a storage error to its item by replaying the chunk one item at a time', async () => {
    // A Db whose statements fail when they carry the id "boom", as a constraint violation would.
    const failing = (q: Tx | Db) => async (sql: string, params?: readonly unknown[]) => {
      // The id travels inside the statement's JSON of versions, and in the arrays of index rows.
      if (JSON.stringify(params ?? []).includes('boom') && /INSERT/.test(sql))
        throw Object.assign(new Error('value "secret" violates'), { code: '23514' });
      return q.query(sql, params) as never;
    };
    const wrapped: Db = {
      ...db,
      kind: db.kind,
      query: failing(db),
      transaction: (fn) => db.transaction((tx) => fn({ inTransaction: true, query: failing(tx) })),
      exec: (sql) => db.exec(sql),
      close: () => db.close(),
    };
    const r = await importResources(
      { ...ctx, db: wrapped },
      [
        { at: 1, resource: { resourceType: 'Device', id: 'd-1' } },
        { at: 2, resource: { resourceType: 'Device', id: 'boom' } },
        { at: 3, resource: { resourceType: 'Device', id: 'd-3' } },
      ],
      'entry',
    );
    expect(r.imported).toBe(2);
    expect(r.failures).toEqual([{ entry: 2, reason: 'storage error (SQLSTATE 23514)' }]);
    expect(await ids('Device')).toEqual(['d-1', 'd-3']);
  });
});

describe('importDocument', () => {
  it('runs a batch entry by entry and reports the failed entries', async () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: { resourceType: 'Location', id: 'loc-1' }, request: { method: 'PUT', url: 'Location/loc-1' } },
        { resource: { resourceType: 'Location', status: 'bogus' } as never, request: { method: 'POST', url: 'Location' } },
      ],
    };
    const r = await importDocument(ctx, bundle);
    expect(r.imported).toBe(1);
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0].entry).toBe(1);
    expect(r.failures[0].reason).toMatch(/Location\.status/);
  });

  it('refuses Bundle types that are not importable', async () => {
    const r = await importDocument(ctx, { resourceType: 'Bundle', type: 'history', entry: [] });
    expect(r.failures[0].reason).toMatch(/not importable/);
  });
});

describe('collectionItems', () => {
  it('gives urn:uuid entries their uuid as id and rewrites references to them', () => {
    const urn = 'urn:uuid:7d3c4e5f-0a1b-4c2d-8e9f-0a1b2c3d4e5f';
    const items = collectionItems({
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [
        { fullUrl: urn, resource: { resourceType: 'Patient' } },
        { fullUrl: 'urn:uuid:00000000-0000-4000-8000-000000000000', resource: { resourceType: 'Patient', id: 'kept' } },
        { resource: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: urn } } },
        { resource: { resourceType: 'OperationOutcome', issue: [] }, search: { mode: 'outcome' } },
      ],
    });
    expect(items.map((i) => i.at)).toEqual([0, 1, 2]);
    expect((items[0].resource as { id: string }).id).toBe(urn.slice(9));
    expect((items[1].resource as { id: string }).id).toBe('kept');
    expect((items[2].resource as { subject: { reference: string } }).subject.reference).toBe(`Patient/${urn.slice(9)}`);
  });
});
