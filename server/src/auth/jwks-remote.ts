/**
 * Fetches and caches client JWKS registered by URL (SMART client-confidential-asymmetric "Registering a
 * client": the server SHALL NOT cache a JWKS longer than the client's Cache-Control allows).
 *
 * The URL was chosen by the client's owner, so the fetch goes through the outbound guard (../net/guarded-request.ts):
 * the host is resolved and refused when any address is loopback, private, link-local, metadata or this machine's
 * own (unless HAVEN_OUTBOUND_ALLOW names it), the connection goes to the checked address, no redirects, a timeout
 * and a size cap, so neither a misbehaving client host nor a URL aimed inside the network can use the token
 * endpoint.
 */
import type { JWK } from 'jose';
import type { HavenConfig } from '../config.ts';
import { guardedRequest, type Resolver } from '../net/guarded-request.ts';
import type { OutboundPolicy } from '../net/outbound-policy.ts';
import { validateJwks } from './clients.ts';

/** Cache lifetime when the response says nothing (seconds), and the ceiling for any max-age. */
const DEFAULT_TTL_S = 300;
const MAX_TTL_S = 3600;
/** A key id missing from a cached set triggers a refetch at most this often per URL. */
const REFETCH_COOLDOWN_MS = 10_000;
const MAX_BYTES = 256 * 1024;
const TIMEOUT_MS = 5_000;

interface Entry {
  keys: JWK[];
  expiresAt: number;
  fetchedAt: number;
}

/** Cache lifetime in ms allowed by a Cache-Control header (RFC 9111 §5.2.2). */
export function cacheLifetimeMs(cacheControl: string | null): number {
  if (!cacheControl) return DEFAULT_TTL_S * 1000;
  const cc = cacheControl.toLowerCase();
  if (/(^|[,\s])(no-store|no-cache)\b/.test(cc)) return 0;
  const m = /(^|[,\s])max-age\s*=\s*"?(\d+)/.exec(cc);
  return m ? Math.min(Number(m[2]), MAX_TTL_S) * 1000 : DEFAULT_TTL_S * 1000;
}

/**
 * The outbound rules of JWKS fetches: the operator allow-list, no loopback unless it names it. `http:` passes the
 * guard because registration (./clients.ts `isAcceptableUrl`) admits it only for loopback hosts, which the address
 * check refuses unless the operator allowed them (development).
 */
export function jwksOutbound(config: Pick<HavenConfig, 'outbound'>): OutboundPolicy {
  return { allow: config.outbound.allow, allowLoopback: false, allowHttp: true };
}

/** Options of {@link RemoteJwksCache}. */
export interface RemoteJwksOptions {
  /** Which JWKS URLs may be fetched; default: public hosts only. */
  readonly outbound?: OutboundPolicy;
  /** Replaces DNS (tests). */
  readonly resolve?: Resolver;
}

/** An in-process JWKS cache keyed by URL. */
export class RemoteJwksCache {
  private readonly entries = new Map<string, Entry>();
  private readonly outbound: OutboundPolicy;
  private readonly resolve: Resolver | undefined;

  constructor(opts: RemoteJwksOptions = {}) {
    this.outbound = opts.outbound ?? { allow: [], allowLoopback: false, allowHttp: false };
    this.resolve = opts.resolve;
  }

  private async fetchJwks(url: string): Promise<Entry> {
    const res = await guardedRequest(url, {
      method: 'GET',
      headers: [['Accept', 'application/json']],
      timeoutMs: TIMEOUT_MS,
      maxBodyBytes: MAX_BYTES,
      policy: this.outbound,
      ...(this.resolve ? { resolve: this.resolve } : {}),
    });
    // Only the failure kind: the caller answers invalid_client without details either way.
    if (!res.ok) throw new Error(`JWKS URL not fetched (${res.failure})`);
    if (res.status !== 200) throw new Error(`JWKS URL answered ${res.status}`);
    const { keys } = validateJwks(JSON.parse(res.body?.toString('utf8') ?? ''));
    const now = Date.now();
    const cacheControl = res.headers['cache-control'];
    const entry = { keys, fetchedAt: now, expiresAt: now + cacheLifetimeMs(typeof cacheControl === 'string' ? cacheControl : null) };
    if (entry.expiresAt > now) this.entries.set(url, entry);
    else this.entries.delete(url);
    return entry;
  }

  /**
   * The keys at `url` that carry `kid`. A cached set is used while fresh; when it lacks the kid (the client
   * rotated), the URL is fetched again unless it was fetched within the cooldown.
   * @throws Error when the URL cannot be fetched or does not hold a valid JWKS.
   */
  async keysFor(url: string, kid: string): Promise<JWK[]> {
    const now = Date.now();
    let entry = this.entries.get(url);
    if (!entry || entry.expiresAt <= now) entry = await this.fetchJwks(url);
    let found = entry.keys.filter((k) => k.kid === kid);
    if (found.length === 0 && now - entry.fetchedAt > REFETCH_COOLDOWN_MS) {
      entry = await this.fetchJwks(url);
      found = entry.keys.filter((k) => k.kid === kid);
    }
    return found;
  }
}
