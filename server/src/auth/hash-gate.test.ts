/**
 * The bound on concurrent password hashes (hash-gate.ts): at most `concurrency` at once, a FIFO line of at
 * most `queue`, immediate refusal beyond it. Driven with promises the test resolves, not with time.
 */
import { describe, expect, it } from 'vitest';
import { GateBusyError, PasswordGate, defaultHashConcurrency } from './hash-gate.ts';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('PasswordGate', () => {
  it('runs at most `concurrency` at once and serves the line in arrival order', async () => {
    const gate = new PasswordGate({ concurrency: 2, queue: 10 });
    const jobs = Array.from({ length: 5 }, () => deferred());
    const started: number[] = [];
    const runs = jobs.map((j, i) =>
      gate.run(async () => {
        started.push(i);
        await j.promise;
        return i;
      }),
    );
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect([gate.active, gate.waiting]).toEqual([2, 3]);
    jobs[1].resolve();
    await runs[1];
    await Promise.resolve();
    expect(started).toEqual([0, 1, 2]);
    for (const j of jobs) j.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(gate.peak).toBe(2);
    expect([gate.active, gate.waiting]).toEqual([0, 0]);
  });

  it('refuses at once when the line is full, and serves again once there is room', async () => {
    const gate = new PasswordGate({ concurrency: 1, queue: 1 });
    const first = await gate.acquire();
    const second = gate.acquire();
    await expect(gate.acquire()).rejects.toBeInstanceOf(GateBusyError);
    await expect(gate.acquire()).rejects.toMatchObject({ retryAfterS: expect.any(Number) });
    first();
    (await second)();
    const third = await gate.acquire();
    third();
    expect(gate.active).toBe(0);
  });

  it('gives a slot back once however often release is called, and when the job throws', async () => {
    const gate = new PasswordGate({ concurrency: 1, queue: 0 });
    const release = await gate.acquire();
    release();
    release();
    expect(gate.active).toBe(0);
    await expect(
      gate.run(async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(gate.active).toBe(0);
  });

  it('refuses nonsense settings; defaults to between 1 and 4 at once', () => {
    expect(() => new PasswordGate({ concurrency: 0, queue: 1 })).toThrow(RangeError);
    expect(() => new PasswordGate({ concurrency: 1, queue: -1 })).toThrow(RangeError);
    expect(defaultHashConcurrency()).toBeGreaterThanOrEqual(1);
    expect(defaultHashConcurrency()).toBeLessThanOrEqual(4);
  });
});
