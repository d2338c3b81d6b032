/**
 * Latency summaries. autocannon reports p97.5 but not p95, and the targets are stated at p95, so every
 * phase records raw per-request latencies and summarises them here.
 */

/** Latency percentiles in milliseconds. */
export interface Latency {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

/** Nearest-rank percentile of an ascending array. */
function rank(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Summarises latencies (ms). An empty sample gives NaN percentiles, shown as "-" in tables. */
export function summarize(values: readonly number[]): Latency {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    mean: round(sorted.length ? sum / sorted.length : Number.NaN),
    p50: round(rank(sorted, 50)),
    p95: round(rank(sorted, 95)),
    p99: round(rank(sorted, 99)),
    max: round(sorted.length ? sorted[sorted.length - 1] : Number.NaN),
  };
}

/** Grows an array of samples without unbounded memory: keeps a uniform reservoir of at most `cap`. */
export class Reservoir<T> {
  readonly items: T[] = [];
  private seen = 0;
  private readonly cap: number;
  private readonly random: () => number;

  constructor(cap: number, random: () => number) {
    this.cap = cap;
    this.random = random;
  }

  add(item: T): void {
    this.seen++;
    if (this.items.length < this.cap) {
      this.items.push(item);
      return;
    }
    const j = Math.floor(this.random() * this.seen);
    if (j < this.cap) this.items[j] = item;
  }

  get size(): number {
    return this.items.length;
  }
}
