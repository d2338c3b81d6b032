/**
 * Applies the rate limits (limits.ts) to requests: refusals are HTTP 429 with `Retry-After` (RFC 6585 §4),
 * as OAuth JSON `temporarily_unavailable` on the API endpoints and as an HTML page on browser endpoints.
 * Each episode of refusals is logged once (`auth.rate_limited`, with the limit's name; never the address
 * or the username, which can identify a person).
 */
import type { NextFunction, Request, Response } from 'express';
import { AUDIT, audit } from './audit.ts';
import { sendErrorPage } from './authorize.ts';
import { clientKey } from './client-ip.ts';
import { requestTenant, type AuthDeps } from './deps.ts';
import type { AuthGuards } from './limits.ts';
import { OAuthError, sendOAuthError } from './oauth-error.ts';
import type { RateDecision } from './rate-limit.ts';
import { authUrls } from './urls.ts';

/** Names of the limiters, as logged. */
export type LimitName = keyof Omit<AuthGuards, 'gate'>;

/** A refusal by a limit. */
export interface Refusal {
  limit: LimitName;
  retryAfterS: number;
}

/** Spends one request of `key` on limit `name`; a refusal (logged once per episode) or undefined. */
export function spend(deps: AuthDeps, tenant: string, name: LimitName, key: string): Refusal | undefined {
  const d: RateDecision = deps.guards[name].take(key);
  if (d.allowed) return undefined;
  if (d.first) audit(deps.log, AUDIT.rateLimited, { tenant, outcome: 'failure', reason: 'rate_limited', limit: name });
  return { limit: name, retryAfterS: d.retryAfterS };
}

/** The OAuth error of a refusal: 429 `temporarily_unavailable` with `Retry-After`. */
export function tooManyRequests(r: Refusal): OAuthError {
  return new OAuthError('temporarily_unavailable', `Too many requests; retry after ${r.retryAfterS} seconds`, 429, r.retryAfterS);
}

/** Middleware: the per-address limit `name` in front of an endpoint, answering in JSON or HTML. */
export function limitByAddress(deps: AuthDeps, name: LimitName, kind: 'json' | 'html') {
  return (req: Request, res: Response, next: NextFunction): void => {
    const tenant = requestTenant(req) ?? 'default';
    const refusal = spend(deps, tenant, name, clientKey(req));
    if (!refusal) {
      next();
      return;
    }
    if (kind === 'json') {
      sendOAuthError(res, tooManyRequests(refusal), authUrls(deps.config, tenant).issuer);
      return;
    }
    res.setHeader('Retry-After', String(refusal.retryAfterS));
    sendErrorPage(
      res,
      429,
      'Too many requests',
      `Too many sign-in requests came from your network. Wait ${refusal.retryAfterS} seconds, then start again from the application.`,
    );
  };
}
