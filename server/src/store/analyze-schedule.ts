/**
 * Refreshing planner statistics, and removing dead rows, where nothing else does: PGlite has no autovacuum, a
 * PostgreSQL server may run with autovacuum off, and even autovacuum cannot see one resource type growing inside
 * the shared tables.
 */
import { INDEX_TABLES } from './index-rows.ts';

/** SQL that counts the stored rows of each resource type (all tenants: statistics are per table). */
export const TYPE_ROWS_SQL = 'SELECT resource_type, count(*)::int AS n FROM resources GROUP BY resource_type';

/** What a run analyses: everything (the volume rule), or the search tables only (a type grew). */
export type AnalyzeScope = 'all' | 'search';

/** A type's writes since the last run that make a run due: at least this many… */
const TYPE_MIN_WRITES = 50;
/**
 * …and at least this share of the type's rows at the last run: the type has doubled. A planner that knows half of a
 * type's rows still plans its lookups on the right index; what went wrong was believing a type had one row. With
 * 20 % (as this was before) a type growing at 20 writes/s (the bots' QuestionnaireResponses) made a run due every
 * 2.5 s, and on PGlite, whose one connection an ANALYZE holds for ~0.2 s, every such run stalled all requests:
 * POST p95 106–311 ms against 17 ms on PostgreSQL.
 */
const TYPE_GROWTH = 1;
/** The gap after a run, as a multiple of the time its ANALYZE took (so it gets at most 1/11 of the time)… */
const GAP_PER_RUN_TIME = 10;
/** …but never less than this. */
const MIN_GAP_MS = 1_000;

/**
 * When to refresh statistics. Two rules:
 * - **Volume** (where nothing else analyses): due after `threshold` written resource versions, whatever the
 *   transactions they came in (a 100-entry transaction Bundle counts 100, a single create 1); each run raises the
 *   threshold by half (up to `max`), so a growing database is analysed about as often as autovacuum would.
 *   Counting transactions instead (as this did before) left an import of transaction Bundles without statistics,
 *   and lookups by key turned into multi-second scans.
 * - **A type grows** (always, autovacuum or not): due when a resource type got at least 50 writes and as many as
 *   the rows it had at the last run (it doubled). Every type shares `resources` and the sp_* tables, so a type that first
 *   appears in a large database (the first risk Tasks among a million Observations) changes too few rows for
 *   autovacuum, and the planner, believing it has one row, plans its searches as nested loops over every row of
 *   the type: the risk bot's Task lookup took 100 ms with 500 Tasks, growing with each Task.
 *
 * Runs are kept apart, like autovacuum's naptime: during a bulk import ANALYZE would otherwise run again and again
 * and take a fifth of the throughput; a due run waits for the gap instead. The gap is 10 times what the last
 * ANALYZE took (so it gets at most ~9 % of the time), at least 1 s and at most `maxGapMs`: on a young database a run
 * takes milliseconds and the next may follow a second later, while a fixed 30 s gap left a fresh database with the
 * statistics of its first few rows through the first 30 s of an import (lookups by key planned on the wrong
 * index, the bots' event reads 0.2–2 s each).
 *
 * What a run covers is decided when it starts ({@link scopeNow}), not when it became due: a run due for a growing
 * type that waited for the gap covers everything if the volume rule came due meanwhile. The first scheduled run
 * always covers everything: on a database that started empty, a search-tables-only run at the 50th write left the
 * history and events tables without statistics for the rest of an import (the volume run then waited for the gap),
 * and the bots' event reads were planned on the wrong index (PostgreSQL ingest fell from ~1,400 to ~600/s).
 */
export class AnalyzeSchedule {
  private sinceLast = 0;
  private threshold: number;
  private readonly max: number;
  private readonly maxGapMs: number;
  private gapMs: number;
  private readonly volume: boolean;
  private lastRun = Number.NEGATIVE_INFINITY;
  private ranAll = false;
  private pending = false;
  private readonly typeWrites = new Map<string, number>();
  private typeRows: ReadonlyMap<string, number> = new Map();

  /** `volume: false`: the type rule only (a server whose autovacuum keeps the volume in check). */
  constructor(initial = 1_000, max = 100_000, maxGapMs = 30_000, volume = true) {
    this.threshold = initial;
    this.max = max;
    this.maxGapMs = maxGapMs;
    this.gapMs = maxGapMs;
    this.volume = volume;
  }

  /**
   * Records `count` written versions (of `resourceType`, when known) at time `now` (ms). Returns after how many ms
   * ANALYZE should run (0: now), or undefined when none is due or one is already scheduled. When it runs, ask
   * {@link scopeNow} what it covers, then call {@link ran}.
   */
  noteWrites(count: number, now: number, resourceType?: string): number | undefined {
    this.sinceLast += count;
    if (resourceType !== undefined) this.typeWrites.set(resourceType, (this.typeWrites.get(resourceType) ?? 0) + count);
    if (this.pending) return undefined;
    if (!this.volumeDue() && (resourceType === undefined || !this.typeGrew(resourceType))) return undefined;
    this.pending = true;
    return Math.max(0, this.lastRun + this.gapMs - now);
  }

  /**
   * What a run starting now covers: everything when the volume rule is due or no run has covered everything yet
   * (with the volume rule on); otherwise only `resources` and the sp_* tables (the history and events tables, the
   * largest, do not change their plans when one type grows).
   */
  scopeNow(): AnalyzeScope {
    return this.volume && (!this.ranAll || this.volumeDue()) ? 'all' : 'search';
  }

  private volumeDue(): boolean {
    return this.volume && this.sinceLast >= this.threshold;
  }

  private typeGrew(resourceType: string): boolean {
    const written = this.typeWrites.get(resourceType) ?? 0;
    return written >= TYPE_MIN_WRITES && written >= TYPE_GROWTH * (this.typeRows.get(resourceType) ?? 0);
  }

  /**
   * Records a completed ANALYZE of `scope` at `now`, with the rows of each type it saw ({@link TYPE_ROWS_SQL});
   * without them the type rule keeps its previous counts. A run of the search tables only leaves the volume
   * count alone. `tookMs`, how long its ANALYZE took, sets the gap before the next one (unknown: the longest gap).
   */
  ran(now: number, typeRows?: ReadonlyMap<string, number>, scope: AnalyzeScope = 'all', tookMs?: number): void {
    this.pending = false;
    this.lastRun = now;
    this.gapMs = tookMs === undefined ? this.maxGapMs : Math.min(this.maxGapMs, Math.max(MIN_GAP_MS, GAP_PER_RUN_TIME * tookMs));
    if (scope === 'all') {
      this.ranAll = true;
      this.sinceLast = 0;
      this.threshold = Math.min(this.max, Math.ceil(this.threshold * 1.5));
    }
    this.typeWrites.clear();
    if (typeRows) this.typeRows = typeRows;
  }

  /** Sets the rows of each type without a run (at start, on a server that analyses by itself). */
  knowTypes(typeRows: ReadonlyMap<string, number>): void {
    this.typeRows = typeRows;
  }
}

/** SQL that lists Haven's own tables (those of the current schema), quoted for {@link scheduledRunStatements}. */
export const OWN_TABLES_SQL = `SELECT format('%I', tablename) AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`;

/**
 * The statements a run of `scope` executes, one per table. For 'all' (the volume rule: only where nothing else
 * vacuums, i.e. PGlite, or PostgreSQL with autovacuum off) it stands in for autovacuum: `VACUUM (ANALYZE)` of each
 * of Haven's own tables (`ownTables`, from {@link OWN_TABLES_SQL}), not the system catalogs, which a bare ANALYZE
 * also reads (~0.2 s even on an empty database, and the gap after a run grows with it). Without the VACUUM nothing
 * ever removed dead rows there: every event is numbered by an update, so after a 1M-resource ingest `haven_events`
 * held 1M dead rows (344 MB for 1M live events), the sequencer's index of unnumbered events kept their entries, and
 * updated resources and their replaced index rows stayed on disk for good. Once a table has been vacuumed, a run
 * reads only the pages written since (the visibility map): on that 1M database a second VACUUM (ANALYZE) of
 * everything took 2.5 s against 2.0 s for ANALYZE alone. For 'search' (a type grew), ANALYZE of `resources` and each
 * sp_* table.
 *
 * One statement per table, because PGlite has one session: other queries wait for a running statement, but get
 * their turn between two. A single statement over every table held everything up for the whole run.
 */
export function scheduledRunStatements(scope: AnalyzeScope, ownTables: readonly string[]): string[] {
  if (scope === 'search') return ['resources', ...Object.values(INDEX_TABLES)].map((t) => `ANALYZE ${t}`);
  return ownTables.length > 0 ? ownTables.map((t) => `VACUUM (ANALYZE) ${t}`) : ['VACUUM (ANALYZE)'];
}

/** The rows of {@link TYPE_ROWS_SQL} as a map. */
export function typeRowsOf(rows: readonly { resource_type: string; n: number }[]): Map<string, number> {
  return new Map(rows.map((r) => [r.resource_type, Number(r.n)]));
}

/** What a scheduled run reports when it ends (for the server log: table counts and timings, never data). */
export interface MaintenanceReport {
  readonly scope: AnalyzeScope;
  /** 'VACUUM (ANALYZE)' for the volume rule, 'ANALYZE' for a growing type. */
  readonly operation: 'VACUUM (ANALYZE)' | 'ANALYZE';
  readonly tables: number;
  readonly tookMs: number;
  /** Why it failed (error class and message), when it did. */
  readonly error?: string;
}

/** Receives a report per scheduled run. */
export type MaintenanceListener = (report: MaintenanceReport) => void;

/**
 * Runs one scheduled run, as both engines do when {@link AnalyzeSchedule.noteWrites} said it was due: asks the
 * schedule what it covers now, runs its statements one after the other through `exec`, times them (not the row
 * count after), reads the rows per type, records the run and reports it to `onReport`. Never rejects: a failed run is
 * recorded without counts (the schedule then waits its longest gap) and reported with its error.
 */
export async function runScheduledAnalyze(
  schedule: AnalyzeSchedule,
  exec: (sql: string) => Promise<unknown>,
  readTypeRows: () => Promise<Map<string, number>>,
  ownTables: readonly string[],
  onReport?: MaintenanceListener,
): Promise<void> {
  const scope = schedule.scopeNow();
  const statements = scheduledRunStatements(scope, ownTables);
  const base = { scope, operation: scope === 'all' ? 'VACUUM (ANALYZE)' : 'ANALYZE', tables: statements.length } as const;
  const started = Date.now();
  try {
    for (const sql of statements) await exec(sql);
    const tookMs = Date.now() - started;
    schedule.ran(Date.now(), await readTypeRows(), scope, tookMs);
    onReport?.({ ...base, tookMs });
  } catch (err) {
    schedule.ran(Date.now(), undefined, scope);
    const error = err instanceof Error ? `${err.constructor.name}: ${err.message.slice(0, 200)}` : 'error';
    onReport?.({ ...base, tookMs: Date.now() - started, error });
  }
}
