import { describe, expect, it } from 'vitest';
import { bandOf, type ScorePoint } from '../../shared/src/scores.ts';
import { chartModel, FRAME, summarize } from './chart-model.ts';

const pt = (id: string, value: number, when: string): ScorePoint => ({
  id,
  instrument: 'phq-9',
  value,
  when,
  band: bandOf('phq-9', value),
});

describe('chartModel', () => {
  const series = [pt('a', 20, '2026-01-05T00:00:00Z'), pt('b', 12, '2026-02-05T00:00:00Z'), pt('c', 4, '2026-03-05T00:00:00Z')];
  const model = chartModel(
    'phq-9',
    series,
    new Map([
      ['c', 'remission' as const],
      ['b', 'response' as const],
    ]),
  );

  it('stacks the five PHQ-9 bands over the whole height without gaps', () => {
    expect(model.bands.map((b) => b.code)).toEqual(['none-minimal', 'mild', 'moderate', 'moderately-severe', 'severe']);
    const bottom = FRAME.height - FRAME.bottom;
    expect(model.bands[0].y + model.bands[0].height).toBeCloseTo(bottom, 5);
    for (let i = 1; i < model.bands.length; i++) expect(model.bands[i].y + model.bands[i].height).toBeCloseTo(model.bands[i - 1].y, 5);
    expect(model.bands.at(-1)!.y).toBeCloseTo(FRAME.top, 5);
  });

  it('places the first point left, the last right, higher totals higher', () => {
    const [a, b, c] = model.points;
    expect(a.x).toBeCloseTo(FRAME.left);
    expect(c.x).toBeCloseTo(FRAME.width - FRAME.right);
    expect(a.y).toBeLessThan(b.y);
    expect(b.y).toBeLessThan(c.y);
    expect(model.path.startsWith('M')).toBe(true);
  });

  it('carries the outcome marks', () => {
    expect(model.points.map((p) => p.mark)).toEqual([undefined, 'response', 'remission']);
  });

  it('labels each month once and centres a single point', () => {
    expect(model.xTicks.map((t) => t.label)).toEqual(['Jan', 'Feb', 'Mar']);
    const one = chartModel('phq-9', [pt('x', 5, '2026-01-01T00:00:00Z')], new Map());
    expect(one.points[0].x).toBeCloseTo(FRAME.left + (FRAME.width - FRAME.left - FRAME.right) / 2);
  });
});

describe('summarize', () => {
  it('says latest, band and change from the first score', () => {
    expect(summarize('phq-9', [pt('a', 20, '2026-01-01'), pt('b', 8, '2026-03-01')])).toBe(
      'PHQ-9: latest 8 (mild), down 12 (60 % lower) from the first of 2 scores (20).',
    );
    expect(summarize('phq-9', [])).toBe('No PHQ-9 scores yet.');
    expect(summarize('phq-9', [pt('a', 9, '2026-01-01'), pt('b', 14, '2026-03-01')])).toMatch(/up 5 from/);
  });
});
