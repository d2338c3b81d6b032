import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DraftSaver, type SaveState } from './draft-saver.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function deferred(): { promise: Promise<void>; resolve(): void; reject(e: unknown): void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('DraftSaver', () => {
  it('saves once after a burst of changes, the last value', async () => {
    const saved: string[] = [];
    const saver = new DraftSaver<string>(
      async (v) => void saved.push(v),
      () => {},
      500,
    );
    saver.update('a');
    saver.update('ab');
    saver.update('abc');
    await vi.advanceTimersByTimeAsync(499);
    expect(saved).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(saved).toEqual(['abc']);
  });

  it('never overlaps saves and never saves an older value after a newer one', async () => {
    const saved: string[] = [];
    const gates: ReturnType<typeof deferred>[] = [];
    const saver = new DraftSaver<string>(
      (v) => {
        const d = deferred();
        gates.push(d);
        return d.promise.then(() => void saved.push(v));
      },
      () => {},
      10,
    );
    saver.update('one');
    await vi.advanceTimersByTimeAsync(10);
    expect(gates).toHaveLength(1); // 'one' is being saved
    saver.update('two');
    saver.update('three');
    await vi.advanceTimersByTimeAsync(10);
    expect(gates).toHaveLength(1); // waits for the first save
    gates[0].resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(gates).toHaveLength(2);
    gates[1].resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(saved).toEqual(['one', 'three']);
  });

  it('reports a failed save and retries it on flush', async () => {
    const states: SaveState['kind'][] = [];
    let fail = true;
    const saved: string[] = [];
    const saver = new DraftSaver<string>(
      async (v) => {
        if (fail) throw new Error('offline');
        saved.push(v);
      },
      (s) => states.push(s.kind),
      10,
    );
    saver.update('x');
    await vi.advanceTimersByTimeAsync(10);
    expect(states.at(-1)).toBe('error');
    fail = false;
    await saver.flush();
    expect(saved).toEqual(['x']);
    expect(states.at(-1)).toBe('saved');
  });

  it('flush saves at once and cancel drops a scheduled save', async () => {
    const saved: string[] = [];
    const saver = new DraftSaver<string>(
      async (v) => void saved.push(v),
      () => {},
      1000,
    );
    saver.update('now');
    await saver.flush();
    expect(saved).toEqual(['now']);
    saver.update('never');
    saver.cancel();
    await vi.advanceTimersByTimeAsync(2000);
    expect(saved).toEqual(['now']);
  });
});
