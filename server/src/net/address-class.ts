/**
 * What kind of host an IP address or a host name is, for the outbound guard (./outbound-policy.ts). Pure and
 * table-tested (./address-class.test.ts).
 *
 * Sources: RFC 6890 and the IANA special-purpose address registries (IPv4 and IPv6), RFC 1918 (private),
 * RFC 6598 (shared address space, "CGNAT"), RFC 3927 / RFC 4291 §2.5.6 (link-local), RFC 4193 (unique local),
 * RFC 6052 (NAT64 well-known prefix), RFC 8215 (local-use NAT64), RFC 3056 (6to4), RFC 4380 (Teredo), and the
 * cloud providers' documented instance-metadata endpoints.
 */
import { cidr, formatIp, inCidr, mappedV4, parseIp, type Cidr, type IpBytes } from './ip.ts';

/** Address classes. Only `public` is called without an operator's allow-list entry. */
export const AddressClass = {
  Public: 'public',
  Loopback: 'loopback',
  Private: 'private',
  LinkLocal: 'link-local',
  Cgnat: 'cgnat',
  UniqueLocal: 'unique-local',
  Multicast: 'multicast',
  Unspecified: 'unspecified',
  Broadcast: 'broadcast',
  /** Cloud instance metadata and similar host-local control endpoints: credentials live there. */
  Metadata: 'metadata',
  /** Special-purpose ranges that are not routable destinations (documentation, benchmarking, 0/8, 240/4…). */
  Reserved: 'reserved',
} as const;
export type AddressClass = (typeof AddressClass)[keyof typeof AddressClass];

/**
 * Instance-metadata and host-control addresses (AWS IMDS v4/v6, ECS task and EKS pod-identity agents, AWS
 * DNS/NTP, GCP/Azure/OCI/DigitalOcean IMDS at 169.254.169.254, Azure WireServer, Alibaba Cloud). Checked first:
 * an allow-list entry for a private or link-local range does not open these (./outbound-policy.ts).
 */
export const METADATA_ADDRESSES: readonly string[] = [
  '169.254.169.254',
  '169.254.169.253',
  '169.254.169.123',
  '169.254.170.2',
  '169.254.170.23',
  '168.63.129.16',
  '100.100.100.200',
  'fd00:ec2::254',
  'fd00:ec2::253',
  'fd00:ec2::123',
  'fd00:ec2::23',
];
const METADATA = METADATA_ADDRESSES.map((a) => cidr(a));

/** Metadata service host names (GCP, AWS, Azure, Alibaba, generic); lower case, no trailing dot. */
export const METADATA_HOSTNAMES: ReadonlySet<string> = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'metadata.internal',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.azure.internal',
  'metadata.tencentyun.com',
]);

const V4: readonly [Cidr, AddressClass][] = [
  [cidr('0.0.0.0/32'), AddressClass.Unspecified],
  [cidr('255.255.255.255/32'), AddressClass.Broadcast],
  [cidr('0.0.0.0/8'), AddressClass.Reserved], // "this network" (RFC 791): connecting to 0.x reaches this host on Linux
  [cidr('10.0.0.0/8'), AddressClass.Private],
  [cidr('172.16.0.0/12'), AddressClass.Private],
  [cidr('192.168.0.0/16'), AddressClass.Private],
  [cidr('127.0.0.0/8'), AddressClass.Loopback],
  [cidr('169.254.0.0/16'), AddressClass.LinkLocal],
  [cidr('100.64.0.0/10'), AddressClass.Cgnat],
  [cidr('224.0.0.0/4'), AddressClass.Multicast],
  [cidr('240.0.0.0/4'), AddressClass.Reserved],
  [cidr('192.0.0.0/24'), AddressClass.Reserved], // IETF protocol assignments
  [cidr('192.0.2.0/24'), AddressClass.Reserved], // TEST-NET-1
  [cidr('198.51.100.0/24'), AddressClass.Reserved], // TEST-NET-2
  [cidr('203.0.113.0/24'), AddressClass.Reserved], // TEST-NET-3
  [cidr('198.18.0.0/15'), AddressClass.Reserved], // benchmarking
  [cidr('192.88.99.0/24'), AddressClass.Reserved], // 6to4 relay anycast (deprecated)
];

const V6: readonly [Cidr, AddressClass][] = [
  [cidr('::/128'), AddressClass.Unspecified],
  [cidr('::1/128'), AddressClass.Loopback],
  [cidr('fc00::/7'), AddressClass.UniqueLocal],
  [cidr('fe80::/10'), AddressClass.LinkLocal],
  [cidr('fec0::/10'), AddressClass.Private], // site-local (deprecated, RFC 3879), still routed inside sites
  [cidr('ff00::/8'), AddressClass.Multicast],
  [cidr('64:ff9b:1::/48'), AddressClass.Private], // local-use NAT64 (RFC 8215): a private translator
  [cidr('100::/64'), AddressClass.Reserved], // discard-only
  [cidr('2001::/32'), AddressClass.Reserved], // Teredo: the IPv4 end is obfuscated, so it cannot be checked
  [cidr('2001:db8::/32'), AddressClass.Reserved], // documentation
  [cidr('2001:2::/48'), AddressClass.Reserved], // benchmarking
];
const GLOBAL_UNICAST = cidr('2000::/3');
const NAT64 = cidr('64:ff9b::/96');
const SIX_TO_FOUR = cidr('2002::/16');

function classifyV4(bytes: IpBytes): AddressClass {
  if (METADATA.some((m) => inCidr(bytes, m))) return AddressClass.Metadata;
  return V4.find(([range]) => inCidr(bytes, range))?.[1] ?? AddressClass.Public;
}

/**
 * The IPv4 address whose class an IPv6 address carries: IPv4-mapped and -compatible forms reach that host
 * directly; NAT64 (RFC 6052 well-known prefix) and 6to4 (RFC 3056) reach it through a translator or relay, which
 * would carry a request to 127.0.0.1 or 10.0.0.1 on the far side just the same.
 */
export function embeddedV4(bytes: IpBytes): IpBytes | undefined {
  if (bytes.length !== 16) return undefined;
  const mapped = mappedV4(bytes);
  if (mapped) return mapped;
  if (inCidr(bytes, NAT64)) return bytes.slice(12);
  if (inCidr(bytes, SIX_TO_FOUR)) return bytes.slice(2, 6);
  return undefined;
}

/** The class of an address given as bytes. */
export function classifyBytes(bytes: IpBytes): AddressClass {
  if (bytes.length === 4) return classifyV4(bytes);
  if (METADATA.some((m) => inCidr(bytes, m))) return AddressClass.Metadata;
  const v4 = embeddedV4(bytes);
  if (v4) {
    const inner = classifyV4(v4);
    // A NAT64 or 6to4 address of a public IPv4 host is an ordinary public route.
    return inner;
  }
  const hit = V6.find(([range]) => inCidr(bytes, range));
  if (hit) return hit[1];
  // Outside 2000::/3 nothing is globally routed unicast today (IANA IPv6 address space registry).
  return inCidr(bytes, GLOBAL_UNICAST) ? AddressClass.Public : AddressClass.Reserved;
}

/** The class of an IP address in text form; undefined when `text` is not an IP address. */
export function classifyAddress(text: string): AddressClass | undefined {
  const bytes = parseIp(text);
  return bytes ? classifyBytes(bytes) : undefined;
}

/** A host name as compared: lower case, without URL brackets or a trailing dot. */
export function normalizeHostname(hostname: string): string {
  return hostname
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

/**
 * The class a host name has before any lookup: `localhost` and `*.localhost` (RFC 6761 §6.3: always loopback,
 * whatever DNS says) and the metadata names; undefined for other names, which are classified by what they
 * resolve to.
 */
export function classifyHostname(hostname: string): AddressClass | undefined {
  const host = normalizeHostname(hostname);
  if (host === 'localhost' || host.endsWith('.localhost')) return AddressClass.Loopback;
  if (METADATA_HOSTNAMES.has(host)) return AddressClass.Metadata;
  return undefined;
}

/** Canonical text of an address (for logs and comparisons). */
export function canonicalAddress(text: string): string | undefined {
  const bytes = parseIp(text);
  return bytes ? formatIp(bytes) : undefined;
}
