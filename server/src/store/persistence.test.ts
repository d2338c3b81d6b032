/**
 * Nothing is lost across a restart: a server stopped and started again on the same storage (embedded
 * DATA_DIR or the same PostgreSQL database) serves every version it had, and migrations do not re-run.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { startServer } from '../server.ts';
import { createScratchStorage, type ScratchStorage } from '../test-support/harness.ts';

let storage: ScratchStorage | undefined;
afterAll(async () => { await storage?.drop(); });

async function boot(s: ScratchStorage) {
  const config = loadConfig({
    HOST: '127.0.0.1', PORT: '0', DATA_DIR: s.dataDir,
    ...(s.databaseUrl ? { DATABASE_URL: s.databaseUrl } : {}),
  });
  // This test is about storage, not tokens: a fixed full-access principal stands in for a backend client.
  return startServer(config, {
    log: () => undefined,
    authenticate: async (_req, tenant) => ({ tenant, subject: 'persistence-test', clientId: 'persistence-test', scopes: ['system/*.cruds'], roles: [], development: false }),
  });
}

describe('restart', () => {
  it('keeps resources, history and deletes; applies each migration once', async () => {
    storage = await createScratchStorage();
    const first = await boot(storage);
    const post = await fetch(`${first.url}/fhir/Patient`, {
      method: 'POST', headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Durable' }] }),
    });
    const created = await post.json();
    await fetch(`${first.url}/fhir/Patient/${created.id}`, {
      method: 'PUT', headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', id: created.id, name: [{ family: 'Durable2' }] }),
    });
    const gone = await (await fetch(`${first.url}/fhir/Patient`, {
      method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Patient' }),
    })).json();
    await fetch(`${first.url}/fhir/Patient/${gone.id}`, { method: 'DELETE' });
    const { rows: before } = await first.db.query<{ version: number }>('SELECT version FROM haven_migrations ORDER BY version');
    await first.close();

    const second = await boot(storage);
    try {
      const read = await (await fetch(`${second.url}/fhir/Patient/${created.id}`)).json();
      expect(read.name[0].family).toBe('Durable2');
      expect(read.meta.versionId).toBe('2');
      expect((await fetch(`${second.url}/fhir/Patient/${created.id}/_history/1`)).status).toBe(200);
      expect((await fetch(`${second.url}/fhir/Patient/${gone.id}`)).status).toBe(410);
      const search = await (await fetch(`${second.url}/fhir/Patient?name=durable2&_total=accurate`)).json();
      expect(search.total).toBe(1);
      const { rows: after } = await second.db.query<{ version: number }>('SELECT version FROM haven_migrations ORDER BY version');
      expect(after).toEqual(before);
    } finally {
      await second.close();
    }
  });
});
