/**
 * The client address that rate limits count by, and which proxies may tell it (HAVEN_TRUST_PROXY).
 *
 * By default no `X-Forwarded-For` is believed: anyone can send that header, so trusting it would let each
 * request pick a fresh address and escape every per-address limit. Behind a reverse proxy or load balancer,
 * name the proxies (or how many there are) and Express takes the address the nearest trusted proxy saw.
 */
import { isIP } from 'node:net';
import type { Request } from 'express';

/** What Express's `trust proxy` setting receives: off, a hop count, or trusted addresses/subnets. */
export type TrustProxy = false | number | readonly string[];

const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isSubnet(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return isIP(s) !== 0;
  const addr = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const family = isIP(addr);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * Reads HAVEN_TRUST_PROXY: unset, `false` or `0` (default: the socket's address counts), a number of proxy
 * hops (1-99), or a comma-separated list of proxy addresses, CIDR subnets and the names `loopback`,
 * `linklocal`, `uniquelocal`. `true` (believe any X-Forwarded-For) is refused: it lets clients choose their
 * own address.
 * @throws Error with a readable message.
 */
export function trustProxyFromEnv(env: NodeJS.ProcessEnv): TrustProxy {
  const raw = env.HAVEN_TRUST_PROXY;
  if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return false;
  if (/^[1-9]\d?$/.test(raw)) return Number(raw);
  if (raw === 'true')
    throw new Error(
      'HAVEN_TRUST_PROXY=true is refused: it would believe any X-Forwarded-For a client sends. Give the number of proxies or their addresses',
    );
  const items = raw.split(',').map((s) => s.trim());
  const bad = items.find((s) => !NAMED_RANGES.has(s) && !isSubnet(s));
  if (bad !== undefined)
    throw new Error(
      `HAVEN_TRUST_PROXY must be false, a number of proxies, or a comma-separated list of addresses, subnets (CIDR) and loopback, linklocal, uniquelocal; "${bad}" is none of these`,
    );
  return items;
}

/** The eight 16-bit groups of an IPv6 address, or undefined. */
function ipv6Groups(address: string): number[] | undefined {
  let s = address.split('%')[0].toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    s = `${s.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail].map((g) => Number.parseInt(g, 16));
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/**
 * The rate-limit key of a client address: an IPv4 address as is (IPv4-mapped IPv6 included), an IPv6
 * address by its /64 prefix (one subscriber usually holds a whole /64 and could otherwise rotate addresses
 * within it at will), anything else as given.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped && isIP(mapped[1]) === 4) return mapped[1];
  if (isIP(address) === 4) return address;
  if (isIP(address) === 6) {
    const g = ipv6Groups(address);
    if (g) {
      if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `${g[6] >> 8}.${g[6] & 0xff}.${g[7] >> 8}.${g[7] & 0xff}`;
      return `${g
        .slice(0, 4)
        .map((x) => x.toString(16))
        .join(':')}::/64`;
    }
  }
  return address;
}

/** The rate-limit key of the request's client (Express `req.ip`, which honours `trust proxy`). */
export function clientKey(req: Request): string {
  return addressKey(req.ip ?? req.socket.remoteAddress ?? 'unknown');
}
