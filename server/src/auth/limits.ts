/**
 * Rate limits and the password-hash bound of the authorization server: their settings (read once from the
 * environment into the configuration) and the per-process objects that enforce them.
 *
 * What each limit counts (per process; see rate-limit.ts for why in memory):
 * - sign-in, per client address and per username (known or not): every sign-in form POST that would check a
 *   password. The account lockout (users.ts, in the database) still bounds guesses across processes.
 * - authorize, per client address: every GET/POST of the authorization endpoint (each starts a stored
 *   interaction). Not per client_id: the client_id is public, so anyone could spend an app's budget and
 *   keep all its users from signing in.
 * - token, per client address (every request) and per authenticated client (confidential and backend
 *   clients, counted after their authentication succeeded, so nobody else can spend their budget).
 */
import { DEFAULT_HASH_QUEUE, PasswordGate, defaultHashConcurrency } from './hash-gate.ts';
import { RateLimiter, parseRate, type RateSpec } from './rate-limit.ts';

/** The limits, as configured. An absent rate means no limit. */
export interface AuthLimits {
  readonly signInIp: RateSpec | undefined;
  readonly signInUser: RateSpec | undefined;
  readonly authorizeIp: RateSpec | undefined;
  readonly tokenIp: RateSpec | undefined;
  readonly tokenClient: RateSpec | undefined;
  /** Password hashes computed at once by this process. */
  readonly hashConcurrency: number;
  /** Sign-ins waiting for a hash slot before further ones get 503. */
  readonly hashQueue: number;
}

/** Environment variables of each limit. */
export const AUTH_LIMIT_ENV = {
  signInIp: 'HAVEN_AUTH_RATE_SIGNIN_IP',
  signInUser: 'HAVEN_AUTH_RATE_SIGNIN_USER',
  authorizeIp: 'HAVEN_AUTH_RATE_AUTHORIZE_IP',
  tokenIp: 'HAVEN_AUTH_RATE_TOKEN_IP',
  tokenClient: 'HAVEN_AUTH_RATE_TOKEN_CLIENT',
  hashConcurrency: 'HAVEN_AUTH_HASH_CONCURRENCY',
  hashQueue: 'HAVEN_AUTH_HASH_QUEUE',
} as const;

/**
 * Default rates. Sign-in: 30 per address per minute leaves room for a clinic behind one NAT address at the
 * start of a shift (each SMART launch is a sign-in), and 10 per username per minute is more than a person
 * types; five wrong passwords lock the account anyway. Authorize 120 and token 300 per minute per address
 * are far above what browsers and apps need, and cheap to serve; they stop floods, not use.
 */
export const DEFAULT_AUTH_RATES = {
  signInIp: { count: 30, perSeconds: 60 },
  signInUser: { count: 10, perSeconds: 60 },
  authorizeIp: { count: 120, perSeconds: 60 },
  tokenIp: { count: 300, perSeconds: 60 },
  tokenClient: { count: 300, perSeconds: 60 },
} as const satisfies Record<string, RateSpec>;

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

/**
 * Reads the limits: rates as `COUNT/SECONDS` or `off` (see {@link parseRate}), the hash bound as integers.
 * @throws Error with a readable message naming the variable.
 */
export function authLimitsFromEnv(env: NodeJS.ProcessEnv): AuthLimits {
  const rate = (key: keyof typeof DEFAULT_AUTH_RATES) => parseRate(AUTH_LIMIT_ENV[key], env[AUTH_LIMIT_ENV[key]], DEFAULT_AUTH_RATES[key]);
  return {
    signInIp: rate('signInIp'),
    signInUser: rate('signInUser'),
    authorizeIp: rate('authorizeIp'),
    tokenIp: rate('tokenIp'),
    tokenClient: rate('tokenClient'),
    hashConcurrency: positiveInt(env, AUTH_LIMIT_ENV.hashConcurrency, defaultHashConcurrency(), 1),
    hashQueue: positiveInt(env, AUTH_LIMIT_ENV.hashQueue, DEFAULT_HASH_QUEUE, 0),
  };
}

/** The limiters and the hash gate of one process. */
export interface AuthGuards {
  readonly signInIp: RateLimiter;
  readonly signInUser: RateLimiter;
  readonly authorizeIp: RateLimiter;
  readonly tokenIp: RateLimiter;
  readonly tokenClient: RateLimiter;
  readonly gate: PasswordGate;
}

/** Builds the guards of a process from its limits. */
export function createAuthGuards(limits: AuthLimits, now?: () => number): AuthGuards {
  const opts = now ? { now } : {};
  return {
    signInIp: new RateLimiter(limits.signInIp, opts),
    signInUser: new RateLimiter(limits.signInUser, opts),
    authorizeIp: new RateLimiter(limits.authorizeIp, opts),
    tokenIp: new RateLimiter(limits.tokenIp, opts),
    tokenClient: new RateLimiter(limits.tokenClient, opts),
    gate: new PasswordGate({ concurrency: limits.hashConcurrency, queue: limits.hashQueue }),
  };
}
