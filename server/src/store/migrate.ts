/**
 * Versioned schema migrations: `migrations/NNN_name.sql`, applied in order at start, each in its own
 * transaction, recorded in `haven_migrations`. Several processes starting at once on one PostgreSQL
 * serialise on an advisory lock, so each migration runs exactly once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from './db.ts';

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');
/** Arbitrary constant: the advisory lock key that guards migrations. */
const MIGRATION_LOCK_KEY = 7_304_211;

/** A migration file. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Lists the shipped migrations, ordered by version; throws on a malformed or duplicate file name. */
export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const seen = new Set<number>();
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .map((file) => {
      const match = /^(\d+)_([a-z0-9_]+)\.sql$/.exec(file);
      if (!match) throw new Error(`Malformed migration file name: ${file}`);
      const version = Number(match[1]);
      if (seen.has(version)) throw new Error(`Duplicate migration version ${version}`);
      seen.add(version);
      return { version, name: match[2], sql: readFileSync(join(dir, file), 'utf8') };
    })
    .sort((a, b) => a.version - b.version);
}

/** Applies every migration not yet recorded; returns the versions applied now. */
export async function migrate(db: Db, migrations = listMigrations()): Promise<number[]> {
  // Under the lock too: two processes creating the table at once on an empty database collide in the catalog
  // (a unique violation on pg_type), IF NOT EXISTS notwithstanding.
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query(`CREATE TABLE IF NOT EXISTS haven_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
  });
  const applied: number[] = [];
  for (const m of migrations) {
    const done = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      const { rowCount } = await tx.query('SELECT 1 FROM haven_migrations WHERE version = $1', [m.version]);
      if (rowCount > 0) return false;
      for (const statement of splitStatements(m.sql)) await tx.query(statement);
      await tx.query('INSERT INTO haven_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      return true;
    });
    if (done) applied.push(m.version);
  }
  return applied;
}

/**
 * Splits a migration script on top-level semicolons, keeping `$$ … $$` bodies (plpgsql) whole, so each
 * statement can run inside the migration's transaction with the extended protocol.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let current = '';
  let inDollar = false;
  for (const line of sql.split('\n')) {
    const trimmed = line.trim();
    if (!inDollar && trimmed.startsWith('--')) continue;
    const dollarCount = (line.match(/\$\$/g) ?? []).length;
    if (dollarCount % 2 === 1) inDollar = !inDollar;
    current += `${line}\n`;
    if (!inDollar && trimmed.endsWith(';')) {
      out.push(current.trim());
      current = '';
    }
  }
  if (current.trim()) out.push(current.trim());
  return out;
}
