/**
 * Token signing keys: RSA 2048 keys used with RS256 for access tokens and id_tokens (SMART App Launch 2.2
 * §sso-openid-connect requires RS256 id_tokens; one algorithm keeps verification simple). Private keys
 * are stored sealed (secret.ts). `kid` is the RFC 7638 JWK thumbprint.
 *
 * Rotation (`haven keys rotate`): a new key signs from then on; the old one is retired but stays in the
 * JWKS and valid for verification until every token it signed has expired (RFC 7517 key rollover).
 * Several processes may share one database, so each process reloads its key set periodically and when it
 * meets an unknown `kid`.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { Db } from '../store/db.ts';
import { seal, unseal, type Kek } from './secret.ts';

/** Signing algorithm of every token Haven issues. */
export const SIGNING_ALG = 'RS256';
/** Longest lifetime of any JWT Haven signs (access tokens, id_tokens), in seconds. */
export const MAX_SIGNED_TTL = 3600;
/** How long a process may keep signing with a key another process already retired (cache period). */
const RELOAD_MS = 60_000;
/** Retired keys remain verifiable for the longest token lifetime plus the reload period and clock skew. */
const RETIRED_GRACE_S = MAX_SIGNED_TTL + 600;
const KEY_LOCK = 7_304_212;

interface LoadedKey {
  kid: string;
  publicJwk: JWK;
  publicKey: CryptoKey;
  privateKey?: CryptoKey;
  retired: boolean;
}

interface KeyRow {
  kid: string;
  public_jwk: JWK;
  private_enc: string;
  retired: boolean;
}

async function createKeyRow(kek: Kek): Promise<{ kid: string; publicJwk: JWK; privateEnc: string }> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { modulusLength: 2048, extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const priv = await exportJWK(privateKey);
  return {
    kid,
    publicJwk: { ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' },
    privateEnc: seal(kek, JSON.stringify(priv), `signing-key:${kid}`),
  };
}

async function insertKey(q: Pick<Db, 'query'>, kek: Kek): Promise<string> {
  const k = await createKeyRow(kek);
  await q.query('INSERT INTO auth_signing_keys (kid, alg, public_jwk, private_enc, kek_id) VALUES ($1, $2, $3, $4, $5)', [
    k.kid,
    SIGNING_ALG,
    JSON.stringify(k.publicJwk),
    k.privateEnc,
    kek.id,
  ]);
  return k.kid;
}

/** The process's view of the signing keys. */
export class KeyStore {
  private readonly db: Db;
  private readonly kek: Kek;
  private keys: LoadedKey[] = [];
  private loadedAt = 0;

  constructor(db: Db, kek: Kek) {
    this.db = db;
    this.kek = kek;
  }

  /** Creates the first key if the database has none (first start), then loads the key set. */
  async init(): Promise<void> {
    await this.db.transaction(async (tx) => {
      // Several processes starting together on one PostgreSQL: exactly one creates the first key.
      await tx.query('SELECT pg_advisory_xact_lock($1)', [KEY_LOCK]);
      const { rowCount } = await tx.query('SELECT 1 FROM auth_signing_keys WHERE retired_at IS NULL');
      if (rowCount === 0) await insertKey(tx, this.kek);
    });
    await this.reload();
  }

  /** Creates a new signing key and retires the current ones; returns the new kid. */
  async rotate(): Promise<string> {
    const kid = await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [KEY_LOCK]);
      const newKid = await insertKey(tx, this.kek);
      await tx.query(
        `UPDATE auth_signing_keys SET retired_at = now(), expires_at = now() + make_interval(secs => $2)
          WHERE retired_at IS NULL AND kid <> $1`,
        [newKid, RETIRED_GRACE_S],
      );
      return newKid;
    });
    await this.reload();
    return kid;
  }

  private async reload(): Promise<void> {
    const { rows } = await this.db.query<KeyRow>(
      `SELECT kid, public_jwk, private_enc, retired_at IS NOT NULL AS retired FROM auth_signing_keys
        WHERE expires_at IS NULL OR expires_at > now() ORDER BY created_at DESC, kid`,
    );
    const keys: LoadedKey[] = [];
    for (const r of rows) {
      const publicKey = (await importJWK(r.public_jwk, SIGNING_ALG)) as CryptoKey;
      // Only the active key's private half is decrypted: retired keys never sign again.
      const privateKey = r.retired
        ? undefined
        : ((await importJWK(JSON.parse(unseal(this.kek, r.private_enc, `signing-key:${r.kid}`)) as JWK, SIGNING_ALG)) as CryptoKey);
      keys.push({ kid: r.kid, publicJwk: r.public_jwk, publicKey, privateKey, retired: r.retired });
    }
    this.keys = keys;
    this.loadedAt = Date.now();
  }

  private async fresh(): Promise<void> {
    if (Date.now() - this.loadedAt > RELOAD_MS) await this.reload();
  }

  /** The key new tokens are signed with (the newest active one). */
  async signingKey(): Promise<{ kid: string; key: CryptoKey }> {
    await this.fresh();
    const k = this.keys.find((x) => !x.retired && x.privateKey);
    if (!k?.privateKey) throw new Error('No active signing key (run the server once to create one)');
    return { kid: k.kid, key: k.privateKey };
  }

  /** The public key for `kid`, if it is current or retired-but-unexpired; undefined otherwise. */
  async verificationKey(kid: string): Promise<CryptoKey | undefined> {
    await this.fresh();
    let k = this.keys.find((x) => x.kid === kid);
    if (!k) {
      // Another process may have rotated. One primary-key lookup decides; only a real new kid costs a
      // reload, so a flood of forged kids is no heavier than any other request.
      const { rowCount } = await this.db.query(
        'SELECT 1 FROM auth_signing_keys WHERE kid = $1 AND (expires_at IS NULL OR expires_at > now())',
        [kid.slice(0, 200)],
      );
      if (rowCount === 0) return undefined;
      await this.reload();
      k = this.keys.find((x) => x.kid === kid);
    }
    return k?.publicKey;
  }

  /** The public JWK Set (RFC 7517 §5): every key a valid token may have been signed with. */
  async jwks(): Promise<{ keys: JWK[] }> {
    await this.fresh();
    return { keys: this.keys.map((k) => k.publicJwk) };
  }
}
