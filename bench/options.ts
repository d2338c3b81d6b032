/**
 * Command-line flags and their environment equivalents. Flags win over the environment.
 */
import type { StorageKind } from './server-process.ts';

export interface BenchOptions {
  /** Patients to ingest (about 100 resources each). Ignored when `targetResources` is set. */
  readonly patients: number;
  /** Ingest until at least this many resources are stored (large mode). */
  readonly targetResources: number | undefined;
  /** Seconds per load scenario. */
  readonly duration: number;
  /** Unrecorded seconds before each load scenario (JIT, caches, connection setup). */
  readonly warmup: number;
  readonly storages: readonly StorageKind[];
  readonly ingestConcurrency: number;
  readonly connections: number;
  readonly seed: string;
  /** PostgreSQL URL allowed to CREATE/DROP DATABASE; the bench creates a scratch database there. */
  readonly pgAdminUrl: string;
  /** Load phases to run after ingest, in this order. */
  readonly phases: readonly Phase[];
  /** The bots phase (bench/bots.ts): QuestionnaireResponse → score Observation and risk Task latency. */
  readonly bots: BotsPhaseOptions;
  /**
   * postgres: ANALYZE after ingest, as autovacuum would. `auto`: only when the server runs with
   * autovacuum off (see README "Planner statistics"). embedded: anything but `off` restarts the server
   * before the bots phase when no CRUD phase ran, so that it has statistics (it analyzes at start).
   */
  readonly analyze: 'auto' | 'on' | 'off';
  /** Run the server with --cpu-prof and summarise where its time went. */
  readonly cpuProf: boolean;
  /** Keep the scratch storage (database or DATA_DIR) at the end and print where it is, for experiments on it. */
  readonly keep: boolean;
  readonly help: boolean;
}

/** A load phase after ingest. */
export type Phase = 'crud' | 'search' | 'bots';
const PHASES: readonly Phase[] = ['crud', 'search', 'bots'];

/** Settings of the bots phase. */
export interface BotsPhaseOptions {
  /** QuestionnaireResponses per second, sent open loop (on schedule, whatever the answers take). */
  readonly rate: number;
  /** Seconds of measured load. */
  readonly seconds: number;
  /** Share of responses with PHQ-9 item 9 ≥ 1 (each raises a risk Task), 0..1. */
  readonly riskyShare: number;
  /** Longest wait after the load for every response's outputs (the bots' backlog) before giving up. */
  readonly settleSeconds: number;
}

export const DEFAULT_PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/test';
export const LARGE_TARGET = 1_000_000;

export const USAGE = `npm run bench -- [options]      (or: node bench/run.ts [options])

  --patients N        patients to ingest, ~100 resources each (default 50 → ~5,000 resources)  BENCH_PATIENTS
  --duration S        seconds per load scenario (default 15)                                      BENCH_DURATION
  --warmup S          unrecorded warm-up seconds before each scenario (default 2)                BENCH_WARMUP
  --storage KIND      embedded | postgres | both (default both; --large defaults to postgres)    BENCH_STORAGE
  --large             ingest until 1,000,000 resources are stored (the search target's size)     BENCH_LARGE=1
  --resources N       ingest until N resources are stored (e.g. 200000); implies large mode       BENCH_RESOURCES
  --concurrency N     concurrent transaction bundles during ingest (default 4)                   BENCH_CONCURRENCY
  --connections N     autocannon connections for CRUD and search (default 8)                     BENCH_CONNECTIONS
  --seed TEXT         data generator seed (default haven-bench)                                   BENCH_SEED
  --pg-url URL        PostgreSQL URL allowed to CREATE DATABASE; a scratch database with a      BENCH_PG_URL
                      random name is created there and dropped at the end                        (or DATABASE_URL)
                      (default ${DEFAULT_PG_ADMIN_URL})
  --phases LIST       load phases after ingest: crud,search,bots (default all; "none" = ingest   BENCH_PHASES
                      only)
  --only LIST         same as --phases (e.g. --only bots)
  --bots-rate N       bots phase: QuestionnaireResponses per second, open loop (default 20)      BENCH_BOTS_RATE
  --bots-duration S   bots phase: seconds of load (default 30; --duration when only that is set) BENCH_BOTS_DURATION
  --bots-risky F      bots phase: share of responses with PHQ-9 item 9 >= 1 (default 0.2)        BENCH_BOTS_RISKY
  --bots-settle S     bots phase: longest wait for the bots' backlog after the load (default 300) BENCH_BOTS_SETTLE
  --analyze[=auto|on|off]  postgres: ANALYZE the scratch database after ingest, as autovacuum  BENCH_ANALYZE
                      would. auto (default): only when the server has autovacuum=off; --analyze = on;
                      --no-analyze = off (measure a never-analyzed database)
  --cpu-prof          profile the server (node --cpu-prof) and print its hottest functions        BENCH_CPU_PROF=1
  --keep              keep the scratch database / DATA_DIR and print where it is (drop it yourself) BENCH_KEEP=1
  --help`;

function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

function positiveNumber(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return n;
}

function nonNegative(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return n;
}

function share(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new Error(`${name} must be a number from 0 to 1, got "${raw}"`);
  return n;
}

function truthy(raw: string | undefined): boolean {
  return raw !== undefined && /^(1|true|yes|on)$/i.test(raw);
}

function analyzeMode(raw: string | undefined): BenchOptions['analyze'] {
  if (raw === undefined || raw === '' || raw === 'auto') return 'auto';
  if (truthy(raw) || raw === 'on') return 'on';
  if (/^(0|false|no|off)$/i.test(raw)) return 'off';
  throw new Error(`--analyze takes auto, on or off, got "${raw}"`);
}

/** Parses argv (after the script name) and the environment; throws a readable message on bad input. */
export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const flags = new Map<string, string>();
  const VALUE_FLAGS = new Set([
    'patients',
    'duration',
    'warmup',
    'storage',
    'resources',
    'concurrency',
    'connections',
    'seed',
    'pg-url',
    'phases',
    'only',
    'bots-rate',
    'bots-duration',
    'bots-risky',
    'bots-settle',
  ]);
  const BOOL_FLAGS = new Set(['large', 'cpu-prof', 'keep', 'analyze', 'no-analyze', 'help']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unexpected argument "${arg}"\n\n${USAGE}`);
    const [, name, inline] = m;
    if (BOOL_FLAGS.has(name)) flags.set(name, inline ?? 'true');
    else if (VALUE_FLAGS.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
      flags.set(name, value);
    } else if (name === 'h') flags.set('help', 'true');
    else throw new Error(`unknown option --${name}\n\n${USAGE}`);
  }
  const get = (flag: string, envName: string): string | undefined => flags.get(flag) ?? env[envName];

  const large = truthy(get('large', 'BENCH_LARGE'));
  const resourcesRaw = get('resources', 'BENCH_RESOURCES');
  const targetResources = resourcesRaw ? positiveInt('--resources', resourcesRaw, 0) : large ? LARGE_TARGET : undefined;
  const storageRaw = get('storage', 'BENCH_STORAGE') ?? (targetResources ? 'postgres' : 'both');
  if (!['embedded', 'postgres', 'both'].includes(storageRaw))
    throw new Error(`--storage must be embedded, postgres or both, got "${storageRaw}"`);
  const storages: StorageKind[] = storageRaw === 'both' ? ['embedded', 'postgres'] : [storageRaw as StorageKind];
  const phasesRaw = (flags.get('only') ?? get('phases', 'BENCH_PHASES') ?? PHASES.join(','))
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x && x !== 'none');
  for (const p of phasesRaw) if (!PHASES.includes(p as Phase)) throw new Error(`--phases takes ${PHASES.join(', ')} or none, got "${p}"`);
  // Always in the order of PHASES, so the bots' backlog never overlaps a CRUD or search measurement.
  const phases = PHASES.filter((p) => phasesRaw.includes(p));
  const durationRaw = get('duration', 'BENCH_DURATION');
  const duration = positiveInt('--duration', durationRaw, 15);
  return {
    phases,
    bots: {
      rate: positiveNumber('--bots-rate', get('bots-rate', 'BENCH_BOTS_RATE'), 20),
      // A quick look (`--duration 5`) shortens this phase too, unless it has its own duration.
      seconds: positiveInt('--bots-duration', get('bots-duration', 'BENCH_BOTS_DURATION'), durationRaw ? duration : 30),
      riskyShare: share('--bots-risky', get('bots-risky', 'BENCH_BOTS_RISKY'), 0.2),
      settleSeconds: positiveInt('--bots-settle', get('bots-settle', 'BENCH_BOTS_SETTLE'), 300),
    },
    patients: positiveInt('--patients', get('patients', 'BENCH_PATIENTS'), 50),
    targetResources,
    duration,
    warmup: nonNegative('--warmup', get('warmup', 'BENCH_WARMUP'), 2),
    storages,
    ingestConcurrency: positiveInt('--concurrency', get('concurrency', 'BENCH_CONCURRENCY'), 4),
    connections: positiveInt('--connections', get('connections', 'BENCH_CONNECTIONS'), 8),
    seed: get('seed', 'BENCH_SEED') || 'haven-bench',
    pgAdminUrl: get('pg-url', 'BENCH_PG_URL') || env.DATABASE_URL || DEFAULT_PG_ADMIN_URL,
    cpuProf: truthy(get('cpu-prof', 'BENCH_CPU_PROF')),
    keep: truthy(get('keep', 'BENCH_KEEP')),
    analyze: analyzeMode(flags.has('no-analyze') ? 'off' : get('analyze', 'BENCH_ANALYZE')),
    help: truthy(flags.get('help')),
  };
}
