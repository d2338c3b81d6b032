/**
 * The key-encryption key (KEK) that protects secrets at rest (private signing keys, TOTP seeds), and
 * AES-256-GCM sealing with it (NIST SP 800-38D).
 *
 * Where the KEK comes from, in order:
 * 1. `HAVEN_SECRET` (at least 32 characters): required when several servers share one PostgreSQL
 *    database from different machines, since they must all decrypt the same keys.
 * 2. `DATA_DIR/secret.key`: 32 random bytes created at first start with mode 0600.
 * The KEK is never written to the database: a stolen database dump (or backup) alone does not reveal the
 * signing keys. Each sealed value records the KEK's fingerprint, so a server started with the wrong secret
 * fails with a clear message instead of producing garbage.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** File name of the generated KEK inside DATA_DIR. */
export const SECRET_FILE = 'secret.key';

/** A loaded key-encryption key. */
export interface Kek {
  /** Short public fingerprint (not the key): identifies which KEK sealed a value. */
  readonly id: string;
  readonly key: Buffer;
  /** Where it came from, for error messages: 'HAVEN_SECRET' or the file path. */
  readonly source: string;
}

/** Raised when a sealed value was made with another KEK, or was tampered with. */
export class WrongSecretError extends Error {}

function fromMaterial(material: Buffer, source: string): Kek {
  // HKDF (RFC 5869) turns a pass-phrase-like HAVEN_SECRET into a uniform 256-bit key; domain-separated so
  // the same secret used elsewhere never yields this key.
  const key = Buffer.from(hkdfSync('sha256', material, 'haven', 'haven kek v1 aes-256-gcm', 32));
  const id = createHash('sha256').update('haven kek id').update(key).digest('base64url').slice(0, 16);
  return { id, key, source };
}

/**
 * Loads the KEK from `HAVEN_SECRET`, else from `DATA_DIR/secret.key` (created with mode 0600 if absent).
 * @throws Error when HAVEN_SECRET is set but shorter than 32 characters.
 */
export function loadKek(env: NodeJS.ProcessEnv, dataDir: string): Kek {
  const fromEnv = env.HAVEN_SECRET;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (fromEnv.length < 32) throw new Error('HAVEN_SECRET must be at least 32 characters (e.g. `openssl rand -base64 32`)');
    return fromMaterial(Buffer.from(fromEnv, 'utf8'), 'HAVEN_SECRET');
  }
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, SECRET_FILE);
  if (!existsSync(path)) {
    // 'wx': never overwrite a key another process created a moment ago.
    try {
      writeFileSync(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  try {
    chmodSync(path, 0o600);
  } catch {
    /* best effort on filesystems without modes */
  }
  const raw = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (raw.length < 32) throw new Error(`${path} is not a Haven secret key (expected 32 base64 bytes)`);
  return fromMaterial(raw, path);
}

/**
 * Encrypts `plaintext` with AES-256-GCM; `context` is bound as additional authenticated data so a sealed
 * value cannot be moved to another row (e.g. another key id or user).
 * Format: `v1.<kekId>.<iv>.<ciphertext>.<tag>` (base64url parts).
 */
export function seal(kek: Kek, plaintext: string, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek.key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', kek.id, iv.toString('base64url'), ct.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/** Reverses {@link seal}. @throws WrongSecretError on another KEK or any tampering. */
export function unseal(kek: Kek, sealed: string, context: string): string {
  const [version, kekId, iv, ct, tag] = sealed.split('.');
  if (version !== 'v1' || !tag) throw new WrongSecretError('Unreadable sealed value');
  if (kekId !== kek.id) {
    throw new WrongSecretError(
      `Secrets in the database were encrypted with another key than the one from ${kek.source}; ` +
        'start with the HAVEN_SECRET (or DATA_DIR/secret.key) they were created with',
    );
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new WrongSecretError('A sealed value failed authentication (tampered, or moved to another row)');
  }
}
