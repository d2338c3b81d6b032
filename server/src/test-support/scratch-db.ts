/**
 * A scratch database for one test file, below the HTTP layer: opened before its tests, closed and dropped after
 * them. Call at the top of a test file (or a describe block) and read `.db` inside tests.
 */
import { afterAll, beforeAll } from 'vitest';
import type { Db } from '../store/db.ts';
import { openScratchDb } from './harness.ts';

/** The scratch database of the enclosing file or describe block; `db` throws when read outside its tests. */
export function useScratchDb(): { readonly db: Db } {
  let scratch: Awaited<ReturnType<typeof openScratchDb>> | undefined;
  beforeAll(async () => {
    scratch = await openScratchDb();
  });
  afterAll(async () => {
    await scratch?.close();
  });
  return {
    get db(): Db {
      if (!scratch) throw new Error('useScratchDb: the database is open only while the tests run');
      return scratch.db;
    },
  };
}
