/**
 * The one HTTP client for URLs someone else chose (DESIGN.md "Outbound requests"): rest-hook endpoints, remote
 * JWKS, later EHR bases.
 *
 * Each request: checks the URL (./outbound-policy.ts `checkUrl`), resolves the host once, refuses it when any of
 * its addresses is refused (`checkAddresses`), then connects to those checked addresses only: `http(s).request`
 * gets a `lookup` that answers with them, so nothing resolves the name again between the check and the connect
 * (DNS rebinding). Host header and TLS SNI stay the URL's name, so certificates are verified against it.
 * Redirects are never followed, the whole attempt has a time limit, a body is read only when asked and only up to
 * a size limit, and no proxy is used (an environment proxy would resolve the name itself).
 *
 * Results carry a failure kind and a detail for the server log: error codes and address classes, never a
 * response body or a message that could echo request data. Callers show their own callers generic text.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { normalizeHostname } from './address-class.ts';
import { checkAddresses, checkUrl, type OutboundPolicy, type Refusal } from './outbound-policy.ts';
import { ownAddresses } from './own-addresses.ts';

/** Why a request did not get a response. */
export const Failure = {
  /** The URL or an address it resolved to is not one Haven calls. */
  Refused: 'refused',
  /** The host name did not resolve. */
  Dns: 'dns',
  Timeout: 'timeout',
  /** Connection refused or reset, TLS failure and the like. */
  Network: 'network',
  /** The response body was larger than allowed. */
  TooLarge: 'too-large',
  /** The request could not be built (a header the HTTP client refuses). */
  Invalid: 'invalid-request',
} as const;
export type Failure = (typeof Failure)[keyof typeof Failure];

/** The outcome of {@link guardedRequest}. */
export type GuardedResult =
  | { readonly ok: true; readonly status: number; readonly headers: IncomingHttpHeaders; readonly body?: Buffer }
  | { readonly ok: false; readonly failure: Failure; readonly detail: string; readonly refusal?: Refusal };

/** Resolves a host name to its addresses (default: `dns.lookup`, which also reads /etc/hosts, as a connect would). */
export type Resolver = (hostname: string) => Promise<readonly string[]>;

/** Options of {@link guardedRequest}. */
export interface GuardedRequestOptions {
  readonly method: 'GET' | 'POST';
  /** Header lines in order, duplicates kept. Host is always the URL's. */
  readonly headers?: readonly (readonly [string, string])[];
  readonly body?: string;
  /** Limit of the whole attempt: lookup, connect, send, response headers (and the body when it is read). */
  readonly timeoutMs: number;
  /** Read the response body, up to this many bytes (larger: {@link Failure.TooLarge}). Unset: never read. */
  readonly maxBodyBytes?: number;
  readonly policy: OutboundPolicy;
  /** Replaces DNS (tests). */
  readonly resolve?: Resolver;
  /** Replaces this machine's interface addresses (tests). */
  readonly ownAddresses?: () => ReadonlySet<string>;
}

const defaultResolve: Resolver = async (hostname) => (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** A system error code or error class name, safe to log; never an error message. */
export function errorName(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown; cause?: { code?: unknown } } | undefined;
  for (const c of [e?.code, e?.cause?.code, e?.name]) {
    if (typeof c === 'string' && /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(c) && c !== 'Error' && c !== 'TypeError') return c;
  }
  return 'error';
}

const TIMED_OUT = Symbol('timed out');

function timeout<T>(ms: number, work: Promise<T>): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
/** Outcome of {@link resolveChecked}. */
export type ResolveResult =
  | { readonly ok: true; readonly url: URL; readonly host: string; readonly addresses: readonly string[] }
  | { readonly ok: false; readonly failure: Failure; readonly detail: string; readonly refusal?: Refusal };

/**
 * Checks `url` and resolves its host, refusing it when any address is refused. Exported for creation-time checks
 * (a Subscription endpoint); {@link guardedRequest} runs it again for every request.
 */
export async function resolveChecked(
  url: string,
  policy: OutboundPolicy,
  opts: { timeoutMs: number; resolve?: Resolver; ownAddresses?: () => ReadonlySet<string> },
): Promise<ResolveResult> {
  const own = (opts.ownAddresses ?? ownAddresses)();
  const checked = checkUrl(url, policy, own);
  if ('refusal' in checked) {
    const r = checked.refusal;
    return { ok: false, failure: Failure.Refused, refusal: r, detail: r.kind === 'url' ? `url: ${r.message}` : `address class ${r.class}` };
  }
  const host = normalizeHostname(checked.url.hostname);
  let addresses: readonly string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      const found = await timeout(opts.timeoutMs, (opts.resolve ?? defaultResolve)(host));
      if (found === TIMED_OUT) return { ok: false, failure: Failure.Timeout, detail: 'dns timeout' };
      addresses = found;
    } catch (err) {
      return { ok: false, failure: Failure.Dns, detail: `dns ${errorName(err)}` };
    }
  }
  const why = checkAddresses(host, addresses, policy, own);
  if (why) {
    return {
      ok: false,
      failure: Failure.Refused,
      refusal: why,
      detail: why.kind === 'url' ? `url: ${why.message}` : `address class ${why.class} (${why.address})`,
    };
  }
  return { ok: true, url: checked.url, host, addresses };
}

/** A `lookup` for net.connect that answers with the checked addresses only. */
export function pinnedLookup(addresses: readonly string[]): LookupFunction {
  return (_hostname, options, callback) => {
    const family = typeof options === 'object' && options !== null ? options.family : undefined;
    const wanted = family === 4 || family === 6 ? addresses.filter((a) => isIP(a) === family) : [...addresses];
    if (wanted.length === 0) {
      callback(Object.assign(new Error('no checked address of that family'), { code: 'ENOTFOUND' }), '', 0);
      return;
    }
    if (typeof options === 'object' && options?.all) {
      (callback as unknown as (e: null, list: { address: string; family: number }[]) => void)(
        null,
        wanted.map((address) => ({ address, family: isIP(address) })),
      );
    } else {
      callback(null, wanted[0], isIP(wanted[0]));
    }
  };
}

/** Sends one request under the outbound rules. Never throws. */
export async function guardedRequest(url: string, opts: GuardedRequestOptions): Promise<GuardedResult> {
  const started = Date.now();
  const target = await resolveChecked(url, opts.policy, {
    timeoutMs: opts.timeoutMs,
    ...(opts.resolve ? { resolve: opts.resolve } : {}),
    ...(opts.ownAddresses ? { ownAddresses: opts.ownAddresses } : {}),
  });
  if (!target.ok) return target;
  const remaining = Math.max(1, opts.timeoutMs - (Date.now() - started));
  return send(target.url, target.host, target.addresses, opts, remaining);
}

function send(
  url: URL,
  host: string,
  addresses: readonly string[],
  opts: GuardedRequestOptions,
  timeoutMs: number,
): Promise<GuardedResult> {
  return new Promise<GuardedResult>((resolve) => {
    let settled = false;
    const finish = (r: GuardedResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const raw: string[] = ['Host', url.host];
    for (const [name, value] of opts.headers ?? []) raw.push(name, value);
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body, 'utf8');
    if (body) raw.push('Content-Length', String(body.length));
    const https = url.protocol === 'https:';
    let req: ReturnType<typeof httpRequest>;
    try {
      req = (https ? httpsRequest : httpRequest)({
        hostname: host,
        port: url.port || (https ? 443 : 80),
        path: `${url.pathname}${url.search}`,
        method: opts.method,
        headers: raw,
        lookup: pinnedLookup(addresses),
        // A fresh connection per request: no pooled socket to another address, no environment proxy.
        agent: false,
        ...(https && !isIP(host) ? { servername: host } : {}),
      });
    } catch (err) {
      resolve({ ok: false, failure: Failure.Invalid, detail: `request not built (${errorName(err)})` });
      return;
    }
    const timer = setTimeout(() => {
      finish({ ok: false, failure: Failure.Timeout, detail: `timeout after ${opts.timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) => finish({ ok: false, failure: Failure.Network, detail: errorName(err) }));
    req.on('response', (res: IncomingMessage) => {
      res.on('error', (err) => finish({ ok: false, failure: Failure.Network, detail: errorName(err) }));
      const head = { status: res.statusCode ?? 0, headers: res.headers };
      if (opts.maxBodyBytes === undefined) {
        // The body is never read: it may hold anything, and nothing here needs it.
        res.destroy();
        finish({ ok: true, ...head });
        return;
      }
      const max = opts.maxBodyBytes;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) {
          res.destroy();
          finish({ ok: false, failure: Failure.TooLarge, detail: `body over ${max} bytes` });
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => finish({ ok: true, ...head, body: Buffer.concat(chunks) }));
    });
    try {
      req.end(body);
    } catch (err) {
      finish({ ok: false, failure: Failure.Invalid, detail: `request not sent (${errorName(err)})` });
      req.destroy();
    }
  });
}
