/**
 * Runtime configuration, read once from the environment (see README "Configuration").
 */
import { resolve } from 'node:path';

/** Everything the server and CLI read from the environment. */
export interface HavenConfig {
  readonly port: number;
  readonly host: string;
  readonly baseUrl: string;
  readonly dataDir: string;
  /** Unset means embedded storage (PGlite in dataDir). */
  readonly databaseUrl: string | undefined;
  /** HAVEN_AUTH=off: development only, refused unless host is loopback. */
  readonly authOff: boolean;
  /** Largest accepted request body in bytes (413 above). */
  readonly maxBodyBytes: number;
  /** Largest `_count` a search may ask for. */
  readonly maxCount: number;
  /** Default page size. */
  readonly defaultCount: number;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);

/** True for hosts that only accept connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || host.startsWith('127.');
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

/** Reads the configuration; throws with a readable message on invalid values. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): HavenConfig {
  const port = intFromEnv(env, 'PORT', 8080);
  const host = env.HOST || '127.0.0.1';
  const authOff = env.HAVEN_AUTH === 'off';
  if (authOff && !isLoopbackHost(host)) {
    throw new Error(`HAVEN_AUTH=off is refused: HOST=${host} is not a loopback address`);
  }
  return {
    port,
    host,
    baseUrl: (env.BASE_URL || `http://localhost:${port}`).replace(/\/+$/, ''),
    dataDir: resolve(env.DATA_DIR || './data'),
    databaseUrl: env.DATABASE_URL || undefined,
    authOff,
    maxBodyBytes: intFromEnv(env, 'HAVEN_MAX_BODY_BYTES', 16 * 1024 * 1024),
    maxCount: intFromEnv(env, 'HAVEN_MAX_COUNT', 1000),
    defaultCount: intFromEnv(env, 'HAVEN_DEFAULT_COUNT', 20),
  };
}
