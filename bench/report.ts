/**
 * Console output: a line per phase while running, then per-storage tables, the embedded/PostgreSQL
 * comparison and the PASS/MISS list. A benchmark reports; nothing here ever fails the process.
 */
import type { BotsResult, OutputLatency } from './bots.ts';
import type { IngestResult } from './ingest.ts';
import type { LoadResult } from './load.ts';
import {
  EMBEDDED_FACTOR,
  TARGETS,
  belowConditions,
  metricsOf,
  scaleOf,
  slowdown,
  verdict,
  type Metric,
  type PhaseCpu,
  type StorageResult,
} from './results-model.ts';

/** Human number: thousands separators, fewer decimals as values grow, "-" for missing. */
export function fmt(n: number | undefined): string {
  if (n === undefined || Number.isNaN(n)) return '-';
  const abs = Math.abs(n);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtBytes(n: number | undefined): string {
  if (!n) return '-';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** Renders rows as aligned columns; the first column left-aligned, the others right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], indent = '  '): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    indent +
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), indent + widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

function cpuText(cpu: PhaseCpu): string {
  const pg = cpu.postgresPct === undefined ? '' : ` · postgres ${Math.round(cpu.postgresPct)}%`;
  return `CPU (100% = 1 core): server ${Math.round(cpu.serverPct)}%${pg} · bench ${Math.round(cpu.benchPct)}% · other processes ${Math.round(cpu.otherPct)}% · machine ${Math.round(cpu.machineBusyPct)}% of all cores busy`;
}

function errorsText(failed: number, errors: Record<string, { count: number; sample: string }>): string[] {
  if (failed === 0) return [];
  return Object.entries(errors).map(([k, e]) => `      ${e.count} × ${k}: ${e.sample}`);
}

/** One line (plus error samples) after the ingest phase. */
export function ingestLine(r: IngestResult, cpu: PhaseCpu): string[] {
  const l = r.bundleLatency;
  return [
    `  ingest: ${fmt(r.resources)} resources in ${fmt(r.seconds)} s = ${fmt(r.resourcesPerSecond)} resources/s ` +
      `(${fmt(r.bundlesPerSecond)} bundles/s) · bundle p50 ${fmt(l.p50)} p95 ${fmt(l.p95)} p99 ${fmt(l.p99)} ms · ` +
      `${r.bundlesFailed} failed of ${r.bundles}`,
    `          ${cpuText(cpu)}`,
    ...errorsText(r.bundlesFailed, r.errors),
  ];
}

/** One line (plus error samples) after a load scenario. */
export function loadLine(r: LoadResult, cpu: PhaseCpu): string[] {
  if (r.skipped) return [`  ${r.name.padEnd(40)} SKIPPED: ${r.skipped}`, ...r.errorSamples.map((s) => `      ${s}`)];
  const l = r.latency;
  const lines = [
    `  ${r.name.padEnd(40)} ${fmt(r.requestsPerSecond).padStart(8)} req/s · p50 ${fmt(l.p50)} p95 ${fmt(l.p95)} p99 ${fmt(l.p99)} ms · ` +
      `non-2xx ${r.non2xx} · errors ${r.errors}`,
    `  ${''.padEnd(40)} ${cpuText(cpu)}`,
  ];
  for (const s of r.errorSamples) lines.push(`      ${s}`);
  if (r.ok + r.non2xx + r.errors === 0)
    lines.push(`      no response arrived within the ${r.seconds} s run (requests slower than the run itself)`);
  return lines;
}

function outputText(l: OutputLatency): string {
  const missing = l.missing ? ` · ${l.missing} of ${l.expected} never arrived (counted as ∞)` : '';
  return (
    `p50 ${fmt(l.p50)} p95 ${fmt(l.p95)} p99 ${fmt(l.p99)} max ${fmt(l.max)} ms (${l.count} of ${l.expected})${missing} · ` +
    `p50 by third of the load ${l.p50ByThird.map(fmt).join(' / ')} ms`
  );
}

/** Lines after the bots phase: the load as sent and taken, both latencies, CPU during the load and after. */
export function botsLines(r: BotsResult, cpu: PhaseCpu, settleCpu: PhaseCpu): string[] {
  return [
    `  bots: ${r.committed} of ${r.sent} responses committed at ${fmt(r.commitRate)}/s (offered ${fmt(r.rate)}/s for ${r.seconds} s; ` +
      `${r.riskyCommitted} with item 9 ≥ 1) · non-2xx ${r.non2xx} · errors ${r.errors} · ` +
      `POST p50 ${fmt(r.create.p50)} p95 ${fmt(r.create.p95)} ms · sender late p99 ${fmt(r.senderLateMs.p99)} max ${fmt(r.senderLateMs.max)} ms`,
    `    QR → score Observation: ${outputText(r.toObservation)}`,
    `    QR → risk Task:         ${outputText(r.toTask)}`,
    `    backlog after the load: ${r.settled ? `worked off ${fmt(r.settleSeconds)} s after the last response` : 'NOT worked off (gave up waiting)'}`,
    `    load:    ${cpuText(cpu)}`,
    `    backlog: ${cpuText(settleCpu)} (${fmt(settleCpu.seconds)} s)`,
    ...r.errorSamples.map((s) => `      ${s}`),
  ];
}

/** Per-storage table: every phase with throughput, latency, failures and CPU. */
export function storageTable(r: StorageResult): string[] {
  const title = r.kind === 'embedded' ? 'embedded (PGlite)' : `postgres (${r.info.version ?? 'PostgreSQL'})`;
  const out = [
    '',
    `${title}: ${fmt(r.storedResources)} resources ingested · ${fmtBytes(r.sizeBytes)} on disk · server peak RSS ${fmtBytes(r.serverPeakRssBytes)}` +
      (r.startupSeconds !== undefined ? ` · server start ${fmt(r.startupSeconds)} s` : ''),
  ];
  if (r.blocked) out.push(`  BLOCKED: ${r.blocked}`);
  const rows: string[][] = [];
  const cpuCells = (c: PhaseCpu): string[] => [
    `${Math.round(c.serverPct)}%`,
    c.postgresPct === undefined ? '-' : `${Math.round(c.postgresPct)}%`,
    `${Math.round(c.otherPct)}%`,
    `${Math.round(c.machineBusyPct)}%`,
  ];
  if (r.ingest) {
    const i = r.ingest;
    rows.push([
      'ingest (res/s; bundle latency)',
      fmt(i.resourcesPerSecond),
      fmt(i.bundleLatency.p50),
      fmt(i.bundleLatency.p95),
      fmt(i.bundleLatency.p99),
      String(i.bundlesFailed),
      '-',
      ...cpuCells(i.cpu),
    ]);
  }
  for (const l of [...r.crud, ...r.search]) {
    if (l.skipped) {
      rows.push([`${l.name} (skipped: too slow)`, '-', '-', '-', '-', '-', '-', '-', '-', '-', '-']);
      continue;
    }
    rows.push([
      l.name,
      fmt(l.requestsPerSecond),
      fmt(l.latency.p50),
      fmt(l.latency.p95),
      fmt(l.latency.p99),
      String(l.non2xx),
      String(l.errors),
      ...cpuCells(l.cpu),
    ]);
  }
  if (r.bots) {
    const b = r.bots;
    rows.push([
      'bots: POST QuestionnaireResponse',
      fmt(b.commitRate),
      fmt(b.create.p50),
      fmt(b.create.p95),
      fmt(b.create.p99),
      String(b.non2xx),
      String(b.errors),
      ...cpuCells(b.cpu),
    ]);
    for (const [label, l] of [
      ['bots: QR → score Observation', b.toObservation],
      ['bots: QR → risk Task', b.toTask],
    ] as const) {
      rows.push([label, '-', fmt(l.p50), fmt(l.p95), fmt(l.p99), '-', l.missing ? `${l.missing} missing` : '0', ...cpuCells(b.settleCpu)]);
    }
  }
  if (rows.length) {
    out.push(...table(['phase', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'non-2xx', 'errors', 'cpu:server', 'pg', 'other', 'machine'], rows));
    out.push('  (ingest row: resources/s and whole-bundle latency; cpu: 100% = one core, machine = share of all cores)');
    if (r.bots) {
      out.push(
        '  (bots rows: responses committed/s; output latency = output commit − response commit, server clock; ' +
          'POST row CPU during the load, output rows CPU while the bots worked off the backlog)',
      );
    }
  }
  if (r.serverLogErrors) {
    out.push(`  server log: ${r.serverLogErrors} error lines${r.serverLogCopy ? ` (kept at ${r.serverLogCopy})` : ''}`);
    for (const s of r.serverLogSamples ?? []) out.push(`    ${s}`);
  }
  if (r.profile) {
    out.push(`  server CPU profile: ${r.profile.file}`);
    for (const s of r.profile.top) out.push(`    ${s}`);
  }
  return out;
}

/** Embedded vs PostgreSQL per metric, with the targets that apply to each. */
export function comparisonTable(results: readonly StorageResult[]): string[] {
  const byKind = new Map(results.map((r) => [r.kind, r]));
  const emb = byKind.get('embedded');
  const pg = byKind.get('postgres');
  const metrics = new Map<string, { e?: Metric; p?: Metric }>();
  for (const m of emb ? metricsOf(emb) : []) metrics.set(m.name, { e: m });
  for (const m of pg ? metricsOf(pg) : []) metrics.set(m.name, { ...metrics.get(m.name), p: m });
  const both = emb !== undefined && pg !== undefined;
  const rows: string[][] = [];
  let worst: { name: string; factor: number } | undefined;
  for (const [name, { e, p }] of metrics) {
    const target = TARGETS.find((t) => t.metric === name);
    const better = (e ?? p)?.better ?? 'lower';
    // A lower bound on either side makes the ratio meaningless.
    const factor = e && p && !e.atLeast && !p.atLeast ? slowdown(better, e.value, p.value) : Number.NaN;
    if (both && Number.isFinite(factor) && (!worst || factor > worst.factor)) worst = { name, factor };
    const ratio = e && p && p.value > 0 && !e.atLeast && !p.atLeast ? e.value / p.value : Number.NaN;
    const row = [name];
    if (emb) row.push(`${e?.atLeast ? '≥' : ''}${fmt(e?.value)}`);
    if (pg) row.push(`${p?.atLeast ? '≥' : ''}${fmt(p?.value)}`);
    if (both) row.push(Number.isNaN(ratio) ? '-' : ratio.toFixed(2), Number.isNaN(factor) ? '-' : `${factor.toFixed(2)}×`);
    row.push(target?.label ?? '');
    if (emb) row.push(target && e ? verdict(target, e.value, scaleOf(emb), e.atLeast) : '');
    if (pg) row.push(target && p ? verdict(target, p.value, scaleOf(pg), p.atLeast) : '');
    if (both) row.push(Number.isNaN(factor) ? '' : factor <= EMBEDDED_FACTOR ? 'PASS' : 'MISS');
    rows.push(row);
  }
  const header = ['metric'];
  if (emb) header.push('embedded');
  if (pg) header.push('postgres');
  if (both) header.push('emb/pg', 'emb worse by');
  header.push('target');
  if (emb) header.push('embedded');
  if (pg) header.push('postgres');
  if (both) header.push(`emb ≤ ${EMBEDDED_FACTOR}× pg`);
  const out = ['', 'Summary', ...table(header, rows)];
  if (both && worst) {
    out.push(
      '',
      `  embedded within ${EMBEDDED_FACTOR}× of PostgreSQL: ${worst.factor <= EMBEDDED_FACTOR ? 'PASS' : 'MISS'} ` +
        `(worst metric: ${worst.name}, embedded ${worst.factor.toFixed(2)}× worse)`,
    );
  }
  return out;
}

/** The PASS/MISS list against the issue's targets. */
export function targetLines(results: readonly StorageResult[]): string[] {
  const out = ['', 'Targets (2-core machine, local PostgreSQL)'];
  let smaller = false;
  const slowerRuns: string[] = [];
  for (const r of results) {
    const metrics = new Map(metricsOf(r).map((m) => [m.name, m]));
    const scale = scaleOf(r);
    for (const t of TARGETS) {
      const m = metrics.get(t.metric);
      const v = verdict(t, m?.value, scale, m?.atLeast);
      if (v === 'n/a') continue; // phase not run
      if (belowConditions(t, scale)) {
        if (t.minResources !== undefined) smaller = true;
        if (t.minRate !== undefined && !slowerRuns.includes(r.kind)) slowerRuns.push(r.kind);
      }
      const shown = m?.atLeast ? `≥ ${fmt(m.value)} (one request alone; too slow to load-test)` : fmt(m?.value);
      out.push(`  ${v.padEnd(5)} ${r.kind.padEnd(8)} ${t.metric} ${t.label}: measured ${shown}`);
    }
  }
  if (smaller) {
    const stored = Math.max(...results.map((r) => r.storedResources));
    out.push(`  * measured with ${fmt(stored)} stored resources; the target applies at ≥ 1,000,000 (npm run bench -- --large)`);
  }
  for (const kind of slowerRuns) {
    const r = results.find((x) => x.kind === kind);
    const rate = Math.max(...TARGETS.map((t) => t.minRate ?? 0));
    out.push(
      `  * ${kind}: responses were committed at ${fmt(r?.bots?.commitRate)}/s; the bots targets apply at ${rate}/s (--bots-rate ${rate})`,
    );
  }
  return out;
}
