/**
 * HOTP and TOTP against the test vectors of RFC 4226 Appendix D and RFC 6238 Appendix B, base32 per
 * RFC 4648 §10, and the replay and drift rules of verifyTotp.
 */
import { describe, expect, it } from 'vitest';
import { base32Decode, base32Encode, hotp, totp, verifyTotp } from './totp.ts';

const SEED20 = Buffer.from('12345678901234567890');
const SEED32 = Buffer.from('12345678901234567890123456789012');
const SEED64 = Buffer.from('1234567890123456789012345678901234567890123456789012345678901234');

describe('RFC 4226 Appendix D (HOTP)', () => {
  const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
  for (const [count, value] of expected.entries()) {
    it(`count ${count} → ${value}`, () => expect(hotp(SEED20, BigInt(count))).toBe(value));
  }
});

describe('RFC 6238 Appendix B (TOTP, 8 digits)', () => {
  const table: [number, string, string, string][] = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826'],
  ];
  for (const [t, sha1, sha256, sha512] of table) {
    it(`T=${t}`, () => {
      expect(totp(SEED20, t, 8, 'sha1')).toBe(sha1);
      expect(totp(SEED32, t, 8, 'sha256')).toBe(sha256);
      expect(totp(SEED64, t, 8, 'sha512')).toBe(sha512);
    });
  }
});

describe('base32 (RFC 4648 §10)', () => {
  const vectors: [string, string][] = [
    ['', ''],
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ];
  for (const [plain, encoded] of vectors) {
    it(`"${plain}"`, () => {
      expect(base32Encode(Buffer.from(plain))).toBe(encoded);
      expect(base32Decode(`${encoded}===`).toString()).toBe(plain);
    });
  }
  it('round-trips a seed', () => expect(base32Decode(base32Encode(SEED20)).equals(SEED20)).toBe(true));
  it('rejects other characters', () => expect(() => base32Decode('MZ1')).toThrow());
});

describe('verifyTotp', () => {
  const now = 1_700_000_000;
  it('accepts the current code and one step of drift either way', () => {
    for (const dt of [-30, 0, 30]) expect(verifyTotp(SEED20, totp(SEED20, now + dt), now, undefined)).toBeDefined();
  });
  it('refuses two steps of drift, malformed codes, and a code at or before the last accepted step', () => {
    expect(verifyTotp(SEED20, totp(SEED20, now - 60), now, undefined)).toBeUndefined();
    expect(verifyTotp(SEED20, '12345', now, undefined)).toBeUndefined();
    expect(verifyTotp(SEED20, 'abcdef', now, undefined)).toBeUndefined();
    const step = verifyTotp(SEED20, totp(SEED20, now), now, undefined)!;
    expect(verifyTotp(SEED20, totp(SEED20, now), now, step)).toBeUndefined();
  });
});
