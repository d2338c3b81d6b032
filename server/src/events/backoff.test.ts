/**
 * Retry delays (capped exponential, equal jitter), dead-letter threshold and the environment policy.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY, retryDelayMs, retryPolicyFromEnv, shouldDeadLetter } from './backoff.ts';
import type { RetryPolicy } from './backoff.ts';

const P: RetryPolicy = { baseMs: 1_000, maxMs: 60_000, maxAttempts: 5 };

describe('retryDelayMs', () => {
  // [attempt, step]: the delay lies in [step/2, step].
  const steps: [number, number][] = [
    [1, 1_000],
    [2, 2_000],
    [3, 4_000],
    [4, 8_000],
    [6, 32_000],
    [7, 60_000],
    [8, 60_000],
    [100, 60_000],
    [5000, 60_000],
  ];
  for (const [attempt, step] of steps) {
    it(`attempt ${attempt}: step ${step}`, () => {
      expect(retryDelayMs(attempt, P, () => 0)).toBe(step / 2);
      expect(retryDelayMs(attempt, P, () => 0.5)).toBe((step * 3) / 4);
      expect(retryDelayMs(attempt, P, () => 0.999999)).toBeLessThanOrEqual(step);
      expect(retryDelayMs(attempt, P, () => 0.999999)).toBeGreaterThanOrEqual(step - 1);
    });
  }
  it('stays within [step/2, step] with Math.random', () => {
    for (let i = 0; i < 1000; i++) {
      const d = retryDelayMs(3, P);
      expect(d).toBeGreaterThanOrEqual(2_000);
      expect(d).toBeLessThanOrEqual(4_000);
      expect(Number.isInteger(d)).toBe(true);
    }
  });
  it('clamps a random source outside [0, 1]', () => {
    expect(retryDelayMs(1, P, () => -3)).toBe(500);
    expect(retryDelayMs(1, P, () => 7)).toBe(1_000);
  });
  it('defaults: 1 s first, capped at 5 min', () => {
    expect(retryDelayMs(1, DEFAULT_RETRY_POLICY, () => 0)).toBe(500);
    expect(retryDelayMs(10, DEFAULT_RETRY_POLICY, () => 0.999999)).toBeLessThanOrEqual(300_000);
    expect(retryDelayMs(10, DEFAULT_RETRY_POLICY, () => 0)).toBe(150_000);
  });
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    it(`refuses attempt ${bad}`, () => expect(() => retryDelayMs(bad, P)).toThrow(RangeError));
  }
});

describe('shouldDeadLetter', () => {
  const table: [number, boolean][] = [
    [1, false],
    [4, false],
    [5, true],
    [6, true],
  ];
  for (const [attempt, expected] of table)
    it(`attempt ${attempt} of 5 → ${expected}`, () => expect(shouldDeadLetter(attempt, P)).toBe(expected));
  it('maxAttempts 1: no retry at all', () => expect(shouldDeadLetter(1, { ...P, maxAttempts: 1 })).toBe(true));
  it('refuses attempt 0', () => expect(() => shouldDeadLetter(0, P)).toThrow(RangeError));
});

describe('retryPolicyFromEnv', () => {
  it('defaults when unset or empty', () => {
    expect(retryPolicyFromEnv({})).toEqual(DEFAULT_RETRY_POLICY);
    expect(retryPolicyFromEnv({ HAVEN_DELIVERY_RETRY_BASE_MS: '', HAVEN_DELIVERY_MAX_ATTEMPTS: ' ' })).toEqual(DEFAULT_RETRY_POLICY);
  });
  it('reads all three', () => {
    expect(
      retryPolicyFromEnv({ HAVEN_DELIVERY_RETRY_BASE_MS: '250', HAVEN_DELIVERY_RETRY_MAX_MS: '10000', HAVEN_DELIVERY_MAX_ATTEMPTS: '3' }),
    ).toEqual({ baseMs: 250, maxMs: 10_000, maxAttempts: 3 });
  });
  it('a base above the default cap raises the default cap with it', () => {
    expect(retryPolicyFromEnv({ HAVEN_DELIVERY_RETRY_BASE_MS: '600000' })).toMatchObject({ baseMs: 600_000, maxMs: 600_000 });
  });
  const bad: [Record<string, string>, RegExp][] = [
    [{ HAVEN_DELIVERY_RETRY_BASE_MS: 'soon' }, /HAVEN_DELIVERY_RETRY_BASE_MS must be a positive integer, got "soon"/],
    [{ HAVEN_DELIVERY_RETRY_BASE_MS: '0' }, /HAVEN_DELIVERY_RETRY_BASE_MS/],
    [{ HAVEN_DELIVERY_RETRY_MAX_MS: '-5' }, /HAVEN_DELIVERY_RETRY_MAX_MS/],
    [{ HAVEN_DELIVERY_RETRY_MAX_MS: '1e3' }, /HAVEN_DELIVERY_RETRY_MAX_MS/],
    [{ HAVEN_DELIVERY_MAX_ATTEMPTS: '2.5' }, /HAVEN_DELIVERY_MAX_ATTEMPTS/],
    [{ HAVEN_DELIVERY_MAX_ATTEMPTS: '99999999999999999999' }, /HAVEN_DELIVERY_MAX_ATTEMPTS/],
    [
      { HAVEN_DELIVERY_RETRY_BASE_MS: '5000', HAVEN_DELIVERY_RETRY_MAX_MS: '1000' },
      /HAVEN_DELIVERY_RETRY_BASE_MS \(5000\) must not exceed HAVEN_DELIVERY_RETRY_MAX_MS/,
    ],
  ];
  for (const [env, message] of bad) it(`refuses ${JSON.stringify(env)}`, () => expect(() => retryPolicyFromEnv(env)).toThrow(message));
});
