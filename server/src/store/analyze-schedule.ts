/**
 * Refreshing planner statistics where nothing else does: PGlite has no autovacuum, and a PostgreSQL
 * server may run with autovacuum off.
 */

/**
 * When to refresh statistics: after `threshold` committed transactions; each run raises the threshold
 * by half (up to `max`), so a growing database is analysed about as often as autovacuum would.
 */
export class AnalyzeSchedule {
  private sinceLast = 0;
  private threshold: number;
  private readonly max: number;

  constructor(initial = 200, max = 20_000) {
    this.threshold = initial;
    this.max = max;
  }

  /** Records one committed transaction; true when ANALYZE is due now. */
  noteCommit(): boolean {
    this.sinceLast += 1;
    if (this.sinceLast < this.threshold) return false;
    this.sinceLast = 0;
    this.threshold = Math.min(this.max, Math.ceil(this.threshold * 1.5));
    return true;
  }
}
