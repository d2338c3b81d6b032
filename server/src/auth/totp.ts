/**
 * One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238) with node:crypto, and the base32 (RFC 4648 §6)
 * that authenticator apps use for seeds.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 §6 base32 without padding. */
export function base32Encode(buf: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

/** Decodes base32 (case-insensitive, padding and spaces ignored). @throws Error on other characters. */
export function base32Decode(text: string): Buffer {
  const clean = text.toUpperCase().replace(/[=\s]/g, '');
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of clean) {
    const i = B32.indexOf(ch);
    if (i < 0) throw new Error('Invalid base32');
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** HOTP value (RFC 4226 §5.3: HMAC, dynamic truncation, modulo 10^digits). */
export function hotp(key: Buffer, counter: bigint, digits = 6, algorithm: 'sha1' | 'sha256' | 'sha512' = 'sha1'): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(counter);
  const mac = createHmac(algorithm, key).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(bin % 10 ** digits).padStart(digits, '0');
}

/** TOTP time step (RFC 6238 §4.2: T = floor((unixTime - T0) / X), T0 = 0, X = 30 s). */
export function totpStep(unixSeconds: number, stepSeconds = 30): bigint {
  return BigInt(Math.floor(unixSeconds / stepSeconds));
}

/** TOTP value at a time (RFC 6238 §4). */
export function totp(key: Buffer, unixSeconds: number, digits = 6, algorithm: 'sha1' | 'sha256' | 'sha512' = 'sha1'): string {
  return hotp(key, totpStep(unixSeconds), digits, algorithm);
}

/**
 * Checks a 6-digit code against the steps around `unixSeconds` (±1 step for clock drift, RFC 6238 §5.2)
 * that come after `lastStep`, so a code is never accepted twice (RFC 6238 §5.2: "MUST NOT" re-accept).
 * @returns the accepted step, or undefined.
 */
export function verifyTotp(key: Buffer, code: string, unixSeconds: number, lastStep: bigint | undefined): bigint | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const now = totpStep(unixSeconds);
  let accepted: bigint | undefined;
  for (const step of [now - 1n, now, now + 1n]) {
    const expected = Buffer.from(hotp(key, step));
    // Every candidate is compared (no early exit), in constant time.
    if (timingSafeEqual(expected, Buffer.from(code)) && (lastStep === undefined || step > lastStep)) accepted ??= step;
  }
  return accepted;
}

/** A new 160-bit TOTP seed (RFC 4226 §4 recommends 160 bits). */
export function newTotpSeed(): Buffer {
  return randomBytes(20);
}

/** The otpauth:// URI authenticator apps scan (Key Uri Format, de-facto standard). */
export function otpauthUri(seed: Buffer, account: string, issuer = 'Haven'): string {
  return `otpauth://totp/${encodeURIComponent(issuer)}:${encodeURIComponent(account)}?secret=${base32Encode(seed)}&issuer=${encodeURIComponent(issuer)}&algorithm=SHA1&digits=6&period=30`;
}
