/**
 * Refreshing planner statistics where nothing else does: PGlite has no autovacuum, and a PostgreSQL
 * server may run with autovacuum off.
 */

/**
 * When to refresh statistics. Due after `threshold` written resource versions, whatever the transactions they
 * came in (a 100-entry transaction Bundle counts 100, a single create 1); each run raises the threshold by half
 * (up to `max`), so a growing database is analysed about as often as autovacuum would. Runs are at least
 * `minGapMs` apart, like autovacuum's naptime: during a bulk import ANALYZE would otherwise run again and again
 * and take a fifth of the throughput; a due run waits for the gap instead.
 *
 * Counting transactions instead (as this did before) left an import of transaction Bundles without statistics,
 * and lookups by key turned into multi-second scans.
 */
export class AnalyzeSchedule {
  private sinceLast = 0;
  private threshold: number;
  private readonly max: number;
  private readonly minGapMs: number;
  private lastRun = Number.NEGATIVE_INFINITY;
  private pending = false;

  constructor(initial = 1_000, max = 100_000, minGapMs = 30_000) {
    this.threshold = initial;
    this.max = max;
    this.minGapMs = minGapMs;
  }

  /**
   * Records `count` written versions at time `now` (ms). Returns the delay in ms after which ANALYZE should run
   * (0: now), or undefined when none is due or one is already scheduled. Call {@link ran} when it has run.
   */
  noteWrites(count: number, now: number): number | undefined {
    this.sinceLast += count;
    if (this.pending || this.sinceLast < this.threshold) return undefined;
    this.pending = true;
    return Math.max(0, this.lastRun + this.minGapMs - now);
  }

  /** Records a completed ANALYZE at `now` (also the one at start). */
  ran(now: number): void {
    this.pending = false;
    this.sinceLast = 0;
    this.lastRun = now;
    this.threshold = Math.min(this.max, Math.ceil(this.threshold * 1.5));
  }
}
