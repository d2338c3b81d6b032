import { describe, expect, it } from 'vitest';
import { BANDS, bandOf, describeScore, scorePoint, series, type ScorePoint } from './scores.ts';

const total = (id: string, code: string, value: number, when: string, band?: string) => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code }] },
  valueInteger: value,
  effectiveDateTime: when,
  ...(band ? { interpretation: [{ coding: [{ system: 'https://haven.health/fhir/CodeSystem/score-band', code: band }] }] } : {}),
  derivedFrom: [{ reference: 'QuestionnaireResponse/q1' }],
});

describe('bands', () => {
  it.each([
    ['phq-9', 0, 'none-minimal'],
    ['phq-9', 4, 'none-minimal'],
    ['phq-9', 5, 'mild'],
    ['phq-9', 9, 'mild'],
    ['phq-9', 10, 'moderate'],
    ['phq-9', 14, 'moderate'],
    ['phq-9', 15, 'moderately-severe'],
    ['phq-9', 19, 'moderately-severe'],
    ['phq-9', 20, 'severe'],
    ['phq-9', 27, 'severe'],
    ['gad-7', 4, 'none-minimal'],
    ['gad-7', 5, 'mild'],
    ['gad-7', 14, 'moderate'],
    ['gad-7', 15, 'severe'],
    ['gad-7', 21, 'severe'],
  ] as const)('%s %i → %s', (instrument, value, code) => {
    expect(bandOf(instrument, value)?.code).toBe(code);
  });

  it('cover every total without gaps', () => {
    for (const [instrument, bands] of Object.entries(BANDS)) {
      const max = bands.at(-1)!.to;
      for (let v = 0; v <= max; v++) expect(bandOf(instrument as 'phq-9', v), `${instrument} ${v}`).toBeDefined();
    }
  });
});

describe('scorePoint', () => {
  it('reads a PHQ-9 total with its band and source', () => {
    expect(scorePoint(total('o1', '44261-6', 12, '2026-03-03T10:00:00Z', 'moderate'))).toMatchObject({
      instrument: 'phq-9',
      value: 12,
      band: { code: 'moderate' },
      source: 'QuestionnaireResponse/q1',
    });
  });
  it('falls back to the published band when the Observation has none', () => {
    expect(scorePoint(total('o2', '70274-6', 16, '2026-03-03'))?.band?.code).toBe('severe');
  });
  it('ignores other codes and retracted results', () => {
    expect(scorePoint(total('o3', '44260-8', 1, '2026-03-03'))).toBeUndefined();
    expect(scorePoint({ ...total('o4', '44261-6', 3, '2026-03-03'), status: 'entered-in-error' })).toBeUndefined();
  });
  it('orders a series oldest first', () => {
    const pts = ['2026-03-10', '2026-03-01', '2026-03-05'].map((d, i) => scorePoint(total(`o${i}`, '44261-6', i, d))!);
    expect(series(pts, 'phq-9').map((p) => p.when)).toEqual(['2026-03-01', '2026-03-05', '2026-03-10']);
    expect(series(pts, 'gad-7')).toEqual([]);
  });
});

describe('describeScore', () => {
  const p = (value: number, when: string): ScorePoint => scorePoint(total('x', '44261-6', value, when))!;
  it('says what, when, the range, and that lower is better', () => {
    expect(describeScore(p(8, '2026-03-03T12:00:00Z'), p(12, '2026-02-24T12:00:00Z'), 'UTC')).toBe(
      'On March 3, 2026, your depression check-in (PHQ-9) score was 8 out of 27, in the mild range. That is 4 points lower than the time before (lower means fewer symptoms).',
    );
  });
  it('handles the first score, an equal one, a one-point rise', () => {
    expect(describeScore(p(3, '2026-03-03T12:00:00Z'), undefined, 'UTC')).toMatch(/score was 3 out of 27, in the none or minimal range\.$/);
    expect(describeScore(p(3, '2026-03-03T12:00:00Z'), p(3, '2026-02-01T12:00:00Z'), 'UTC')).toMatch(/same as the time before/);
    expect(describeScore(p(4, '2026-03-03T12:00:00Z'), p(3, '2026-02-01T12:00:00Z'), 'UTC')).toMatch(/1 point higher/);
  });
});
