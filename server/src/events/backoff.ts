/**
 * Retry timing for subscription deliveries: capped exponential backoff with "equal jitter", and the point at
 * which a delivery is dead-lettered. Pure; the policy comes from the environment once at start.
 *
 * Equal jitter (half the capped delay fixed, the other half random) rather than full jitter (anywhere in
 * [0, cap]): full jitter spreads load best but can retry a failing endpoint almost immediately; with equal
 * jitter every retry waits at least half its step, while retries of many deliveries that failed together
 * (an endpoint outage) still spread over the other half instead of arriving in lock-step.
 */

/** How deliveries are retried. All fields are positive integers; `baseMs <= maxMs`. */
export interface RetryPolicy {
  /** Delay step after the first failed attempt (before jitter). */
  readonly baseMs: number;
  /** Cap on the step, reached after log2(maxMs / baseMs) failures. */
  readonly maxMs: number;
  /** Attempts (the first delivery included) before the delivery is dead-lettered. */
  readonly maxAttempts: number;
}

/**
 * Defaults: 1 s, doubling to a 5 min cap, 10 attempts. Steps 1, 2, 4, …, 256 s then the cap: about 13 min
 * of retries in all (halved by jitter at the low end), long enough to ride out a deploy or restart of the
 * receiving endpoint, short enough that a dead endpoint shows as dead-lettered within the hour.
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({ baseMs: 1_000, maxMs: 5 * 60_000, maxAttempts: 10 });

/** Environment variables read by {@link retryPolicyFromEnv}. */
export const RETRY_ENV = {
  baseMs: 'HAVEN_DELIVERY_RETRY_BASE_MS',
  maxMs: 'HAVEN_DELIVERY_RETRY_MAX_MS',
  maxAttempts: 'HAVEN_DELIVERY_MAX_ATTEMPTS',
} as const;

function checkAttempt(attempt: number): void {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be an integer >= 1, got ${attempt}`);
}

/**
 * Milliseconds to wait before the next attempt, after attempt number `attempt` (1 = the first delivery)
 * failed: step = min(maxMs, baseMs × 2^(attempt−1)); delay = step/2 + random() × step/2, rounded down.
 * @param random source in [0, 1); `Math.random` by default (tests pass a fixed one).
 * @throws RangeError when `attempt` is not an integer >= 1.
 */
export function retryDelayMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  checkAttempt(attempt);
  // 2 ** 1100 is Infinity, which min() turns into the cap: no overflow for very late attempts.
  const step = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(step / 2 + r * (step / 2));
}

/**
 * True once `attempt` failed attempts (1 = the first delivery) have used up the policy: the delivery goes to
 * the dead letter instead of being retried.
 * @throws RangeError when `attempt` is not an integer >= 1.
 */
export function shouldDeadLetter(attempt: number, policy: RetryPolicy): boolean {
  checkAttempt(attempt);
  return attempt >= policy.maxAttempts;
}

function positiveInt(env: Readonly<Record<string, string | undefined>>, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

/**
 * The retry policy from `HAVEN_DELIVERY_RETRY_BASE_MS`, `HAVEN_DELIVERY_RETRY_MAX_MS` and
 * `HAVEN_DELIVERY_MAX_ATTEMPTS`; unset or empty variables keep {@link DEFAULT_RETRY_POLICY}.
 * @throws Error naming the variable when a value is not a positive integer, or when the base exceeds the cap.
 */
export function retryPolicyFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): RetryPolicy {
  const baseMs = positiveInt(env, RETRY_ENV.baseMs, DEFAULT_RETRY_POLICY.baseMs);
  const maxMs = positiveInt(env, RETRY_ENV.maxMs, Math.max(DEFAULT_RETRY_POLICY.maxMs, baseMs));
  const maxAttempts = positiveInt(env, RETRY_ENV.maxAttempts, DEFAULT_RETRY_POLICY.maxAttempts);
  if (baseMs > maxMs) throw new Error(`${RETRY_ENV.baseMs} (${baseMs}) must not exceed ${RETRY_ENV.maxMs} (${maxMs})`);
  return Object.freeze({ baseMs, maxMs, maxAttempts });
}
