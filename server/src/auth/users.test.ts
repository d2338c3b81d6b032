/**
 * Users at rest and at login (auth/users.ts): scrypt hashes with per-user salts, lockout after repeated
 * failures (5 in 15 minutes), TOTP as a second factor with replay refusal; administration (list, disable and
 * enable, password reset, roles) with the grants it revokes; and what the database holds
 * for clients and keys (hashes and ciphertext only). On the suite's storage (PGlite or PostgreSQL).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../store/db.ts';
import { openDatabase } from '../store/open-db.ts';
import { createScratchStorage, type ScratchStorage } from '../test-support/harness.ts';
import { addClient } from './clients.ts';
import { GateBusyError, PasswordGate } from './hash-gate.ts';
import { KeyStore } from './keys.ts';
import { loadKek, type Kek } from './secret.ts';
import { base32Decode, totp } from './totp.ts';
import {
  LOCKOUT,
  UserValidationError,
  addUser,
  authenticateUser,
  getUser,
  listUsers,
  resetPassword,
  setRoles,
  setUserDisabled,
} from './users.ts';

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

  it('counts parallel guesses before hashing: ten wrong at once and the right one just after → locked', async () => {
    await addUser(db, kek, { tenant: 't', username: 'raced', password: PW, fhirUser: 'Patient/10', roles: ['patient'] });
    // One hash at a time: the order of attempts is the order of calls, on both storages.
    const gate = new PasswordGate({ concurrency: 1, queue: 100 });
    const guesses = Array.from({ length: 10 }, (_, i) => authenticateUser(db, kek, 't', 'raced', `wrong guess ${i}`, '', { gate }));
    const right = authenticateUser(db, kek, 't', 'raced', PW, '', { gate });
    const results = await Promise.all([...guesses, right]);
    expect(results.at(-1)).toMatchObject({ ok: false, reason: 'locked' });
    // Only the first LOCKOUT.failures were evaluated; the rest were refused without a hash.
    expect(results.map((r) => (r.ok ? 'ok' : r.reason))).toEqual([
      ...Array<string>(LOCKOUT.failures).fill('bad_password'),
      ...Array<string>(11 - LOCKOUT.failures).fill('locked'),
    ]);
    expect((await authenticateUser(db, kek, 't', 'raced', PW, '', { gate })).ok).toBe(false);
  });

  it('evaluates a right password sent among the first attempts of a burst, and then resets the count', async () => {
    await addUser(db, kek, { tenant: 't', username: 'burst', password: PW, fhirUser: 'Patient/11', roles: ['patient'] });
    const gate = new PasswordGate({ concurrency: 1, queue: 100 });
    const pws = ['wrong one!', 'wrong two!', 'wrong three', 'wrong four', PW];
    const results = await Promise.all(pws.map((p) => authenticateUser(db, kek, 't', 'burst', p, '', { gate })));
    expect(results.map((r) => r.ok)).toEqual([false, false, false, false, true]);
    const { rows } = await db.query<{ failed_count: number; locked_until: Date | null }>(
      "SELECT failed_count, locked_until FROM auth_users WHERE tenant = 't' AND username = 'burst'",
    );
    expect(rows[0]).toEqual({ failed_count: 0, locked_until: null });
  });

  it('never hashes more passwords at once than the gate allows, unknown users included', async () => {
    await addUser(db, kek, { tenant: 't', username: 'busy', password: PW, fhirUser: 'Patient/12', roles: ['patient'] });
    const gate = new PasswordGate({ concurrency: 2, queue: 100 });
    const names = ['busy', 'nobody-1', 'busy', 'nobody-2', 'nobody-3', 'busy'];
    const results = await Promise.all(names.map((u) => authenticateUser(db, kek, 't', u, PW, '', { gate })));
    expect(results.filter((r) => r.ok)).toHaveLength(3);
    expect(gate.peak).toBe(2);
    expect(gate.active).toBe(0);
  });

  it('refuses at once when the gate is full, without counting the attempt', async () => {
    await addUser(db, kek, { tenant: 't', username: 'queued', password: PW, fhirUser: 'Patient/13', roles: ['patient'] });
    const gate = new PasswordGate({ concurrency: 1, queue: 0 });
    const release = await gate.acquire();
    for (let i = 0; i < LOCKOUT.failures + 1; i++)
      await expect(authenticateUser(db, kek, 't', 'queued', 'wrong password!', '', { gate })).rejects.toBeInstanceOf(GateBusyError);
    release();
    expect((await authenticateUser(db, kek, 't', 'queued', PW, '', { gate })).ok).toBe(true);
  });

  it('refuses every attempt while a lock set elsewhere holds (an administrator, an earlier version), the fifth too', async () => {
    await addUser(db, kek, { tenant: 't', username: 'held', password: PW, fhirUser: 'Patient/14', roles: ['patient'] });
    await db.query("UPDATE auth_users SET locked_until = now() + interval '10 minutes', failed_count = 0 WHERE username = 'held'");
    const gate = new PasswordGate({ concurrency: 1, queue: 100 });
    for (let i = 0; i < LOCKOUT.failures + 1; i++)
      expect(await authenticateUser(db, kek, 't', 'held', PW, '', { gate })).toMatchObject({ ok: false, reason: 'locked' });
    // Refused attempts neither extend nor lift the lock.
    const { rows } = await db.query<{ left: boolean }>(
      "SELECT locked_until BETWEEN now() + interval '9 minutes' AND now() + interval '10 minutes' AS left FROM auth_users WHERE username = 'held'",
    );
    expect(rows[0].left).toBe(true);
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
    expect(await authenticateUser(db, kek, 't', 'mfa', PW, '', { nowSeconds: now })).toMatchObject({ ok: false, reason: 'bad_otp' });
    expect(
      await authenticateUser(db, kek, 't', 'mfa', PW, '000000' === totp(seed, now) ? '111111' : '000000', { nowSeconds: now }),
    ).toMatchObject({
      ok: false,
      reason: 'bad_otp',
    });
    const code = totp(seed, now);
    expect((await authenticateUser(db, kek, 't', 'mfa', PW, code, { nowSeconds: now })).ok).toBe(true);
    expect(await authenticateUser(db, kek, 't', 'mfa', PW, code, { nowSeconds: now })).toMatchObject({ ok: false, reason: 'bad_otp' });
    expect((await authenticateUser(db, kek, 't', 'mfa', PW, totp(seed, now + 30), { nowSeconds: now })).ok).toBe(true);
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

describe('user administration', () => {
  const NEW_PW = 'a brand new password';
  /** A grant of the user, live or revoked, as the token check reads it. */
  async function grant(id: string, userId: string): Promise<void> {
    await db.query(
      `INSERT INTO auth_grants (id, tenant, client_id, user_id, scopes, context, expires_at)
       VALUES ($1, 'adm', 'app', $2, 'openid', '{}'::jsonb, now() + interval '1 hour')`,
      [id, userId],
    );
  }
  async function revoked(id: string): Promise<boolean> {
    const { rows } = await db.query<{ r: boolean }>('SELECT revoked_at IS NOT NULL AS r FROM auth_grants WHERE id = $1', [id]);
    return rows[0].r;
  }

  it('lists the users of one tenant by username, with disabled and locked, and no secrets', async () => {
    await addUser(db, kek, { tenant: 'adm', username: 'zed', password: PW, fhirUser: 'Practitioner/z', roles: ['clinician'] });
    await addUser(db, kek, { tenant: 'adm', username: 'amy', password: PW, fhirUser: 'Practitioner/a', roles: ['auditor'], totp: true });
    const users = await listUsers(db, 'adm');
    expect(users.map((u) => [u.username, u.roles, u.totp, u.disabled, u.locked])).toEqual([
      ['amy', ['auditor'], true, false, false],
      ['zed', ['clinician'], false, false, false],
    ]);
    expect(JSON.stringify(users)).not.toMatch(/scrypt|password|totp_enc/);
    expect(await listUsers(db, 'no-such-tenant')).toEqual([]);
  });

  it('a disabled user cannot sign in, even with the right password, and their grants are revoked; enabling lets them in again', async () => {
    const zed = (await listUsers(db, 'adm')).find((u) => u.username === 'zed')!;
    await grant('g-zed-1', zed.id);
    expect(await setUserDisabled(db, 'adm', 'zed', true)).toMatchObject({ username: 'zed', disabled: true });
    expect(await revoked('g-zed-1')).toBe(true);
    expect((await getUser(db, 'adm', zed.id))?.disabled).toBe(true);
    expect(await authenticateUser(db, kek, 'adm', 'zed', PW, '')).toEqual({ ok: false, reason: 'disabled', userId: zed.id });
    // A wrong password is still just a wrong password: nothing tells a guesser the account is disabled.
    expect(await authenticateUser(db, kek, 'adm', 'zed', 'wrong password!', '')).toMatchObject({ reason: 'bad_password' });
    expect(await setUserDisabled(db, 'adm', 'zed', false)).toMatchObject({ disabled: false });
    expect(await authenticateUser(db, kek, 'adm', 'zed', PW, '')).toMatchObject({ ok: true });
    // Old grants stay revoked: enabling brings no token back.
    expect(await revoked('g-zed-1')).toBe(true);
    expect(await setUserDisabled(db, 'adm', 'nobody', true)).toBeUndefined();
  });

  it('a password reset takes a new password, clears a lockout and revokes every grant', async () => {
    const amy = (await listUsers(db, 'adm')).find((u) => u.username === 'amy')!;
    await grant('g-amy-1', amy.id);
    await db.query("UPDATE auth_users SET failed_count = 5, locked_until = now() + interval '10 minutes' WHERE id = $1", [amy.id]);
    expect((await listUsers(db, 'adm')).find((u) => u.username === 'amy')?.locked).toBe(true);
    await expect(resetPassword(db, 'adm', 'amy', 'short')).rejects.toThrow(UserValidationError);
    expect(await revoked('g-amy-1')).toBe(false);
    expect(await resetPassword(db, 'adm', 'amy', NEW_PW)).toMatchObject({ username: 'amy' });
    expect(await revoked('g-amy-1')).toBe(true);
    expect((await listUsers(db, 'adm')).find((u) => u.username === 'amy')?.locked).toBe(false);
    expect(await authenticateUser(db, kek, 'adm', 'amy', PW, '')).toMatchObject({ reason: 'bad_password' });
    // amy has TOTP: the password is right once the code is asked for.
    expect(await authenticateUser(db, kek, 'adm', 'amy', NEW_PW, '000000')).toMatchObject({ reason: 'bad_otp' });
    expect(await resetPassword(db, 'adm', 'nobody', NEW_PW)).toBeUndefined();
  });

  it('sets roles (deduplicated), refusing an empty or malformed list', async () => {
    expect(await setRoles(db, 'adm', 'zed', ['clinician', 'admin', 'clinician'])).toMatchObject({ roles: ['clinician', 'admin'] });
    await expect(setRoles(db, 'adm', 'zed', [])).rejects.toThrow(/roles/);
    await expect(setRoles(db, 'adm', 'zed', ['Not A Role'])).rejects.toThrow(/roles/);
    expect((await listUsers(db, 'adm')).find((u) => u.username === 'zed')?.roles).toEqual(['clinician', 'admin']);
    expect(await setRoles(db, 'adm', 'nobody', ['clinician'])).toBeUndefined();
  });
});
