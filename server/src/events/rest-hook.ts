/**
 * The `rest-hook` channel (Subscriptions R5 Backport IG, "Channels → REST-Hook"): one POST of a notification
 * Bundle to the subscriber's endpoint, with the Subscription's headers, and a verdict the dispatcher can act on
 * (delivered, retry later, or give up).
 *
 * Every POST goes through the outbound guard (../net/guarded-request.ts): the endpoint's host is resolved and
 * checked at each attempt (DNS can change after the Subscription was accepted), the connection goes to the checked
 * address, and redirects are not followed.
 *
 * No PHI leaves through errors or logs: results carry only HTTP status codes, error codes (e.g. `ECONNREFUSED`,
 * `timeout`) and address classes, for the server log and the dead-letter list; the response body is never read and
 * the Bundle is never echoed. What the subscriber sees in `Subscription.error` is generic
 * (./subscription-delivery.ts), so an endpoint cannot be used to scan which hosts and ports answer.
 */
import type { Bundle } from '@medplum/fhirtypes';
import { Failure, guardedRequest, resolveChecked, type Resolver } from '../net/guarded-request.ts';
import { checkUrl, describeRefusal, type OutboundPolicy } from '../net/outbound-policy.ts';
import { ownAddresses } from '../net/own-addresses.ts';

/** Outcome of one delivery attempt; `error` is for the server log only. */
export type DeliveryResult = { ok: true; status: number } | { ok: false; status?: number; error: string; retryable: boolean };

/** Options of {@link postNotification}. */
export interface PostOptions {
  /** Whole-attempt limit (lookup, connect, send, response headers); past it the attempt is a retryable `timeout`. */
  timeoutMs: number;
  /** Which endpoints may be called (../net/outbound-policy.ts). */
  policy: OutboundPolicy;
  /** Replaces DNS (tests). */
  resolve?: Resolver;
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

/**
 * POSTs `bundle` as `application/fhir+json` to `endpoint` with `headers` (already validated, see
 * `parseChannelHeaders`), through the outbound guard. 2xx is delivered; 408, 429, 5xx, lookup and network errors
 * and timeouts are retryable; a refused address, a request that cannot be built and any other status are final.
 * Never throws.
 */
export async function postNotification(
  endpoint: string,
  headers: readonly (readonly [string, string])[],
  bundle: Bundle,
  opts: PostOptions,
): Promise<DeliveryResult> {
  let body: string;
  try {
    body = JSON.stringify(bundle);
  } catch {
    return { ok: false, error: 'request not sent (bundle)', retryable: false };
  }
  const res = await guardedRequest(endpoint, {
    method: 'POST',
    headers: [...headers.filter(([name]) => name.toLowerCase() !== 'content-type'), ['Content-Type', FHIR_JSON]],
    body,
    timeoutMs: opts.timeoutMs,
    policy: opts.policy,
    ...(opts.resolve ? { resolve: opts.resolve } : {}),
  });
  if (!res.ok) {
    switch (res.failure) {
      case Failure.Refused:
      case Failure.Invalid:
        return { ok: false, error: res.detail, retryable: false };
      case Failure.Dns:
      case Failure.Timeout:
      case Failure.Network:
      case Failure.TooLarge:
        return { ok: false, error: res.detail, retryable: true };
      default:
        return res.failure satisfies never;
    }
  }
  if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
  if (res.status >= 300 && res.status < 400) {
    return { ok: false, status: res.status, error: `HTTP ${res.status} (redirects are not followed)`, retryable: false };
  }
  return { ok: false, status: res.status, error: `HTTP ${res.status}`, retryable: isRetryableStatus(res.status) };
}

/**
 * Why `url` cannot be a rest-hook endpoint, judged without DNS, or undefined when it may be: an absolute `https:`
 * URL (`http:` only with `allowHttp`; IG "Channels → REST-Hook → Security Notes" recommends refusing HTTP), no
 * credentials (secrets belong in `channel.header`, not in a URL that ends up in logs and resources), and not a
 * host refused by its name or literal address (../net/outbound-policy.ts `checkUrl`).
 */
export function validateEndpoint(url: string, policy: OutboundPolicy): string | undefined {
  const r = checkUrl(url, policy, ownAddresses());
  return 'refusal' in r ? `endpoint ${describeRefusal(r.refusal)}` : undefined;
}

/**
 * {@link validateEndpoint}, then the host's addresses: refused when any is. A host that does not resolve now is
 * accepted (it may be registered before its DNS exists); every delivery checks again.
 */
export async function checkEndpoint(
  url: string,
  policy: OutboundPolicy,
  opts: { timeoutMs: number; resolve?: Resolver },
): Promise<string | undefined> {
  const r = await resolveChecked(url, policy, opts);
  if (r.ok || !r.refusal) return undefined;
  return `endpoint ${describeRefusal(r.refusal)}`;
}
