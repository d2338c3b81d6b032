/**
 * Runtime configuration, read once from the environment (see README "Configuration").
 */
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { trustProxyFromEnv, type TrustProxy } from './auth/client-ip.ts';
import { authLimitsFromEnv, type AuthLimits } from './auth/limits.ts';
import { loadBillingConfig, type BillingConfig } from './billing/config.ts';
import { retryPolicyFromEnv, type RetryPolicy } from './events/backoff.ts';
import { DEFAULT_JSON_LIMITS, type JsonLimits } from './fhir/json-shape.ts';
import { parseAllowList, type AllowEntry } from './net/outbound-policy.ts';
import type { EmbeddedThread } from './store/pglite-db.ts';

/** Everything the server and CLI read from the environment. */
export interface HavenConfig {
  readonly port: number;
  readonly host: string;
  readonly baseUrl: string;
  readonly dataDir: string;
  /** Unset means embedded storage (PGlite in dataDir). */
  readonly databaseUrl: string | undefined;
  /**
   * HAVEN_EMBEDDED_THREAD: where embedded storage runs SQL. `inline` (default): on the server's thread.
   * `worker`: on a thread of its own (faster plain reads and writes, slower transactions; see README "Storage").
   */
  readonly embeddedThread: EmbeddedThread;
  /**
   * HAVEN_EMBEDDED_ADVISED_MAX: embedded storage holding more resources than this gets a warning at start advising
   * PostgreSQL: its statistics runs stall every request while they run. Measured POST p95 under the bench's bot load:
   * 33–40 ms at 5,000 resources, 260 at 30,000, 621 at 100,000, 740–992 at 300,000 (README "Storage"). 0 turns the
   * warning off.
   */
  readonly embeddedAdvisedMax: number;
  /** HAVEN_AUTH=off: development only, refused unless host is loopback. */
  readonly authOff: boolean;
  /** Sign-in, authorize and token rate limits and the password-hash bound (HAVEN_AUTH_RATE_*, HAVEN_AUTH_HASH_*). */
  readonly authLimits: AuthLimits;
  /** HAVEN_TRUST_PROXY: which proxies' X-Forwarded-For gives the client address (default: none). */
  readonly trustProxy: TrustProxy;
  /** Largest accepted request body in bytes (413 above). */
  readonly maxBodyBytes: number;
  /**
   * Bounds on the shape of a JSON body and of every resource (HAVEN_MAX_JSON_DEPTH, HAVEN_MAX_ARRAY_LENGTH,
   * HAVEN_MAX_RESOURCE_VALUES, HAVEN_MAX_BUNDLE_ENTRIES; ./fhir/json-shape.ts).
   */
  readonly jsonLimits: JsonLimits;
  /** Largest `_count` a search may ask for. */
  readonly maxCount: number;
  /** Default page size. */
  readonly defaultCount: number;
  /** Events, bots and Subscriptions (server/src/events/README.md). */
  readonly events: EventsConfig;
  /** Requests to URLs someone else chose (server/src/net/: rest-hook endpoints, remote JWKS). */
  readonly outbound: OutboundConfig;
  /** Billing rules (server/src/billing/defaults.json, overridden by the file HAVEN_BILLING_CONFIG names). */
  readonly billing: BillingConfig;
}

/** Operator settings of the outbound guard (server/src/net/outbound-policy.ts). */
export interface OutboundConfig {
  /**
   * HAVEN_OUTBOUND_ALLOW: comma-separated host names (`ehr.partner.internal`, `*.partner.internal`), addresses and
   * CIDR ranges that outbound requests may reach although they are not public (a partner EHR in a private network).
   * This machine's own addresses and metadata addresses need the exact address (or, for own ones, the host name).
   */
  readonly allow: readonly AllowEntry[];
}

/** Settings of the outbox dispatcher, the bots and Subscription delivery. */
export interface EventsConfig {
  /** HAVEN_BOTS=off: no bot runs in this process (events are still recorded and delivered to Subscriptions). */
  readonly botsEnabled: boolean;
  /** Retries of a failed delivery or bot run before its event is dead-lettered (HAVEN_DELIVERY_*). */
  readonly retry: RetryPolicy;
  /** HAVEN_EVENT_POLL_MS: how often the dispatcher looks for due work besides LISTEN/NOTIFY wake-ups. */
  readonly pollMs: number;
  /** HAVEN_EVENT_BATCH_MS: least time between dispatcher rounds (events of a burst of writes are served together). */
  readonly roundGapMs: number;
  /**
   * HAVEN_EVENT_LEASE_MS: how long a process keeps a consumer without renewing it. After a crash on PostgreSQL
   * another process resumes that consumer's events once this has passed.
   */
  readonly leaseMs: number;
  /** HAVEN_DELIVERY_TIMEOUT_MS: time limit of one rest-hook POST. */
  readonly deliveryTimeoutMs: number;
  /** HAVEN_SUBSCRIPTION_ALLOW_HTTP=true: accept http: rest-hook endpoints (development; https otherwise). */
  readonly allowHttpEndpoints: boolean;
  /** HAVEN_SUBSCRIPTION_ALLOW_LOOPBACK=true: accept loopback endpoints (127.0.0.0/8, ::1; development, tests). */
  readonly allowLoopbackEndpoints: boolean;
  /** HAVEN_QUESTIONNAIRES=off: do not install questionnaires/ into each tenant (on by default). */
  readonly installQuestionnaires: boolean;
}

/**
 * True for hosts that only accept connections from this machine: `localhost`, an IPv4 address in
 * 127.0.0.0/8, `::1`, or an IPv4-mapped IPv6 address in 127.0.0.0/8 (`::ffff:127.0.0.1`), each as an
 * exact address (nothing trimmed). Any other name is not loopback: it could resolve anywhere.
 */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  if (isIP(host) === 4) return Number(host.split('.')[0]) === 127;
  if (isIP(host) !== 6 || host.includes('%')) return false;
  // The URL parser writes an IPv6 address in its one canonical form (compressed, lower case, hex).
  const canonical = URL.parse(`http://[${host}]/`)?.hostname.slice(1, -1);
  return canonical === '::1' || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(canonical ?? '');
}

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Reads HOST: an IP address (IPv4 dotted quad or IPv6, without brackets) or a host name, exactly as given.
 * Whitespace and other stray characters are refused rather than trimmed: the value decides whether
 * HAVEN_AUTH=off is allowed, so what is checked must be what is bound.
 * @throws Error naming the value (quoted, so invisible characters show).
 */
export function parseHost(raw: string | undefined): string {
  if (raw === undefined || raw === '') return '127.0.0.1';
  if (isIP(raw) !== 0 || (HOST_NAME.test(raw) && !/^[\d.]+$/.test(raw))) return raw;
  const hint = /^\[.*\]$/.test(raw)
    ? ' (write an IPv6 address without brackets)'
    : raw.trim() !== raw
      ? ' (remove the surrounding whitespace)'
      : '';
  throw new Error(`HOST must be an IP address or a host name, got ${JSON.stringify(raw)}${hint}`);
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

function flagFromEnv(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  throw new Error(`${name} must be true or false, got "${raw}"`);
}

function embeddedThreadFromEnv(env: NodeJS.ProcessEnv): EmbeddedThread {
  const raw = env.HAVEN_EMBEDDED_THREAD;
  if (raw === undefined || raw === '' || raw === 'inline') return 'inline';
  if (raw === 'worker') return 'worker';
  throw new Error(`HAVEN_EMBEDDED_THREAD must be inline or worker, got "${raw}"`);
}

/** The JSON shape bounds (HAVEN_MAX_JSON_DEPTH…); each must be at least 1. */
export function jsonLimitsFromEnv(env: NodeJS.ProcessEnv): JsonLimits {
  const read = (name: string, fallback: number): number => {
    const n = intFromEnv(env, name, fallback);
    if (n < 1) throw new Error(`${name} must be at least 1, got "${env[name]}"`);
    return n;
  };
  return {
    maxDepth: read('HAVEN_MAX_JSON_DEPTH', DEFAULT_JSON_LIMITS.maxDepth),
    maxArrayLength: read('HAVEN_MAX_ARRAY_LENGTH', DEFAULT_JSON_LIMITS.maxArrayLength),
    maxResourceValues: read('HAVEN_MAX_RESOURCE_VALUES', DEFAULT_JSON_LIMITS.maxResourceValues),
    maxBundleEntries: read('HAVEN_MAX_BUNDLE_ENTRIES', DEFAULT_JSON_LIMITS.maxBundleEntries),
  };
}

/** Reads the configuration; throws with a readable message on invalid values. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): HavenConfig {
  const port = intFromEnv(env, 'PORT', 8080);
  const host = parseHost(env.HOST);
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
    embeddedThread: embeddedThreadFromEnv(env),
    embeddedAdvisedMax: intFromEnv(env, 'HAVEN_EMBEDDED_ADVISED_MAX', 100_000),
    authOff,
    authLimits: authLimitsFromEnv(env),
    trustProxy: trustProxyFromEnv(env),
    maxBodyBytes: intFromEnv(env, 'HAVEN_MAX_BODY_BYTES', 16 * 1024 * 1024),
    jsonLimits: jsonLimitsFromEnv(env),
    maxCount: intFromEnv(env, 'HAVEN_MAX_COUNT', 1000),
    defaultCount: intFromEnv(env, 'HAVEN_DEFAULT_COUNT', 20),
    events: {
      botsEnabled: env.HAVEN_BOTS !== 'off',
      retry: retryPolicyFromEnv(env),
      pollMs: Math.max(50, intFromEnv(env, 'HAVEN_EVENT_POLL_MS', 1000)),
      leaseMs: Math.max(1000, intFromEnv(env, 'HAVEN_EVENT_LEASE_MS', 30_000)),
      roundGapMs: intFromEnv(env, 'HAVEN_EVENT_BATCH_MS', 50),
      deliveryTimeoutMs: Math.max(100, intFromEnv(env, 'HAVEN_DELIVERY_TIMEOUT_MS', 10_000)),
      allowHttpEndpoints: flagFromEnv(env, 'HAVEN_SUBSCRIPTION_ALLOW_HTTP'),
      allowLoopbackEndpoints: flagFromEnv(env, 'HAVEN_SUBSCRIPTION_ALLOW_LOOPBACK'),
      installQuestionnaires: env.HAVEN_QUESTIONNAIRES !== 'off',
    },
    outbound: { allow: parseAllowList(env.HAVEN_OUTBOUND_ALLOW) },
    billing: loadBillingConfig(env),
  };
}
