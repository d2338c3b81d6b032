/**
 * Minting and verifying Haven's tokens.
 *
 * Access tokens are JWTs (RFC 9068 profile: `typ` `at+jwt`, `iss`, `aud`, `sub`, `client_id`, `scope`,
 * `jti`) with SMART context claims (`patient`, `encounter`, `fhirUser`) and `tenant`, signed RS256 with
 * the current key. Each names its grant, so revocation takes effect at once: the verifier checks the grant.
 * id_tokens follow OIDC Core §2 (`iss`, `sub`, `aud` = client_id, `exp`, `iat`, `auth_time`, `nonce`)
 * with the SMART `fhirUser` claim as an absolute URL.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import type { Queryable } from '../store/db.ts';
import type { GrantContext } from './grants.ts';
import { SIGNING_ALG, type KeyStore } from './keys.ts';

/** Claims of a Haven access token. */
export interface AccessClaims extends JWTPayload {
  iss: string;
  aud: string;
  sub: string;
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  scope: string;
  tenant: string;
  /** The grant the token descends from (revocation). */
  grant: string;
  fhirUser?: string;
  patient?: string;
  encounter?: string;
}

/** Input of {@link signAccessToken}. */
export interface AccessTokenInput {
  issuer: string;
  tenant: string;
  subject: string;
  clientId: string;
  scope: string;
  grantId: string;
  context: GrantContext;
  /** Lifetime in seconds. */
  ttl: number;
}

/** Signs an access token; returns it with its claims. */
export async function signAccessToken(keys: KeyStore, input: AccessTokenInput): Promise<{ token: string; claims: AccessClaims }> {
  const now = Math.floor(Date.now() / 1000);
  const claims: AccessClaims = {
    iss: input.issuer,
    aud: input.issuer,
    sub: input.subject,
    iat: now,
    exp: now + input.ttl,
    jti: randomUUID(),
    client_id: input.clientId,
    scope: input.scope,
    tenant: input.tenant,
    grant: input.grantId,
    ...(input.context.fhirUser ? { fhirUser: input.context.fhirUser } : {}),
    ...(input.context.patient ? { patient: input.context.patient } : {}),
    ...(input.context.encounter ? { encounter: input.context.encounter } : {}),
  };
  const { kid, key } = await keys.signingKey();
  const token = await new SignJWT(claims).setProtectedHeader({ alg: SIGNING_ALG, kid, typ: 'at+jwt' }).sign(key);
  return { token, claims };
}

/** Signs an OIDC id_token (RS256, as SMART sso-openid-connect requires). */
export async function signIdToken(
  keys: KeyStore,
  input: { issuer: string; subject: string; clientId: string; fhirUserUrl?: string; nonce?: string; authTime?: number; ttl: number },
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const { kid, key } = await keys.signingKey();
  return new SignJWT({
    ...(input.fhirUserUrl ? { fhirUser: input.fhirUserUrl } : {}),
    ...(input.nonce ? { nonce: input.nonce } : {}),
    ...(input.authTime ? { auth_time: input.authTime } : {}),
  })
    .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: 'JWT' })
    .setIssuer(input.issuer)
    .setSubject(input.subject)
    .setAudience(input.clientId)
    .setIssuedAt(now)
    .setExpirationTime(now + input.ttl)
    .sign(key);
}

/** A verified, unrevoked access token and who it stands for. */
export interface VerifiedAccess {
  claims: AccessClaims;
  /** The user's current roles (empty for backend services). */
  roles: string[];
  userId?: string;
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i;

/** The token of an `Authorization: Bearer` header (RFC 6750 §2.1), if well-formed. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = header ? BEARER.exec(header.trim()) : null;
  return m?.[1];
}

/**
 * Verifies an access token for `tenant` whose FHIR base is `issuer`: signature with a known kid, `typ`,
 * `iss` and `aud` equal to the base (SMART @94-96), not expired, tenant claim equal to the URL's tenant,
 * and grant, client and user all still present and unrevoked.
 * @returns undefined for any token that must not be accepted.
 */
export async function verifyAccessToken(
  keys: KeyStore,
  db: Queryable,
  token: string,
  tenant: string,
  issuer: string,
): Promise<VerifiedAccess | undefined> {
  let kid: string | undefined;
  try {
    const header = decodeProtectedHeader(token);
    if (header.alg !== SIGNING_ALG) return undefined;
    kid = header.kid;
  } catch {
    return undefined;
  }
  if (!kid) return undefined;
  const key = await keys.verificationKey(kid);
  if (!key) return undefined;
  let claims: AccessClaims;
  try {
    ({ payload: claims } = await jwtVerify<AccessClaims>(token, key, {
      algorithms: [SIGNING_ALG],
      issuer,
      audience: issuer,
      typ: 'at+jwt',
      clockTolerance: 5,
      requiredClaims: ['iss', 'aud', 'sub', 'exp', 'iat', 'jti'],
    }));
  } catch {
    return undefined;
  }
  if (
    claims.tenant !== tenant ||
    typeof claims.grant !== 'string' ||
    typeof claims.scope !== 'string' ||
    typeof claims.client_id !== 'string'
  )
    return undefined;
  const { rows } = await db.query<{
    revoked: boolean;
    user_id: string | null;
    uid: string | null;
    roles: string[] | null;
    disabled: boolean | null;
    cid: string | null;
  }>(
    `SELECT (g.revoked_at IS NOT NULL OR g.expires_at <= now()) AS revoked, g.user_id, u.id AS uid, u.roles,
            u.disabled_at IS NOT NULL AS disabled, c.client_id AS cid
       FROM auth_grants g
       LEFT JOIN auth_clients c ON c.tenant = g.tenant AND c.client_id = g.client_id
       LEFT JOIN auth_users u ON u.tenant = g.tenant AND u.id = g.user_id
      WHERE g.tenant = $1 AND g.id = $2`,
    [tenant, claims.grant],
  );
  const r = rows[0];
  // A removed client or user takes its tokens with it; a disabled user's tokens stop working too.
  if (!r || r.revoked || !r.cid || r.cid !== claims.client_id || (r.user_id !== null && (!r.uid || r.disabled))) return undefined;
  return { claims, roles: r.roles ?? [], ...(r.user_id ? { userId: r.user_id } : {}) };
}
