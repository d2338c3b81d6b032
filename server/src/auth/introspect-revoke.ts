/**
 * Token introspection (RFC 7662, SMART App Launch 2.2 token-introspection.html), revocation (RFC 7009)
 * and the OIDC userinfo endpoint (OIDC Core §5.3).
 *
 * Introspection is protected (RFC 7662 §2.1, §4 "token scanning"): only clients registered as resource
 * servers (`haven clients add --introspect`, confidential or backend) may call it, either with their client
 * credentials or with a Bearer access token issued to them (SMART token-introspection: "an
 * appropriately-scoped SMART App or Backend Services access token"); such a caller may introspect any token
 * of the tenant. The flag is read at every call, so withdrawing it takes effect at once. Any other caller,
 * a patient app's token included, is refused with 401 (RFC 7662 §2.3): `invalid_client` or `invalid_token`
 * for bad credentials, `unauthorized_client` (RFC 6749 §5.2) or `insufficient_scope` (RFC 6750 §3.1) for a
 * valid caller that is not a resource server. Unknown, expired or revoked tokens answer 200
 * `{"active": false}` and nothing else.
 */
import type { Request, Response } from 'express';
import { jwtVerify, decodeProtectedHeader } from 'jose';
import { AUDIT, audit } from './audit.ts';
import { authenticateClient } from './client-auth.ts';
import { getClient } from './clients.ts';
import { requestTenant, singleParams, type AuthDeps } from './deps.ts';
import { findRefreshToken, getGrant, revokeGrant } from './grants.ts';
import { OAuthError, noStore, sendOAuthError, usedBasic } from './oauth-error.ts';
import { SIGNING_ALG } from './keys.ts';
import { bearerToken, verifyAccessToken, type AccessClaims } from './tokens.ts';
import { authUrls, type AuthUrls } from './urls.ts';

const NOT_RESOURCE_SERVER = 'Only clients registered as resource servers (haven clients add --introspect) may introspect tokens';

function formParams(req: Request): Record<string, string> {
  if (!req.is('application/x-www-form-urlencoded'))
    throw new OAuthError('invalid_request', 'The body must be application/x-www-form-urlencoded');
  const { params, repeated } = singleParams(req.body);
  if (repeated) throw new OAuthError('invalid_request', `Parameter ${repeated.slice(0, 40)} must not be repeated`);
  if (!params.token) throw new OAuthError('invalid_request', 'token is required');
  return params;
}

function ctxFor(deps: AuthDeps, tenant: string, urls: AuthUrls) {
  return { db: deps.db, tenant, tokenEndpoint: urls.token, jwksCache: deps.jwksCache };
}

/** The SMART/RFC 7662 view of an active access token. */
function describeAccess(claims: AccessClaims, urls: AuthUrls, context: Record<string, unknown>): Record<string, unknown> {
  return {
    active: true,
    scope: claims.scope,
    client_id: claims.client_id,
    sub: claims.sub,
    exp: claims.exp,
    iat: claims.iat,
    iss: claims.iss,
    aud: claims.aud,
    token_type: 'Bearer',
    jti: claims.jti,
    ...(claims.patient ? { patient: claims.patient } : {}),
    ...(claims.encounter ? { encounter: claims.encounter } : {}),
    ...(claims.fhirUser ? { fhirUser: `${urls.fhirBase}/${claims.fhirUser}` } : {}),
    ...(Array.isArray(context.fhirContext) && context.fhirContext.length ? { fhirContext: context.fhirContext } : {}),
    ...(typeof context.intent === 'string' ? { intent: context.intent } : {}),
  };
}

/** `POST {authBase}/introspect`. */
export async function handleIntrospect(deps: AuthDeps, req: Request, res: Response): Promise<void> {
  const tenant = requestTenant(req)!;
  const urls = authUrls(deps.config, tenant);
  let caller: string | undefined;
  try {
    const authz = req.get('authorization');
    const bearer = bearerToken(authz);
    const params = formParams(req);
    if (bearer) {
      const v = await verifyAccessToken(deps.keys, deps.db, bearer, tenant, urls.issuer);
      if (!v) throw new OAuthError('invalid_token', 'The Bearer token of the caller is not valid');
      caller = v.claims.client_id;
      if (!(await getClient(deps.db, tenant, caller))?.introspect) throw new OAuthError('insufficient_scope', NOT_RESOURCE_SERVER, 401);
    } else {
      const { token: _token, token_type_hint: _hint, ...clientParams } = params;
      const auth = await authenticateClient(ctxFor(deps, tenant, urls), authz, clientParams);
      if (!auth || auth.method === 'none')
        throw new OAuthError('invalid_client', 'Introspection requires a Bearer token or confidential client authentication');
      caller = auth.client.clientId;
      if (!auth.client.introspect) throw new OAuthError('unauthorized_client', NOT_RESOURCE_SERVER, 401);
    }
    let body: Record<string, unknown> = { active: false };
    const access = await verifyAccessToken(deps.keys, deps.db, params.token, tenant, urls.issuer);
    if (access) {
      const grant = await getGrant(deps.db, tenant, access.claims.grant);
      body = describeAccess(access.claims, urls, (grant?.context ?? {}) as Record<string, unknown>);
    } else {
      const refresh = await findRefreshToken(deps.db, tenant, params.token);
      if (refresh && !refresh.used && !refresh.expired && !refresh.grant.revoked) {
        body = {
          active: true,
          scope: refresh.scopes,
          client_id: refresh.clientId,
          token_type: 'refresh_token',
          ...(refresh.grant.userId ? { sub: refresh.grant.userId } : {}),
        };
      }
    }
    audit(deps.log, AUDIT.introspect, { tenant, outcome: 'success', client_id: caller, active: body.active === true });
    noStore(res);
    res.status(200).json(body);
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    audit(deps.log, AUDIT.introspect, { tenant, outcome: 'failure', reason: err.code, ...(caller ? { client_id: caller } : {}) });
    sendOAuthError(res, err, urls.issuer, usedBasic(req));
  }
}

/** The grant of an access token signed by us, even if expired or revoked (revocation is idempotent). */
async function accessTokenGrant(
  deps: AuthDeps,
  token: string,
  tenant: string,
  issuer: string,
): Promise<{ grant: string; clientId: string } | undefined> {
  try {
    const { kid, alg } = decodeProtectedHeader(token);
    if (alg !== SIGNING_ALG || !kid) return undefined;
    const key = await deps.keys.verificationKey(kid);
    if (!key) return undefined;
    const { payload } = await jwtVerify<AccessClaims>(token, key, {
      algorithms: [SIGNING_ALG],
      issuer,
      audience: issuer,
      currentDate: new Date(0),
    });
    return payload.tenant === tenant && typeof payload.grant === 'string'
      ? { grant: payload.grant, clientId: payload.client_id }
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `POST {authBase}/revoke` (RFC 7009 §2.1). Revoking either token of a grant revokes the whole grant
 * (access and refresh tokens: RFC 7009 §2.1 "SHOULD also invalidate"). Always 200 for a well-formed,
 * authenticated request, including unknown tokens and tokens of other clients (which are left alone),
 * so the endpoint reveals nothing about tokens the caller does not own.
 */
export async function handleRevoke(deps: AuthDeps, req: Request, res: Response): Promise<void> {
  const tenant = requestTenant(req)!;
  const urls = authUrls(deps.config, tenant);
  try {
    const params = formParams(req);
    const { token, token_type_hint: _hint, ...clientParams } = params;
    const auth = await authenticateClient(ctxFor(deps, tenant, urls), req.get('authorization'), clientParams);
    if (!auth) throw new OAuthError('invalid_client', 'client_id or client authentication is required');
    const found =
      (await accessTokenGrant(deps, token, tenant, urls.issuer)) ??
      (await findRefreshToken(deps.db, tenant, token).then((r) => (r ? { grant: r.grant.id, clientId: r.clientId } : undefined)));
    let revoked = false;
    if (found && found.clientId === auth.client.clientId) revoked = await revokeGrant(deps.db, tenant, found.grant);
    audit(deps.log, AUDIT.revoke, {
      tenant,
      outcome: found && found.clientId !== auth.client.clientId ? 'failure' : 'success',
      client_id: auth.client.clientId,
      ...(found ? { grant: found.grant } : {}),
      revoked,
      ...(found && found.clientId !== auth.client.clientId ? { reason: 'token_of_other_client' } : {}),
    });
    noStore(res);
    res.status(200).end();
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    sendOAuthError(res, err, urls.issuer, usedBasic(req));
  }
}

/** `GET|POST {authBase}/userinfo` (OIDC Core §5.3): needs a token with `openid`. */
export async function handleUserinfo(deps: AuthDeps, req: Request, res: Response): Promise<void> {
  const tenant = requestTenant(req)!;
  const urls = authUrls(deps.config, tenant);
  const token = bearerToken(req.get('authorization'));
  const v = token ? await verifyAccessToken(deps.keys, deps.db, token, tenant, urls.issuer) : undefined;
  noStore(res);
  if (!v?.userId) {
    res.setHeader('WWW-Authenticate', `Bearer realm="${urls.issuer}"${token ? ', error="invalid_token"' : ''}`);
    res.status(401).json({ error: 'invalid_token', error_description: 'A valid user access token is required' });
    return;
  }
  if (!v.claims.scope.split(' ').includes('openid')) {
    res.setHeader('WWW-Authenticate', `Bearer realm="${urls.issuer}", error="insufficient_scope", scope="openid"`);
    res.status(403).json({ error: 'insufficient_scope', error_description: 'The token was not granted openid' });
    return;
  }
  res.json({ sub: v.claims.sub, ...(v.claims.fhirUser ? { fhirUser: `${urls.fhirBase}/${v.claims.fhirUser}` } : {}) });
}
