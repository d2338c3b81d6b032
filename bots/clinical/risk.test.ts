import { describe, expect, it } from 'vitest';
import { defaultClinicalConfig, type RiskConfig, type RiskLevel } from './config.ts';
import { assessRisk, maxLevel, RISK_REASON, type RiskInput } from './risk.ts';

const config = defaultClinicalConfig().risk;
const answered = (ordinal: number) => ({ status: 'answered', ordinal }) as const;

describe('assessRisk (clinical.md §1.2, §1.5, §1.6, §4.3)', () => {
  const table: [string, RiskInput, RiskLevel, string[]][] = [
    // PHQ-9 item 9
    ['PHQ-9 item 9 = 0', { instrument: 'phq-9', total: 8, item9: answered(0) }, 'none', []],
    ['PHQ-9 item 9 = 1 → low', { instrument: 'phq-9', total: 8, item9: answered(1) }, 'low', ['phq9-item9-positive']],
    ['PHQ-9 item 9 = 2 → moderate', { instrument: 'phq-9', total: 8, item9: answered(2) }, 'moderate', ['phq9-item9-positive']],
    ['PHQ-9 item 9 = 3 → moderate', { instrument: 'phq-9', total: 8, item9: answered(3) }, 'moderate', ['phq9-item9-positive']],
    ['PHQ-A item 9 = 1 → low', { instrument: 'phq-a', total: 8, item9: answered(1) }, 'low', ['phqa-item9-positive']],
    ['PHQ-A item 9 = 2 → moderate', { instrument: 'phq-a', total: 8, item9: answered(2) }, 'moderate', ['phqa-item9-positive']],
    // unknown item 9 is never 0
    ['item 9 missing → review', { instrument: 'phq-9', total: 3, item9: { status: 'missing' } }, 'review', ['item9-unanswered']],
    ['item 9 declined → review', { instrument: 'phq-9', total: 3, item9: { status: 'declined' } }, 'review', ['item9-unanswered']],
    ['item 9 not supplied on PHQ-9 → review', { instrument: 'phq-9', total: 3 }, 'review', ['item9-unanswered']],
    ['item 9 not supplied on PHQ-A → review', { instrument: 'phq-a', total: 3 }, 'review', ['item9-unanswered']],
    ['item 9 ordinal out of range → review', { instrument: 'phq-9', total: 3, item9: answered(4) }, 'review', ['item9-invalid']],
    ['item 9 ordinal not an integer → review', { instrument: 'phq-9', total: 3, item9: answered(1.5) }, 'review', ['item9-invalid']],
    ['item 9 ignored on GAD-7', { instrument: 'gad-7', total: 3 }, 'none', []],
    ['item 9 ignored on PHQ-2', { instrument: 'phq-2', total: 1, item9: { status: 'missing' } }, 'none', []],
    // C-SSRS tiers map to the same level
    ['C-SSRS none', { instrument: 'cssrs-screener', cssrsRisk: 'none' }, 'none', []],
    ['C-SSRS low', { instrument: 'cssrs-screener', cssrsRisk: 'low' }, 'low', ['cssrs-low']],
    ['C-SSRS moderate', { instrument: 'cssrs-screener', cssrsRisk: 'moderate' }, 'moderate', ['cssrs-moderate']],
    ['C-SSRS high', { instrument: 'cssrs-screener', cssrsRisk: 'high' }, 'high', ['cssrs-high']],
    ['C-SSRS without a tier → review', { instrument: 'cssrs-screener' }, 'review', ['cssrs-unscored']],
    // PHQ-A suicide questions
    [
      'PHQ-A serious thoughts past month → moderate',
      { instrument: 'phq-a', total: 5, item9: answered(0), seriousThoughtsPastMonth: true },
      'moderate',
      ['phqa-serious-thoughts'],
    ],
    ['PHQ-A serious thoughts No', { instrument: 'phq-a', total: 5, item9: answered(0), seriousThoughtsPastMonth: false }, 'none', []],
    [
      'PHQ-A ever attempted → moderate (configurable)',
      { instrument: 'phq-a', total: 5, item9: answered(0), everAttempted: true },
      'moderate',
      ['phqa-ever-attempted'],
    ],
    // totals
    ['PHQ-9 total 19 is not severe', { instrument: 'phq-9', total: 19, item9: answered(0) }, 'none', []],
    ['PHQ-9 total 20 → moderate', { instrument: 'phq-9', total: 20, item9: answered(0) }, 'moderate', ['severe-total']],
    ['PHQ-A total 27 → moderate', { instrument: 'phq-a', total: 27, item9: answered(0) }, 'moderate', ['severe-total']],
    ['GAD-7 total 21: no severe-total rule', { instrument: 'gad-7', total: 21 }, 'none', []],
    ['rise of 5 → low', { instrument: 'phq-9', total: 12, previousTotal: 7, item9: answered(0) }, 'low', ['score-rise']],
    ['rise of 4 → none', { instrument: 'phq-9', total: 11, previousTotal: 7, item9: answered(0) }, 'none', []],
    ['drop → none', { instrument: 'phq-9', total: 2, previousTotal: 12, item9: answered(0) }, 'none', []],
    ['GAD-7 rise of 6 → low', { instrument: 'gad-7', total: 10, previousTotal: 4 }, 'low', ['score-rise']],
    ['AUDIT-C rise: no rule', { instrument: 'audit-c', total: 10, previousTotal: 2 }, 'none', []],
    ['unreadable total → review', { instrument: 'phq-9', total: Number.NaN, item9: answered(0) }, 'review', ['total-invalid']],
    // missing answers
    ['required answers missing → review', { instrument: 'gad-7', total: 4, missingRequired: ['/69725-0'] }, 'review', ['missing-required']],
    ['empty missing list', { instrument: 'gad-7', total: 4, missingRequired: [] }, 'none', []],
    // the highest level wins, every reason is kept
    [
      'highest wins, all reasons kept',
      { instrument: 'phq-9', total: 22, previousTotal: 10, item9: answered(1), missingRequired: ['/44253-3'] },
      'moderate',
      ['phq9-item9-positive', 'severe-total', 'score-rise', 'missing-required'],
    ],
    [
      'C-SSRS high beats everything',
      { instrument: 'cssrs-screener', cssrsRisk: 'high', missingRequired: ['/93269-9'] },
      'high',
      ['cssrs-high', 'missing-required'],
    ],
    ['missing item 9 plus positive total rule', { instrument: 'phq-9', total: 21 }, 'moderate', ['item9-unanswered', 'severe-total']],
  ];
  it.each(table)('%s', (_name, input, level, codes) => {
    const result = assessRisk(input, config);
    expect(result.level).toBe(level);
    expect(result.reasons.map((r) => r.code)).toEqual(codes);
    for (const r of result.reasons) expect(r.text.length).toBeGreaterThan(0);
  });

  it('reason texts carry scores and linkIds, nothing else', () => {
    const r = assessRisk({ instrument: 'phq-9', total: 22, previousTotal: 10, item9: answered(2), missingRequired: ['/44253-3'] }, config);
    expect(r.reasons.map((x) => x.text)).toEqual([
      'PHQ-9 item 9 (thoughts of death or self-harm) positive: answered 2 of 3',
      'PHQ-9 total 22 is at least 20 (severe)',
      'PHQ-9 total rose 12 points (10 to 22)',
      'Required answers missing: /44253-3',
    ]);
  });
});

describe('assessRisk follows configuration', () => {
  const custom: RiskConfig = {
    ...config,
    item9Tiers: [
      { minOrdinal: 1, level: 'moderate' },
      { minOrdinal: 3, level: 'high' },
    ],
    severeTotal: { 'phq-9': { atLeast: 15, level: 'high' } },
    scoreRise: { 'phq-9': { points: 3, level: 'none' } },
    missingRequiredLevel: 'none',
  };
  it.each([
    ['item 9 = 1 → moderate', { instrument: 'phq-9', total: 1, item9: answered(1) }, 'moderate'],
    ['item 9 = 3 → high', { instrument: 'phq-9', total: 3, item9: answered(3) }, 'high'],
    ['total 15 → high', { instrument: 'phq-9', total: 15, item9: answered(0) }, 'high'],
    ['a rule set to none is off', { instrument: 'phq-9', total: 9, previousTotal: 1, item9: answered(0) }, 'none'],
    ['missing answers rule off', { instrument: 'gad-7', total: 1, missingRequired: ['/x'] }, 'none'],
  ] as [string, RiskInput, RiskLevel][])('%s', (_name, input, level) => {
    expect(assessRisk(input, custom).level).toBe(level);
  });
});

describe('reason codes are stable strings', () => {
  it('keeps the published values', () => {
    expect(RISK_REASON).toMatchObject({
      phq9Item9Positive: 'phq9-item9-positive',
      item9Unanswered: 'item9-unanswered',
      cssrsHigh: 'cssrs-high',
      severeTotal: 'severe-total',
      scoreRise: 'score-rise',
    });
  });

  it('maxLevel ranks none < review < low < moderate < high', () => {
    expect(maxLevel('review', 'none')).toBe('review');
    expect(maxLevel('review', 'low')).toBe('low');
    expect(maxLevel('high', 'moderate')).toBe('high');
  });
});
