/**
 * `npm run bench`: Haven's benchmark. Ingests deterministic Synthea-shaped transaction bundles, then runs a
 * CRUD mix and four searches with autocannon and the bots phase (QuestionnaireResponse → score Observation
 * and risk Task latency), on embedded storage (PGlite) and on PostgreSQL, and prints
 * throughput, latency percentiles, the embedded/PostgreSQL ratios and PASS/MISS against the issue's
 * targets. Results go to bench/results/<timestamp>.json. See bench/README.md.
 *
 * It is a benchmark, not a test: it exits 0 whatever the numbers are (1 only for bad options).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions, USAGE, type BenchOptions } from './options.ts';
import { comparisonTable, fmt, fmtBytes, storageTable, targetLines } from './report.ts';
import { TARGETS, metricsOf, scaleOf, verdict, type StorageResult } from './results-model.ts';
import { runStorage } from './storage-run.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = dirname(BENCH_DIR);
const RESULTS_DIR = join(BENCH_DIR, 'results');

function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    loadAverage1m: Math.round(os.loadavg()[0] * 100) / 100,
  };
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(opts: BenchOptions): Promise<void> {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const m = machine();
  log('Haven benchmark');
  log(
    `  machine: ${m.cores} cores (${m.cpuModel}) · ${fmtBytes(Number(m.memoryBytes))} RAM · Node ${m.node} · ${m.platform} · load average ${m.loadAverage1m}`,
  );
  if (Number(m.loadAverage1m) > 0.5 * Number(m.cores)) {
    log(
      `  note: the machine is already busy (load average ${m.loadAverage1m} on ${m.cores} cores); numbers will be lower and noisier. ` +
        'The "other" CPU column shows how much other processes took during each phase.',
    );
  }
  log(
    `  data: seed "${opts.seed}", ${opts.targetResources ? `until ${fmt(opts.targetResources)} resources` : `${opts.patients} patients`} · ` +
      `phases: ${opts.phases.join(', ') || 'none'} · storages: ${opts.storages.join(', ')}`,
  );
  if (opts.phases.includes('crud') || opts.phases.includes('search'))
    log(`  load: ${opts.connections} connections × ${opts.duration} s per kind`);
  if (opts.phases.includes('bots')) {
    log(
      `  bots: PHQ-9 responses at ${opts.bots.rate}/s for ${opts.bots.seconds} s, open loop, ${Math.round(opts.bots.riskyShare * 100)}% with item 9 ≥ 1`,
    );
  }

  const tmpRoot = mkdtempSync(join(os.tmpdir(), 'haven-bench-'));
  const cleanups = new Set<() => Promise<void>>();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping the server and dropping scratch storage…\n`);
    void Promise.allSettled([...cleanups].map((fn) => fn())).then(() => {
      rmSync(tmpRoot, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A reader that goes away (`npm run bench | head`) must not kill the run before it drops its database.
  process.stdout.on('error', () => undefined);
  const onCrash = (err: unknown): void => {
    process.stderr.write(`bench crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    void Promise.allSettled([...cleanups].map((fn) => fn())).then(() => {
      rmSync(tmpRoot, { recursive: true, force: true });
      process.exit(1);
    });
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);

  const results: StorageResult[] = [];
  try {
    for (const kind of opts.storages) {
      results.push(
        await runStorage(kind, opts, {
          repoRoot: REPO_ROOT,
          tmpRoot,
          resultsDir: RESULTS_DIR,
          stamp,
          log,
          onInterrupt: (fn) => {
            cleanups.add(fn);
            return () => cleanups.delete(fn);
          },
        }),
      );
    }
  } finally {
    if (!interrupted && !opts.keep) rmSync(tmpRoot, { recursive: true, force: true });
  }
  // The signal handler drops the storage and exits (130); no partial results file.
  if (interrupted) await new Promise<never>(() => undefined);

  for (const r of results) for (const line of storageTable(r)) log(line);
  for (const line of comparisonTable(results)) log(line);
  for (const line of targetLines(results)) log(line);

  const targets = results.flatMap((r) => {
    const values = new Map(metricsOf(r).map((x) => [x.name, x]));
    return TARGETS.map((t) => {
      const m = values.get(t.metric);
      return {
        storage: r.kind,
        ...t,
        measured: m?.value ?? null,
        atLeast: m?.atLeast ?? false,
        verdict: verdict(t, m?.value, scaleOf(r), m?.atLeast),
      };
    });
  });
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${stamp}.json`);
  const finishedAt = new Date();
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        durationSeconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
        machine: { ...m, loadAverage1mAtEnd: Math.round(os.loadavg()[0] * 100) / 100 },
        options: { ...opts, pgAdminUrl: opts.pgAdminUrl.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@') },
        storages: results,
        targets,
      },
      null,
      2,
    )}\n`,
  );
  log('');
  log(`Results: ${relative(process.cwd(), file) || file} (total ${Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000)} s)`);
}

let opts: BenchOptions;
try {
  opts = parseOptions(process.argv.slice(2), process.env);
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
if (opts.help) {
  log(USAGE);
} else {
  await main(opts);
  // autocannon and fetch keep-alive sockets may linger; the run is complete.
  process.exit(0);
}
