/**
 * All phases on one storage: scratch storage → server child → ingest → CRUD → search → bots → stop → drop.
 * Failures are recorded in the result (`blocked`) instead of thrown, so the other storage still runs and
 * the phases that did complete are still reported.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runBots, type BotsMark } from './bots.ts';
import { emptyPopulation, ingest, type IngestProgress } from './ingest.ts';
import { probe, runLoad, skippedResult, type Scenario } from './load.ts';
import type { BenchOptions } from './options.ts';
import { summarizeProfile, type PhaseWindow } from './profile.ts';
import { botsLines, fmt, fmtDuration, ingestLine, loadLine } from './report.ts';
import type { MeasuredLoad, PhaseCpu, StorageResult } from './results-model.ts';
import { crudScenarios, searchScenarios } from './scenarios.ts';
import {
  createStorage,
  machineCpuSeconds,
  postgresCpuByPid,
  processCpuSeconds,
  processMemory,
  startServerProcess,
  type BenchStorage,
  type ServerProcess,
  type StorageKind,
} from './server-process.ts';

/** Resources per generated patient, on average (for sizing large runs and ETAs). */
const RESOURCES_PER_PATIENT = 101.8;

interface CpuSnapshot {
  wall: number;
  server: number;
  bench: number;
  /** CPU seconds per PostgreSQL pid working for the scratch database (postgres storage only). */
  postgres: Map<number, number> | undefined;
  machine: { busy: number; total: number };
}

async function snapshot(pid: number, storage: BenchStorage): Promise<CpuSnapshot> {
  const pids = await storage.postgresPids().catch(() => undefined);
  const u = process.cpuUsage();
  return {
    wall: performance.now(),
    server: processCpuSeconds(pid),
    bench: (u.user + u.system) / 1e6,
    postgres: pids ? postgresCpuByPid(pids) : undefined,
    machine: machineCpuSeconds(),
  };
}

/**
 * PostgreSQL CPU between two snapshots, per process: a process that started in between counts from zero,
 * one that ended is lost (pool connections idle out and reconnect), so the sum can undercount, never go
 * negative.
 */
function postgresDelta(a: Map<number, number>, b: Map<number, number>): number {
  let total = 0;
  for (const [pid, cpu] of b) total += Math.max(0, cpu - (a.get(pid) ?? 0));
  return total;
}

function cpuSince(a: CpuSnapshot, b: CpuSnapshot): PhaseCpu {
  const seconds = (b.wall - a.wall) / 1000;
  const pct = (x: number): number => Math.round((1000 * x) / Math.max(seconds, 1e-9)) / 10;
  const machineTotal = b.machine.total - a.machine.total;
  const pg = a.postgres && b.postgres ? postgresDelta(a.postgres, b.postgres) : undefined;
  return {
    seconds: Math.round(seconds * 100) / 100,
    serverPct: pct(b.server - a.server),
    benchPct: pct(b.bench - a.bench),
    postgresPct: pg === undefined ? undefined : pct(pg),
    machineBusyPct: machineTotal > 0 ? Math.round((1000 * (b.machine.busy - a.machine.busy)) / machineTotal) / 10 : 0,
    otherPct: Math.max(0, pct(b.machine.busy - a.machine.busy - (b.server - a.server) - (b.bench - a.bench) - (pg ?? 0))),
  };
}

/** Counts error/fatal lines of the server's JSON log and keeps a few distinct ones. */
function scanLog(file: string): { errors: number; samples: string[] } {
  let errors = 0;
  const samples = new Set<string>();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { errors: 0, samples: [] };
  }
  for (const line of text.split('\n')) {
    if (!line) continue;
    let level: unknown;
    let summary = line;
    try {
      const ev = JSON.parse(line) as Record<string, unknown>;
      level = ev.level;
      summary = `${String(ev.event ?? '')} ${String(ev.method ?? '')} ${String(ev.error ?? ev.message ?? '')}`.trim();
    } catch {
      level = /error|exception/i.test(line) ? 'error' : undefined; // a stack trace or a non-JSON crash
    }
    if (level === 'error' || level === 'fatal') {
      errors++;
      if (samples.size < 5) samples.add(summary.slice(0, 240));
    }
  }
  return { errors, samples: [...samples] };
}

function progressPrinter(target: number, label: string): (p: IngestProgress) => void {
  const tty = process.stderr.isTTY;
  let lastPrinted = 0;
  return (p) => {
    const now = performance.now();
    // On a terminal, rewrite one line every tick; in a log file, one line every 15 s.
    if (!tty && now - lastPrinted < 15_000 && p.resources < target) return;
    lastPrinted = now;
    const rate = p.resources / Math.max(p.elapsedSeconds, 1e-9);
    const eta = rate > 0 ? Math.max(0, (target - p.resources) / rate) : Number.NaN;
    const line =
      `  ${label} ${fmt(p.resources)} / ${fmt(target)} resources (${Math.min(100, (100 * p.resources) / target).toFixed(1)}%) · ` +
      `${fmt(rate)} res/s · ${p.failed} failed · elapsed ${fmtDuration(p.elapsedSeconds)} · ETA ${fmtDuration(eta)}`;
    process.stderr.write(tty ? `\r${line.padEnd(120)}` : `${line}\n`);
  };
}

const DRAIN_LIMIT_MS = 300_000;
/** Postgres statements still running this long after a scenario are cancelled (their clients are gone). */
const CANCEL_AFTER_MS = 5_000;
/** A single request slower than this is not load-tested: 8 connections would only pile up work. */
const PROBE_LIMIT_MS = 3_000;

/**
 * Waits until requests still running when autocannon stopped have finished, so a slow scenario does not
 * bleed into the next one's numbers. Embedded: /healthz queues behind PGlite's running queries.
 * Postgres: no statement left in pg_stat_activity for the scratch database; stragglers are cancelled.
 */
async function drain(server: ServerProcess, storage: BenchStorage, log: (s: string) => void): Promise<void> {
  const t0 = performance.now();
  const elapsed = (): number => performance.now() - t0;
  let cancelled = 0;
  try {
    await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(DRAIN_LIMIT_MS) }).then((r) => r.text());
    while (elapsed() < DRAIN_LIMIT_MS && ((await storage.activeQueries()) ?? 0) > 0) {
      if (elapsed() > CANCEL_AFTER_MS) cancelled += await storage.cancelActive();
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch {
    /* timed out: go on, the log line says so */
  }
  const waited = elapsed() / 1000;
  if (waited > 1) {
    log(
      `      (waited ${fmt(waited)} s for requests still running after the scenario` +
        `${cancelled ? `; cancelled ${cancelled} statements` : ''}${elapsed() >= DRAIN_LIMIT_MS ? '; gave up' : ''})`,
    );
  }
}

async function measured(
  server: ServerProcess,
  storage: BenchStorage,
  scenario: Scenario,
  opts: BenchOptions,
  log: (s: string) => void,
): Promise<MeasuredLoad> {
  if (server.exitCode() !== null) throw new Error(`server exited (code ${server.exitCode()}); see its log`);
  const before = await snapshot(server.pid, storage);
  const p = await probe(server.url, scenario, PROBE_LIMIT_MS * 10);
  if (p.error) throw new Error(`${scenario.name}: request failed (${p.error}); is the server still running?`);
  if (p.timedOut || p.ms > PROBE_LIMIT_MS) {
    const reason = `one request alone took ${p.timedOut ? `more than ${fmt(p.ms / 1000)} s (timed out)` : `${fmt(p.ms / 1000)} s`}; not load-tested`;
    await drain(server, storage, log);
    const cpu = cpuSince(before, await snapshot(server.pid, storage));
    const result = skippedResult(scenario, p, reason, opts.connections);
    for (const line of loadLine(result, cpu)) log(line);
    return { ...result, cpu };
  }
  if (opts.warmup > 0) {
    await runLoad(server.url, scenario, { connections: opts.connections, seconds: opts.warmup });
    await drain(server, storage, log);
  }
  const start = await snapshot(server.pid, storage);
  const result = await runLoad(server.url, scenario, { connections: opts.connections, seconds: opts.duration });
  const cpu = cpuSince(start, await snapshot(server.pid, storage));
  for (const line of loadLine(result, cpu)) log(line);
  await drain(server, storage, log);
  return { ...result, cpu };
}

/** Runs every phase on `kind`; always drops the scratch storage. */
export async function runStorage(
  kind: StorageKind,
  opts: BenchOptions,
  ctx: {
    repoRoot: string;
    tmpRoot: string;
    resultsDir: string;
    stamp: string;
    log: (s: string) => void;
    /** Registers cleanup for Ctrl-C; returns an unregister function. */
    onInterrupt: (fn: () => Promise<void>) => () => void;
  },
): Promise<StorageResult> {
  const { log } = ctx;
  const result: StorageResult = { kind, info: {}, crud: [], search: [], storedResources: 0 };
  let storage: BenchStorage | undefined;
  let server: ServerProcess | undefined;
  const cleanup = async (force = false): Promise<void> => {
    await (force ? server?.kill() : server?.stop())?.catch(() => undefined);
    if (opts.keep && !force && storage) {
      log(`  kept: ${storage.databaseUrl ?? storage.dataDir} (--keep: drop it yourself)`);
      return;
    }
    await storage?.drop().catch((err: unknown) => log(`  could not drop scratch storage: ${String(err)}`));
  };
  const unregister = ctx.onInterrupt(() => cleanup(true));
  const profDir = opts.cpuProf ? join(ctx.resultsDir, `${ctx.stamp}-${kind}-profile`) : undefined;
  const windows: PhaseWindow[] = [];
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const from = performance.now() - (server?.spawnedAt ?? 0);
    try {
      return await fn();
    } finally {
      windows.push({ name, fromMs: from, toMs: performance.now() - (server?.spawnedAt ?? 0) });
    }
  };
  try {
    log('');
    log(`== ${kind} ==`);
    storage = await createStorage(kind, ctx.tmpRoot, opts.pgAdminUrl);
    result.info = await storage.describe();
    log(
      `  storage: ${Object.entries(result.info)
        .map(([k, v]) => `${k}=${v}`)
        .join(' · ')}`,
    );
    if (profDir) mkdirSync(profDir, { recursive: true });
    const t0 = performance.now();
    const running = await startServerProcess({ repoRoot: ctx.repoRoot, storage, cpuProfDir: profDir });
    server = running;
    result.startupSeconds = Math.round((performance.now() - t0) / 10) / 100;
    log(`  server: pid ${server.pid} at ${server.fhirBase}, ready in ${fmt(result.startupSeconds)} s · log ${server.logFile}`);

    // --- ingest
    const population = emptyPopulation(opts.seed);
    const target = opts.targetResources;
    const patients = target ? Math.ceil((target / RESOURCES_PER_PATIENT) * 1.2) : opts.patients;
    const expected = target ?? Math.round(opts.patients * RESOURCES_PER_PATIENT);
    log(
      `  ingest: ${target ? `until ${fmt(target)} resources are stored` : `${opts.patients} patients (~${fmt(expected)} resources)`}, ` +
        `transaction bundles at concurrency ${opts.ingestConcurrency}`,
    );
    const before = await snapshot(running.pid, storage);
    const ing = await phase('ingest', () =>
      ingest({
        fhirBase: running.fhirBase,
        seed: opts.seed,
        first: 0,
        count: patients,
        targetResources: target,
        concurrency: opts.ingestConcurrency,
        population,
        onProgress: progressPrinter(expected, 'ingest'),
        progressEveryMs: target ? 2_000 : 5_000,
      }),
    );
    if (process.stderr.isTTY) process.stderr.write('\n');
    const cpu = cpuSince(before, await snapshot(running.pid, storage));
    result.ingest = { ...ing, cpu };
    result.storedResources = population.storedResources;
    for (const line of ingestLine(ing, cpu)) log(line);
    if (population.patients.size === 0) throw new Error('ingest stored no patients; the load phases were skipped');
    const store = storage;
    const analyze = kind === 'postgres' && (opts.analyze === 'on' || (opts.analyze === 'auto' && result.info.autovacuum === 'off'));
    if (analyze) {
      const stats = await storage.statistics().catch(() => undefined);
      if (stats) {
        result.info.statisticsAfterIngest = stats;
        log(`  planner statistics after ingest: ${stats}`);
      }
      const t = performance.now();
      await storage.analyze();
      log(
        `  ANALYZE after ingest took ${fmt((performance.now() - t) / 1000)} s (` +
          `${opts.analyze === 'on' ? '--analyze' : 'the server runs with autovacuum=off, so the bench stands in for it; --no-analyze to skip'})`,
      );
    }
    result.info.analyzedAfterIngest = String(analyze);

    // --- CRUD, then search, each scenario its own autocannon run
    const runAll = async (scenarios: Scenario[], into: MeasuredLoad[]): Promise<void> => {
      for (const s of scenarios) into.push(await measured(running, store, s, opts, log));
    };
    if (opts.phases.includes('crud')) {
      log(`  CRUD: ${opts.connections} connections, ${opts.duration} s per kind (after ${opts.warmup} s warm-up)`);
      await phase('CRUD', () => runAll(crudScenarios(population, opts.seed), result.crud));
    }
    if (opts.phases.includes('search')) {
      const stats = await storage.statistics().catch(() => undefined);
      if (stats) {
        result.info.statisticsBeforeSearch = stats;
        log(`  planner statistics before search: ${stats}`);
        if (stats.startsWith('0/')) log('    (no statistics yet: plans use default estimates; --analyze shows the steady state)');
      }
      log(`  search: ${opts.connections} connections, ${opts.duration} s per query (after ${opts.warmup} s warm-up)`);
      await phase('search', () => runAll(searchScenarios(population, opts.seed), result.search));
    }

    // --- bots: last, because its backlog keeps the server busy after the load
    if (opts.phases.includes('bots')) {
      // The server analyzes after every ~1,000 written versions (store/analyze-schedule.ts), so the ingested tables
      // have statistics here on both storages.
      const live = running;
      log(
        `  bots: PHQ-9 QuestionnaireResponses at ${opts.bots.rate}/s for ${opts.bots.seconds} s, open loop, ` +
          `${Math.round(opts.bots.riskyShare * 100)}% with item 9 ≥ 1 (after ${opts.warmup} s warm-up)`,
      );
      const marks = new Map<BotsMark, CpuSnapshot>();
      const run = (): ReturnType<typeof runBots> =>
        runBots({
          fhirBase: live.fhirBase,
          patients: population.patients.items.map((p) => p.id),
          opts: opts.bots,
          warmupSeconds: opts.warmup,
          seed: opts.seed,
          log,
          mark: async (m) => {
            marks.set(m, await snapshot(live.pid, store));
          },
        });
      const bots = await phase('bots', run);
      const [start, loaded, settled] = (['load-start', 'load-end', 'settled'] as const).map((m) => marks.get(m) as CpuSnapshot);
      result.bots = { ...bots, cpu: cpuSince(start, loaded), settleCpu: cpuSince(loaded, settled) };
      for (const line of botsLines(bots, result.bots.cpu, result.bots.settleCpu)) log(line);
    }
  } catch (err) {
    result.blocked = err instanceof Error ? err.message : String(err);
    log(`  BLOCKED: ${result.blocked}`);
  } finally {
    try {
      if (server) {
        result.serverPeakRssBytes = processMemory(server.pid).peak || undefined;
        await server.stop();
        // After the stop: PGlite flushes its files on close.
        result.sizeBytes = await storage?.sizeBytes().catch(() => undefined);
        const scan = scanLog(server.logFile);
        result.serverLogErrors = scan.errors;
        result.serverLogSamples = scan.samples;
        if (scan.errors > 0 || result.blocked) {
          mkdirSync(ctx.resultsDir, { recursive: true });
          result.serverLogCopy = join(ctx.resultsDir, `${ctx.stamp}-${kind}-server.log`);
          copyFileSync(server.logFile, result.serverLogCopy);
        }
      }
      if (profDir && existsSync(profDir)) {
        const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
        if (file) result.profile = { file: join(profDir, file), top: summarizeProfile(join(profDir, file), windows) };
      }
    } finally {
      await cleanup();
      unregister();
    }
  }
  return result;
}
