/**
 * The key-encryption key and AES-256-GCM sealing (auth/secret.ts): sources, file mode, context binding,
 * and a clear failure with the wrong secret.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SECRET_FILE, WrongSecretError, loadKek, seal, unseal } from './secret.ts';

const dir = mkdtempSync(join(tmpdir(), 'haven-secret-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('key-encryption key', () => {
  it('creates DATA_DIR/secret.key with mode 0600 once, and reuses it', () => {
    const a = loadKek({}, dir);
    expect(statSync(join(dir, SECRET_FILE)).mode & 0o777).toBe(0o600);
    const b = loadKek({}, dir);
    expect(b.id).toBe(a.id);
    expect(readFileSync(join(dir, SECRET_FILE), 'utf8').trim().length).toBeGreaterThanOrEqual(43);
  });
  it('prefers HAVEN_SECRET and refuses a short one', () => {
    const env = loadKek({ HAVEN_SECRET: 'x'.repeat(40) }, dir);
    expect(env.source).toBe('HAVEN_SECRET');
    expect(env.id).not.toBe(loadKek({}, dir).id);
    expect(() => loadKek({ HAVEN_SECRET: 'short' }, dir)).toThrow(/at least 32/);
  });
});

describe('seal / unseal', () => {
  const kek = loadKek({ HAVEN_SECRET: 'y'.repeat(40) }, dir);
  it('round-trips and never contains the plaintext', () => {
    const sealed = seal(kek, 'private key material', 'ctx-1');
    expect(sealed).not.toContain('private key');
    expect(unseal(kek, sealed, 'ctx-1')).toBe('private key material');
  });
  it('fails for another context (a sealed value moved to another row)', () => {
    expect(() => unseal(kek, seal(kek, 'v', 'row-a'), 'row-b')).toThrow(WrongSecretError);
  });
  it('fails with a clear message under another key', () => {
    const other = loadKek({ HAVEN_SECRET: 'z'.repeat(40) }, dir);
    expect(() => unseal(other, seal(kek, 'v', 'c'), 'c')).toThrow(/HAVEN_SECRET/);
  });
  it('fails when tampered with', () => {
    const parts = seal(kek, 'value', 'c').split('.');
    parts[3] = Buffer.from('other').toString('base64url');
    expect(() => unseal(kek, parts.join('.'), 'c')).toThrow(WrongSecretError);
  });
});
