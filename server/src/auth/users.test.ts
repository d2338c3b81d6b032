/**
 * Users at rest and at login (auth/users.ts): scrypt hashes with per-user salts, lockout after repeated
 * failures (5 in 15 minutes), TOTP as a second factor with replay refusal; and what the database holds
 * for clients and keys (hashes and ciphertext only). On the suite's storage (PGlite or PostgreSQL).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../store/db.ts';
import { openDatabase } from '../store/open-db.ts';
import { createScratchStorage, type ScratchStorage } from '../test-support/harness.ts';
import { addClient } from './clients.ts';
import { KeyStore } from './keys.ts';
import { loadKek, type Kek } from './secret.ts';
import { base32Decode, totp } from './totp.ts';
import { LOCKOUT, UserValidationError, addUser, authenticateUser } from './users.ts';

const PW = 'a long enough password';
let storage: ScratchStorage;
let db: Db;
let kek: Kek;

beforeAll(async () => {
  storage = await createScratchStorage();
  db = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
  kek = loadKek({}, storage.dataDir);
});
afterAll(async () => {
  await db?.close();
  await storage?.drop();
});

describe('users', () => {
  it('stores scrypt hashes with distinct salts, never the password', async () => {
    await addUser(db, kek, { tenant: 't', username: 'a', password: PW, fhirUser: 'Practitioner/1', roles: ['clinician'] });
    await addUser(db, kek, { tenant: 't', username: 'b', password: PW, fhirUser: 'Practitioner/2', roles: ['clinician'] });
    const { rows } = await db.query<{ password_hash: string }>("SELECT password_hash FROM auth_users WHERE tenant = 't' ORDER BY username");
    expect(rows[0].password_hash).toMatch(/^scrypt\$131072\$8\$1\$/);
    expect(rows[0].password_hash).not.toBe(rows[1].password_hash);
    expect(JSON.stringify(rows)).not.toContain(PW);
  });

  it('refuses invalid input and duplicate usernames', async () => {
    const base = { tenant: 't', username: 'c', password: PW, fhirUser: 'Practitioner/3', roles: ['clinician'] };
    await expect(addUser(db, kek, { ...base, password: 'short' })).rejects.toThrow(UserValidationError);
    await expect(addUser(db, kek, { ...base, fhirUser: 'Organization/1' })).rejects.toThrow(/fhir-user/);
    await expect(addUser(db, kek, { ...base, roles: [] })).rejects.toThrow(/roles/);
    await expect(addUser(db, kek, { ...base, username: 'a' })).rejects.toThrow(/already exists/);
  });

  it('authenticates; reports unknown user and wrong password distinctly (for audit only)', async () => {
    expect(await authenticateUser(db, kek, 't', 'a', PW, '')).toMatchObject({
      ok: true,
      user: { username: 'a', fhirUser: 'Practitioner/1' },
    });
    expect(await authenticateUser(db, kek, 't', 'nobody', PW, '')).toEqual({ ok: false, reason: 'unknown_user' });
    expect(await authenticateUser(db, kek, 't', 'a', 'wrong password!', '')).toMatchObject({ ok: false, reason: 'bad_password' });
    expect(await authenticateUser(db, kek, 'other-tenant', 'a', PW, '')).toEqual({ ok: false, reason: 'unknown_user' });
  });

  it(`locks the account after ${LOCKOUT.failures} failures, even for the right password, until the lock ends`, async () => {
    await addUser(db, kek, { tenant: 't', username: 'victim', password: PW, fhirUser: 'Patient/9', roles: ['patient'] });
    for (let i = 0; i < LOCKOUT.failures; i++)
      expect((await authenticateUser(db, kek, 't', 'victim', `guess number ${i}`, '')).ok).toBe(false);
    expect(await authenticateUser(db, kek, 't', 'victim', PW, '')).toMatchObject({ ok: false, reason: 'locked' });
    await db.query("UPDATE auth_users SET locked_until = now() - interval '1 second' WHERE username = 'victim'");
    expect((await authenticateUser(db, kek, 't', 'victim', PW, '')).ok).toBe(true);
  });

  it('counts failures only within the window', async () => {
    await addUser(db, kek, { tenant: 't', username: 'slow', password: PW, fhirUser: 'Patient/8', roles: ['patient'] });
    for (let i = 0; i < LOCKOUT.failures - 1; i++) await authenticateUser(db, kek, 't', 'slow', 'wrong password!', '');
    await db.query("UPDATE auth_users SET failed_since = now() - interval '16 minutes' WHERE username = 'slow'");
    await authenticateUser(db, kek, 't', 'slow', 'wrong password!', '');
    expect((await authenticateUser(db, kek, 't', 'slow', PW, '')).ok).toBe(true);
  });

  it('requires a TOTP code when enrolled, and never accepts the same code twice', async () => {
    const { totpSecret, otpauth } = await addUser(db, kek, {
      tenant: 't',
      username: 'mfa',
      password: PW,
      fhirUser: 'Practitioner/7',
      roles: ['clinician'],
      totp: true,
    });
    expect(otpauth).toMatch(/^otpauth:\/\/totp\/Haven:mfa%40t\?secret=/);
    const { rows } = await db.query<{ totp_enc: string }>("SELECT totp_enc FROM auth_users WHERE username = 'mfa'");
    expect(rows[0].totp_enc).not.toContain(totpSecret!);
    const seed = base32Decode(totpSecret!);
    const now = Date.now() / 1000;
    expect(await authenticateUser(db, kek, 't', 'mfa', PW, '', now)).toMatchObject({ ok: false, reason: 'bad_otp' });
    expect(await authenticateUser(db, kek, 't', 'mfa', PW, '000000' === totp(seed, now) ? '111111' : '000000', now)).toMatchObject({
      ok: false,
      reason: 'bad_otp',
    });
    const code = totp(seed, now);
    expect((await authenticateUser(db, kek, 't', 'mfa', PW, code, now)).ok).toBe(true);
    expect(await authenticateUser(db, kek, 't', 'mfa', PW, code, now)).toMatchObject({ ok: false, reason: 'bad_otp' });
    expect((await authenticateUser(db, kek, 't', 'mfa', PW, totp(seed, now + 30), now)).ok).toBe(true);
  });
});

describe('secrets at rest', () => {
  it('stores a client secret only as a hash', async () => {
    const { secret } = await addClient(db, { tenant: 't', type: 'confidential-symmetric', redirectUris: ['https://app.example/cb'] });
    const { rows } = await db.query('SELECT * FROM auth_clients WHERE tenant = $1', ['t']);
    expect(JSON.stringify(rows)).not.toContain(secret!);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('stores private signing keys encrypted, public keys in the clear', async () => {
    const keys = new KeyStore(db, kek);
    await keys.init();
    const { rows } = await db.query<{ private_enc: string; public_jwk: Record<string, unknown>; kek_id: string }>(
      'SELECT private_enc, public_jwk, kek_id FROM auth_signing_keys',
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r.private_enc).toMatch(/^v1\./);
      expect(r.private_enc).not.toMatch(/"d"|"p"|"q"/);
      expect(r.public_jwk.d).toBeUndefined();
      expect(r.kek_id).toBe(kek.id);
    }
    // A server started with another secret refuses to use them.
    const wrong = new KeyStore(db, loadKek({ HAVEN_SECRET: 'w'.repeat(40) }, storage.dataDir));
    await expect(wrong.init()).rejects.toThrow(/another key/);
  });
});
