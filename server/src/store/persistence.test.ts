/**
 * Nothing is lost across a restart: a server stopped and started again on the same storage (embedded
 * DATA_DIR or the same PostgreSQL database) serves every version it had, and migrations do not re-run.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { startServer } from '../server.ts';
import { createScratchStorage, type ScratchStorage } from '../test-support/harness.ts';

let storage: ScratchStorage | undefined;
afterAll(async () => {
  await storage?.drop();
});

async function boot(s: ScratchStorage, log: (event: Record<string, unknown>) => void = () => undefined, env: Record<string, string> = {}) {
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: s.dataDir,
    ...(s.databaseUrl ? { DATABASE_URL: s.databaseUrl } : {}),
    ...env,
  });
  // This test is about storage, not tokens: a fixed full-access principal stands in for a backend client.
  return startServer(config, {
    log,
    authenticate: async (_req, tenant) => ({
      tenant,
      subject: 'persistence-test',
      clientId: 'persistence-test',
      scopes: ['system/*.cruds'],
      roles: [],
      development: false,
    }),
  });
}

describe('restart', () => {
  it('keeps resources, history and deletes; applies each migration once', async () => {
    // Fresh: the first start must migrate an empty database, not find a copy of the migrated template.
    storage = await createScratchStorage({ fresh: true });
    const first = await boot(storage);
    const post = await fetch(`${first.url}/fhir/Patient`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Durable' }] }),
    });
    const created = await post.json();
    await fetch(`${first.url}/fhir/Patient/${created.id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', id: created.id, name: [{ family: 'Durable2' }] }),
    });
    const gone = await (
      await fetch(`${first.url}/fhir/Patient`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ resourceType: 'Patient' }),
      })
    ).json();
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

describe('maintenance', () => {
  it('logs each scheduled statistics run, with table counts and timings only', async () => {
    const own = await createScratchStorage();
    const events: Record<string, unknown>[] = [];
    const server = await boot(own, (e) => events.push(e));
    try {
      // 1,000 resources of a type the database has never seen: the type rule (and, without autovacuum, the volume
      // rule) makes a run due.
      const bundle = {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: Array.from({ length: 1_000 }, (_, i) => ({
          resource: { resourceType: 'Basic', code: { text: `maintenance ${i}` } },
          request: { method: 'POST', url: 'Basic' },
        })),
      };
      const res = await fetch(`${server.url}/fhir`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify(bundle),
      });
      expect(res.status).toBe(200);
      const deadline = Date.now() + 30_000;
      while (!events.some((e) => e.event === 'store.maintenance')) {
        if (Date.now() > deadline) throw new Error('no store.maintenance log line within 30 s of 1,000 writes');
        await new Promise((r) => setTimeout(r, 100));
      }
      const run = events.find((e) => e.event === 'store.maintenance')!;
      expect(run).toMatchObject({
        level: 'info',
        scope: expect.stringMatching(/^(all|search)$/),
        tables: expect.any(Number),
        tookMs: expect.any(Number),
      });
      expect(run.operation).toBe(run.scope === 'all' ? 'VACUUM (ANALYZE)' : 'ANALYZE');
      expect(JSON.stringify(run)).not.toContain('maintenance 0');
    } finally {
      await server.close();
      await own.drop();
    }
  });
});

describe('embedded size advice', () => {
  it('warns at start when embedded storage holds more resources than HAVEN_EMBEDDED_ADVISED_MAX; never on PostgreSQL', async () => {
    expect(() => loadConfig({ HAVEN_EMBEDDED_ADVISED_MAX: 'lots' })).toThrow(/HAVEN_EMBEDDED_ADVISED_MAX must be a non-negative integer/);
    const own = await createScratchStorage();
    try {
      const first = await boot(own);
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${first.url}/fhir/Patient`, {
          method: 'POST',
          headers: { 'content-type': 'application/fhir+json' },
          body: JSON.stringify({ resourceType: 'Patient', name: [{ family: `Size${i}` }] }),
        });
        expect(res.status).toBe(201);
      }
      // The Patients and the questionnaires the server installs at start.
      const stored = Number((await first.db.query<{ n: string }>('SELECT count(*) AS n FROM resources')).rows[0].n);
      expect(stored).toBeGreaterThanOrEqual(3);
      await first.close();
      const warnings = async (advisedMax: string): Promise<Record<string, unknown>[]> => {
        const events: Record<string, unknown>[] = [];
        const server = await boot(own, (e) => events.push(e), { HAVEN_EMBEDDED_ADVISED_MAX: advisedMax });
        await server.close();
        return events.filter((e) => e.event === 'storage.embedded_large');
      };
      const over = await warnings('1');
      if (own.databaseUrl) expect(over).toEqual([]);
      else expect(over).toEqual([expect.objectContaining({ level: 'warn', resources: stored, advisedMax: 1 })]);
      expect(await warnings(String(stored))).toEqual([]); // at the limit
      expect(await warnings('0')).toEqual([]); // off
    } finally {
      await own.drop();
    }
  });
});
