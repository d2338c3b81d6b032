/**
 * Client authentication at the token, introspection and revocation endpoints.
 *
 * - `client_secret_basic` / `client_secret_post`: RFC 6749 §2.3.1 (Basic credentials are
 *   form-urlencoded before base64; raw values are accepted too since fhirclient skips that step).
 * - `private_key_jwt`: RFC 7523 §2.2 and §3 as profiled by SMART client-confidential-asymmetric:
 *   `alg` RS384 or ES384, `typ` JWT, `kid` required, `jku` (if any) must be the registered JWKS URL,
 *   `iss` = `sub` = client_id, `aud` = the token endpoint, `exp` at most 5 minutes ahead, `jti` never
 *   reused (stored until the assertion expires).
 * - `none`: public clients identify themselves with `client_id`.
 * Using more than one method is `invalid_request` (RFC 6749 §2.3); every other failure is `invalid_client`.
 */
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type { Db } from '../store/db.ts';
import { getClient, secretMatches, type Client } from './clients.ts';
import type { RemoteJwksCache } from './jwks-remote.ts';
import { OAuthError } from './oauth-error.ts';

/** The only client assertion type (RFC 7523 §2.2). */
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Assertion algorithms accepted (SMART: servers SHALL support RS384 or ES384; clients SHALL support both). */
export const ASSERTION_ALGS = ['RS384', 'ES384'] as const;
/** Longest assertion lifetime (SMART: `exp` no more than five minutes in the future). */
const MAX_ASSERTION_LIFETIME_S = 300;
/** Clock skew tolerated on `exp`/`nbf` and on the five-minute ceiling. */
const SKEW_S = 60;

/** How the client proved who it is. */
export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** An authenticated (or, for public clients, identified) client. */
export interface AuthenticatedClient {
  client: Client;
  method: ClientAuthMethod;
}

/** What client authentication needs. */
export interface ClientAuthContext {
  db: Db;
  tenant: string;
  /** Absolute URL of this tenant's token endpoint: the required assertion `aud`. */
  tokenEndpoint: string;
  jwksCache: RemoteJwksCache;
}

function formDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function parseBasic(header: string): { id: string; secret: string } {
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  const decoded = m ? Buffer.from(m[1], 'base64').toString('utf8') : '';
  const i = decoded.indexOf(':');
  if (i <= 0) throw new OAuthError('invalid_client', 'Malformed HTTP Basic credentials');
  return { id: formDecode(decoded.slice(0, i)), secret: formDecode(decoded.slice(i + 1)) };
}

async function secretClient(ctx: ClientAuthContext, id: string, secret: string, bodyClientId: string | undefined): Promise<Client> {
  if (bodyClientId !== undefined && bodyClientId !== id)
    throw new OAuthError('invalid_client', 'client_id does not match the authenticated client');
  const client = await getClient(ctx.db, ctx.tenant, id);
  // One message for unknown client and wrong secret: a caller learns nothing about which it was.
  if (client?.type !== 'confidential-symmetric' || !secretMatches(client, secret)) {
    throw new OAuthError('invalid_client', 'Client authentication failed');
  }
  return client;
}

function keyMatchesAlg(k: JWK, alg: string): boolean {
  return alg === 'RS384' ? k.kty === 'RSA' : k.kty === 'EC' && k.crv === 'P-384';
}

/** Verifies a private_key_jwt client assertion (RFC 7523 §3; SMART client-confidential-asymmetric). */
async function assertionClient(ctx: ClientAuthContext, assertion: string, bodyClientId: string | undefined): Promise<Client> {
  const fail = (why: string): never => {
    throw new OAuthError('invalid_client', `Invalid client assertion: ${why}`);
  };
  let header: ReturnType<typeof decodeProtectedHeader>;
  let unverified: ReturnType<typeof decodeJwt>;
  try {
    header = decodeProtectedHeader(assertion);
    unverified = decodeJwt(assertion);
  } catch {
    return fail('not a JWT');
  }
  const alg = header.alg ?? '';
  if (!(ASSERTION_ALGS as readonly string[]).includes(alg)) fail(`alg must be one of ${ASSERTION_ALGS.join(', ')}`);
  if (header.typ !== 'JWT') fail('typ header must be "JWT"');
  if (typeof header.kid !== 'string' || header.kid === '') fail('kid header is required');
  const iss = unverified.iss;
  if (typeof iss !== 'string' || iss === '') fail('iss is required');
  if (unverified.sub !== iss) fail('sub must equal iss (the client_id)');
  if (bodyClientId !== undefined && bodyClientId !== iss) fail('client_id does not match iss');
  const client = await getClient(ctx.db, ctx.tenant, iss as string);
  if (!client || (client.type !== 'confidential-asymmetric' && client.type !== 'backend'))
    return fail('unknown client or client not registered for private_key_jwt');
  if (header.jku !== undefined && header.jku !== client.jwksUrl) fail('jku does not match the registered JWKS URL');
  let candidates: JWK[];
  try {
    candidates = client.jwks
      ? client.jwks.keys.filter((k) => k.kid === header.kid)
      : await ctx.jwksCache.keysFor(client.jwksUrl!, header.kid!);
  } catch {
    return fail('the registered JWKS URL could not be read');
  }
  // Key selection: kid and a key type consistent with alg; zero or several matches fail (SMART, step 3).
  candidates = candidates.filter((k) => keyMatchesAlg(k, alg));
  if (candidates.length !== 1)
    fail(candidates.length === 0 ? 'no registered key matches kid and alg' : 'several registered keys match kid');
  let payload: JWTPayload;
  try {
    const key = await importJWK(candidates[0], alg);
    ({ payload } = await jwtVerify(assertion, key, {
      algorithms: [alg],
      issuer: iss,
      subject: iss,
      audience: ctx.tokenEndpoint,
      typ: 'JWT',
      clockTolerance: SKEW_S,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti'],
    }));
  } catch (err) {
    const code = (err as { code?: string }).code;
    return fail(
      code === 'ERR_JWT_EXPIRED'
        ? 'expired'
        : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED'
          ? `claim ${(err as { claim?: string }).claim} is wrong`
          : 'signature or claims did not verify',
    );
  }
  const now = Math.floor(Date.now() / 1000);
  if ((payload.exp as number) > now + MAX_ASSERTION_LIFETIME_S + SKEW_S) fail('exp is more than 5 minutes in the future');
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti === '' || jti.length > 256) fail('jti must be a string of 1-256 characters');
  // The jti is remembered until the assertion could no longer be accepted anyway; the primary key makes
  // the check-and-insert atomic across processes.
  const { rowCount } = await ctx.db.query(
    `INSERT INTO auth_assertion_jtis (tenant, client_id, jti, expires_at) VALUES ($1, $2, $3, to_timestamp($4))
     ON CONFLICT DO NOTHING`,
    [ctx.tenant, client.clientId, jti, (payload.exp as number) + SKEW_S],
  );
  if (rowCount === 0) fail('jti was already used (replay)');
  return client;
}

/**
 * Identifies and authenticates the client of a request. Returns undefined when the request carries no
 * client identification at all (a public client's refresh may omit client_id; the caller decides).
 * @throws OAuthError invalid_request (several methods) or invalid_client.
 */
export async function authenticateClient(
  ctx: ClientAuthContext,
  authorization: string | undefined,
  body: Record<string, string>,
): Promise<AuthenticatedClient | undefined> {
  const basic = authorization !== undefined && /^Basic\s/i.test(authorization);
  const post = body.client_secret !== undefined;
  const jwt = body.client_assertion !== undefined || body.client_assertion_type !== undefined;
  if (Number(basic) + Number(post) + Number(jwt) > 1)
    throw new OAuthError('invalid_request', 'Use exactly one client authentication method (RFC 6749 §2.3)');
  const bodyClientId = body.client_id;
  if (basic) {
    const { id, secret } = parseBasic(authorization!);
    return { client: await secretClient(ctx, id, secret, bodyClientId), method: 'client_secret_basic' };
  }
  if (post) {
    if (!bodyClientId) throw new OAuthError('invalid_client', 'client_secret requires client_id');
    return { client: await secretClient(ctx, bodyClientId, body.client_secret, undefined), method: 'client_secret_post' };
  }
  if (jwt) {
    if (body.client_assertion_type !== JWT_BEARER_ASSERTION)
      throw new OAuthError('invalid_client', `client_assertion_type must be ${JWT_BEARER_ASSERTION}`);
    if (!body.client_assertion) throw new OAuthError('invalid_client', 'client_assertion is required');
    return { client: await assertionClient(ctx, body.client_assertion, bodyClientId), method: 'private_key_jwt' };
  }
  if (bodyClientId === undefined) return undefined;
  const client = await getClient(ctx.db, ctx.tenant, bodyClientId);
  if (!client) throw new OAuthError('invalid_client', 'Unknown client');
  if (client.type !== 'public') throw new OAuthError('invalid_client', 'This client must authenticate (client secret or private_key_jwt)');
  return { client, method: 'none' };
}
