/**
 * The `haven` CLI in-process against real scratch storage (PGlite, or PostgreSQL when DATABASE_URL is
 * set): import of Bundles, NDJSON and folders, export round trip, usage errors.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../store/db.ts';
import { openDatabase } from '../store/open-db.ts';
import { createScratchStorage, type ScratchStorage } from '../test-support/harness.ts';
import { runCli } from './cli.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function scratch(): Promise<ScratchStorage> {
  const s = await createScratchStorage();
  cleanups.push(() => s.drop());
  return s;
}

function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'haven-cli-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs the CLI on `storage`; returns exit code and captured output. */
async function haven(storage: ScratchStorage, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const env = { DATA_DIR: storage.dataDir, ...(storage.databaseUrl ? { DATABASE_URL: storage.databaseUrl } : {}) };
  const code = await runCli(argv, env, {
    stdout: {
      write: (s: string) => {
        out += s;
        return true;
      },
      isTTY: false,
    },
    stderr: {
      write: (s: string) => {
        err += s;
        return true;
      },
      isTTY: false,
    },
  });
  return { code, out, err };
}

/** Opens the storage for assertions (the CLI has closed it and released DATA_DIR/.lock by then). */
async function withDb<T>(storage: ScratchStorage, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

const PATIENT_URN = 'urn:uuid:6f1c2b0e-6c39-4c47-9d4b-0a4b8b1c9e01';
const transactionBundle = {
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    { fullUrl: PATIENT_URN, resource: { resourceType: 'Patient', name: [{ family: 'Urn' }] }, request: { method: 'POST', url: 'Patient' } },
    {
      fullUrl: 'urn:uuid:0c7e0d55-8f0e-4a51-a1f3-2d9a4c8b7e02',
      resource: { resourceType: 'Observation', status: 'final', code: { text: 'PHQ-9 total' }, subject: { reference: PATIENT_URN } },
      request: { method: 'POST', url: 'Observation' },
    },
  ],
};

describe('haven import', () => {
  it('imports a transaction Bundle atomically, resolving urn:uuid references', async () => {
    const s = await scratch();
    const dir = workDir();
    writeFileSync(join(dir, 'tx.json'), JSON.stringify(transactionBundle));
    const r = await haven(s, 'import', join(dir, 'tx.json'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/1 files ok, 0 failed; 2 resources imported/);
    await withDb(s, async (db) => {
      const { rows } = await db.query<{ resource_type: string; id: string; content: { subject?: { reference: string } } }>(
        "SELECT resource_type, id, content FROM resources WHERE tenant = 'default' ORDER BY resource_type",
      );
      expect(rows.map((x) => x.resource_type)).toEqual(['Observation', 'Patient']);
      const patient = rows.find((x) => x.resource_type === 'Patient')!;
      expect(rows[0].content.subject?.reference).toBe(`Patient/${patient.id}`);
    });
  });

  it('imports NDJSON keeping ids, into the tenant given, and updates on re-import', async () => {
    const s = await scratch();
    const dir = workDir();
    const lines = Array.from({ length: 600 }, (_, i) =>
      JSON.stringify({ resourceType: 'Patient', id: `nd-${i}`, name: [{ family: `F${i}` }] }),
    );
    writeFileSync(join(dir, 'Patient.ndjson'), `${lines.join('\r\n')}\r\n`);
    const r = await haven(s, 'import', join(dir, 'Patient.ndjson'), '--tenant', 'acme');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/600 resources imported/);
    expect((await haven(s, 'import', join(dir, 'Patient.ndjson'), '--tenant', 'acme')).code).toBe(0);
    await withDb(s, async (db) => {
      const { rows } = await db.query<{ tenant: string; n: number; v: number }>(
        'SELECT tenant, count(*)::int AS n, max(version_id) AS v FROM resources GROUP BY tenant',
      );
      expect(rows).toEqual([{ tenant: 'acme', n: 600, v: 2 }]);
      const one = await db.query<{ content: { id: string } }>("SELECT content FROM resources WHERE id = 'nd-599'");
      expect(one.rows[0].content.id).toBe('nd-599');
    });
  });

  it('reports a broken file in a folder with file and line, imports the rest, exits 1, prints no PHI', async () => {
    const s = await scratch();
    const dir = workDir();
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    writeFileSync(join(dir, 'a', 'tx.json'), JSON.stringify(transactionBundle));
    writeFileSync(
      join(dir, 'a', 'b', 'Patient.ndjson'),
      [
        JSON.stringify({ resourceType: 'Patient', id: 'ok-1', name: [{ family: 'Fine' }] }),
        '{"resourceType":"Patient","id":"bad-json","name":[{"family": SECRETNAME}]}',
        JSON.stringify({ resourceType: 'Patient', id: 'bad-code', gender: 'robot', name: [{ family: 'SECRETFAMILY' }] }),
        JSON.stringify({ resourceType: 'Patient', id: 'ok-2' }),
      ].join('\n'),
    );
    writeFileSync(join(dir, 'a', 'broken.json'), '{"resourceType": "Patient", "name": [{"family": "SECRETTRUNCATED"');
    writeFileSync(join(dir, 'a', 'notes.txt'), 'ignored');
    const r = await haven(s, 'import', dir);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/1 files ok, 2 failed; 4 resources imported/);
    expect(r.err).toMatch(/broken\.json: invalid JSON/);
    expect(r.err).toMatch(/Patient\.ndjson: line 2: invalid JSON/);
    expect(r.err).toMatch(/Patient\.ndjson: line 3: Patient\.gender: /);
    // Validator issue text may name a coded value (robot); names and free text never appear.
    expect(r.out + r.err).not.toMatch(/SECRET/);
    await withDb(s, async (db) => {
      const { rows } = await db.query<{ id: string }>("SELECT id FROM resources WHERE id LIKE 'ok-%' OR id LIKE 'bad-%' ORDER BY id");
      expect(rows.map((x) => x.id)).toEqual(['ok-1', 'ok-2']);
    });
  });

  it('refuses JSON nested deeper than the bound in every file kind, per file or line, without a stack overflow', async () => {
    const s = await scratch();
    const dir = workDir();
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const deepEntry = `{"resource":{"resourceType":"Patient","name":${deep}},"request":{"method":"POST","url":"Patient"}}`;
    writeFileSync(join(dir, 'a-resource.json'), `{"resourceType":"Patient","name":${deep}}`);
    writeFileSync(join(dir, 'b-transaction.json'), `{"resourceType":"Bundle","type":"transaction","entry":[${deepEntry}]}`);
    writeFileSync(
      join(dir, 'c-collection.json'),
      `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","name":${deep}}}]}`,
    );
    writeFileSync(
      join(dir, 'd-lines.ndjson'),
      [JSON.stringify({ resourceType: 'Patient', id: 'shallow' }), `{"resourceType":"Patient","id":"deep","extension":${deep}}`].join('\n'),
    );
    const r = await haven(s, 'import', dir);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/0 files ok, 4 failed; 1 resources imported/);
    for (const f of [
      'a-resource.json: Patient.name',
      'b-transaction.json: Bundle.entry[0].resource.name',
      'c-collection.json: Bundle.entry[0].resource.name',
      'd-lines.ndjson: line 2: Patient.extension',
    ]) {
      expect(r.err).toContain(f);
    }
    expect(r.err.match(/JSON nested more than 64 levels deep/g)).toHaveLength(4);
    expect(r.err).not.toMatch(/call stack/i);
    await withDb(s, async (db) => {
      const { rows } = await db.query<{ id: string }>("SELECT id FROM resources WHERE resource_type = 'Patient'");
      expect(rows.map((x) => x.id)).toEqual(['shallow']);
    });
  });

  it('reports the failing entry of a transaction and writes nothing of it', async () => {
    const s = await scratch();
    const dir = workDir();
    const bad = structuredClone(transactionBundle);
    (bad.entry[1].resource as Record<string, unknown>).status = 'not-a-status';
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(bad));
    const r = await haven(s, 'import', join(dir, 'bad.json'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.json: entry 1: Observation\.status/);
    await withDb(s, async (db) => {
      expect((await db.query('SELECT 1 FROM resources')).rowCount).toBe(0);
    });
  });

  it('upserts collection Bundle entries, turning urn:uuid fullUrls into ids', async () => {
    const s = await scratch();
    const dir = workDir();
    writeFileSync(
      join(dir, 'c.json'),
      JSON.stringify({
        resourceType: 'Bundle',
        type: 'collection',
        entry: [
          { fullUrl: PATIENT_URN, resource: { resourceType: 'Patient' } },
          {
            resource: {
              resourceType: 'Observation',
              id: 'obs-1',
              status: 'final',
              code: { text: 'x' },
              subject: { reference: PATIENT_URN },
            },
          },
        ],
      }),
    );
    expect((await haven(s, 'import', join(dir, 'c.json'))).code).toBe(0);
    await withDb(s, async (db) => {
      const { rows } = await db.query<{ id: string; content: { subject?: { reference: string } } }>(
        'SELECT id, content FROM resources ORDER BY id',
      );
      expect(rows.map((x) => x.id)).toEqual([PATIENT_URN.slice(9), 'obs-1']);
      expect(rows[1].content.subject?.reference).toBe(`Patient/${PATIENT_URN.slice(9)}`);
    });
  });
});

describe('haven export', () => {
  it('round-trips: import, export, re-import into a fresh store, same resources', async () => {
    const a = await scratch();
    const dir = workDir();
    const ndjson = [
      ...Array.from({ length: 1500 }, (_, i) => ({
        resourceType: 'Patient',
        id: `p-${String(i).padStart(4, '0')}`,
        birthDate: '1990-01-02',
      })),
      {
        resourceType: 'Observation',
        id: 'o-1',
        status: 'final',
        code: { text: 'score' },
        subject: { reference: 'Patient/p-0001' },
        valueQuantity: { value: 1.5 },
      },
    ]
      .map((x) => JSON.stringify(x))
      .join('\n');
    writeFileSync(join(dir, 'in.ndjson'), ndjson);
    expect((await haven(a, 'import', join(dir, 'in.ndjson'))).code).toBe(0);
    const out1 = join(dir, 'out1');
    const e1 = await haven(a, 'export', '--out', out1);
    expect(e1.code, e1.err).toBe(0);
    expect(readdirSync(out1).sort()).toEqual(['Observation.ndjson', 'Patient.ndjson']);
    const patients = readFileSync(join(out1, 'Patient.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(patients.map((p) => p.id)).toEqual([...patients.map((p) => p.id)].sort());
    expect(patients).toHaveLength(1500);

    const b = await scratch();
    expect((await haven(b, 'import', out1)).code).toBe(0);
    const out2 = join(dir, 'out2');
    expect((await haven(b, 'export', '--out', out2, '--type', 'Patient,Observation')).code).toBe(0);
    const strip = (file: string): unknown[] =>
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => {
          const { meta, ...rest } = JSON.parse(l);
          return rest;
        });
    for (const f of ['Patient.ndjson', 'Observation.ndjson']) expect(strip(join(out2, f))).toEqual(strip(join(out1, f)));
  });
});

describe('usage', () => {
  it('prints help, and exits 2 on unknown commands, options and missing arguments', async () => {
    const s = await scratch();
    expect((await haven(s, '--help')).out).toMatch(/Usage: haven COMMAND/);
    expect((await haven(s, 'help', 'restore')).out).toMatch(/--force/);
    const unknown = await haven(s, 'frobnicate');
    expect([unknown.code, unknown.err]).toEqual([2, "haven: unknown command 'frobnicate'. Run 'haven --help'.\n"]);
    const flag = await haven(s, 'export', '--bogus');
    expect(flag.code).toBe(2);
    expect(flag.err).toMatch(/unknown option '--bogus'/);
    expect((await haven(s, 'backup')).code).toBe(2);
    expect((await haven(s, 'import', '/nonexistent/file.ndjson')).code).toBe(2);
    expect((await haven(s, 'export', '--tenant', 'Bad Tenant')).code).toBe(2);
  });
});
