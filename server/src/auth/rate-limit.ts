/**
 * Request rate limits of the authorization server: one token bucket per key (a client address, a username,
 * a client_id), in the memory of this process. Pure apart from the clock, which is injected.
 *
 * Why in memory and not in the database: these limits protect this process's CPU (every sign-in costs a
 * memory-hard password hash) and keep one client from crowding out others; a database write per request
 * would add the very load they are meant to cap (and on embedded storage would run on the server's thread).
 * The cost is that N processes behind a load balancer allow N times the configured rate. Guessing
 * passwords is bounded across processes by the account lockout, which is counted in the database
 * (users.ts); these limits are a second, cheaper wall in front of it.
 *
 * Token bucket (rather than a fixed window): a client may use the whole `count` at once, then gets one
 * request every `perSeconds / count` seconds; there is no window edge at which twice the rate gets through.
 */

/** A rate: at most `count` requests at once, refilled at `count` per `perSeconds`. */
export interface RateSpec {
  readonly count: number;
  readonly perSeconds: number;
}

/** The answer of {@link RateLimiter.take}. */
export type RateDecision =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      /** Whole seconds until one more request would be allowed (for `Retry-After`), at least 1. */
      readonly retryAfterS: number;
      /** True for the first refusal since this key was last allowed (log once per episode, not per request). */
      readonly first: boolean;
    };

interface Bucket {
  tokens: number;
  at: number;
  limited: boolean;
}

/** Keys remembered at most; beyond, the least recently used is forgotten (a forgotten key starts full). */
const DEFAULT_MAX_KEYS = 100_000;

/**
 * Parses a rate setting: `COUNT/SECONDS` (e.g. `30/60`: 30 at once, then one every 2 s), or `off`/`0` for
 * no limit; empty or unset gives `fallback`.
 * @throws Error with a readable message naming `name` for anything else.
 */
export function parseRate(name: string, raw: string | undefined, fallback: RateSpec | undefined): RateSpec | undefined {
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'off' || raw === '0') return undefined;
  const m = /^([1-9]\d{0,8})\/([1-9]\d{0,8})$/.exec(raw);
  if (!m) throw new Error(`${name} must be COUNT/SECONDS (e.g. 30/60) or off, got "${raw}"`);
  return { count: Number(m[1]), perSeconds: Number(m[2]) };
}

/** Token buckets by key. With no spec, every request is allowed. */
export class RateLimiter {
  readonly spec: RateSpec | undefined;
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(spec: RateSpec | undefined, opts: { now?: () => number; maxKeys?: number } = {}) {
    this.spec = spec;
    this.now = opts.now ?? Date.now;
    this.maxKeys = opts.maxKeys ?? DEFAULT_MAX_KEYS;
  }

  /** Number of keys currently remembered. */
  get size(): number {
    return this.buckets.size;
  }

  /** Spends one request of `key`'s budget, or says how long to wait. */
  take(key: string): RateDecision {
    const spec = this.spec;
    if (!spec) return { allowed: true };
    const now = this.now();
    const perMs = spec.count / (spec.perSeconds * 1000);
    const old = this.buckets.get(key);
    const bucket: Bucket = old
      ? { tokens: Math.min(spec.count, old.tokens + Math.max(0, now - old.at) * perMs), at: now, limited: old.limited }
      : { tokens: spec.count, at: now, limited: false };
    // Delete and re-insert: the Map's order is then least recently used first.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
    // The epsilon absorbs floating-point dust: a refill of exactly one request's time must allow it.
    if (bucket.tokens >= 1 - 1e-9) {
      bucket.tokens = Math.max(0, bucket.tokens - 1);
      bucket.limited = false;
      return { allowed: true };
    }
    const first = !bucket.limited;
    bucket.limited = true;
    const waitS = (1 - bucket.tokens) / perMs / 1000;
    return { allowed: false, retryAfterS: Math.max(1, Math.ceil(waitS - 1e-9)), first };
  }
}
