import { describe, expect, it } from 'vitest';
import {
  AnalyzeSchedule,
  scheduledRunStatements,
  runScheduledAnalyze,
  type AnalyzeScope,
  type MaintenanceReport,
} from './analyze-schedule.ts';

/** Feeds one write per ms and runs ANALYZE whenever it is due without delay; returns the write numbers. */
function dueAt(s: AnalyzeSchedule, writes: number): number[] {
  const out: number[] = [];
  for (let i = 1; i <= writes; i++) {
    if (s.noteWrites(1, i) === 0) {
      out.push(i);
      s.ran(i, undefined, s.scopeNow());
    }
  }
  return out;
}

/** Runs a due ANALYZE as the databases do: asks for the scope when it starts, then records it. */
function run(s: AnalyzeSchedule, now: number, typeRows?: ReadonlyMap<string, number>): AnalyzeScope {
  const scope = s.scopeNow();
  s.ran(now, typeRows, scope);
  return scope;
}

describe('AnalyzeSchedule', () => {
  it('is due after the initial threshold, then after thresholds growing by half, up to the cap', () => {
    // 4, then +6 (=10), then +8 capped (=18, 26, 34).
    expect(dueAt(new AnalyzeSchedule(4, 8, 0), 40)).toEqual([4, 10, 18, 26, 34]);
  });

  it('counts written versions, not transactions: one large Bundle makes it due, over everything', () => {
    const s = new AnalyzeSchedule(1_000, 100_000, 0);
    expect(s.noteWrites(999, 0)).toBeUndefined();
    expect(s.noteWrites(100, 0)).toBe(0);
    expect(s.scopeNow()).toBe('all');
  });

  it('keeps runs at least the gap apart: a run due sooner is delayed, and scheduled once', () => {
    const s = new AnalyzeSchedule(10, 100, 30_000);
    expect(s.noteWrites(10, 1_000)).toBe(0);
    run(s, 1_000);
    expect(s.noteWrites(20, 5_000)).toBe(26_000); // due, but only 4 s after the last run
    expect(s.noteWrites(50, 6_000)).toBeUndefined(); // already scheduled
    run(s, 31_000);
    expect(s.noteWrites(1, 40_000)).toBeUndefined(); // threshold is now 23
  });

  it('sets the gap from how long the last ANALYZE took: 10 times as long, at least 1 s, at most the longest gap', () => {
    const s = new AnalyzeSchedule(10, 10, 30_000);
    expect(s.noteWrites(10, 0)).toBe(0);
    s.ran(0, undefined, s.scopeNow(), 5); // a young database: 5 ms → the 1 s floor
    expect(s.noteWrites(10, 100)).toBe(900);
    s.ran(1_000, undefined, s.scopeNow(), 400); // 400 ms → 4 s
    expect(s.noteWrites(10, 1_000)).toBe(4_000);
    s.ran(5_000, undefined, s.scopeNow(), 5_000); // 5 s → capped at 30 s
    expect(s.noteWrites(10, 5_000)).toBe(30_000);
    s.ran(35_000, undefined, s.scopeNow()); // unknown (the run failed) → the longest gap
    expect(s.noteWrites(10, 35_000)).toBe(30_000);
  });

  it('is due when one type grows: 50 writes of a type it has never seen, or as many as it had (it doubled)', () => {
    const s = new AnalyzeSchedule(1_000_000, 1_000_000, 0);
    s.ran(
      0,
      new Map([
        ['Observation', 1_000_000],
        ['Task', 1_000],
      ]),
      'all',
    );
    for (let i = 1; i < 50; i++) expect(s.noteWrites(1, i, 'Flag')).toBeUndefined();
    expect(s.noteWrites(1, 50, 'Flag')).toBe(0);
    expect(
      run(
        s,
        60,
        new Map([
          ['Observation', 1_000_000],
          ['Task', 1_000],
          ['Flag', 50],
        ]),
      ),
    ).toBe('search');
    // 999 more Tasks do not double 1,000; the 1,000th does; a million-row type grows by volume only.
    expect(s.noteWrites(999, 70, 'Task')).toBeUndefined();
    expect(s.noteWrites(5_000, 71, 'Observation')).toBeUndefined();
    expect(s.noteWrites(1, 72, 'Task')).toBe(0);
    expect(s.scopeNow()).toBe('search');
  });

  it('covers everything in its first run: an empty database must not import for long without history statistics', () => {
    const s = new AnalyzeSchedule(1_000, 100_000, 30_000);
    s.knowTypes(new Map());
    expect(s.noteWrites(50, 1, 'Observation')).toBe(0); // a new type, on the 50th write
    expect(run(s, 2, new Map([['Observation', 50]]))).toBe('all');
    expect(s.noteWrites(20, 3, 'Flag')).toBeUndefined();
    expect(s.noteWrites(40, 4, 'Flag')).toBe(29_998);
    expect(run(s, 30_002)).toBe('search');
  });

  it('decides what a run covers when it starts: a delayed run for a growing type covers everything if the volume came due meanwhile', () => {
    const s = new AnalyzeSchedule(100, 1_000, 30_000);
    s.ran(0, new Map([['Observation', 10_000]]), 'all');
    expect(s.noteWrites(60, 1_000, 'Flag')).toBe(29_000);
    expect(s.scopeNow()).toBe('search');
    expect(s.noteWrites(200, 2_000, 'Observation')).toBeUndefined(); // already scheduled…
    expect(run(s, 30_000)).toBe('all'); // …and it covers the volume too
  });

  it('with the volume rule off (autovacuum on), only a growing type makes it due, and it never covers everything', () => {
    const s = new AnalyzeSchedule(10, 10, 0, false);
    s.knowTypes(new Map([['Observation', 10_000]]));
    expect(s.noteWrites(1_000, 1, 'Observation')).toBeUndefined();
    expect(s.noteWrites(50, 2, 'Task')).toBe(0);
    expect(s.scopeNow()).toBe('search');
  });

  it('a run for a growing type covers the search tables only and leaves the volume count running', () => {
    const s = new AnalyzeSchedule(100, 1_000, 0);
    s.ran(0, new Map([['Observation', 10_000]]), 'all');
    expect(s.noteWrites(60, 1, 'Flag')).toBe(0);
    expect(
      run(
        s,
        2,
        new Map([
          ['Observation', 10_000],
          ['Flag', 60],
        ]),
      ),
    ).toBe('search');
    expect(s.noteWrites(100, 3, 'Observation')).toBe(0); // 160 since the last run of everything, threshold 150
    expect(s.scopeNow()).toBe('all');
  });

  it("vacuums and analyses Haven's own tables for everything (not the system catalogs), analyses resources and sp_* for a growing type", () => {
    expect(scheduledRunStatements('all', ['haven_events', 'resource_history', 'resources'])).toEqual([
      'VACUUM (ANALYZE) haven_events',
      'VACUUM (ANALYZE) resource_history',
      'VACUUM (ANALYZE) resources',
    ]);
    expect(scheduledRunStatements('all', [])).toEqual(['VACUUM (ANALYZE)']);
    expect(scheduledRunStatements('search', ['haven_events'])).toEqual([
      'ANALYZE resources',
      'ANALYZE sp_string',
      'ANALYZE sp_token',
      'ANALYZE sp_reference',
      'ANALYZE sp_date',
      'ANALYZE sp_number',
      'ANALYZE sp_quantity',
      'ANALYZE sp_uri',
      'ANALYZE sp_composite',
    ]);
  });

  it('a scheduled run executes the scope decided when it starts, records and reports it, and records a failed run without counts and reports its error', async () => {
    const s = new AnalyzeSchedule(10, 10, 30_000);
    const sent: string[] = [];
    expect(s.noteWrites(10, Date.now())).toBe(0);
    const reports: MaintenanceReport[] = [];
    await runScheduledAnalyze(
      s,
      async (sql) => {
        sent.push(sql);
      },
      async () => new Map([['Observation', 10]]),
      ['resources', 'sp_token'],
      (r) => reports.push(r),
    );
    expect(sent).toEqual(['VACUUM (ANALYZE) resources', 'VACUUM (ANALYZE) sp_token']);
    expect(reports).toEqual([{ scope: 'all', operation: 'VACUUM (ANALYZE)', tables: 2, tookMs: expect.any(Number) }]);
    expect(s.noteWrites(10, Date.now())).toBeLessThanOrEqual(1_000); // a fast run: the 1 s floor
    await runScheduledAnalyze(
      s,
      async () => {
        throw new Error('cancelled');
      },
      async () => new Map(),
      ['resources'],
      (r) => reports.push(r),
    );
    expect(reports[1]).toEqual({
      scope: 'all',
      operation: 'VACUUM (ANALYZE)',
      tables: 1,
      tookMs: expect.any(Number),
      error: 'Error: cancelled',
    });
    expect(s.noteWrites(10, Date.now())).toBeGreaterThan(29_000); // failed: the longest gap
  });
});
