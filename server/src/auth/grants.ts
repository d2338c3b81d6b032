/**
 * Grants, authorization codes and refresh tokens in the database.
 *
 * Every token descends from a grant row; revoking the grant (RFC 7009 §2.1, code replay per RFC 6749
 * §4.1.2, refresh-token reuse per RFC 9700 §4.14.2) invalidates all of them at once, since the access-token
 * verifier and the refresh grant both check it. Codes and refresh tokens are 256-bit random strings stored
 * only as SHA-256 hashes, so a database dump holds nothing usable.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db, Queryable } from '../store/db.ts';

/** Lifetimes in seconds. */
export const TTL = {
  /** SMART: access tokens SHOULD live at most an hour. */
  access: 3600,
  /** Backend services: SHOULD be at most 300 s. */
  backend: 300,
  /** Authorization codes are short-lived (RFC 6749 §4.1.2 recommends at most 10 minutes; SMART ~1 minute). */
  code: 60,
  /** A refresh grant with offline_access. */
  offline: 90 * 24 * 3600,
  /** A refresh grant with online_access (no Haven session exists to end it earlier). */
  online: 12 * 3600,
} as const;

/** One entry of the SMART `fhirContext` launch parameter (App Launch 2.2 §fhirContext). */
export interface FhirContextItem {
  reference?: string;
  canonical?: string;
  identifier?: { system?: string; value?: string };
  type?: string;
  role?: string;
}

/** Launch context and identity facts carried from authorization into every token of a grant. */
export interface GrantContext {
  patient?: string;
  encounter?: string;
  fhirContext?: FhirContextItem[];
  needPatientBanner?: boolean;
  intent?: string;
  fhirUser?: string;
  /** OIDC nonce from the authorization request, echoed in the id_token. */
  nonce?: string;
  /** When the user authenticated (OIDC auth_time), epoch seconds. */
  authTime?: number;
}

/** A random credential: 256 bits, base64url (URL-safe, as fhirclient sends codes unencoded). */
export function newCredential(): string {
  return randomBytes(32).toString('base64url');
}

/** SHA-256 of a credential, as stored. */
export function credentialHash(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

/** A grant row. */
export interface Grant {
  id: string;
  tenant: string;
  clientId: string;
  userId?: string;
  scopes: string;
  context: GrantContext;
  revoked: boolean;
}

/** Inserts a grant; `id` may be fixed in advance (a code names the grant its exchange will create). */
export async function createGrant(
  q: Queryable,
  g: { id?: string; tenant: string; clientId: string; userId?: string; scopes: string; context: GrantContext; lifetimeS: number },
): Promise<string> {
  const id = g.id ?? randomUUID();
  await q.query(
    `INSERT INTO auth_grants (id, tenant, client_id, user_id, scopes, context, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))`,
    [id, g.tenant, g.clientId, g.userId ?? null, g.scopes, JSON.stringify(g.context), g.lifetimeS],
  );
  return id;
}

/** Revokes a grant and with it every token issued under it. */
export async function revokeGrant(q: Queryable, tenant: string, grantId: string): Promise<boolean> {
  const { rowCount } = await q.query('UPDATE auth_grants SET revoked_at = now() WHERE tenant = $1 AND id = $2 AND revoked_at IS NULL', [
    tenant,
    grantId,
  ]);
  return rowCount > 0;
}

/** An authorization code as stored. */
export interface CodeRecord {
  clientId: string;
  grantId: string;
  redirectUri: string;
  codeChallenge: string;
  userId: string;
  scopes: string;
  context: GrantContext;
}

/** Stores a new authorization code; returns the code (the only place it exists in the clear). */
export async function createCode(q: Queryable, tenant: string, rec: Omit<CodeRecord, 'grantId'>): Promise<string> {
  const code = newCredential();
  await q.query(
    `INSERT INTO auth_codes (code_hash, tenant, client_id, grant_id, redirect_uri, code_challenge, user_id, scopes, context, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(secs => $10))`,
    [
      credentialHash(code),
      tenant,
      rec.clientId,
      randomUUID(),
      rec.redirectUri,
      rec.codeChallenge,
      rec.userId,
      rec.scopes,
      JSON.stringify(rec.context),
      TTL.code,
    ],
  );
  return code;
}

/** Outcome of {@link consumeCode}. */
export type CodeOutcome =
  | { status: 'ok'; code: CodeRecord }
  | { status: 'invalid' }
  | { status: 'reused'; grantId: string; clientId: string };

interface CodeRow {
  client_id: string;
  grant_id: string;
  redirect_uri: string;
  code_challenge: string;
  user_id: string;
  scopes: string;
  context: GrantContext;
}

/**
 * Marks a code used, atomically (two concurrent exchanges cannot both win). A code presented again revokes
 * the grant the first exchange created (RFC 6749 §4.1.2: "SHOULD revoke all tokens previously issued").
 */
export async function consumeCode(db: Db, tenant: string, code: string): Promise<CodeOutcome> {
  const hash = credentialHash(code);
  const { rows } = await db.query<CodeRow>(
    `UPDATE auth_codes SET used_at = now() WHERE code_hash = $1 AND tenant = $2 AND used_at IS NULL AND expires_at > now()
     RETURNING client_id, grant_id, redirect_uri, code_challenge, user_id, scopes, context`,
    [hash, tenant],
  );
  const r = rows[0];
  if (r) {
    return {
      status: 'ok',
      code: {
        clientId: r.client_id,
        grantId: r.grant_id,
        redirectUri: r.redirect_uri,
        codeChallenge: r.code_challenge,
        userId: r.user_id,
        scopes: r.scopes,
        context: r.context,
      },
    };
  }
  const { rows: used } = await db.query<{ grant_id: string; client_id: string }>(
    'SELECT grant_id, client_id FROM auth_codes WHERE code_hash = $1 AND tenant = $2 AND used_at IS NOT NULL',
    [hash, tenant],
  );
  if (used[0]) {
    await revokeGrant(db, tenant, used[0].grant_id);
    return { status: 'reused', grantId: used[0].grant_id, clientId: used[0].client_id };
  }
  return { status: 'invalid' };
}

/** Issues a refresh token for a grant; it expires with the grant. */
export async function createRefreshToken(q: Queryable, tenant: string, grantId: string, clientId: string, scopes: string): Promise<string> {
  const token = newCredential();
  await q.query(
    `INSERT INTO auth_refresh_tokens (token_hash, tenant, grant_id, client_id, scopes, expires_at)
     SELECT $1, $2, $3, $4, $5, expires_at FROM auth_grants WHERE tenant = $2 AND id = $3`,
    [credentialHash(token), tenant, grantId, clientId, scopes],
  );
  return token;
}

/** A refresh token with the state of its grant. */
export interface RefreshRecord {
  grant: Grant;
  clientId: string;
  scopes: string;
  used: boolean;
  expired: boolean;
}

interface RefreshRow {
  grant_id: string;
  client_id: string;
  scopes: string;
  used: boolean;
  expired: boolean;
  user_id: string | null;
  grant_scopes: string;
  context: GrantContext;
  revoked: boolean;
}

/** Looks up a refresh token (by hash) and its grant; undefined when unknown in this tenant. */
export async function findRefreshToken(q: Queryable, tenant: string, token: string): Promise<RefreshRecord | undefined> {
  const { rows } = await q.query<RefreshRow>(
    `SELECT r.grant_id, r.client_id, r.scopes, r.used_at IS NOT NULL AS used, r.expires_at <= now() AS expired,
            g.user_id, g.scopes AS grant_scopes, g.context, (g.revoked_at IS NOT NULL OR g.expires_at <= now()) AS revoked
       FROM auth_refresh_tokens r JOIN auth_grants g ON g.tenant = r.tenant AND g.id = r.grant_id
      WHERE r.token_hash = $1 AND r.tenant = $2`,
    [credentialHash(token), tenant],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    grant: {
      id: r.grant_id,
      tenant,
      clientId: r.client_id,
      ...(r.user_id ? { userId: r.user_id } : {}),
      scopes: r.grant_scopes,
      context: r.context,
      revoked: r.revoked,
    },
    clientId: r.client_id,
    scopes: r.scopes,
    used: r.used,
    expired: r.expired,
  };
}

/** Marks a refresh token rotated; false when another request rotated it first. */
export async function markRefreshUsed(q: Queryable, tenant: string, token: string): Promise<boolean> {
  const { rowCount } = await q.query(
    'UPDATE auth_refresh_tokens SET used_at = now() WHERE token_hash = $1 AND tenant = $2 AND used_at IS NULL',
    [credentialHash(token), tenant],
  );
  return rowCount === 1;
}

/** The grant, or undefined. */
export async function getGrant(q: Queryable, tenant: string, id: string): Promise<Grant | undefined> {
  const { rows } = await q.query<{ client_id: string; user_id: string | null; scopes: string; context: GrantContext; revoked: boolean }>(
    `SELECT client_id, user_id, scopes, context, (revoked_at IS NOT NULL OR expires_at <= now()) AS revoked
       FROM auth_grants WHERE tenant = $1 AND id = $2`,
    [tenant, id],
  );
  const r = rows[0];
  return r
    ? {
        id,
        tenant,
        clientId: r.client_id,
        ...(r.user_id ? { userId: r.user_id } : {}),
        scopes: r.scopes,
        context: r.context,
        revoked: r.revoked,
      }
    : undefined;
}

/** Deletes rows that can no longer matter (expired codes, launches, interactions, assertion ids, grants). */
export async function purgeExpired(db: Db): Promise<void> {
  await db.query("DELETE FROM auth_codes WHERE expires_at < now() - interval '1 day'");
  await db.query('DELETE FROM auth_launches WHERE expires_at < now()');
  await db.query('DELETE FROM auth_interactions WHERE expires_at < now()');
  await db.query('DELETE FROM auth_assertion_jtis WHERE expires_at < now()');
  await db.query("DELETE FROM auth_refresh_tokens WHERE expires_at < now() - interval '1 day'");
  await db.query("DELETE FROM auth_grants WHERE expires_at < now() - interval '1 day'");
}
