import { describe, expect, it } from 'vitest';
import { AnalyzeSchedule } from './analyze-schedule.ts';

describe('AnalyzeSchedule', () => {
  it('is due after the initial threshold, then after thresholds growing by half, up to the cap', () => {
    const s = new AnalyzeSchedule(4, 8);
    const dueAt: number[] = [];
    for (let i = 1; i <= 40; i++) if (s.noteCommit()) dueAt.push(i);
    // 4, then +6 (=10), then +8 capped (=18, 26, 34).
    expect(dueAt).toEqual([4, 10, 18, 26, 34]);
  });
});
