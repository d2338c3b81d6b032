/**
 * The `rest-hook` channel (Subscriptions R5 Backport IG, "Channels → REST-Hook"): one POST of a notification
 * Bundle to the subscriber's endpoint, with the Subscription's headers, and a verdict the dispatcher can act on
 * (delivered, retry later, or give up).
 *
 * No PHI leaves through errors or logs: results carry only HTTP status codes and error class names (e.g.
 * `ECONNREFUSED`, `timeout`); the response body is never read and the Bundle is never echoed.
 */
import { isIP } from 'node:net';
import type { Bundle } from '@medplum/fhirtypes';

/** Outcome of one delivery attempt. */
export type DeliveryResult = { ok: true; status: number } | { ok: false; status?: number; error: string; retryable: boolean };

/** Options of {@link postNotification}. */
export interface PostOptions {
  /** Whole-attempt limit (connect, send, response headers); past it the attempt is a retryable `timeout`. */
  timeoutMs: number;
  /** Replaces the global fetch (tests, proxies). */
  fetchImpl?: typeof fetch;
}

/** The only MIME type Haven sends; the IG requires it to match `Subscription.channel.payload`. */
export const FHIR_JSON = 'application/fhir+json';

/**
 * Whether a non-2xx status is worth retrying: 408 (request timeout), 429 (too many requests) and 5xx are
 * transient; other 4xx mean the endpoint refuses this request and will keep refusing it; 3xx are not
 * followed (a redirect could move PHI to another host), so they are a configuration error, not transient.
 */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** A name safe to log for a fetch failure: a system error code or an error class name, never a message. */
function failureName(err: unknown): string {
  if (err instanceof Error || (typeof err === 'object' && err !== null)) {
    const e = err as { name?: unknown; code?: unknown; cause?: unknown };
    if (e.name === 'TimeoutError') return 'timeout';
    const cause = e.cause as { code?: unknown; name?: unknown } | undefined;
    for (const candidate of [cause?.code, e.code, cause?.name, e.name]) {
      if (
        typeof candidate === 'string' &&
        /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(candidate) &&
        candidate !== 'TypeError' &&
        candidate !== 'Error'
      ) {
        return candidate;
      }
    }
  }
  return 'network error';
}

/** Frees the connection without reading the body (which might contain PHI and is of no use). */
async function discardBody(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // The connection is closed either way.
  }
}

/**
 * POSTs `bundle` as `application/fhir+json` to `endpoint` with `headers` (already validated, see
 * `parseChannelHeaders`), redirects not followed. 2xx is delivered; 408, 429, 5xx, network errors and
 * timeouts are retryable; any other status is final. Never throws.
 */
export async function postNotification(
  endpoint: string,
  headers: readonly (readonly [string, string])[],
  bundle: Bundle,
  opts: PostOptions,
): Promise<DeliveryResult> {
  if (!URL.canParse(endpoint)) return { ok: false, error: 'invalid endpoint URL', retryable: false };
  let init: RequestInit;
  try {
    const h = new Headers();
    for (const [name, value] of headers) h.append(name, value);
    h.set('content-type', FHIR_JSON);
    init = { method: 'POST', headers: h, body: JSON.stringify(bundle), redirect: 'manual', signal: AbortSignal.timeout(opts.timeoutMs) };
  } catch (err) {
    // Headers refused by the HTTP client, or a Bundle that cannot be serialized: retrying cannot help.
    return { ok: false, error: `request not sent (${failureName(err)})`, retryable: false };
  }
  let res: Response;
  try {
    res = await (opts.fetchImpl ?? fetch)(endpoint, init);
  } catch (err) {
    const name = failureName(err);
    return { ok: false, error: name === 'timeout' ? `timeout after ${opts.timeoutMs} ms` : name, retryable: true };
  }
  await discardBody(res);
  if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
  if (res.status >= 300 && res.status < 400) {
    return { ok: false, status: res.status, error: `HTTP ${res.status} (redirects are not followed)`, retryable: false };
  }
  return { ok: false, status: res.status, error: `HTTP ${res.status}`, retryable: isRetryableStatus(res.status) };
}

/** Options of {@link validateEndpoint}. */
export interface EndpointRules {
  /** Accept `http:` (development, tests); production should not (IG "REST-Hook → Security Notes"). */
  allowHttp: boolean;
  /** Accept loopback hosts (tests, local receivers). Refused otherwise so a subscription cannot probe the server's own host. */
  allowLoopback: boolean;
}

/**
 * True for hosts that reach this machine: `localhost` and `*.localhost`, 127.0.0.0/8, 0.0.0.0, `::1`, `::`
 * and IPv4-mapped forms of those. The WHATWG URL parser has already normalized shorthand IPv4 (`127.1`,
 * `2130706433`) and IPv6 spellings. Names that merely resolve to loopback through DNS are not caught here.
 */
export function isLoopbackHostname(hostname: string): boolean {
  const host = hostname
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.') || host === '0.0.0.0';
  if (isIP(host) === 6) return host === '::1' || host === '::' || /^::ffff:(7f[0-9a-f]{2}:[0-9a-f]{1,4}|0:0)$/.test(host);
  return false;
}

/**
 * Why `url` cannot be a rest-hook endpoint, or undefined when it can: it must be an absolute `https:` URL
 * (`http:` only with `allowHttp`; IG "Channels → REST-Hook → Security Notes" recommends refusing HTTP), carry
 * no credentials (secrets belong in `channel.header`, not in a URL that ends up in logs and resources), and
 * not point at a loopback host unless `allowLoopback`.
 */
export function validateEndpoint(url: string, opts: EndpointRules): string | undefined {
  const parsed = URL.parse(url);
  if (!parsed) return 'endpoint must be an absolute URL';
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return `endpoint must be an https URL, not ${parsed.protocol}`;
  if (parsed.protocol === 'http:' && !opts.allowHttp) return 'endpoint must use https';
  if (parsed.username || parsed.password) return 'endpoint must not contain credentials; send them in channel.header';
  if (!opts.allowLoopback && isLoopbackHostname(parsed.hostname)) return 'endpoint must not be a loopback address';
  return undefined;
}
