/**
 * Which URLs and addresses Haven may send requests to when someone else chose the URL (DESIGN.md "Outbound
 * requests"): rest-hook endpoints, remote JWKS, later EHR bases. Pure decisions; the request itself is made by
 * ./guarded-request.ts, which resolves the host once, asks {@link checkAddresses}, and connects to the checked
 * addresses only.
 *
 * Refused unless the operator allow-list (HAVEN_OUTBOUND_ALLOW) names them: every class but `public`
 * (./address-class.ts), opened by a host-name entry or a range holding the address; this machine's own interface
 * addresses, opened only by the host's name or an entry for that exact address (a partner range that happens to
 * hold this server must not open its other listeners); metadata addresses, opened only by an entry for that
 * exact address. Never opened: unspecified, broadcast and multicast addresses, which are no single remote host. Loopback is opened for tests and local
 * development by `allowLoopback` (HAVEN_SUBSCRIPTION_ALLOW_LOOPBACK).
 */
import { AddressClass, classifyBytes, classifyHostname, embeddedV4, normalizeHostname } from './address-class.ts';
import { formatIp, inCidr, parseCidr, parseIp, type Cidr, type IpBytes } from './ip.ts';

/** One operator allow-list entry. */
export type AllowEntry =
  | { readonly kind: 'cidr'; readonly range: Cidr; readonly text: string }
  /** An exact host name, or every subdomain of `name` when `subdomains` (written `*.example.org`). */
  | { readonly kind: 'host'; readonly name: string; readonly subdomains: boolean; readonly text: string };

/** The outbound rules of one kind of request. */
export interface OutboundPolicy {
  /** Operator allow-list: hosts and ranges that may be called although their addresses are not public. */
  readonly allow: readonly AllowEntry[];
  /** Loopback addresses may be called (tests and local development only). */
  readonly allowLoopback: boolean;
  /** `http:` URLs are accepted besides `https:`. */
  readonly allowHttp: boolean;
}

/** Why a URL or address is refused (for the server log and a creation-time 400; never sent to a receiver). */
export type Refusal =
  | { readonly kind: 'url'; readonly message: string }
  | { readonly kind: 'address'; readonly class: AddressClass | 'own'; readonly address: string };

const HOST_ENTRY = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * Parses HAVEN_OUTBOUND_ALLOW: comma-separated host names (`ehr.partner.internal`), subdomain wildcards
 * (`*.partner.internal`), addresses (`10.20.0.5`) and CIDR ranges (`10.20.0.0/16`, `fd12:3456::/48`).
 * @throws Error naming the first malformed entry.
 */
export function parseAllowList(raw: string | undefined): AllowEntry[] {
  const out: AllowEntry[] = [];
  for (const item of (raw ?? '').split(',')) {
    const text = item.trim();
    if (text === '') continue;
    const range = parseCidr(text);
    if (range) {
      out.push({ kind: 'cidr', range, text });
      continue;
    }
    const host = normalizeHostname(text);
    if (!HOST_ENTRY.test(host) || /^[\d.]+$/.test(host)) {
      throw new Error(`HAVEN_OUTBOUND_ALLOW: "${text}" is neither a host name, *.domain, an IP address nor a CIDR range`);
    }
    const subdomains = host.startsWith('*.');
    out.push({ kind: 'host', name: subdomains ? host.slice(2) : host, subdomains, text });
  }
  return out;
}

/** True when the allow-list names this host (exactly, or through a `*.domain` entry). */
export function hostAllowed(hostname: string, allow: readonly AllowEntry[]): boolean {
  const host = normalizeHostname(hostname);
  return allow.some((e) => e.kind === 'host' && (e.subdomains ? host.endsWith(`.${e.name}`) : host === e.name));
}

/** True when an allow-list range holds the address (IPv4-mapped forms are matched as IPv4 too). */
function rangeAllowed(bytes: IpBytes, allow: readonly AllowEntry[], exactOnly: boolean): boolean {
  const v4 = embeddedV4(bytes);
  return allow.some(
    (e) =>
      e.kind === 'cidr' &&
      (!exactOnly || e.range.prefix === e.range.bytes.length * 8) &&
      (inCidr(bytes, e.range) || (v4 !== undefined && inCidr(v4, e.range))),
  );
}

/** Classes no allow-list entry opens: none of them is one remote host. */
const NEVER: ReadonlySet<AddressClass> = new Set([AddressClass.Unspecified, AddressClass.Broadcast, AddressClass.Multicast]);

/**
 * Decides one resolved address of `hostname`; undefined when it may be called.
 * @param own canonical addresses of this machine's interfaces (./own-addresses.ts).
 */
export function checkAddress(hostname: string, address: string, policy: OutboundPolicy, own: ReadonlySet<string>): Refusal | undefined {
  const bytes = parseIp(address);
  if (!bytes) return { kind: 'address', class: AddressClass.Reserved, address };
  const canonical = formatIp(bytes);
  const v4 = embeddedV4(bytes);
  const cls = classifyBytes(bytes);
  const refuse = (c: AddressClass | 'own'): Refusal => ({ kind: 'address', class: c, address: canonical });
  if (NEVER.has(cls)) return refuse(cls);
  if (cls === AddressClass.Metadata) return rangeAllowed(bytes, policy.allow, true) ? undefined : refuse(cls);
  if (cls === AddressClass.Loopback && policy.allowLoopback) return undefined;
  // This machine's own addresses reach this server's other listeners: like metadata, a broad range does not open
  // them, only the host's name or that exact address.
  if (own.has(canonical) || (v4 !== undefined && own.has(formatIp(v4)))) {
    return hostAllowed(hostname, policy.allow) || rangeAllowed(bytes, policy.allow, true)
      ? undefined
      : refuse(cls === AddressClass.Public ? 'own' : cls);
  }
  if (cls === AddressClass.Public) return undefined;
  return hostAllowed(hostname, policy.allow) || rangeAllowed(bytes, policy.allow, false) ? undefined : refuse(cls);
}

/**
 * Decides every address a host resolved to: one refused address refuses the host (a name that resolves to a
 * public and a private address would otherwise reach the private one whenever the connection picks it).
 */
export function checkAddresses(
  hostname: string,
  addresses: readonly string[],
  policy: OutboundPolicy,
  own: ReadonlySet<string>,
): Refusal | undefined {
  if (addresses.length === 0) return { kind: 'url', message: 'the host has no address' };
  for (const a of addresses) {
    const why = checkAddress(hostname, a, policy, own);
    if (why) return why;
  }
  return undefined;
}

/**
 * Checks a URL before any lookup: absolute `https:` (`http:` only with `allowHttp`), no user info (secrets go in
 * headers, not in URLs that end up in logs and resources), and a host that is not already refused by its name
 * (`localhost`, metadata names) or, for an IP literal, by its address. The WHATWG URL parser has already turned
 * odd IPv4 spellings (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`) into dotted quads.
 */
export function checkUrl(url: string, policy: OutboundPolicy, own: ReadonlySet<string>): { url: URL } | { refusal: Refusal } {
  const parsed = URL.parse(url);
  const fail = (message: string) => ({ refusal: { kind: 'url', message } as const });
  if (!parsed) return fail('must be an absolute URL');
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return fail(`must be an https URL, not ${parsed.protocol}`);
  if (parsed.protocol === 'http:' && !policy.allowHttp) return fail('must use https');
  if (parsed.username || parsed.password) return fail('must not contain credentials');
  if (!parsed.hostname) return fail('must name a host');
  const host = normalizeHostname(parsed.hostname);
  const named = classifyHostname(host);
  if (named === AddressClass.Metadata) return { refusal: { kind: 'address', class: named, address: host } };
  if (named === AddressClass.Loopback && !policy.allowLoopback && !hostAllowed(host, policy.allow)) {
    return { refusal: { kind: 'address', class: named, address: host } };
  }
  if (parseIp(host)) {
    const why = checkAddress(host, host, policy, own);
    if (why) return { refusal: why };
  }
  return { url: parsed };
}

/** A one-line description of a refusal for a creation-time error (no resolved address: that is for the log). */
export function describeRefusal(r: Refusal): string {
  if (r.kind === 'url') return r.message;
  return "resolves to an address Haven does not call (loopback, private, link-local, shared, unique-local, multicast, metadata or one of this server's own addresses); an operator can allow a partner host with HAVEN_OUTBOUND_ALLOW";
}
