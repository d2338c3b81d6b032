/**
 * Users of the authorization server (people who log in), each linked to a `fhirUser` resource
 * (SMART App Launch 2.2 §fhirUser: Practitioner, Patient, RelatedPerson or Person).
 *
 * Passwords: scrypt (RFC 7914) with a per-user 128-bit salt and OWASP's parameters (N=2^17, r=8, p=1),
 * stored as `scrypt$N$r$p$salt$hash` so parameters can be raised later without breaking old hashes.
 * Lockout: 5 failures within 15 minutes lock the account for 15 minutes (NIST SP 800-63B §5.2.2 throttling),
 * counted in the database before each hash so that parallel guesses and several server processes cannot
 * get more than 5 guesses evaluated per window.
 * Optional TOTP (RFC 6238) as a second factor; the seed is sealed with the KEK like the signing keys.
 * Administration (`haven users list|disable|enable|reset-password|set-roles`): a disabled user cannot sign in, and
 * disabling or resetting a password revokes every grant the user holds (access and refresh tokens stop working
 * on their next use; ./tokens.ts also refuses a disabled user's tokens by itself).
 */
import { randomBytes, randomUUID, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Db, Queryable } from '../store/db.ts';
import { DEFAULT_HASH_QUEUE, PasswordGate, defaultHashConcurrency } from './hash-gate.ts';
import { seal, unseal, type Kek } from './secret.ts';
import { base32Encode, newTotpSeed, otpauthUri, verifyTotp } from './totp.ts';

/** Failures that lock an account, the window they are counted in, and the lock duration. */
export const LOCKOUT = { failures: 5, windowMinutes: 15, lockMinutes: 15 } as const;
/** Shortest accepted password (NIST SP 800-63B §5.1.1.2 asks for at least 8). */
export const MIN_PASSWORD_LENGTH = 10;

const SCRYPT = { N: 2 ** 17, r: 8, p: 1, keylen: 32 } as const;
const USERNAME = /^[A-Za-z0-9._@-]{1,128}$/;
const FHIR_USER = /^(Practitioner|Patient|RelatedPerson|Person)\/[A-Za-z0-9.-]{1,64}$/;
const ROLE = /^[a-z][a-z0-9-]{0,31}$/;

/** A user as the authorization server sees it (no secrets). */
export interface User {
  tenant: string;
  id: string;
  username: string;
  fhirUser: string;
  roles: string[];
  totp: boolean;
  /** Disabled by an administrator: no sign-in, no tokens. */
  disabled: boolean;
}

/** A user as `haven users list` shows it. */
export interface UserListing extends User {
  /** Locked out now by failed sign-ins (./users.ts LOCKOUT). */
  locked: boolean;
}

/** A user registration the store refuses. */
export class UserValidationError extends Error {}

function scryptAsync(password: string, salt: Buffer, n: number, r: number, p: number, keylen: number): Promise<Buffer> {
  const opts: ScryptOptions = { N: n, r, p, maxmem: 256 * n * r + 16 * 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** Hashes a password with a fresh salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keylen);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/** Checks a password against a stored hash, in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const got = await scryptAsync(password, Buffer.from(salt, 'base64url'), Number(n), Number(r), Number(p), expected.length);
  return timingSafeEqual(got, expected);
}

// Compared against when the username is unknown, so that answer takes as long as a wrong password.
let dummyHash: Promise<string> | undefined;

interface UserRow {
  tenant: string;
  id: string;
  username: string;
  fhir_user: string;
  roles: string[];
  password_hash: string;
  totp_enc: string | null;
  totp_last_step: number | string | null;
  disabled_at: Date | string | null;
  locked: boolean;
}

function toUser(r: UserRow): User {
  return {
    tenant: r.tenant,
    id: r.id,
    username: r.username,
    fhirUser: r.fhir_user,
    roles: r.roles,
    totp: r.totp_enc !== null,
    disabled: r.disabled_at !== null,
  };
}

function checkRoles(roles: readonly string[]): void {
  if (roles.length === 0 || !roles.every((r) => ROLE.test(r)))
    throw new UserValidationError('roles: one or more of lower-case words, e.g. clinician,admin');
}

function checkPassword(password: string): void {
  if ([...password].length < MIN_PASSWORD_LENGTH)
    throw new UserValidationError(`password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > 1024) throw new UserValidationError('password is too long');
}

/** Input of {@link addUser}. */
export interface NewUser {
  tenant: string;
  username: string;
  password: string;
  fhirUser: string;
  roles: string[];
  totp?: boolean;
}

/**
 * Creates a user. With `totp`, returns the seed's otpauth URI: the only time it is shown.
 * @throws UserValidationError for invalid input or a taken username.
 */
export async function addUser(db: Db, kek: Kek, input: NewUser): Promise<{ user: User; otpauth?: string; totpSecret?: string }> {
  if (!USERNAME.test(input.username)) throw new UserValidationError('username: 1-128 of A-Z a-z 0-9 . _ @ -');
  if (!FHIR_USER.test(input.fhirUser))
    throw new UserValidationError('fhir-user must be Practitioner/ID, Patient/ID, RelatedPerson/ID or Person/ID');
  checkRoles(input.roles);
  checkPassword(input.password);
  const id = randomUUID();
  const seed = input.totp ? newTotpSeed() : undefined;
  const { rowCount } = await db.query(
    `INSERT INTO auth_users (tenant, id, username, fhir_user, roles, password_hash, totp_enc)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
    [
      input.tenant,
      id,
      input.username,
      input.fhirUser,
      [...new Set(input.roles)],
      await hashPassword(input.password),
      seed ? seal(kek, seed.toString('base64'), `totp:${input.tenant}:${id}`) : null,
    ],
  );
  if (rowCount === 0) throw new UserValidationError(`username "${input.username}" already exists in tenant ${input.tenant}`);
  const user: User = {
    tenant: input.tenant,
    id,
    username: input.username,
    fhirUser: input.fhirUser,
    roles: [...new Set(input.roles)],
    totp: !!seed,
    disabled: false,
  };
  if (!seed) return { user };
  return { user, otpauth: otpauthUri(seed, `${input.username}@${input.tenant}`), totpSecret: base32Encode(seed) };
}

/** The user by id, or undefined. */
export async function getUser(db: Pick<Db, 'query'>, tenant: string, id: string): Promise<User | undefined> {
  const { rows } = await db.query<UserRow>('SELECT *, false AS locked FROM auth_users WHERE tenant = $1 AND id = $2', [tenant, id]);
  return rows[0] ? toUser(rows[0]) : undefined;
}

/** Every user of a tenant, by username. */
export async function listUsers(db: Pick<Db, 'query'>, tenant: string): Promise<UserListing[]> {
  const { rows } = await db.query<UserRow>(
    `SELECT *, (locked_until IS NOT NULL AND locked_until > now()) AS locked FROM auth_users WHERE tenant = $1 ORDER BY username`,
    [tenant],
  );
  return rows.map((r) => ({ ...toUser(r), locked: r.locked }));
}

/** Revokes every grant of a user: their access and refresh tokens stop working (./tokens.ts, ./grants.ts). */
async function revokeUserGrants(q: Queryable, tenant: string, userId: string): Promise<void> {
  await q.query('UPDATE auth_grants SET revoked_at = now() WHERE tenant = $1 AND user_id = $2 AND revoked_at IS NULL', [tenant, userId]);
}

/**
 * Disables or enables a user by username; undefined when there is none. Disabling revokes every grant the user
 * holds, so enabling again does not bring old tokens back: the user signs in anew.
 */
export async function setUserDisabled(db: Db, tenant: string, username: string, disabled: boolean): Promise<User | undefined> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<UserRow>(
      `UPDATE auth_users SET disabled_at = CASE WHEN $3 THEN coalesce(disabled_at, now()) END
        WHERE tenant = $1 AND username = $2 RETURNING *, false AS locked`,
      [tenant, username, disabled],
    );
    const row = rows[0];
    if (!row) return undefined;
    if (disabled) await revokeUserGrants(tx, tenant, row.id);
    return toUser(row);
  });
}

/**
 * Sets a new password, clears a lockout, and revokes every grant the user holds (a reset is what follows a
 * suspected compromise: no session made with the old password survives it). Undefined when there is no such user.
 * @throws UserValidationError for a password that is too short or too long.
 */
export async function resetPassword(db: Db, tenant: string, username: string, password: string): Promise<User | undefined> {
  checkPassword(password);
  const hash = await hashPassword(password);
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<UserRow>(
      `UPDATE auth_users SET password_hash = $3, failed_count = 0, failed_since = NULL, locked_until = NULL
        WHERE tenant = $1 AND username = $2 RETURNING *, false AS locked`,
      [tenant, username, hash],
    );
    const row = rows[0];
    if (!row) return undefined;
    await revokeUserGrants(tx, tenant, row.id);
    return toUser(row);
  });
}

/**
 * Replaces a user's roles; undefined when there is no such user. Tokens already issued follow at once: the token
 * check reads the user's current roles on every request (./tokens.ts), so do Subscription deliveries.
 * @throws UserValidationError for an empty or malformed role list.
 */
export async function setRoles(db: Db, tenant: string, username: string, roles: readonly string[]): Promise<User | undefined> {
  checkRoles(roles);
  const { rows } = await db.query<UserRow>(
    'UPDATE auth_users SET roles = $3 WHERE tenant = $1 AND username = $2 RETURNING *, false AS locked',
    [tenant, username, [...new Set(roles)]],
  );
  return rows[0] ? toUser(rows[0]) : undefined;
}

/** Why a login failed (for audit; the person always sees the same generic message). */
export type LoginFailure = 'unknown_user' | 'bad_password' | 'bad_otp' | 'locked' | 'disabled';

/** Result of {@link authenticateUser}. */
export type LoginResult = { ok: true; user: User } | { ok: false; reason: LoginFailure; userId?: string };

/** Options of {@link authenticateUser}. */
export interface LoginOptions {
  /** Bound on concurrent hashes (the server's); a process-wide default otherwise. */
  gate?: PasswordGate;
  /** Clock for the TOTP check, in seconds. */
  nowSeconds?: number;
}

let defaultGate: PasswordGate | undefined;

// Typical duration of one hash in this process (moving average): a refused attempt on a locked account
// waits this long without hashing, so it answers no faster than an unknown user or a wrong password.
const FIRST_HASH_GUESS_MS = 500;
let typicalHashMs: number | undefined;

async function timedVerify(password: string, stored: string): Promise<boolean> {
  const started = performance.now();
  try {
    return await verifyPassword(password, stored);
  } finally {
    const ms = performance.now() - started;
    typicalHashMs = typicalHashMs === undefined ? ms : 0.8 * typicalHashMs + 0.2 * ms;
  }
}

/** A user row as counted by {@link countAttempt}. */
interface Attempt extends UserRow {
  /** This attempt's number in the current window (1 = first). */
  attempt: number;
  /** This very statement set the lock (`now()` is the transaction's time, so no other one matches). */
  lock_set_now: boolean;
}

/**
 * Counts one sign-in attempt for `username`, in one atomic statement, BEFORE its password is hashed: every
 * attempt counts as a failure until it succeeds (success resets the count). Parallel attempts therefore
 * get distinct numbers (the row lock orders them, across processes too), and only the first
 * {@link LOCKOUT}.failures of a window are ever evaluated. The attempt that reaches the limit sets the lock
 * (it is still evaluated: sequentially, four wrong passwords and a right one sign in, as before); attempts
 * after it are refused unevaluated, and neither extend nor reset the lock, until it expires, which starts
 * a fresh count.
 * Undefined when the username is unknown.
 */
async function countAttempt(db: Db, tenant: string, username: string): Promise<Attempt | undefined> {
  const fresh = `((locked_until IS NOT NULL AND locked_until <= now())
                  OR (locked_until IS NULL AND (failed_since IS NULL OR failed_since < now() - make_interval(mins => $4))))`;
  const { rows } = await db.query<Attempt>(
    `UPDATE auth_users SET
       failed_count = CASE WHEN ${fresh} THEN 1 ELSE LEAST(failed_count + 1, 1000000) END,
       failed_since = CASE WHEN ${fresh} THEN now() ELSE failed_since END,
       locked_until = CASE WHEN ${fresh} THEN (CASE WHEN 1 >= $3 THEN now() + make_interval(mins => $5) END)
                           WHEN failed_count + 1 = $3 AND locked_until IS NULL THEN now() + make_interval(mins => $5)
                           ELSE locked_until END
     WHERE tenant = $1 AND username = $2
     RETURNING *, failed_count AS attempt, (locked_until IS NOT NULL AND locked_until > now()) AS locked,
               (locked_until IS NOT NULL AND locked_until = now() + make_interval(mins => $5)) AS lock_set_now`,
    [tenant, username, LOCKOUT.failures, LOCKOUT.windowMinutes, LOCKOUT.lockMinutes],
  );
  return rows[0];
}

/**
 * Verifies username, password and (when enrolled) a TOTP code. The attempt is counted before the password
 * is hashed ({@link countAttempt}), so parallel guesses cannot outrun the lockout. Hashing waits for a slot
 * of `gate`; unknown users cost the same hash as known ones (no user enumeration by timing); a locked
 * account is refused without hashing but only after a typical hash time, without revealing whether the
 * password was right.
 * @throws GateBusyError when the gate's queue is full (nothing was counted or evaluated).
 */
export async function authenticateUser(
  db: Db,
  kek: Kek,
  tenant: string,
  username: string,
  password: string,
  otp: string,
  opts: LoginOptions = {},
): Promise<LoginResult> {
  const gate = opts.gate ?? (defaultGate ??= new PasswordGate({ concurrency: defaultHashConcurrency(), queue: DEFAULT_HASH_QUEUE }));
  // The slot is taken before counting: a request refused as busy has not spent one of the user's attempts.
  const release = await gate.acquire();
  let row: Attempt | undefined;
  let passwordOk: boolean;
  try {
    row = await countAttempt(db, tenant, username);
    if (!row) {
      dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
      const stored = await dummyHash;
      await timedVerify(password.slice(0, 1024), stored);
      return { ok: false, reason: 'unknown_user' };
    }
    // Locked by an earlier attempt (or an administrator): refused. The attempt that set the lock is evaluated.
    if (row.attempt > LOCKOUT.failures || (row.locked && !row.lock_set_now)) {
      release();
      await delay(typicalHashMs ?? FIRST_HASH_GUESS_MS);
      return { ok: false, reason: 'locked', userId: row.id };
    }
    passwordOk = await timedVerify(password.slice(0, 1024), row.password_hash);
  } finally {
    release();
  }
  if (!passwordOk) return { ok: false, reason: 'bad_password', userId: row.id };
  // Told only after a full hash, like a wrong password: timing does not reveal that an account is disabled.
  if (row.disabled_at !== null) return { ok: false, reason: 'disabled', userId: row.id };
  if (row.totp_enc) {
    const seed = Buffer.from(unseal(kek, row.totp_enc, `totp:${tenant}:${row.id}`), 'base64');
    const last = row.totp_last_step === null ? undefined : BigInt(row.totp_last_step);
    const step = verifyTotp(seed, otp.trim(), opts.nowSeconds ?? Date.now() / 1000, last);
    // The conditional update makes acceptance atomic: two logins racing with one code cannot both win.
    const accepted =
      step !== undefined &&
      (
        await db.query(
          'UPDATE auth_users SET totp_last_step = $3 WHERE tenant = $1 AND id = $2 AND (totp_last_step IS NULL OR totp_last_step < $3)',
          [tenant, row.id, step.toString()],
        )
      ).rowCount === 1;
    // The attempt was counted before hashing: a wrong code leaves it counted.
    if (!accepted) return { ok: false, reason: 'bad_otp', userId: row.id };
  }
  await db.query('UPDATE auth_users SET failed_count = 0, failed_since = NULL, locked_until = NULL WHERE tenant = $1 AND id = $2', [
    tenant,
    row.id,
  ]);
  return { ok: true, user: toUser(row) };
}
