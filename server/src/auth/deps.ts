/**
 * What every part of the authorization server is built from, and request helpers they share.
 */
import type { Request } from 'express';
import type { HavenConfig } from '../config.ts';
import type { Db } from '../store/db.ts';
import type { AuditLog } from './audit.ts';
import type { RemoteJwksCache } from './jwks-remote.ts';
import type { KeyStore } from './keys.ts';
import type { AuthGuards } from './limits.ts';
import type { Kek } from './secret.ts';

/** Dependencies of the authorization server. */
export interface AuthDeps {
  config: HavenConfig;
  db: Db;
  kek: Kek;
  keys: KeyStore;
  jwksCache: RemoteJwksCache;
  /** Resource types served (scope validation). */
  resourceTypes: ReadonlySet<string>;
  log: AuditLog;
  /** Rate limiters and the password-hash bound of this process. */
  guards: AuthGuards;
}

const TENANT = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The tenant of a request under `/auth` (default) or `/t/{tenant}/auth`; undefined when malformed. */
export function requestTenant(req: Request): string | undefined {
  const t = req.params.tenant;
  if (t === undefined) return 'default';
  return typeof t === 'string' && TENANT.test(t) ? t : undefined;
}

/**
 * Single-valued parameters of a query or form body. RFC 6749 §3.1: parameters MUST NOT be repeated, so a
 * repeated one (an array after parsing) is reported by name.
 */
export function singleParams(source: unknown): { params: Record<string, string>; repeated?: string } {
  // No prototype: a parameter named `__proto__` or `constructor` is just a parameter.
  const params: Record<string, string> = Object.create(null);
  let repeated: string | undefined;
  if (!source || typeof source !== 'object') return { params };
  for (const [k, v] of Object.entries(source as Record<string, unknown>)) {
    if (typeof v === 'string') params[k] = v;
    else repeated ??= k;
  }
  return repeated === undefined ? { params } : { params, repeated };
}
