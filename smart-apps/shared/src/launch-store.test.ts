import { describe, expect, it } from 'vitest';
import { isLaunchId, LaunchStore, memoryStore, newLaunchId } from './launch-store.ts';

describe('LaunchStore', () => {
  it('keeps entries of two launches apart in one storage', () => {
    const storage = memoryStore();
    const a = new LaunchStore<{ patient: string }>(storage, 'x');
    const b = new LaunchStore<{ patient: string }>(storage, 'x');
    const idA = newLaunchId();
    const idB = newLaunchId();
    a.set(idA, { patient: 'A' });
    b.set(idB, { patient: 'B' });
    expect(a.get(idA)).toEqual({ patient: 'A' });
    expect(a.get(idB)).toEqual({ patient: 'B' });
    a.remove(idA);
    expect(b.get(idA)).toBeUndefined();
    expect(b.get(idB)).toEqual({ patient: 'B' });
  });

  it('ignores ids that are not launch ids and corrupt entries', () => {
    const storage = memoryStore();
    const s = new LaunchStore<object>(storage, 'x');
    expect(s.get('../../etc')).toBeUndefined();
    expect(() => s.set('short', {})).toThrow();
    const id = newLaunchId();
    storage.setItem(`x.${id}`, '{not json');
    expect(s.get(id)).toBeUndefined();
  });

  it('makes distinct, URL-safe ids', () => {
    const ids = new Set(Array.from({ length: 100 }, newLaunchId));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(isLaunchId(id)).toBe(true);
  });
});
