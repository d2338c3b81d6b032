/**
 * Ingest phase: POSTs one transaction Bundle per generated patient to the FHIR base, `concurrency` at a
 * time, and remembers what the server stored (ids, names, birth dates, Observations) for the later phases.
 */
import { Rng } from './prng.ts';
import { Reservoir, summarize, type Latency } from './stats.ts';
import { generatePatient, resolveUrns, type Json } from './synthea.ts';

/** A stored patient the read and search phases can ask for. */
export interface KnownPatient {
  readonly id: string;
  readonly family: string;
  readonly birthDate: string;
}

/** A stored Observation: its id, and its content with server references (a PUT body after a tweak). */
export interface KnownObservation {
  readonly id: string;
  readonly resource: Json;
}

/** What the server holds after ingest, sampled (uniform reservoirs) so memory stays flat at 1M resources. */
export interface Population {
  readonly patients: Reservoir<KnownPatient>;
  readonly observations: Reservoir<KnownObservation>;
  /** Resources stored by successful bundles (the bench's own count, not a server query). */
  storedResources: number;
}

export function emptyPopulation(seed: string): Population {
  const rng = new Rng(`${seed}/reservoir`);
  return {
    patients: new Reservoir<KnownPatient>(20_000, () => rng.next()),
    observations: new Reservoir<KnownObservation>(5_000, () => rng.next()),
    storedResources: 0,
  };
}

/** Result of an ingest run. */
export interface IngestResult {
  readonly bundles: number;
  readonly bundlesFailed: number;
  /** Resources in bundles the server accepted. */
  readonly resources: number;
  readonly seconds: number;
  readonly resourcesPerSecond: number;
  readonly bundlesPerSecond: number;
  /** Latency of one whole bundle (request sent → response body read), successful bundles only. */
  readonly bundleLatency: Latency;
  /** Failures by HTTP status (or "network") with the first diagnostics seen. */
  readonly errors: Record<string, { count: number; sample: string }>;
}

export interface IngestProgress {
  readonly resources: number;
  readonly bundles: number;
  readonly failed: number;
  readonly elapsedSeconds: number;
}

const LOCATION = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

/** `Type/id` of a transaction-response entry (from response.location, else the returned resource). */
function storedRef(entry: Json | undefined): string | undefined {
  const response = entry?.response as { location?: string } | undefined;
  const m = response?.location ? LOCATION.exec(response.location) : null;
  if (m) return `${m[1]}/${m[2]}`;
  const resource = entry?.resource as { resourceType?: string; id?: string } | undefined;
  return resource?.resourceType && resource.id ? `${resource.resourceType}/${resource.id}` : undefined;
}

function diagnostics(text: string): string {
  try {
    const body = JSON.parse(text) as { issue?: { diagnostics?: string; details?: { text?: string } }[] };
    const first = body.issue?.[0];
    return (first?.diagnostics ?? first?.details?.text ?? text).slice(0, 300);
  } catch {
    return text.slice(0, 300);
  }
}

/** Records what a successful transaction stored. */
function remember(population: Population, bundle: Json, response: Json, family: string, birthDate: string): void {
  const sent = bundle.entry as Json[];
  const got = (response.entry as Json[] | undefined) ?? [];
  const urnToRef = new Map<string, string>();
  sent.forEach((e, i) => {
    const r = storedRef(got[i]);
    if (r) urnToRef.set(e.fullUrl as string, r);
  });
  sent.forEach((e, i) => {
    const r = storedRef(got[i]);
    if (!r) return;
    const [type, id] = r.split('/');
    if (type === 'Patient') population.patients.add({ id, family, birthDate });
    else if (type === 'Observation') {
      population.observations.add({ id, resource: { ...resolveUrns(e.resource as Json, urnToRef), id } });
    }
  });
}

/**
 * Ingests patients [first, first + count) of the population named `seed`. Never throws for HTTP
 * failures: they are counted in `errors`.
 */
export async function ingest(opts: {
  fhirBase: string;
  seed: string;
  first: number;
  count: number;
  /** Stop taking new patients once this many resources are stored (large mode). */
  targetResources?: number;
  concurrency: number;
  population: Population;
  onProgress?: (p: IngestProgress) => void;
  progressEveryMs?: number;
}): Promise<IngestResult> {
  const latencies: number[] = [];
  const errors: Record<string, { count: number; sample: string }> = {};
  let next = opts.first;
  const end = opts.first + opts.count;
  let resources = 0;
  let bundles = 0;
  let failed = 0;
  const started = performance.now();
  const fail = (key: string, sample: string): void => {
    failed++;
    const e = (errors[key] ??= { count: 0, sample });
    e.count++;
  };

  const worker = async (): Promise<void> => {
    while (next < end && (opts.targetResources === undefined || resources < opts.targetResources)) {
      // A server that refuses everything would otherwise be fed the whole population.
      if (resources === 0 && failed >= 20) return;
      const rec = generatePatient(opts.seed, next++);
      const body = JSON.stringify(rec.bundle);
      const t0 = performance.now();
      try {
        const res = await fetch(opts.fhirBase, {
          method: 'POST',
          headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
          body,
          signal: AbortSignal.timeout(300_000),
        });
        const text = await res.text();
        const ms = performance.now() - t0;
        bundles++;
        if (res.status >= 200 && res.status < 300) {
          latencies.push(ms);
          resources += rec.resourceCount;
          opts.population.storedResources += rec.resourceCount;
          try {
            remember(opts.population, rec.bundle, JSON.parse(text) as Json, rec.family, rec.birthDate);
          } catch {
            fail('unreadable-response', text.slice(0, 200));
          }
        } else {
          fail(String(res.status), diagnostics(text));
        }
      } catch (err) {
        bundles++;
        fail('network', err instanceof Error ? err.message : String(err));
      }
    }
  };

  const report = (): void => opts.onProgress?.({ resources, bundles, failed, elapsedSeconds: (performance.now() - started) / 1000 });
  const timer = opts.onProgress ? setInterval(report, opts.progressEveryMs ?? 2_000) : undefined;
  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  } finally {
    if (timer) clearInterval(timer);
  }
  report();
  const seconds = (performance.now() - started) / 1000;
  return {
    bundles,
    bundlesFailed: failed,
    resources,
    seconds: Math.round(seconds * 100) / 100,
    resourcesPerSecond: Math.round((resources / seconds) * 10) / 10,
    bundlesPerSecond: Math.round((latencies.length / seconds) * 100) / 100,
    bundleLatency: summarize(latencies),
    errors,
  };
}
