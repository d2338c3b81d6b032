/**
 * Test servers on a free port, on the storage CI selects: PGlite in a temporary DATA_DIR by default, or,
 * when DATABASE_URL is set, a freshly created PostgreSQL database with a random name that is dropped
 * afterwards (no run depends on what an earlier one left).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { inject } from 'vitest';
import { addClient } from '../auth/clients.ts';
import { authUrls } from '../auth/urls.ts';
import { loadConfig, type HavenConfig } from '../config.ts';
import { loadDefinitions } from '../fhir/definitions.ts';
import { startServer, type RunningServer, type StartOptions } from '../server.ts';
import type { Db } from '../store/db.ts';
import { openDatabase } from '../store/open-db.ts';
import { HavenRepository } from '../store/repository.ts';
import {
  adminQuery,
  copyEmbeddedTemplate,
  createFromTemplate,
  databaseUrlFor,
  TEMPLATE_KEY,
  type StorageTemplate,
} from './template-storage.ts';

/** A scratch database: a URL for DATABASE_URL (or undefined for embedded) and a data dir. */
export interface ScratchStorage {
  databaseUrl: string | undefined;
  dataDir: string;
  drop(): Promise<void>;
}

/**
 * A migrated database on fresh scratch storage, R4 definitions loaded, for tests below the HTTP layer.
 * `close` closes it and drops the storage.
 */
export async function openScratchDb(): Promise<{ db: Db; close(): Promise<void> }> {
  loadDefinitions();
  const storage = await createScratchStorage();
  try {
    const db = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
    return {
      db,
      async close() {
        await db.close();
        await storage.drop();
      },
    };
  } catch (err) {
    await storage.drop();
    throw err;
  }
}

/** A full-access repository on `db` for storage-level tests (no policy, no hooks). */
export function testRepository(db: Db, tenant = 'default', baseUrl = 'http://x/fhir'): HavenRepository {
  return new HavenRepository({ db, tenant, baseUrl, maxCount: 100, defaultCount: 20, lenient: false, cursorSecret: 's' });
}

/** The run's migrated template (./global-setup.ts), or null outside a vitest run that built one. */
function storageTemplate(): StorageTemplate | null {
  try {
    return inject(TEMPLATE_KEY) ?? null;
  } catch {
    return null;
  }
}

/**
 * Creates scratch storage on the storage the suite runs on: a copy of the run's migrated template database, or,
 * with `fresh` (tests of migrating an empty database) or without a template, an empty one.
 */
export async function createScratchStorage(opts: { fresh?: boolean } = {}): Promise<ScratchStorage> {
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-test-'));
  const adminUrl = process.env.DATABASE_URL;
  const template = opts.fresh ? null : storageTemplate();
  if (!adminUrl) {
    if (template?.kind === 'embedded') copyEmbeddedTemplate(template, dataDir);
    return {
      databaseUrl: undefined,
      dataDir,
      async drop() {
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const name = `haven_t_${randomBytes(6).toString('hex')}`;
  if (template?.kind === 'pg') await createFromTemplate(adminUrl, name, template);
  else await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  return {
    databaseUrl: databaseUrlFor(adminUrl, name),
    dataDir,
    async drop() {
      await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A server for one test file, with helpers. */
export interface TestServer {
  server: RunningServer;
  config: HavenConfig;
  /** Default tenant FHIR base, e.g. http://127.0.0.1:PORT/fhir */
  fhir: string;
  /** Captured log events (assert no PHI, internal errors...). */
  logs: Record<string, unknown>[];
  /**
   * fetch relative to the server root, JSON helpers included. On a server with real authentication (the
   * default), FHIR requests carry a Backend Services access token for the path's tenant unless the caller
   * sets its own `authorization` header or `anonymous: true`.
   */
  req(
    path: string,
    init?: RequestInit & { json?: unknown; anonymous?: boolean },
  ): Promise<{ status: number; headers: Headers; body: any; text: string }>;
  stop(): Promise<void>;
}

/** Scopes of the test harness's Backend Services client: everything, as a partner system would hold. */
const HARNESS_SCOPES = 'system/*.cruds';
/** Backend tokens live 300 s; renew well before. */
const TOKEN_REUSE_MS = 200_000;

/**
 * Real access tokens for tests: per tenant, a Backend Services client (private_key_jwt, ES384, JWKS by
 * value) registered in that tenant, and `client_credentials` at the real token endpoint (SMART Backend
 * Services). Tokens are cached and renewed before they expire.
 */
function backendTokens(server: RunningServer, config: HavenConfig): (tenant: string) => Promise<string> {
  const cache = new Map<string, { token: Promise<string>; at: number }>();
  const keyPair = generateKeyPair('ES384', { extractable: true });
  const registered = new Map<string, Promise<void>>();
  const clientId = 'haven-test-harness';
  async function fetchToken(tenant: string): Promise<string> {
    const { privateKey, publicKey } = await keyPair;
    if (!registered.has(tenant)) {
      registered.set(
        tenant,
        (async () => {
          const jwk = { ...(await exportJWK(publicKey)), kid: 'harness-1', alg: 'ES384', use: 'sig' };
          await addClient(server.db, { tenant, clientId, type: 'backend', jwks: { keys: [jwk] }, scopes: HARNESS_SCOPES });
        })(),
      );
    }
    await registered.get(tenant);
    const tokenUrl = authUrls(config, tenant).token;
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({
      iss: clientId,
      sub: clientId,
      aud: tokenUrl,
      jti: randomBytes(12).toString('hex'),
      exp: now + 120,
    })
      .setProtectedHeader({ alg: 'ES384', kid: 'harness-1', typ: 'JWT' })
      .sign(privateKey);
    const res = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope: HARNESS_SCOPES,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      }).toString(),
    });
    const body = (await res.json()) as { access_token?: string };
    if (!res.ok || !body.access_token) throw new Error(`harness token for tenant ${tenant}: ${res.status} ${JSON.stringify(body)}`);
    return body.access_token;
  }
  return (tenant) => {
    const hit = cache.get(tenant);
    if (hit && Date.now() - hit.at < TOKEN_REUSE_MS) return hit.token;
    const token = fetchToken(tenant);
    cache.set(tenant, { token, at: Date.now() });
    token.catch(() => cache.delete(tenant));
    return token;
  };
}

/** The tenant a FHIR path belongs to, or undefined when it is not a FHIR API path. */
function fhirTenantOf(pathname: string): string | undefined {
  if (pathname === '/fhir' || pathname.startsWith('/fhir/')) return 'default';
  const m = /^\/t\/([^/]+)\/fhir(\/|$)/.exec(pathname);
  return m?.[1];
}

/**
 * Starts a server on a free port with real SMART authentication. Requests made through `req` carry real
 * Backend Services tokens. A test that sets `HAVEN_AUTH` itself (e.g. to test 401s or development mode) or
 * injects an authenticator gets no automatic token.
 */
export async function startTestServer(env: Record<string, string> = {}, opts: StartOptions = {}): Promise<TestServer> {
  const storage = await createScratchStorage();
  const logs: Record<string, unknown>[] = [];
  let config: HavenConfig;
  let server: RunningServer;
  try {
    config = loadConfig({
      // Tests that count resources must not see the installed instruments; tests of the instruments turn it on.
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: storage.dataDir,
      HAVEN_QUESTIONNAIRES: 'off',
      ...(storage.databaseUrl ? { DATABASE_URL: storage.databaseUrl } : {}),
      ...env,
    });
    server = await startServer(config, { log: (e) => logs.push(e), ...opts });
  } catch (err) {
    await storage.drop();
    throw err;
  }
  // BASE_URL defaults to the configured port (0): rebuild it with the bound port.
  const bound = { ...config, port: server.port, baseUrl: env.BASE_URL ?? `http://127.0.0.1:${server.port}` };
  Object.assign(config, bound);
  const root = server.url;
  const autoToken = env.HAVEN_AUTH === undefined && opts.authenticate === undefined;
  const tokenFor = autoToken ? backendTokens(server, config) : undefined;
  return {
    server,
    config,
    fhir: `${root}/fhir`,
    logs,
    async req(path, init = {}) {
      const headers = new Headers(init.headers);
      const url = path.startsWith('http') ? path : `${root}${path}`;
      const tenant = fhirTenantOf(new URL(url).pathname);
      if (tokenFor && tenant && !init.anonymous && !headers.has('authorization')) {
        headers.set('authorization', `Bearer ${await tokenFor(tenant)}`);
      }
      let body = init.body;
      if (init.json !== undefined) {
        body = JSON.stringify(init.json);
        if (!headers.has('content-type')) headers.set('content-type', 'application/fhir+json');
      }
      const res = await fetch(url, { ...init, headers, body, redirect: 'manual' });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, body: parsed, text };
    },
    async stop() {
      await server.close();
      await storage.drop();
    },
  };
}
