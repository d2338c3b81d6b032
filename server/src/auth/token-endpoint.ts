/**
 * The token endpoint (RFC 6749 §3.2): authorization_code with PKCE (RFC 6749 §4.1.3, RFC 7636 §4.6),
 * refresh_token with rotation (RFC 6749 §6, RFC 9700 §4.14.2), and client_credentials for SMART Backend
 * Services. Responses are JSON with `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1) and
 * carry the SMART launch context (App Launch 2.2 "Obtain access token").
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { AUDIT, audit } from './audit.ts';
import { authenticateClient, type AuthenticatedClient } from './client-auth.ts';
import { getClient } from './clients.ts';
import { requestTenant, singleParams, type AuthDeps } from './deps.ts';
import {
  TTL,
  consumeCode,
  createGrant,
  createRefreshToken,
  findRefreshToken,
  markRefreshUsed,
  revokeGrant,
  type GrantContext,
} from './grants.ts';
import { OAuthError, noStore, sendOAuthError, usedBasic } from './oauth-error.ts';
import { allCovered, checkRequestedScopes, splitScopes } from './scopes.ts';
import { spend, tooManyRequests } from './throttle.ts';
import { signAccessToken, signIdToken } from './tokens.ts';
import { authUrls, type AuthUrls } from './urls.ts';
import { getUser } from './users.ts';

/** Grant types served (advertised as grant_types_supported). */
export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
/** RFC 7636 §4.1: code_verifier = 43-128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

interface Call {
  deps: AuthDeps;
  tenant: string;
  urls: AuthUrls;
  params: Record<string, string>;
  auth: AuthenticatedClient | undefined;
}

function requireParam(p: Record<string, string>, name: string): string {
  const v = p[name];
  if (v === undefined || v === '') throw new OAuthError('invalid_request', `${name} is required`);
  return v;
}

function pkceMatches(verifier: string, challenge: string): boolean {
  const computed = createHash('sha256').update(verifier, 'ascii').digest('base64url');
  return computed.length === challenge.length && timingSafeEqual(Buffer.from(computed), Buffer.from(challenge));
}

/** Builds the token response of a user grant: tokens plus launch context. */
async function userTokenResponse(
  c: Call,
  grantId: string,
  clientId: string,
  userId: string,
  scope: string,
  context: GrantContext,
  refreshToken?: string,
  withIdToken = true,
): Promise<Record<string, unknown>> {
  const scopes = scope.split(' ');
  const { token, claims } = await signAccessToken(c.deps.keys, {
    issuer: c.urls.issuer,
    tenant: c.tenant,
    subject: userId,
    clientId,
    scope,
    grantId,
    ttl: TTL.access,
    context,
  });
  const body: Record<string, unknown> = { access_token: token, token_type: 'Bearer', expires_in: TTL.access, scope };
  if (refreshToken) body.refresh_token = refreshToken;
  if (withIdToken && scopes.includes('openid')) {
    body.id_token = await signIdToken(c.deps.keys, {
      issuer: c.urls.issuer,
      subject: userId,
      clientId,
      ttl: TTL.access,
      nonce: context.nonce,
      authTime: context.authTime,
      ...(scopes.includes('fhirUser') && context.fhirUser ? { fhirUserUrl: `${c.urls.fhirBase}/${context.fhirUser}` } : {}),
    });
  }
  if (context.patient) body.patient = context.patient;
  if (context.encounter) body.encounter = context.encounter;
  if (context.fhirContext?.length) body.fhirContext = context.fhirContext;
  if (context.intent) body.intent = context.intent;
  body.need_patient_banner = context.needPatientBanner ?? true;
  body.smart_style_url = c.urls.style;
  audit(c.deps.log, AUDIT.tokenIssued, {
    tenant: c.tenant,
    outcome: 'success',
    client_id: clientId,
    user_id: userId,
    grant: grantId,
    jti: claims.jti,
    scope,
    refresh: !!refreshToken,
  });
  return body;
}

function wantsRefresh(scopes: string[]): 'offline' | 'online' | undefined {
  return scopes.includes('offline_access') ? 'offline' : scopes.includes('online_access') ? 'online' : undefined;
}

async function authorizationCode(c: Call): Promise<Record<string, unknown>> {
  if (!c.auth) throw new OAuthError('invalid_client', 'Client authentication or client_id is required');
  const client = c.auth.client;
  if (client.type === 'backend') throw new OAuthError('unauthorized_client', 'A backend services client cannot use authorization_code');
  const code = requireParam(c.params, 'code');
  const redirectUri = requireParam(c.params, 'redirect_uri');
  const outcome = await consumeCode(c.deps.db, c.tenant, code);
  if (outcome.status === 'reused') {
    audit(c.deps.log, AUDIT.grantRevoked, {
      tenant: c.tenant,
      outcome: 'success',
      client_id: outcome.clientId,
      grant: outcome.grantId,
      reason: 'code_reused',
    });
    throw new OAuthError('invalid_grant', 'The authorization code was already used; tokens issued with it are revoked');
  }
  if (outcome.status === 'invalid') throw new OAuthError('invalid_grant', 'The authorization code is invalid or expired');
  const rec = outcome.code;
  if (rec.clientId !== client.clientId) throw new OAuthError('invalid_grant', 'The authorization code was issued to another client');
  if (rec.redirectUri !== redirectUri) throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request');
  // RFC 7636 §4.6 (and the reference's error matrix): every PKCE failure is invalid_grant.
  const verifier = c.params.code_verifier;
  if (verifier === undefined || verifier === '') throw new OAuthError('invalid_grant', 'code_verifier is required (PKCE)');
  if (!VERIFIER.test(verifier) || !pkceMatches(verifier, rec.codeChallenge))
    throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge');
  const user = await getUser(c.deps.db, c.tenant, rec.userId);
  if (!user || user.disabled) throw new OAuthError('invalid_grant', 'The user no longer exists or is disabled');
  const scopes = rec.scopes.split(' ');
  const refresh = wantsRefresh(scopes);
  await createGrant(c.deps.db, {
    id: rec.grantId,
    tenant: c.tenant,
    clientId: client.clientId,
    userId: user.id,
    scopes: rec.scopes,
    context: rec.context,
    lifetimeS: refresh ? TTL[refresh] : TTL.access,
  });
  const refreshToken = refresh ? await createRefreshToken(c.deps.db, c.tenant, rec.grantId, client.clientId, rec.scopes) : undefined;
  return userTokenResponse(c, rec.grantId, client.clientId, user.id, rec.scopes, rec.context, refreshToken);
}

async function refreshToken(c: Call): Promise<Record<string, unknown>> {
  const presented = requireParam(c.params, 'refresh_token');
  const rec = await findRefreshToken(c.deps.db, c.tenant, presented);
  if (!rec) throw new OAuthError('invalid_grant', 'The refresh token is invalid');
  if (c.auth) {
    if (c.auth.client.clientId !== rec.clientId) throw new OAuthError('invalid_grant', 'The refresh token was issued to another client');
  } else {
    // fhirclient refreshes without client_id by default: a public client is identified by its token;
    // a confidential one must still authenticate (RFC 6749 §6).
    const owner = await getClient(c.deps.db, c.tenant, rec.clientId);
    if (owner?.type !== 'public') throw new OAuthError('invalid_client', 'Client authentication is required');
  }
  if (rec.grant.revoked || rec.expired) throw new OAuthError('invalid_grant', 'The refresh token has expired or was revoked');
  if (rec.used) {
    // A rotated token came back: either the client or an attacker holds a stolen copy. Revoke the family.
    await revokeGrant(c.deps.db, c.tenant, rec.grant.id);
    audit(c.deps.log, AUDIT.grantRevoked, {
      tenant: c.tenant,
      outcome: 'success',
      client_id: rec.clientId,
      grant: rec.grant.id,
      reason: 'refresh_token_reused',
    });
    throw new OAuthError('invalid_grant', 'The refresh token was already used; the grant is revoked');
  }
  const held = splitScopes(rec.scopes);
  let scope = rec.scopes;
  if (c.params.scope !== undefined) {
    const asked = splitScopes(c.params.scope);
    // RFC 6749 §6: the same or fewer scopes; an identical string is accepted (Inferno refreshes with it).
    if (asked.length === 0 || !allCovered(held, asked))
      throw new OAuthError('invalid_scope', 'The requested scope exceeds the original grant');
    scope = asked.join(' ');
  }
  if (!(await markRefreshUsed(c.deps.db, c.tenant, presented))) {
    await revokeGrant(c.deps.db, c.tenant, rec.grant.id);
    throw new OAuthError('invalid_grant', 'The refresh token was already used; the grant is revoked');
  }
  const user = rec.grant.userId ? await getUser(c.deps.db, c.tenant, rec.grant.userId) : undefined;
  if (!user || user.disabled) throw new OAuthError('invalid_grant', 'The user no longer exists or is disabled');
  // The new refresh token keeps the original scopes (RFC 6749 §6), whatever this access token narrowed to.
  const next = await createRefreshToken(c.deps.db, c.tenant, rec.grant.id, rec.clientId, rec.scopes);
  audit(c.deps.log, AUDIT.refresh, {
    tenant: c.tenant,
    outcome: 'success',
    client_id: rec.clientId,
    user_id: user.id,
    grant: rec.grant.id,
  });
  return userTokenResponse(c, rec.grant.id, rec.clientId, user.id, scope, rec.grant.context, next, false);
}

async function clientCredentials(c: Call): Promise<Record<string, unknown>> {
  if (!c.auth) throw new OAuthError('invalid_client', 'Client authentication is required');
  const client = c.auth.client;
  if (client.type !== 'backend' || c.auth.method !== 'private_key_jwt') {
    throw new OAuthError('unauthorized_client', 'Only backend services clients (private_key_jwt) may use client_credentials');
  }
  const checked = checkRequestedScopes(c.params.scope, c.deps.resourceTypes);
  if (!checked.ok) throw new OAuthError('invalid_scope', checked.reason);
  const asked = splitScopes(c.params.scope);
  if (asked.length === 0) throw new OAuthError('invalid_scope', 'scope is required');
  if (!asked.every((s) => s.startsWith('system/')) || asked.length !== checked.scopes.length)
    throw new OAuthError('invalid_scope', 'Backend services may only request system/ scopes');
  if (!allCovered(client.scopes, asked))
    throw new OAuthError('invalid_scope', 'The requested scope exceeds what this client is registered for');
  const scope = asked.join(' ');
  const grantId = await createGrant(c.deps.db, {
    tenant: c.tenant,
    clientId: client.clientId,
    scopes: scope,
    context: {},
    lifetimeS: TTL.backend,
  });
  const { token, claims } = await signAccessToken(c.deps.keys, {
    issuer: c.urls.issuer,
    tenant: c.tenant,
    subject: client.clientId,
    clientId: client.clientId,
    scope,
    grantId,
    context: {},
    ttl: TTL.backend,
  });
  audit(c.deps.log, AUDIT.tokenIssued, {
    tenant: c.tenant,
    outcome: 'success',
    client_id: client.clientId,
    grant: grantId,
    jti: claims.jti,
    scope,
    grant_type: 'client_credentials',
  });
  // SMART Backend Services: no refresh token.
  return { access_token: token, token_type: 'Bearer', expires_in: TTL.backend, scope };
}

/** `POST {authBase}/token`. */
export async function handleToken(deps: AuthDeps, req: Request, res: Response): Promise<void> {
  const tenant = requestTenant(req)!;
  const urls = authUrls(deps.config, tenant);
  const grantType = typeof req.body?.grant_type === 'string' ? req.body.grant_type : undefined;
  let clientId: string | undefined;
  try {
    if (!req.is('application/x-www-form-urlencoded'))
      throw new OAuthError('invalid_request', 'The body must be application/x-www-form-urlencoded (RFC 6749 §4.1.3)');
    const { params, repeated } = singleParams(req.body);
    if (repeated) throw new OAuthError('invalid_request', `Parameter ${repeated.slice(0, 40)} must not be repeated (RFC 6749 §3.1)`);
    if (!grantType) throw new OAuthError('invalid_request', 'grant_type is required');
    if (!(GRANT_TYPES as readonly string[]).includes(grantType))
      throw new OAuthError('unsupported_grant_type', `grant_type ${grantType.slice(0, 60)} is not supported`);
    const auth = await authenticateClient(
      { db: deps.db, tenant, tokenEndpoint: urls.token, jwksCache: deps.jwksCache },
      req.get('authorization'),
      params,
    );
    clientId = auth?.client.clientId;
    // Counted only once the client proved who it is: a public client_id is known to anyone, and anyone
    // could otherwise spend a confidential client's budget by naming it.
    if (auth && auth.method !== 'none') {
      const refusal = spend(deps, tenant, 'tokenClient', `${tenant}\n${auth.client.clientId}`);
      if (refusal) throw tooManyRequests(refusal);
    }
    const call: Call = { deps, tenant, urls, params, auth };
    const body =
      grantType === 'authorization_code'
        ? await authorizationCode(call)
        : grantType === 'refresh_token'
          ? await refreshToken(call)
          : await clientCredentials(call);
    noStore(res);
    res.status(200).type('application/json').send(JSON.stringify(body));
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    const named = clientId ?? (typeof req.body?.client_id === 'string' ? String(req.body.client_id).slice(0, 128) : undefined);
    audit(deps.log, AUDIT.tokenRefused, {
      tenant,
      outcome: 'failure',
      reason: err.code,
      ...(grantType ? { grant_type: grantType.slice(0, 60) } : {}),
      ...(named ? { client_id: named } : {}),
    });
    sendOAuthError(res, err, urls.issuer, usedBasic(req));
  }
}
