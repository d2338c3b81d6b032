/**
 * Closed-loop load with autocannon: `connections` keep-alive connections, each sending its next request
 * as soon as the previous answer arrived, for a fixed duration. One scenario per run, so each kind of
 * request gets its own throughput and latency (mixing kinds in one run would blend their percentiles).
 */
import autocannon, { type Result } from 'autocannon';
import { summarize, type Latency } from './stats.ts';

/** One request kind: how to build the next request. Called once per request. */
export interface Scenario {
  readonly name: string;
  readonly method: 'GET' | 'POST' | 'PUT';
  /** Path (with query) below the server root, and a body for writes. */
  next(): { path: string; body?: string };
}

export interface LoadResult {
  readonly name: string;
  readonly method: string;
  /** Example request path, for the report. */
  readonly example: string;
  readonly seconds: number;
  readonly connections: number;
  /** Responses with a 2xx status. */
  readonly ok: number;
  /** Responses with any other status. */
  readonly non2xx: number;
  /** Connection errors and timeouts (no response). */
  readonly errors: number;
  /** 2xx responses per second. */
  readonly requestsPerSecond: number;
  /** Latency of 2xx responses. */
  readonly latency: Latency;
  readonly statusCodes: Record<string, number>;
  /** First distinct error diagnostics (OperationOutcome text), to see why a phase failed. */
  readonly errorSamples: string[];
  /** Set when the scenario was not load-tested because a single request was already too slow. */
  readonly skipped?: string;
  /** That single request's latency (ms): a lower bound for every percentile under load. */
  readonly probeMs?: number;
}

/** One request on its own: how long it took, or that it timed out. */
export interface ProbeResult {
  readonly ms: number;
  readonly status: number | undefined;
  readonly timedOut: boolean;
  /** A network failure other than the timeout (connection refused, reset). */
  readonly error?: string;
  readonly diagnostics?: string;
}

/** Sends one request of `scenario` and times it; never throws. */
export async function probe(serverUrl: string, scenario: Scenario, timeoutMs: number): Promise<ProbeResult> {
  const n = scenario.next();
  const t0 = performance.now();
  try {
    const res = await fetch(`${serverUrl}${n.path}`, {
      method: scenario.method,
      headers: { accept: 'application/fhir+json', ...(n.body !== undefined ? { 'content-type': 'application/fhir+json' } : {}) },
      body: n.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    const ok = res.status >= 200 && res.status < 300;
    return {
      ms: performance.now() - t0,
      status: res.status,
      timedOut: false,
      ...(ok ? {} : { diagnostics: diagnostics(res.status, text) }),
    };
  } catch (err) {
    const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError') return { ms: performance.now() - t0, status: undefined, timedOut: true };
    return {
      ms: performance.now() - t0,
      status: undefined,
      timedOut: false,
      error: e.cause?.code ?? e.cause?.message ?? e.message ?? String(err),
    };
  }
}

/** The result of a scenario that was not load-tested (see {@link probe}). */
export function skippedResult(scenario: Scenario, p: ProbeResult, reason: string, connections: number): LoadResult {
  return {
    name: scenario.name,
    method: scenario.method,
    example: '',
    seconds: 0,
    connections,
    ok: 0,
    non2xx: 0,
    errors: 0,
    requestsPerSecond: Number.NaN,
    latency: summarize([]),
    statusCodes: p.status ? { [p.status]: 1 } : {},
    errorSamples: p.diagnostics ? [p.diagnostics] : [],
    skipped: reason,
    probeMs: Math.round(p.ms),
  };
}

function diagnostics(status: number, body: string): string {
  try {
    const oo = JSON.parse(body) as { issue?: { diagnostics?: string; details?: { text?: string } }[] };
    const i = oo.issue?.[0];
    return `${status}: ${(i?.diagnostics ?? i?.details?.text ?? body).slice(0, 240)}`;
  } catch {
    return `${status}: ${body.slice(0, 240)}`;
  }
}

/** Runs `scenario` against `serverUrl` (http://host:port) and summarises it. */
export async function runLoad(serverUrl: string, scenario: Scenario, opts: { connections: number; seconds: number }): Promise<LoadResult> {
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  const samples = new Set<string>();
  let example = '';
  const headers: Record<string, string> = { accept: 'application/fhir+json' };
  if (scenario.method !== 'GET') headers['content-type'] = 'application/fhir+json';

  const result = await new Promise<Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: serverUrl,
        connections: opts.connections,
        duration: opts.seconds,
        timeout: 60,
        headers,
        requests: [
          {
            method: scenario.method,
            setupRequest: (req) => {
              const n = scenario.next();
              if (!example) example = `${scenario.method} ${n.path}`;
              return { ...req, method: scenario.method, path: n.path, ...(n.body !== undefined ? { body: n.body } : {}) };
            },
            onResponse: (status, body) => {
              if ((status < 200 || status >= 300) && samples.size < 5) samples.add(diagnostics(status, body));
            },
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      statusCodes[status] = (statusCodes[status] ?? 0) + 1;
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });

  const total = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  const seconds = result.duration || opts.seconds;
  return {
    name: scenario.name,
    method: scenario.method,
    example,
    seconds,
    connections: opts.connections,
    ok: latencies.length,
    non2xx: total - latencies.length,
    errors: result.errors,
    requestsPerSecond: Math.round((latencies.length / seconds) * 10) / 10,
    latency: summarize(latencies),
    statusCodes,
    errorSamples: [...samples],
  };
}
