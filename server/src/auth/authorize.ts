/**
 * The authorization endpoint (RFC 6749 §4.1.1, SMART App Launch 2.2 "Obtain authorization code"), GET
 * and POST (OIDC Core §3.1.2.1; SMART `authorize-post`).
 *
 * Order of checks follows RFC 6749 §4.1.2.1: an unknown client or an unregistered redirect URI gets an
 * error page and never a redirect (that would make Haven an open redirector). Everything else that is
 * wrong goes back to the client's redirect URI as `error` + `error_description` + `state` (echoed
 * byte for byte). A valid request starts an interaction (login, patient, consent) in the browser.
 */
import type { Request, Response } from 'express';
import { AUDIT, audit } from './audit.ts';
import { getClient, type Client } from './clients.ts';
import { requestTenant, singleParams, type AuthDeps } from './deps.ts';
import { errorPage } from './html.ts';
import { startInteraction, type AuthRequest } from './interaction.ts';
import { consumeLaunch } from './launch.ts';
import type { OAuthErrorCode } from './oauth-error.ts';
import { checkRequestedScopes, coveredScopes } from './scopes.ts';
import { authUrls } from './urls.ts';

/** RFC 7636 §4.2: S256 challenge = BASE64URL(SHA256(verifier)), always 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const MAX_STATE = 2048;
const MAX_NONCE = 512;

/** Headers of every HTML page of the authorization server. */
export function htmlHeaders(res: Response, formTargets: string[] = []): void {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  // form-action also governs where a form's redirect may lead (the client's redirect URI after consent).
  res.setHeader(
    'Content-Security-Policy',
    `default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self' ${formTargets.join(' ')}`.trim(),
  );
  res.type('text/html; charset=utf-8');
}

/** Sends an HTML error page (no redirect). */
export function sendErrorPage(res: Response, status: number, title: string, message: string): void {
  htmlHeaders(res);
  res.status(status).send(errorPage(title, message));
}

/** Redirects to the client with an authorization error (RFC 6749 §4.1.2.1), echoing `state` exactly. */
export function redirectError(
  res: Response,
  redirectUri: string,
  issuer: string,
  code: OAuthErrorCode,
  description: string,
  state: string | undefined,
  status = 302,
): void {
  const url = new URL(redirectUri);
  url.searchParams.append('error', code);
  url.searchParams.append('error_description', description);
  if (state !== undefined) url.searchParams.append('state', state);
  // RFC 9207: the issuer identifies which server answered (mix-up defence).
  url.searchParams.append('iss', issuer);
  res.setHeader('Cache-Control', 'no-store');
  res.redirect(status, url.toString());
}

/** Fails validation of an authorization request after the redirect URI is trusted. */
class AuthorizeError extends Error {
  readonly code: OAuthErrorCode;
  constructor(code: OAuthErrorCode, description: string) {
    super(description);
    this.code = code;
  }
}

/** The FHIR base as `aud`, exactly or with one trailing slash (reference §1.3 "normalize"). */
function audMatches(aud: string, fhirBase: string): boolean {
  return aud === fhirBase || aud === `${fhirBase}/`;
}

async function validate(deps: AuthDeps, tenant: string, client: Client, p: Record<string, string>): Promise<AuthRequest> {
  const urls = authUrls(deps.config, tenant);
  if (p.response_type === undefined) throw new AuthorizeError('invalid_request', 'response_type is required');
  if (p.response_type !== 'code') throw new AuthorizeError('unsupported_response_type', 'Only response_type=code is supported');
  if (p.state === undefined || p.state === '') throw new AuthorizeError('invalid_request', 'state is required (SMART App Launch)');
  if (p.state.length > MAX_STATE) throw new AuthorizeError('invalid_request', `state is longer than ${MAX_STATE} characters`);
  if (p.aud === undefined) throw new AuthorizeError('invalid_request', 'aud is required: the FHIR base URL the token is for');
  if (!audMatches(p.aud, urls.fhirBase))
    throw new AuthorizeError('invalid_request', `aud must be this server's FHIR base ${urls.fhirBase}`);
  // RFC 7636 §4.4.1, SMART: PKCE with S256 for every client; "plain" is refused.
  if (p.code_challenge === undefined) throw new AuthorizeError('invalid_request', 'code_challenge is required (PKCE S256)');
  if (p.code_challenge_method !== 'S256')
    throw new AuthorizeError('invalid_request', 'code_challenge_method must be S256 (plain is not supported)');
  if (!S256_CHALLENGE.test(p.code_challenge))
    throw new AuthorizeError('invalid_request', 'code_challenge must be 43 base64url characters (S256)');
  if (p.nonce !== undefined && p.nonce.length > MAX_NONCE) throw new AuthorizeError('invalid_request', 'nonce is too long');
  const checked = checkRequestedScopes(p.scope, deps.resourceTypes);
  if (!checked.ok) throw new AuthorizeError('invalid_scope', checked.reason);
  // Reduce to what the client may ever hold (RFC 6749 §3.3 allows granting less); backend-only system/
  // scopes and a `launch` scope without a launch id cannot be granted in a user's authorization.
  let scopes = coveredScopes(client.scopes, checked.scopes).filter((s) => !s.startsWith('system/'));
  // Standalone: `launch` needs a launch id, and encounter context is not offered (context-standalone-encounter
  // is not advertised), so neither is granted rather than granted empty.
  if (p.launch === undefined) scopes = scopes.filter((s) => s !== 'launch' && s !== 'launch/encounter');
  if (scopes.length === 0) throw new AuthorizeError('invalid_scope', 'None of the requested scopes can be granted to this client');
  const request: AuthRequest = {
    redirectUri: p.redirect_uri,
    state: p.state,
    scopes,
    codeChallenge: p.code_challenge,
    ...(p.nonce ? { nonce: p.nonce } : {}),
  };
  if (p.launch !== undefined) {
    const launch = await consumeLaunch(deps.db, tenant, p.launch, client.clientId);
    if (!launch) throw new AuthorizeError('invalid_request', 'launch is unknown, expired, already used, or was issued for another client');
    request.launch = launch;
  }
  return request;
}

/** `GET|POST {authBase}/authorize`. */
export async function handleAuthorize(deps: AuthDeps, req: Request, res: Response): Promise<void> {
  const tenant = requestTenant(req)!;
  const urls = authUrls(deps.config, tenant);
  const source = req.method === 'POST' ? req.body : req.query;
  const { params: p, repeated } = singleParams(source);
  // Nothing is trusted until client and redirect URI are: all failures so far are pages, not redirects.
  const client = p.client_id ? await getClient(deps.db, tenant, p.client_id) : undefined;
  if (!client) {
    audit(deps.log, AUDIT.authorize, { tenant, outcome: 'failure', reason: 'unknown_client' });
    return sendErrorPage(
      res,
      400,
      'Unknown application',
      'The application that sent you here is not registered with this server (unknown client_id).',
    );
  }
  if (
    p.redirect_uri === undefined ||
    !client.redirectUris.includes(p.redirect_uri) ||
    repeated === 'redirect_uri' ||
    repeated === 'client_id'
  ) {
    audit(deps.log, AUDIT.authorize, { tenant, outcome: 'failure', client_id: client.clientId, reason: 'redirect_uri_mismatch' });
    return sendErrorPage(res, 400, 'Invalid redirect', 'The redirect_uri does not exactly match one registered for this application.');
  }
  try {
    if (repeated) throw new AuthorizeError('invalid_request', `Parameter ${repeated.slice(0, 40)} must not be repeated (RFC 6749 §3.1)`);
    const request = await validate(deps, tenant, client, p);
    const id = await startInteraction(deps.db, res, {
      tenant,
      clientId: client.clientId,
      request,
      cookiePath: new URL(urls.authBase).pathname,
      secure: urls.authBase.startsWith('https:'),
    });
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(303, `${urls.authBase}/interaction/${id}`);
  } catch (err) {
    if (!(err instanceof AuthorizeError)) throw err;
    audit(deps.log, AUDIT.authorize, { tenant, outcome: 'failure', client_id: client.clientId, reason: err.code });
    redirectError(res, p.redirect_uri, urls.issuer, err.code, err.message, typeof p.state === 'string' ? p.state : undefined);
  }
}
