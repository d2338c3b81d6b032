/**
 * Seeded pseudo-random numbers for the synthetic data: the same seed gives the same patients on every
 * machine and every run, so two runs (or two storages) ingest identical bundles.
 */

/** FNV-1a over a string: turns a seed label into 32 bits. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A small deterministic generator (sfc32: fast, passes PractRand at this scale, 128-bit state). */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: string) {
    this.a = hash32(`a:${seed}`);
    this.b = hash32(`b:${seed}`);
    this.c = hash32(`c:${seed}`);
    this.d = 1;
    // Mix the state so seeds that differ by one character diverge at once.
    for (let i = 0; i < 15; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Number in [min, max) rounded to `decimals`. */
  decimal(min: number, max: number, decimals: number): number {
    const f = 10 ** decimals;
    return Math.round((min + this.next() * (max - min)) * f) / f;
  }

  /** Approximately normal (sum of uniforms), clamped to [min, max], rounded to `decimals`. */
  normal(mean: number, sd: number, min: number, max: number, decimals: number): number {
    const z = this.next() + this.next() + this.next() + this.next() - 2; // variance 1/3
    const v = Math.min(max, Math.max(min, mean + z * sd * 1.732));
    const f = 10 ** decimals;
    return Math.round(v * f) / f;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A version-4-shaped UUID drawn from this generator (not from crypto: it must be reproducible). */
  uuid(): string {
    const hex: string[] = [];
    for (let i = 0; i < 16; i++) {
      let byte = Math.floor(this.next() * 256);
      if (i === 6) byte = (byte & 0x0f) | 0x40;
      if (i === 8) byte = (byte & 0x3f) | 0x80;
      hex.push(byte.toString(16).padStart(2, '0'));
    }
    const h = hex.join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
}
