/**
 * IP addresses as bytes, and CIDR ranges over them. Pure: no DNS, no sockets.
 *
 * Text forms accepted are the canonical ones `net.isIP` accepts (dotted-quad IPv4, RFC 4291 §2.2 IPv6
 * including `::` compression and a trailing dotted quad), optionally in URL brackets and with an RFC 4007
 * zone id (`fe80::1%eth0`, dropped). Odd IPv4 spellings (`2130706433`, `0177.0.0.1`, `127.1`) are not
 * addresses here: the WHATWG URL parser turns them into dotted quads before a host reaches this module, and
 * `dns.lookup` answers only in canonical form.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** 4 bytes (IPv4) or 16 bytes (IPv6). */
export type IpBytes = Uint8Array;

/** An address range: the first `prefix` bits of `bytes`. */
export interface Cidr {
  readonly bytes: IpBytes;
  readonly prefix: number;
}

function stripHost(text: string): string {
  return text
    .trim()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/%.*$/, '');
}

function parseV4(text: string): IpBytes {
  return Uint8Array.from(text.split('.').map(Number));
}

function parseV6(text: string): IpBytes {
  // A trailing dotted quad (`::ffff:127.0.0.1`, RFC 4291 §2.2 form 3) is the last two groups.
  const quad = /:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  let hex = text;
  if (quad) {
    const [a, b, c, d] = parseV4(quad[1]);
    hex = `${text.slice(0, quad.index)}:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = hex.includes('::') ? hex.split('::') : [hex, undefined];
  const headWords = head ? head.split(':') : [];
  const tailWords = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? 0 : 8 - headWords.length - tailWords.length;
  const words = [...headWords, ...Array<string>(zeros).fill('0'), ...tailWords].map((w) => Number.parseInt(w, 16));
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[i * 2] = w >> 8;
    bytes[i * 2 + 1] = w & 0xff;
  });
  return bytes;
}

/** The bytes of an IP address, or undefined when `text` is not one. */
export function parseIp(text: string): IpBytes | undefined {
  const host = stripHost(text);
  if (isIPv4(host)) return parseV4(host);
  if (isIPv6(host)) return parseV6(host.toLowerCase());
  return undefined;
}

/** Canonical text of an address (dotted quad, or RFC 5952 compressed IPv6). */
export function formatIp(bytes: IpBytes): string {
  if (bytes.length === 4) return bytes.join('.');
  const words = Array.from({ length: 8 }, (_, i) => (bytes[i * 2] << 8) | bytes[i * 2 + 1]);
  // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first one on a tie.
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > best.len && j - i >= 2) best = { at: i, len: j - i };
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}

/**
 * The IPv4 address an IPv6 address stands for, when it is an IPv4-mapped (`::ffff:0:0/96`, RFC 4291 §2.5.5.2)
 * or IPv4-compatible (`::/96`, deprecated, but some stacks still route it) address. Other embeddings (NAT64,
 * 6to4) are the classifier's business: they name another host's path to that IPv4 address.
 */
export function mappedV4(bytes: IpBytes): IpBytes | undefined {
  if (bytes.length !== 16) return undefined;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return undefined;
  const ffff = bytes[10] === 0xff && bytes[11] === 0xff;
  const zero = bytes[10] === 0 && bytes[11] === 0;
  if (!ffff && !zero) return undefined;
  // `::` and `::1` are IPv6's own unspecified and loopback addresses, not IPv4-compatible ones.
  if (zero && bytes[12] === 0 && bytes[13] === 0 && bytes[14] === 0 && bytes[15] <= 1) return undefined;
  return bytes.slice(12);
}

/** Parses `a.b.c.d/n`, `x::/n` or a single address (a full-length prefix); undefined when malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const [addr, len, extra] = text.trim().split('/');
  if (extra !== undefined) return undefined;
  const bytes = parseIp(addr);
  if (!bytes) return undefined;
  const max = bytes.length * 8;
  if (len === undefined) return { bytes, prefix: max };
  if (!/^\d{1,3}$/.test(len) || Number(len) > max) return undefined;
  return { bytes, prefix: Number(len) };
}

/** True when `bytes` lies in `range` (same family only; callers unwrap IPv4-mapped addresses first). */
export function inCidr(bytes: IpBytes, range: Cidr): boolean {
  if (bytes.length !== range.bytes.length) return false;
  let bits = range.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i] & mask) !== (range.bytes[i] & mask)) return false;
  }
  return true;
}

/** Shorthand for tables of ranges: `cidr('10.0.0.0/8')`; throws on a malformed literal (a programming error). */
export function cidr(text: string): Cidr {
  const c = parseCidr(text);
  if (!c) throw new Error(`malformed CIDR literal ${text}`);
  return c;
}
