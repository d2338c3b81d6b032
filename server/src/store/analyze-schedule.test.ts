import { describe, expect, it } from 'vitest';
import { AnalyzeSchedule } from './analyze-schedule.ts';

/** Feeds one write per ms and runs ANALYZE whenever it is due without delay; returns the write numbers. */
function dueAt(s: AnalyzeSchedule, writes: number): number[] {
  const out: number[] = [];
  for (let i = 1; i <= writes; i++) {
    const due = s.noteWrites(1, i);
    if (due?.delayMs === 0) {
      out.push(i);
      s.ran(i);
    }
  }
  return out;
}

describe('AnalyzeSchedule', () => {
  it('is due after the initial threshold, then after thresholds growing by half, up to the cap', () => {
    // 4, then +6 (=10), then +8 capped (=18, 26, 34).
    expect(dueAt(new AnalyzeSchedule(4, 8, 0), 40)).toEqual([4, 10, 18, 26, 34]);
  });

  it('counts written versions, not transactions: one large Bundle makes it due', () => {
    const s = new AnalyzeSchedule(1_000, 100_000, 0);
    expect(s.noteWrites(999, 0)).toBeUndefined();
    expect(s.noteWrites(100, 0)).toEqual({ delayMs: 0, scope: 'all' });
  });

  it('keeps runs at least the gap apart: a run due sooner is delayed, and scheduled once', () => {
    const s = new AnalyzeSchedule(10, 100, 30_000);
    expect(s.noteWrites(10, 1_000)?.delayMs).toBe(0);
    s.ran(1_000);
    expect(s.noteWrites(20, 5_000)?.delayMs).toBe(26_000); // due, but only 4 s after the last run
    expect(s.noteWrites(50, 6_000)).toBeUndefined(); // already scheduled
    s.ran(31_000);
    expect(s.noteWrites(1, 40_000)).toBeUndefined(); // threshold is now 23
  });

  it('is due when one type grows: 50 writes of a type it has never seen, or 20 % more than it had', () => {
    const s = new AnalyzeSchedule(1_000_000, 1_000_000, 0);
    s.knowTypes(new Map([['Observation', 1_000_000], ['Task', 1_000]]));
    for (let i = 1; i < 50; i++) expect(s.noteWrites(1, i, 'Flag')).toBeUndefined();
    expect(s.noteWrites(1, 50, 'Flag')).toEqual({ delayMs: 0, scope: 'search' });
    s.ran(60, new Map([['Observation', 1_000_000], ['Task', 1_000], ['Flag', 50]]), 'search');
    // 199 more Tasks are under 20 % of 1,000; the 200th is not; a million-row type grows by volume only.
    expect(s.noteWrites(199, 70, 'Task')).toBeUndefined();
    expect(s.noteWrites(5_000, 71, 'Observation')).toBeUndefined();
    expect(s.noteWrites(1, 72, 'Task')?.scope).toBe('search');
  });

  it('with the volume rule off (autovacuum on), only a growing type makes it due', () => {
    const s = new AnalyzeSchedule(10, 10, 0, false);
    s.knowTypes(new Map([['Observation', 10_000]]));
    expect(s.noteWrites(1_000, 1, 'Observation')).toBeUndefined();
    expect(s.noteWrites(50, 2, 'Task')).toEqual({ delayMs: 0, scope: 'search' });
  });

  it('a run for a growing type covers the search tables only and leaves the volume count running', () => {
    const s = new AnalyzeSchedule(100, 1_000, 0);
    s.knowTypes(new Map([['Observation', 10_000]]));
    expect(s.noteWrites(60, 1, 'Flag')).toEqual({ delayMs: 0, scope: 'search' });
    s.ran(2, new Map([['Observation', 10_000], ['Flag', 60]]), 'search');
    expect(s.noteWrites(40, 3, 'Observation')).toEqual({ delayMs: 0, scope: 'all' });
  });
});
