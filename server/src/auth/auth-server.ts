/**
 * Assembles the SMART authorization server of a process: key-encryption key, signing keys (created at
 * first start), routers, the bearer-token {@link Authenticator} for the FHIR API, and housekeeping.
 */
import type express from 'express';
import type { HavenConfig } from '../config.ts';
import type { Db } from '../store/db.ts';
import type { AuditLog } from './audit.ts';
import type { Authenticator, Principal } from './authenticate.ts';
import type { AuthDeps } from './deps.ts';
import { purgeExpired } from './grants.ts';
import { jwksOutbound, RemoteJwksCache } from './jwks-remote.ts';
import { KeyStore } from './keys.ts';
import { createAuthGuards } from './limits.ts';
import { createAuthRouter, createWellKnownRouter } from './router.ts';
import { loadKek } from './secret.ts';
import { bearerToken, verifyAccessToken } from './tokens.ts';
import { authUrls } from './urls.ts';

/** How often expired codes, launches, interactions and assertion ids are deleted. */
const PURGE_INTERVAL_MS = 10 * 60_000;

/** A running authorization server. */
export interface AuthServer {
  /** Mount at `/auth` and `/t/:tenant/auth`. */
  authRouter: express.Router;
  /** Mount at `/fhir/.well-known` and `/t/:tenant/fhir/.well-known`. */
  wellKnownRouter: express.Router;
  /** Verifies bearer access tokens for the FHIR API. */
  authenticate: Authenticator;
  deps: AuthDeps;
  close(): void;
}

/** Options of {@link createAuthServer}. */
export interface AuthServerOptions {
  config: HavenConfig;
  db: Db;
  resourceTypes: ReadonlySet<string>;
  log: AuditLog;
  /** Environment holding HAVEN_SECRET (defaults to process.env). */
  env?: NodeJS.ProcessEnv;
}

/** Builds the principal of a verified token (the contract of auth/authenticate.ts). */
export function principalOf(tenant: string, v: Awaited<ReturnType<typeof verifyAccessToken>> & object): Principal {
  const c = v.claims;
  return {
    tenant,
    subject: c.sub,
    clientId: c.client_id,
    scopes: c.scope.split(' ').filter(Boolean),
    roles: v.roles,
    ...(c.fhirUser ? { fhirUser: c.fhirUser } : {}),
    ...(c.patient ? { patient: c.patient } : {}),
    ...(c.encounter ? { encounter: c.encounter } : {}),
    tokenId: c.jti,
    development: false,
  };
}

/** Loads keys (creating the first one) and builds the routers and the token verifier. */
export async function createAuthServer(opts: AuthServerOptions): Promise<AuthServer> {
  const kek = loadKek(opts.env ?? process.env, opts.config.dataDir);
  const keys = new KeyStore(opts.db, kek);
  await keys.init();
  const deps: AuthDeps = {
    config: opts.config,
    db: opts.db,
    kek,
    keys,
    jwksCache: new RemoteJwksCache({ outbound: jwksOutbound(opts.config) }),
    resourceTypes: opts.resourceTypes,
    log: opts.log,
    guards: createAuthGuards(opts.config.authLimits),
  };
  const authenticate: Authenticator = async (req, tenant) => {
    const token = bearerToken(req.get('authorization'));
    if (!token) return undefined;
    const v = await verifyAccessToken(keys, opts.db, token, tenant, authUrls(opts.config, tenant).issuer);
    return v ? principalOf(tenant, v) : undefined;
  };
  const timer = setInterval(() => {
    purgeExpired(opts.db).catch(() => undefined);
  }, PURGE_INTERVAL_MS);
  timer.unref();
  return {
    authRouter: createAuthRouter(deps),
    wellKnownRouter: createWellKnownRouter(deps),
    authenticate,
    deps,
    close() {
      clearInterval(timer);
    },
  };
}
