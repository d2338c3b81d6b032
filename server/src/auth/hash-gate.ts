/**
 * A bound on concurrent password hashes. Each sign-in costs one scrypt hash (N=2^17, r=8: 128 MiB and
 * 0.5-2 s of CPU, users.ts); without a bound, a few clients posting sign-in forms fill memory and every
 * core. The gate lets `concurrency` hashes run, queues up to `queue` more in arrival order, and refuses
 * the rest at once ({@link GateBusyError}, answered 503 with `Retry-After`) rather than letting requests
 * pile up until they time out.
 */
import { availableParallelism } from 'node:os';

/** Seconds a refused sign-in is told to wait: about one hash time for each queued request ahead. */
export const BUSY_RETRY_AFTER_S = 2;

/**
 * Default number of hashes at once: the cores, at most 4. Four is libuv's default thread pool (scrypt runs
 * there, so a fifth would wait anyway and would also block file and DNS work sharing that pool), and four
 * hashes already hold 512 MiB.
 */
export function defaultHashConcurrency(): number {
  return Math.max(1, Math.min(availableParallelism(), 4));
}

/** Default number of sign-ins waiting for a hash slot before more are refused. */
export const DEFAULT_HASH_QUEUE = 16;

/** The gate is full: the request is refused without being evaluated (nothing was counted). */
export class GateBusyError extends Error {
  readonly retryAfterS = BUSY_RETRY_AFTER_S;
  constructor() {
    super('Too many sign-ins are being checked at once');
  }
}

/** A counting semaphore with a bounded FIFO queue. */
export class PasswordGate {
  readonly concurrency: number;
  readonly queue: number;
  private running = 0;
  private highest = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(opts: { concurrency: number; queue: number }) {
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new RangeError('concurrency must be an integer >= 1');
    if (!(Number.isInteger(opts.queue) || opts.queue === Number.POSITIVE_INFINITY) || opts.queue < 0)
      throw new RangeError('queue must be an integer >= 0');
    this.concurrency = opts.concurrency;
    this.queue = opts.queue;
  }

  /** Slots in use. */
  get active(): number {
    return this.running;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** The most slots ever in use at once (tests observe the bound with it). */
  get peak(): number {
    return this.highest;
  }

  /**
   * Takes a slot, waiting in line if all are taken; resolves to the function that gives it back (call it
   * exactly once; further calls do nothing).
   * @throws GateBusyError (as a rejection) when the line is full.
   */
  acquire(): Promise<() => void> {
    if (this.running < this.concurrency) return Promise.resolve(this.grant());
    if (this.waiters.length >= this.queue) return Promise.reject(new GateBusyError());
    return new Promise((resolve) => this.waiters.push(() => resolve(this.grant())));
  }

  /** Runs `fn` holding a slot. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private grant(): () => void {
    this.running++;
    this.highest = Math.max(this.highest, this.running);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.waiters.shift()?.();
    };
  }
}
