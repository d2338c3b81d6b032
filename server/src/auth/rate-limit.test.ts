/**
 * The token-bucket limiter (rate-limit.ts) with an injected clock, the rate setting's syntax, and the
 * address keys it counts by (client-ip.ts).
 */
import { describe, expect, it } from 'vitest';
import { addressKey } from './client-ip.ts';
import { RateLimiter, parseRate } from './rate-limit.ts';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('RateLimiter', () => {
  it('allows a burst of count, then one request per perSeconds/count', () => {
    const c = clock();
    const l = new RateLimiter({ count: 3, perSeconds: 60 }, { now: c.now });
    expect([l.take('a'), l.take('a'), l.take('a')].every((d) => d.allowed)).toBe(true);
    expect(l.take('a')).toEqual({ allowed: false, retryAfterS: 20, first: true });
    c.advance(19_999);
    expect(l.take('a')).toEqual({ allowed: false, retryAfterS: 1, first: false });
    c.advance(1);
    expect(l.take('a').allowed).toBe(true);
    expect(l.take('a')).toMatchObject({ allowed: false, first: true });
  });

  it('keeps keys apart', () => {
    const c = clock();
    const l = new RateLimiter({ count: 1, perSeconds: 10 }, { now: c.now });
    expect(l.take('a').allowed).toBe(true);
    expect(l.take('a').allowed).toBe(false);
    expect(l.take('b').allowed).toBe(true);
  });

  it('refills no further than count, however long the pause', () => {
    const c = clock();
    const l = new RateLimiter({ count: 2, perSeconds: 1 }, { now: c.now });
    l.take('a');
    c.advance(3_600_000);
    expect([l.take('a'), l.take('a'), l.take('a')].map((d) => d.allowed)).toEqual([true, true, false]);
  });

  it('reports whole seconds, at least 1, for Retry-After', () => {
    const c = clock();
    const l = new RateLimiter({ count: 10, perSeconds: 1 }, { now: c.now });
    for (let i = 0; i < 10; i++) l.take('a');
    expect(l.take('a')).toMatchObject({ allowed: false, retryAfterS: 1 });
    const slow = new RateLimiter({ count: 2, perSeconds: 3600 }, { now: c.now });
    slow.take('a');
    slow.take('a');
    expect(slow.take('a')).toMatchObject({ allowed: false, retryAfterS: 1800 });
  });

  it('allows everything without a spec', () => {
    const l = new RateLimiter(undefined);
    for (let i = 0; i < 1000; i++) expect(l.take('a').allowed).toBe(true);
    expect(l.size).toBe(0);
  });

  it('forgets the least recently used key beyond maxKeys (memory stays bounded)', () => {
    const c = clock();
    const l = new RateLimiter({ count: 1, perSeconds: 60 }, { now: c.now, maxKeys: 2 });
    l.take('a');
    l.take('b');
    l.take('a'); // a is now the most recent
    l.take('c'); // forgets b
    expect(l.size).toBe(2);
    expect(l.take('a').allowed).toBe(false);
    expect(l.take('b').allowed).toBe(true);
  });
});

describe('parseRate', () => {
  const fallback = { count: 5, perSeconds: 60 };
  const table: [string | undefined, ReturnType<typeof parseRate> | RegExp][] = [
    [undefined, fallback],
    ['', fallback],
    ['off', undefined],
    ['0', undefined],
    ['30/60', { count: 30, perSeconds: 60 }],
    ['1/1', { count: 1, perSeconds: 1 }],
    ['30', /X must be COUNT\/SECONDS \(e\.g\. 30\/60\) or off, got "30"/],
    ['0/60', /COUNT\/SECONDS/],
    ['30/0', /COUNT\/SECONDS/],
    ['30/60s', /COUNT\/SECONDS/],
    ['1.5/60', /COUNT\/SECONDS/],
    ['30/60 ', /COUNT\/SECONDS/],
    ['1e3/60', /COUNT\/SECONDS/],
    ['9999999999/60', /COUNT\/SECONDS/],
  ];
  for (const [raw, want] of table) {
    it(`${JSON.stringify(raw)}`, () => {
      if (want instanceof RegExp) expect(() => parseRate('X', raw, fallback)).toThrow(want);
      else expect(parseRate('X', raw, fallback)).toEqual(want);
    });
  }
});

describe('addressKey', () => {
  const table: [string, string][] = [
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['::FFFF:127.0.0.1', '127.0.0.1'],
    ['0:0:0:0:0:ffff:cb00:7109', '203.0.113.9'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002:0:0:0:9', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['unknown', 'unknown'],
  ];
  for (const [address, key] of table) it(`${address} → ${key}`, () => expect(addressKey(address)).toBe(key));
});
