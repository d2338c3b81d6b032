/**
 * OAuth 2.0 error responses of the token, introspection and revocation endpoints (RFC 6749 §5.2):
 * JSON `{error, error_description}`, 400, or 401 with `WWW-Authenticate` for `invalid_client`, never cached.
 */
import type { Request, Response } from 'express';

/**
 * Error codes of RFC 6749 §4.1.2.1 and §5.2, RFC 7009 §2.2.1 and RFC 6750 §3.1. `temporarily_unavailable`
 * (RFC 6749 §4.1.2.1: "temporary overloading") also answers a rate-limited token request, with HTTP 429 and
 * `Retry-After` (RFC 6585 §4): §5.2 defines no code for it, and RFC 8628's `slow_down` belongs to device-code
 * polling.
 */
export const OAUTH_ERRORS = [
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'access_denied',
  'unsupported_response_type',
  'server_error',
  'unsupported_token_type',
  'invalid_token',
  'insufficient_scope',
  'temporarily_unavailable',
] as const;
export type OAuthErrorCode = (typeof OAUTH_ERRORS)[number];

/** A refusal with its OAuth error code; `description` is shown to the client, so it never holds secrets. */
export class OAuthError extends Error {
  readonly code: OAuthErrorCode;
  readonly status: number;
  /** Seconds for a `Retry-After` header (429, 503). */
  readonly retryAfterS: number | undefined;
  constructor(code: OAuthErrorCode, description: string, status?: number, retryAfterS?: number) {
    super(description);
    this.code = code;
    this.status = status ?? (code === 'invalid_client' || code === 'invalid_token' ? 401 : code === 'server_error' ? 500 : 400);
    this.retryAfterS = retryAfterS;
  }
}

/** Headers every token-endpoint response carries (RFC 6749 §5.1; SMART requires both). */
export function noStore(res: Response): void {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
}

/**
 * Sends an OAuth error as RFC 6749 §5.2 JSON. `basicUsed`: the client tried HTTP Basic, so a 401 must
 * carry a matching `WWW-Authenticate: Basic` challenge (RFC 6749 §5.2); credentials sent in the body get
 * none (a challenge would invite a Basic retry the client never meant to make).
 */
export function sendOAuthError(res: Response, err: OAuthError, realm: string, basicUsed = false): void {
  noStore(res);
  if (err.retryAfterS !== undefined) res.setHeader('Retry-After', String(err.retryAfterS));
  if (err.status === 401 && (err.code === 'invalid_token' || err.code === 'insufficient_scope'))
    res.setHeader('WWW-Authenticate', `Bearer realm="${realm}", error="${err.code}"`);
  else if (err.status === 401 && basicUsed) res.setHeader('WWW-Authenticate', `Basic realm="${realm}"`);
  res
    .status(err.status)
    .type('application/json')
    .send(JSON.stringify({ error: err.code, error_description: err.message }));
}

/** True when the request carries HTTP Basic credentials. */
export function usedBasic(req: Request): boolean {
  return /^Basic\s/i.test(req.get('authorization') ?? '');
}
