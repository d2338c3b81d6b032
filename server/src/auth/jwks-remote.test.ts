/**
 * Remote JWKS fetches go through the outbound guard: a client registered with a JWKS URL cannot make the token
 * endpoint call loopback, private or metadata addresses, nor follow a redirect there.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllowList } from '../net/outbound-policy.ts';
import { cacheLifetimeMs, jwksOutbound, RemoteJwksCache } from './jwks-remote.ts';

let server: Server;
let base: string;
let hits = 0;
let jwks: unknown;

beforeAll(async () => {
  const { publicKey } = await generateKeyPair('ES384');
  jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES384', use: 'sig' }] };
  server = createServer((req, res) => {
    hits++;
    if (req.url === '/redirect') res.writeHead(302, { location: '/jwks.json' }).end();
    else res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('RemoteJwksCache', () => {
  it('refuses a loopback JWKS URL unless the operator allow-list names it', async () => {
    hits = 0;
    const strict = new RemoteJwksCache({ outbound: jwksOutbound({ outbound: { allow: [] } }) });
    await expect(strict.keysFor(`${base}/jwks.json`, 'k1')).rejects.toThrow(/not fetched \(refused\)/);
    expect(hits).toBe(0);
    const allowed = new RemoteJwksCache({ outbound: jwksOutbound({ outbound: { allow: parseAllowList('127.0.0.1') } }) });
    expect(await allowed.keysFor(`${base}/jwks.json`, 'k1')).toHaveLength(1);
    expect(hits).toBe(1);
  });

  for (const address of ['10.0.0.8', '169.254.169.254', 'fd00:ec2::254', '100.64.0.1', 'fe80::1']) {
    it(`refuses a JWKS host that resolves to ${address}, without connecting`, async () => {
      const cache = new RemoteJwksCache({ outbound: jwksOutbound({ outbound: { allow: [] } }), resolve: async () => [address] });
      await expect(cache.keysFor('https://keys.partner.example/jwks.json', 'k1')).rejects.toThrow(/refused/);
    });
  }

  it('refuses metadata URLs by name and address', async () => {
    const cache = new RemoteJwksCache({ outbound: jwksOutbound({ outbound: { allow: [] } }) });
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://metadata.google.internal/x', 'http://[fd00:ec2::254]/']) {
      await expect(cache.keysFor(url, 'k1')).rejects.toThrow(/refused/);
    }
  });

  it('follows no redirect', async () => {
    const cache = new RemoteJwksCache({ outbound: jwksOutbound({ outbound: { allow: parseAllowList('127.0.0.1') } }) });
    await expect(cache.keysFor(`${base}/redirect`, 'k1')).rejects.toThrow(/answered 302/);
  });
});

describe('cacheLifetimeMs', () => {
  const table: [string | null, number][] = [
    [null, 300_000],
    ['max-age=60', 60_000],
    ['public, max-age=99999', 3_600_000],
    ['no-store', 0],
    ['no-cache', 0],
  ];
  for (const [cc, ms] of table) it(`${cc} → ${ms}`, () => expect(cacheLifetimeMs(cc)).toBe(ms));
});
