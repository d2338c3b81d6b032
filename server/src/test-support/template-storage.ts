/**
 * A migrated, empty database built once per test run (vitest `globalSetup`), which every scratch storage starts
 * as a copy of. Creating and migrating a PGlite database costs ~5–6 s on the 2-core CI machine and copying a
 * migrated one ~0.05 s (opening it then ~0.7 s); the suite creates one per test server, so this is most of the
 * difference between a suite of ~7 minutes and one of a few. On PostgreSQL the copy is
 * `CREATE DATABASE … TEMPLATE`.
 *
 * The template is what `openDatabase` leaves behind: the same migrations, nothing else (no secrets, no
 * settings, no tenants). A test that must see an empty database being migrated asks for `fresh` storage.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadDefinitions } from '../fhir/definitions.ts';
import { embeddedDbDir, openDatabase } from '../store/open-db.ts';

/** Where the run's template lives: a DATA_DIR (embedded) or a database name on the DATABASE_URL server. */
export type StorageTemplate = { readonly kind: 'embedded'; readonly dataDir: string } | { readonly kind: 'pg'; readonly database: string };

/** Name under which globalSetup provides the template to test workers (vitest `provide`/`inject`). */
export const TEMPLATE_KEY = 'havenStorageTemplate';

declare module 'vitest' {
  export interface ProvidedContext {
    havenStorageTemplate: StorageTemplate | null;
  }
}

/** A database URL for `database` on the server of `adminUrl`. */
export function databaseUrlFor(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Runs one statement on the admin database of `adminUrl`. */
export async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/** Builds the template on the storage the suite runs on (`DATABASE_URL` set: PostgreSQL). */
export async function buildTemplate(adminUrl: string | undefined): Promise<{ template: StorageTemplate; drop(): Promise<void> }> {
  loadDefinitions();
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-template-'));
  if (!adminUrl) {
    const db = await openDatabase({ dataDir });
    await db.close();
    return { template: { kind: 'embedded', dataDir }, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const database = `haven_tpl_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${database}`);
  try {
    const db = await openDatabase({ databaseUrl: databaseUrlFor(adminUrl, database), dataDir });
    await db.close();
  } catch (err) {
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    throw err;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  return { template: { kind: 'pg', database }, drop: () => adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`) };
}

/** Copies an embedded template into `dataDir` (which must not hold a database yet). */
export function copyEmbeddedTemplate(template: StorageTemplate & { kind: 'embedded' }, dataDir: string): void {
  cpSync(embeddedDbDir(template.dataDir), embeddedDbDir(dataDir), { recursive: true });
}

/**
 * `CREATE DATABASE name TEMPLATE template`. PostgreSQL refuses the copy while another session is connected to the
 * template; two copies at once may meet that way, so a refused copy is retried for a while.
 */
export async function createFromTemplate(adminUrl: string, name: string, template: StorageTemplate & { kind: 'pg' }): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await adminQuery(adminUrl, `CREATE DATABASE ${name} TEMPLATE ${template.database}`);
      return;
    } catch (err) {
      const busy = (err as { code?: string }).code === '55006'; // object_in_use: "source database is being accessed"
      if (!busy || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
  }
}
