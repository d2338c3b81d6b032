/**
 * Backup and restore on real storage: exact round trip of every row (across engines too), refusal of
 * truncated or corrupted files, refusal of a non-empty target without force, all-or-nothing restore.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../fhir/definitions.ts';
import { openScratchDb, testRepository } from '../test-support/harness.ts';
import { BackupFormatError, RestoreRefusedError, readBackup, restoreBackup, writeBackup } from './backup.ts';
import type { Db } from './db.ts';
import { INDEX_TABLES } from './index-rows.ts';
import { openDatabase } from './open-db.ts';

const cleanups: (() => Promise<void>)[] = [];
const suiteCleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  for (const c of suiteCleanups.splice(0).reverse()) await c();
});

/** A database on the storage the suite runs on (PostgreSQL when DATABASE_URL is set). */
async function scratchDb(): Promise<Db> {
  const s = await openScratchDb();
  cleanups.push(s.close);
  return s.db;
}

/** An embedded database whatever the suite runs on, for cross-engine round trips. */
async function pgliteDb(): Promise<Db> {
  const dir = mkdtempSync(join(tmpdir(), 'haven-backup-'));
  const db = await openDatabase({ dataDir: dir });
  cleanups.push(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return db;
}

const repo = testRepository;

/** Versions, updates, deletes, two tenants, settings, a microsecond timestamp and a numeric with scale. */
async function seed(db: Db, tag = 'a'): Promise<void> {
  loadDefinitions();
  const r = repo(db, 'default');
  const p = await r.createResource({ resourceType: 'Patient', name: [{ family: `Seed-${tag}` }], birthDate: '1970-01-01' });
  await r.updateResource({ ...p, gender: 'female' });
  await r.updateResource({ ...p, gender: 'other', telecom: [{ system: 'phone', value: '555' }] });
  const gone = await r.createResource({ resourceType: 'Patient', id: `gone-${tag}` });
  await r.deleteResource('Patient', gone.id);
  await r.createResource({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '44261-6' }] },
    subject: { reference: `Patient/${p.id}` },
    effectiveDateTime: '2024-02-03T04:05:06Z',
    valueQuantity: { value: 12, unit: 'score' },
  });
  await repo(db, 'acme').createResource({ resourceType: 'Patient', id: `acme-${tag}`, name: [{ family: 'Other' }] });
  await db.query("INSERT INTO haven_settings (key, value) VALUES ('cursor_secret', $1), ('extra', 'x') ON CONFLICT DO NOTHING", [
    `secret-${tag}`,
  ]);
  // Precision JavaScript would lose: microseconds and a decimal's trailing zero (jsonb keeps it).
  await db.query("UPDATE resources SET last_updated = '2024-05-06 07:08:09.123456+00' WHERE id = $1", [p.id]);
  await db.query(
    `UPDATE resources SET content = jsonb_set(content, '{extension}', '[{"url": "http://x/e", "valueDecimal": 1.50}]'::jsonb) WHERE id = $1`,
    [p.id],
  );
}

/** Every row of every table that a restore writes, as comparable text (timestamps in UTC). */
async function dump(db: Db): Promise<Record<string, string[]>> {
  const tables = [
    'resources',
    'resource_history',
    'haven_settings',
    'haven_event_counters',
    'haven_events',
    ...Object.values(INDEX_TABLES),
  ];
  return db.transaction(async (tx) => {
    await tx.query("SET LOCAL TIME ZONE 'UTC'");
    const out: Record<string, string[]> = {};
    for (const t of tables) {
      const { rows } = await tx.query<{ j: string }>(`SELECT row_to_json(x)::text AS j FROM ${t} x ORDER BY 1`);
      out[t] = rows.map((r) => r.j);
    }
    return out;
  });
}

async function backupBytes(db: Db): Promise<Buffer> {
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c));
  await writeBackup(db, sink);
  return Buffer.concat(chunks);
}

async function* bytes(buf: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += 997) yield buf.subarray(i, i + 997);
}

/** One seeded source database and its backup, shared by the tests that only read them. */
let source: Db;
let file: Buffer;
beforeAll(async () => {
  source = await scratchDb();
  suiteCleanups.push(...cleanups.splice(0));
  await seed(source);
  file = await backupBytes(source);
});

describe('backup and restore', () => {
  it('round-trips every row exactly, and rebuilds the same index rows', async () => {
    const before = await dump(source);
    expect(before.resource_history.length).toBe(7);
    expect(before.sp_token.length).toBeGreaterThan(0);
    const summary = await readBackup(bytes(file));
    expect(summary.rows).toEqual({ haven_settings: 2, resources: 4, resource_history: 7, haven_events: 7 }); // unnumbered: no dispatcher ran

    const target = await scratchDb();
    const restored = await restoreBackup(target, bytes(file), { force: false });
    expect(restored.indexed).toBe(3);
    expect(await dump(target)).toEqual(before);
    expect(before.resources.join()).toContain('1.50');
    expect(before.resources.join()).toContain('07:08:09.123456');

    // History numbering continues after the restored rows.
    await repo(target, 'default').createResource({ resourceType: 'Patient' });
    const { rows } = await target.query<{ n: number }>('SELECT count(DISTINCT seq)::int AS n FROM resource_history');
    expect(rows[0].n).toBe(8);
  });

  it('restores across engines: embedded into the suite storage and back', async () => {
    const lite = await pgliteDb();
    await seed(lite, 'lite');
    const other = await scratchDb();
    await restoreBackup(other, bytes(await backupBytes(lite)), { force: false });
    expect(await dump(other)).toEqual(await dump(lite));

    const back = await pgliteDb();
    await restoreBackup(back, bytes(await backupBytes(other)), { force: false });
    expect(await dump(back)).toEqual(await dump(lite));
  });

  it('refuses truncated and corrupted files and changes nothing', async () => {
    const target = await scratchDb();
    await seed(target, 'target');
    const before = await dump(target);
    const text = gunzipSync(file).toString('utf8');
    const lines = text.trimEnd().split('\n');
    const variants: [string, Buffer][] = [
      ['truncated gzip', file.subarray(0, Math.floor(file.length * 0.7))],
      ['flipped byte', Buffer.from(file.map((b, i) => (i === Math.floor(file.length / 2) ? b ^ 0xff : b)))],
      ['no trailer', gzipSync(`${lines.slice(0, -1).join('\n')}\n`)],
      ['edited row', gzipSync(text.replace('Seed-a', 'Seed-b'))],
      ['dropped row', gzipSync(`${[...lines.slice(0, 2), ...lines.slice(3)].join('\n')}\n`)],
      ['not a backup', gzipSync('{"resourceType":"Patient"}\n')],
      ['not gzip', Buffer.from(text)],
    ];
    for (const [name, buf] of variants) {
      await expect(restoreBackup(target, bytes(buf), { force: true }), name).rejects.toBeInstanceOf(BackupFormatError);
      await expect(readBackup(bytes(buf)), name).rejects.toBeInstanceOf(BackupFormatError);
    }
    expect(await dump(target)).toEqual(before);
  });

  it('refuses a database that holds resources unless forced, then replaces everything', async () => {
    const target = await scratchDb();
    await seed(target, 'old');
    const old = await dump(target);
    await expect(restoreBackup(target, bytes(file), { force: false })).rejects.toBeInstanceOf(RestoreRefusedError);
    expect(await dump(target)).toEqual(old);
    await restoreBackup(target, bytes(file), { force: true });
    expect(await dump(target)).toEqual(await dump(source));
  });

  it('refuses a backup from a newer schema', async () => {
    const text = gunzipSync(file)
      .toString('utf8')
      .replace(/"schemaVersion":\d+/, '"schemaVersion":999');
    // Re-sign so only the version check can refuse it.
    const lines = text.trimEnd().split('\n');
    const body = lines
      .slice(0, -1)
      .map((l) => `${l}\n`)
      .join('');
    const trailer = { ...JSON.parse(lines[lines.length - 1]), sha256: createHash('sha256').update(body).digest('hex') };
    const target = await scratchDb();
    await expect(restoreBackup(target, bytes(gzipSync(`${body + JSON.stringify(trailer)}\n`)), { force: false })).rejects.toThrow(
      /newer than this database/,
    );
  });
});

describe('auth data in backups', () => {
  it('carries registered clients and users (hashed secrets) through backup and restore', async () => {
    const { addClient, getClient, secretMatches } = await import('../auth/clients.ts');
    const { hashPassword } = await import('../auth/users.ts');
    const source = await scratchDb();
    const { secret } = await addClient(source, {
      tenant: 'default',
      clientId: 'clin-app',
      type: 'confidential-symmetric',
      redirectUris: ['https://app.example/cb'],
      scopes: 'user/*.rs openid fhirUser',
    });
    await source.query(`INSERT INTO auth_users (tenant, id, username, fhir_user, roles, password_hash) VALUES ($1, $2, $3, $4, $5, $6)`, [
      'default',
      'u1',
      'dr.osler',
      'Practitioner/p1',
      ['clinician'],
      await hashPassword('correct horse battery staple'),
    ]);
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    await writeBackup(source, out);
    out.end();

    const target = await scratchDb();
    await restoreBackup(
      target,
      (async function* () {
        yield Buffer.concat(chunks);
      })(),
      { force: false },
    );
    const client = await getClient(target, 'default', 'clin-app');
    expect(client?.redirectUris).toEqual(['https://app.example/cb']);
    expect(client && secretMatches(client, secret as string)).toBe(true);
    const { rows } = await target.query<{ username: string; roles: string[] }>('SELECT username, roles FROM auth_users');
    expect(rows).toEqual([{ username: 'dr.osler', roles: ['clinician'] }]);
  });
});
