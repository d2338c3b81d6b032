/**
 * Test servers on a free port, on the storage CI selects: PGlite in a temporary DATA_DIR by default, or,
 * when DATABASE_URL is set, a freshly created PostgreSQL database with a random name that is dropped
 * afterwards (no run depends on what an earlier one left).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadConfig, type HavenConfig } from '../config.ts';
import { startServer, type RunningServer, type StartOptions } from '../server.ts';

/** A scratch database: a URL for DATABASE_URL (or undefined for embedded) and a data dir. */
export interface ScratchStorage {
  databaseUrl: string | undefined;
  dataDir: string;
  drop(): Promise<void>;
}

/** Creates scratch storage on the storage the suite runs on. */
export async function createScratchStorage(): Promise<ScratchStorage> {
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-test-'));
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    return { databaseUrl: undefined, dataDir, async drop() { rmSync(dataDir, { recursive: true, force: true }); } };
  }
  const name = `haven_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    databaseUrl: url.toString(),
    dataDir,
    async drop() {
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
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
  /** fetch relative to the server root, JSON helpers included. */
  req(path: string, init?: RequestInit & { json?: unknown }): Promise<{ status: number; headers: Headers; body: any; text: string }>;
  stop(): Promise<void>;
}

/** Starts a server on a free port; auth is off unless `env` says otherwise. */
export async function startTestServer(env: Record<string, string> = {}, opts: StartOptions = {}): Promise<TestServer> {
  const storage = await createScratchStorage();
  const logs: Record<string, unknown>[] = [];
  let config: HavenConfig;
  let server: RunningServer;
  try {
    config = loadConfig({
      HOST: '127.0.0.1', PORT: '0', HAVEN_AUTH: 'off', DATA_DIR: storage.dataDir,
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
  return {
    server,
    config,
    fhir: `${root}/fhir`,
    logs,
    async req(path, init = {}) {
      const headers = new Headers(init.headers);
      let body = init.body;
      if (init.json !== undefined) {
        body = JSON.stringify(init.json);
        if (!headers.has('content-type')) headers.set('content-type', 'application/fhir+json');
      }
      const res = await fetch(path.startsWith('http') ? path : `${root}${path}`, { ...init, headers, body, redirect: 'manual' });
      const text = await res.text();
      let parsed: unknown;
      try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = undefined; }
      return { status: res.status, headers: res.headers, body: parsed, text };
    },
    async stop() {
      await server.close();
      await storage.drop();
    },
  };
}
