/**
 * Which redirect, launch and JWKS URLs a registration accepts (clients.ts `isAcceptableUrl`): https, or http
 * only on a loopback host, decided on the parsed host, never on a prefix of a name.
 */
import { describe, expect, it } from 'vitest';
import { isAcceptableUrl } from './clients.ts';

describe('isAcceptableUrl', () => {
  const table: [string, boolean][] = [
    ['https://app.example/cb', true],
    ['https://127.example.com/cb', true],
    ['http://localhost:3000/cb', true],
    ['http://127.0.0.1:7001/cb', true],
    ['http://127.9.8.7/cb', true],
    ['http://127.1/cb', true],
    ['http://[::1]:8080/cb', true],
    // http on anything that is not a loopback address
    ['http://127.evil.example/cb', false],
    ['http://127.0.0.1.nip.io/cb', false],
    ['http://app.example/cb', false],
    ['http://128.0.0.1/cb', false],
    ['http://localhost.example.com/cb', false],
    // never: fragments, credentials, other schemes, garbage
    ['https://app.example/cb#frag', false],
    ['https://user:pw@app.example/cb', false],
    ['ftp://app.example/cb', false],
    ['not a url', false],
  ];
  for (const [url, ok] of table) it(`${url} → ${ok}`, () => expect(isAcceptableUrl(url)).toBe(ok));
});
