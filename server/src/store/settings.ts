/**
 * Settings shared by every process on one database, created on first use.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from './db.ts';

/** Returns the value of `key`, creating it with `create()` if absent (first writer wins). */
export async function getOrCreateSetting(db: Db, key: string, create: () => string): Promise<string> {
  await db.query('INSERT INTO haven_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, create()]);
  const { rows } = await db.query<{ value: string }>('SELECT value FROM haven_settings WHERE key = $1', [key]);
  return rows[0].value;
}

/** The secret that signs paging cursors. */
export function cursorSecret(db: Db): Promise<string> {
  return getOrCreateSetting(db, 'cursor_secret', () => randomBytes(32).toString('base64url'));
}
