/**
 * The shape of a benchmark run as written to bench/results/<timestamp>.json, and the flat metric list the
 * comparison table and the target checks are computed from.
 */
import type { BotsResult } from './bots.ts';
import type { IngestResult } from './ingest.ts';
import type { LoadResult } from './load.ts';
import type { StorageKind } from './server-process.ts';

/** CPU use during a phase. 100 = one core busy the whole phase. */
export interface PhaseCpu {
  readonly seconds: number;
  /** The server child process (for embedded storage this includes PGlite). */
  readonly serverPct: number;
  /** This process: data generation and the load generator. */
  readonly benchPct: number;
  /** PostgreSQL processes serving the scratch database, plus its shared background processes (postgres only). */
  readonly postgresPct: number | undefined;
  /** Whole machine, as a share of all cores (100 = every core busy). */
  readonly machineBusyPct: number;
  /** CPU used by everything else on the machine (other processes: tests, builds), 100 = one core. */
  readonly otherPct: number;
}

export type MeasuredLoad = LoadResult & { readonly cpu: PhaseCpu };
export type MeasuredIngest = IngestResult & { readonly cpu: PhaseCpu };
/** The bots phase: CPU while the responses were sent, and while the bots worked off the backlog after. */
export type MeasuredBots = BotsResult & { readonly cpu: PhaseCpu; readonly settleCpu: PhaseCpu };

/** Everything measured on one storage. */
export interface StorageResult {
  readonly kind: StorageKind;
  /** Set when the run could not complete; the phases before the failure are still reported. */
  blocked?: string;
  info: Record<string, string>;
  startupSeconds?: number;
  ingest?: MeasuredIngest;
  crud: MeasuredLoad[];
  search: MeasuredLoad[];
  bots?: MeasuredBots;
  /** Resources stored before the load phases (ingest only; creates add more). */
  storedResources: number;
  sizeBytes?: number;
  serverPeakRssBytes?: number;
  /** error/fatal lines in the server's JSON log, and a few of them. */
  serverLogErrors?: number;
  serverLogSamples?: string[];
  /** Where the server log was kept (only when it had errors). */
  serverLogCopy?: string;
  profile?: { file: string; top: string[] };
}

export type Direction = 'higher' | 'lower';

/** One number of one storage, named so both storages line up. */
export interface Metric {
  readonly name: string;
  readonly value: number;
  readonly better: Direction;
  readonly unit: string;
  /** The value is a lower bound (a scenario too slow to load-test: one request's latency). */
  readonly atLeast?: boolean;
}

/** The flat metric list of a storage result. */
export function metricsOf(r: StorageResult): Metric[] {
  const out: Metric[] = [];
  if (r.ingest) {
    out.push({ name: 'ingest resources/s', value: r.ingest.resourcesPerSecond, better: 'higher', unit: '/s' });
    for (const p of ['p50', 'p95', 'p99'] as const) {
      out.push({ name: `ingest bundle ${p} ms`, value: r.ingest.bundleLatency[p], better: 'lower', unit: 'ms' });
    }
  }
  for (const l of [...r.crud, ...r.search]) {
    if (l.skipped && l.probeMs !== undefined) {
      out.push({ name: `${l.name} req/s`, value: Number.NaN, better: 'higher', unit: '/s' });
      for (const p of ['p50', 'p95', 'p99'] as const) {
        out.push({ name: `${l.name} ${p} ms`, value: l.probeMs, better: 'lower', unit: 'ms', atLeast: true });
      }
      continue;
    }
    out.push({ name: `${l.name} req/s`, value: l.ok > 0 ? l.requestsPerSecond : Number.NaN, better: 'higher', unit: '/s' });
    for (const p of ['p50', 'p95', 'p99'] as const) {
      out.push({ name: `${l.name} ${p} ms`, value: l.latency[p], better: 'lower', unit: 'ms' });
    }
  }
  if (r.bots) {
    const b = r.bots;
    out.push({ name: BOTS_RATE_METRIC, value: b.commitRate, better: 'higher', unit: '/s' });
    for (const [label, l] of [
      ['score Observation', b.toObservation],
      ['risk Task', b.toTask],
    ] as const) {
      if (l.expected === 0) continue; // --bots-risky 0: no Task was asked for
      for (const p of ['p50', 'p95', 'p99', 'max'] as const) {
        out.push({ name: `bots QR → ${label} ${p} ms`, value: l[p], better: 'lower', unit: 'ms' });
      }
    }
    out.push({ name: 'bots POST QuestionnaireResponse p95 ms', value: b.create.p95, better: 'lower', unit: 'ms' });
  }
  return out;
}

/** The bots phase's rate metric: responses committed per second (server clock). */
export const BOTS_RATE_METRIC = 'bots QR commits/s';

/**
 * A target from the issue. `minResources`: it only counts at that stored size. `minRate`: it is stated at
 * that many responses per second (bots phase), so a run that committed fewer is not the target's condition.
 */
export interface Target {
  readonly metric: string;
  readonly op: '>=' | '<=';
  readonly value: number;
  readonly label: string;
  readonly minResources?: number;
  readonly minRate?: number;
}

/** A commit rate within this share of the target's rate counts as that rate (scheduling jitter). */
export const RATE_TOLERANCE = 0.95;

/** What a target's conditions are checked against: the stored size and the bots phase's commit rate. */
export interface TargetScale {
  readonly storedResources: number;
  readonly botsRate?: number;
}

/** The scale a storage result was measured at. */
export function scaleOf(r: StorageResult): TargetScale {
  return { storedResources: r.storedResources, ...(r.bots ? { botsRate: r.bots.commitRate } : {}) };
}

/** Whether a measurement was taken below a target's stated conditions (size or rate). */
export function belowConditions(target: Target, scale: TargetScale): boolean {
  if (target.minResources !== undefined && scale.storedResources < target.minResources) return true;
  if (target.minRate !== undefined && !((scale.botsRate ?? 0) >= target.minRate * RATE_TOLERANCE)) return true;
  return false;
}

export const TARGETS: readonly Target[] = [
  { metric: 'ingest resources/s', op: '>=', value: 1500, label: '≥ 1,500/s' },
  { metric: 'read Patient p95 ms', op: '<=', value: 10, label: '≤ 10 ms' },
  { metric: 'read Observation p95 ms', op: '<=', value: 10, label: '≤ 10 ms' },
  { metric: 'create Observation p95 ms', op: '<=', value: 25, label: '≤ 25 ms' },
  { metric: 'update Observation p95 ms', op: '<=', value: 25, label: '≤ 25 ms' },
  { metric: 'search Observation?subject&code&_sort p95 ms', op: '<=', value: 30, label: '≤ 30 ms @1M', minResources: 1_000_000 },
  { metric: 'bots QR → score Observation p95 ms', op: '<=', value: 1000, label: '≤ 1 s @20/s', minRate: 20 },
  { metric: 'bots QR → risk Task p95 ms', op: '<=', value: 1000, label: '≤ 1 s @20/s', minRate: 20 },
];

/** Embedded may be at most this many times slower than PostgreSQL on any metric. */
export const EMBEDDED_FACTOR = 3;

export type Verdict = 'PASS' | 'MISS' | 'PASS*' | 'MISS*' | 'ERR' | 'n/a';

/**
 * PASS/MISS of one value against a target; '*' when measured below the target's size or rate; ERR when the
 * phase ran but nothing succeeded; n/a when the phase did not run.
 */
export function verdict(target: Target, value: number | undefined, scale: TargetScale, atLeast = false): Verdict {
  if (value === undefined) return 'n/a';
  if (Number.isNaN(value)) return 'ERR';
  const ok = target.op === '>=' ? value >= target.value : value <= target.value && !atLeast;
  return `${ok ? 'PASS' : 'MISS'}${belowConditions(target, scale) ? '*' : ''}` as Verdict;
}

/** How many times worse embedded is than PostgreSQL on a metric (≤ 1: embedded as good or better). */
export function slowdown(m: Direction, embedded: number, postgres: number): number {
  if (!(embedded > 0) || !(postgres > 0)) return Number.NaN;
  return m === 'higher' ? postgres / embedded : embedded / postgres;
}
