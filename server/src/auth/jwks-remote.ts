/**
 * Fetches and caches client JWKS registered by URL (SMART client-confidential-asymmetric "Registering a
 * client": the server SHALL NOT cache a JWKS longer than the client's Cache-Control allows).
 *
 * The URL was registered by an administrator, but the fetch is still constrained: no redirects, a timeout,
 * a size cap, so a misbehaving client host cannot stall or exhaust the token endpoint.
 */
import type { JWK } from 'jose';
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

/** An in-process JWKS cache keyed by URL. */
export class RemoteJwksCache {
  private readonly entries = new Map<string, Entry>();
  private readonly fetchImpl: typeof fetch;

  constructor(fetchImpl: typeof fetch = fetch) {
    this.fetchImpl = fetchImpl;
  }

  private async fetchJwks(url: string): Promise<Entry> {
    const res = await this.fetchImpl(url, {
      headers: { accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (!res.ok) throw new Error(`JWKS URL answered ${res.status}`);
    const text = await res.text();
    if (text.length > MAX_BYTES) throw new Error('JWKS too large');
    const { keys } = validateJwks(JSON.parse(text));
    const now = Date.now();
    const entry = { keys, fetchedAt: now, expiresAt: now + cacheLifetimeMs(res.headers.get('cache-control')) };
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
