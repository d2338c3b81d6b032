/**
 * Configuration parsing (config.ts): HOST is an exact address or host name (nothing trimmed), the
 * HAVEN_AUTH=off loopback check parses the address instead of matching a prefix, and the auth rate limits
 * and HAVEN_TRUST_PROXY refuse malformed values with a message naming the variable.
 */
import { describe, expect, it } from 'vitest';
import { isLoopbackHost, loadConfig, parseHost } from './config.ts';

describe('isLoopbackHost', () => {
  const table: [string, boolean][] = [
    ['127.0.0.1', true],
    ['127.255.254.1', true],
    ['127.0.0.2', true],
    ['localhost', true],
    ['LOCALHOST', true],
    ['::1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:127.9.8.7', true],
    ['::ffff:7f00:1', true],
    ['0:0:0:0:0:ffff:7f00:1', true],
    // Not loopback: everything else, however close it looks.
    ['127.0.0.1 ', false],
    [' 127.0.0.1', false],
    ['127.0.0.1\t', false],
    ['127.1', false],
    ['127.0.0.1.example.com', false],
    ['127.evil.example', false],
    ['128.0.0.1', false],
    ['0.0.0.0', false],
    ['::', false],
    ['::2', false],
    ['::ffff:128.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['[::1]', false],
    ['localhost.example.com', false],
    ['mylocalhost', false],
    ['example.com', false],
    ['fe80::1%lo', false],
    ['', false],
  ];
  for (const [host, expected] of table) it(`${JSON.stringify(host)} → ${expected}`, () => expect(isLoopbackHost(host)).toBe(expected));
});

describe('HOST', () => {
  const valid = ['127.0.0.1', '0.0.0.0', '10.1.2.3', '::', '::1', '::ffff:127.0.0.1', 'localhost', 'haven.internal', 'db-1'];
  for (const host of valid) it(`accepts ${JSON.stringify(host)} as given`, () => expect(parseHost(host)).toBe(host));

  it('defaults to 127.0.0.1', () => {
    expect(parseHost(undefined)).toBe('127.0.0.1');
    expect(parseHost('')).toBe('127.0.0.1');
  });

  const invalid: [string, RegExp][] = [
    ['127.0.0.1 ', /HOST must be an IP address or a host name, got "127\.0\.0\.1 " \(remove the surrounding whitespace\)/],
    [' 127.0.0.1', /got " 127\.0\.0\.1" \(remove the surrounding whitespace\)/],
    ['127.0.0.1\n', /got "127\.0\.0\.1\\n"/],
    ['[::1]', /without brackets/],
    ['127.1', /HOST must be an IP address or a host name/],
    ['256.1.1.1', /HOST must be an IP address or a host name/],
    ['host name', /HOST must be/],
    ['http://localhost', /HOST must be/],
    ['localhost:8080', /HOST must be/],
    ['-bad.example', /HOST must be/],
  ];
  for (const [host, message] of invalid) {
    it(`refuses ${JSON.stringify(host)} at load, with or without HAVEN_AUTH=off`, () => {
      expect(() => loadConfig({ HOST: host })).toThrow(message);
      expect(() => loadConfig({ HOST: host, HAVEN_AUTH: 'off' })).toThrow(message);
    });
  }
});

describe('HAVEN_AUTH=off', () => {
  it('is allowed on loopback addresses, parsed', () => {
    for (const host of ['127.0.0.1', '127.3.2.1', '::1', '::ffff:127.0.0.1', 'localhost']) {
      expect(loadConfig({ HOST: host, HAVEN_AUTH: 'off' }).authOff).toBe(true);
    }
    expect(loadConfig({ HAVEN_AUTH: 'off' }).host).toBe('127.0.0.1');
  });

  it('is refused on any other address or name', () => {
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '::ffff:10.0.0.1', 'haven.internal', 'localhost.example.com']) {
      expect(() => loadConfig({ HOST: host, HAVEN_AUTH: 'off' })).toThrow(
        `HAVEN_AUTH=off is refused: HOST=${host} is not a loopback address`,
      );
    }
  });
});

describe('auth rate limits and hash bound', () => {
  it('has defaults', () => {
    const { authLimits } = loadConfig({});
    expect(authLimits.signInIp).toEqual({ count: 30, perSeconds: 60 });
    expect(authLimits.signInUser).toEqual({ count: 10, perSeconds: 60 });
    expect(authLimits.authorizeIp).toEqual({ count: 120, perSeconds: 60 });
    expect(authLimits.tokenIp).toEqual({ count: 300, perSeconds: 60 });
    expect(authLimits.tokenClient).toEqual({ count: 300, perSeconds: 60 });
    expect(authLimits.hashConcurrency).toBeGreaterThanOrEqual(1);
    expect(authLimits.hashConcurrency).toBeLessThanOrEqual(4);
    expect(authLimits.hashQueue).toBe(16);
  });

  it('reads COUNT/SECONDS, off and 0', () => {
    const { authLimits } = loadConfig({
      HAVEN_AUTH_RATE_SIGNIN_IP: '5/10',
      HAVEN_AUTH_RATE_SIGNIN_USER: 'off',
      HAVEN_AUTH_RATE_TOKEN_IP: '0',
      HAVEN_AUTH_HASH_CONCURRENCY: '2',
      HAVEN_AUTH_HASH_QUEUE: '0',
    });
    expect(authLimits.signInIp).toEqual({ count: 5, perSeconds: 10 });
    expect(authLimits.signInUser).toBeUndefined();
    expect(authLimits.tokenIp).toBeUndefined();
    expect(authLimits.hashConcurrency).toBe(2);
    expect(authLimits.hashQueue).toBe(0);
  });

  const invalid: [Record<string, string>, string][] = [
    [{ HAVEN_AUTH_RATE_SIGNIN_IP: '30' }, 'HAVEN_AUTH_RATE_SIGNIN_IP must be COUNT/SECONDS (e.g. 30/60) or off, got "30"'],
    [{ HAVEN_AUTH_RATE_TOKEN_CLIENT: '30/0' }, 'HAVEN_AUTH_RATE_TOKEN_CLIENT must be COUNT/SECONDS'],
    [{ HAVEN_AUTH_RATE_AUTHORIZE_IP: ' 30/60' }, 'HAVEN_AUTH_RATE_AUTHORIZE_IP must be COUNT/SECONDS'],
    [{ HAVEN_AUTH_RATE_SIGNIN_USER: '-1/60' }, 'HAVEN_AUTH_RATE_SIGNIN_USER must be COUNT/SECONDS'],
    [{ HAVEN_AUTH_HASH_CONCURRENCY: '0' }, 'HAVEN_AUTH_HASH_CONCURRENCY must be an integer >= 1, got "0"'],
    [{ HAVEN_AUTH_HASH_QUEUE: 'many' }, 'HAVEN_AUTH_HASH_QUEUE must be an integer >= 0, got "many"'],
  ];
  for (const [env, message] of invalid) it(`refuses ${JSON.stringify(env)}`, () => expect(() => loadConfig(env)).toThrow(message));
});

describe('HAVEN_TRUST_PROXY', () => {
  it('trusts no proxy by default', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ HAVEN_TRUST_PROXY: 'false' }).trustProxy).toBe(false);
  });

  it('reads a hop count or a list of addresses, subnets and named ranges', () => {
    expect(loadConfig({ HAVEN_TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ HAVEN_TRUST_PROXY: 'loopback, 10.0.0.0/8,fd00::/8,192.0.2.7' }).trustProxy).toEqual([
      'loopback',
      '10.0.0.0/8',
      'fd00::/8',
      '192.0.2.7',
    ]);
  });

  it('refuses true and malformed entries', () => {
    expect(() => loadConfig({ HAVEN_TRUST_PROXY: 'true' })).toThrow(/HAVEN_TRUST_PROXY=true is refused/);
    expect(() => loadConfig({ HAVEN_TRUST_PROXY: '10.0.0.0/33' })).toThrow(/"10\.0\.0\.0\/33" is none of these/);
    expect(() => loadConfig({ HAVEN_TRUST_PROXY: 'proxy.example' })).toThrow(/HAVEN_TRUST_PROXY must be/);
  });
});
