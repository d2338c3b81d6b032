import type { Coding, QuestionnaireResponse, QuestionnaireResponseItem } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import {
  DATA_ABSENT_REASON,
  ITEM_WEIGHT_URL,
  LOINC,
  ORDINAL_VALUE_URL,
  SCORE_BAND_SYSTEM,
  buildInstrument,
  loadInstruments,
} from './instruments.ts';
import type { CssrsRisk, Instrument, InstrumentId } from './instruments.ts';
import { bandFor, scoreResponse, stratifyCssrs } from './scoring.ts';
import type { CssrsAnswers, Sex } from './scoring.ts';

const registry = loadInstruments();
const get = (id: InstrumentId): Instrument => registry.all().find((i) => i.id === id) as Instrument;
const PHQ9 = get('phq-9');
const PHQ2 = get('phq-2');
const GAD7 = get('gad-7');
const CSSRS = get('cssrs-screener');
const PHQA = get('phq-a');
const AUDITC = get('audit-c');

const loinc = (code: string): Coding => ({ system: LOINC, code });
const DECLINED: Coding = { system: DATA_ABSENT_REASON, code: 'asked-declined' };
const YES = loinc('LA33-6');
const NO = loinc('LA32-8');

/** A response with one valueCoding answer per entry (null: the item is left out). */
function respond(instrument: Instrument, answers: Record<string, Coding | null>): QuestionnaireResponse {
  const item: QuestionnaireResponseItem[] = Object.entries(answers).flatMap(([linkId, coding]) =>
    coding ? [{ linkId, answer: [{ valueCoding: coding }] }] : [],
  );
  return { resourceType: 'QuestionnaireResponse', status: 'completed', questionnaire: instrument.canonical, item };
}

/** Answers of the scored items giving these ordinals, by the answer option with that weight. */
function byOrdinals(instrument: Instrument, ordinals: readonly number[]): Record<string, Coding> {
  return Object.fromEntries(
    instrument.scoredItems.map((item, n) => {
      const choice = item.choices.find((c) => c.weight === ordinals[n]);
      if (!choice) throw new Error(`${item.linkId} has no answer worth ${ordinals[n]}`);
      return [item.linkId, choice.coding];
    }),
  );
}

/** Spreads a total over the scored items, filling each up to `max` in turn. */
function spread(total: number, count: number, max: number): number[] {
  return Array.from({ length: count }, (_, n) => Math.max(0, Math.min(max, total - n * max)));
}

const withTotal = (instrument: Instrument, total: number, max: number) =>
  respond(instrument, byOrdinals(instrument, spread(total, instrument.scoredItems.length, max)));

describe('banded totals at every boundary', () => {
  const depression: [number, string][] = [
    [0, 'none-minimal'],
    [4, 'none-minimal'],
    [5, 'mild'],
    [9, 'mild'],
    [10, 'moderate'],
    [14, 'moderate'],
    [15, 'moderately-severe'],
    [19, 'moderately-severe'],
    [20, 'severe'],
    [27, 'severe'],
  ];
  it.each(depression)('PHQ-9 total %i → %s', (total, band) => {
    const result = scoreResponse(PHQ9, withTotal(PHQ9, total, 3));
    expect(result).toMatchObject({ total, band: { system: SCORE_BAND_SYSTEM, code: band }, missingRequired: [], invalidAnswers: [] });
  });

  it.each(depression)('PHQ-A total %i → %s', (total, band) => {
    expect(scoreResponse(PHQA, withTotal(PHQA, total, 3))).toMatchObject({ total, band: { code: band } });
  });

  it.each<[number, string]>([
    [0, 'none-minimal'],
    [4, 'none-minimal'],
    [5, 'mild'],
    [9, 'mild'],
    [10, 'moderate'],
    [14, 'moderate'],
    [15, 'severe'],
    [21, 'severe'],
  ])('GAD-7 total %i → %s', (total, band) => {
    expect(scoreResponse(GAD7, withTotal(GAD7, total, 3))).toMatchObject({ total, band: { code: band } });
  });

  it.each<[number, string]>([
    [0, 'negative'],
    [2, 'negative'],
    [3, 'positive'],
    [6, 'positive'],
  ])('PHQ-2 total %i → %s', (total, band) => {
    expect(scoreResponse(PHQ2, withTotal(PHQ2, total, 3))).toMatchObject({ total, band: { code: band } });
  });

  it.each<[number, Sex | undefined, string]>([
    [2, 'male', 'negative'],
    [3, 'male', 'negative'],
    [4, 'male', 'positive'],
    [2, 'female', 'negative'],
    [3, 'female', 'positive'],
    [4, 'female', 'positive'],
    [2, 'unknown', 'negative'],
    [3, 'unknown', 'positive'],
    [2, 'other', 'negative'],
    [3, 'other', 'positive'],
    [2, undefined, 'negative'],
    [3, undefined, 'positive'],
    [12, undefined, 'positive'],
  ])('AUDIT-C total %i, sex %s → %s', (total, sex, band) => {
    const result = scoreResponse(AUDITC, withTotal(AUDITC, total, 4), sex ? { sex } : {});
    expect(result).toMatchObject({ total, band: { code: band } });
  });

  it('uses overridden cut-offs', () => {
    const strict = loadInstruments(undefined, { thresholds: { phq2PositiveAt: 2 } }).find(PHQ2.url) as Instrument;
    expect(scoreResponse(strict, withTotal(strict, 2, 3)).band?.code).toBe('positive');
    expect(bandFor({ kind: 'bands', bands: [{ code: 'mild', display: 'Mild', min: 0, max: 3 }] }, 4, undefined)).toBeUndefined();
  });
});

describe('PHQ-9 and PHQ-A item 9 (safety)', () => {
  it.each([0, 1, 2, 3])('item 9 answered %i is reported with its ordinal', (ordinal) => {
    const result = scoreResponse(PHQ9, respond(PHQ9, byOrdinals(PHQ9, [0, 0, 0, 0, 0, 0, 0, 0, ordinal])));
    expect(result.safety.item9).toEqual({ status: 'answered', ordinal });
    expect(result.total).toBe(ordinal);
  });

  it.each<[string, Coding | null, 'missing' | 'declined']>([
    ['left out', null, 'missing'],
    ['declined', DECLINED, 'declined'],
  ])('item 9 %s: never read as 0, no total, listed as missing', (_label, answer, status) => {
    const result = scoreResponse(PHQ9, respond(PHQ9, { ...byOrdinals(PHQ9, Array(9).fill(1)), '/44260-8': answer }));
    expect(result.safety.item9).toEqual({ status });
    expect(result.total).toBeUndefined();
    expect(result.band).toBeUndefined();
    expect(result.missingRequired).toEqual(['/44260-8']);
    const item9 = result.items.find((i) => i.linkId === '/44260-8');
    expect(item9?.status).toBe(status);
    expect(item9 && 'ordinal' in item9).toBe(false);
  });

  it('PHQ-A item 9 declined, and the two Yes/No suicide questions', () => {
    const answers = {
      ...byOrdinals(PHQA, Array(9).fill(2)),
      'phq-a-9': DECLINED,
      'phq-a-serious-thoughts-past-month': YES,
      'phq-a-ever-attempted': NO,
    };
    const result = scoreResponse(PHQA, respond(PHQA, answers));
    expect(result.safety).toEqual({ item9: { status: 'declined' }, seriousThoughtsPastMonth: true, everAttempted: false });
    expect(result.missingRequired).toEqual(['phq-a-9']);
    const unanswered = scoreResponse(PHQA, respond(PHQA, byOrdinals(PHQA, Array(9).fill(0))));
    expect(unanswered.safety).toEqual({ item9: { status: 'answered', ordinal: 0 } });
    expect(unanswered.total).toBe(0);
  });

  it('any other missing item also withholds the total', () => {
    const result = scoreResponse(PHQ9, respond(PHQ9, { ...byOrdinals(PHQ9, Array(9).fill(3)), '/44259-0': null }));
    expect(result).toMatchObject({ missingRequired: ['/44259-0'], safety: { item9: { status: 'answered', ordinal: 3 } } });
    expect(result.total).toBeUndefined();
  });

  it('the difficulty item is optional and unscored', () => {
    const base = byOrdinals(PHQ9, Array(9).fill(1));
    expect(scoreResponse(PHQ9, respond(PHQ9, { ...base, '/69722-7': loinc('LA6575-0') }))).toMatchObject({ total: 9, missingRequired: [] });
    const result = scoreResponse(PHQ9, respond(PHQ9, base));
    expect(result.items.find((i) => i.linkId === '/69722-7')).toMatchObject({ status: 'missing' });
    expect(result.total).toBe(9);
  });
});

describe('GAD-7 answer quirk', () => {
  it('maps LA18938-3 "More days than not" on 68509-9 to 2, like LA6570-1', () => {
    const answers = { ...byOrdinals(GAD7, Array(7).fill(0)), '/68509-9': loinc('LA18938-3') };
    const result = scoreResponse(GAD7, respond(GAD7, answers));
    expect(result.total).toBe(2);
    expect(result.items.find((i) => i.linkId === '/68509-9')).toMatchObject({
      status: 'answered',
      ordinal: 2,
      answer: { code: 'LA18938-3' },
    });
  });

  it('does not accept LA18938-3 on the other GAD-7 items', () => {
    const answers = { ...byOrdinals(GAD7, Array(7).fill(0)), '/69725-0': loinc('LA18938-3') };
    const result = scoreResponse(GAD7, respond(GAD7, answers));
    expect(result.invalidAnswers).toEqual([{ linkId: '/69725-0', reason: expect.stringContaining('LA18938-3') }]);
    expect(result.total).toBeUndefined();
  });
});

describe('C-SSRS screener', () => {
  const Q = { q1: '/93246-7', q2: '/93247-5', q3: '/93248-3', q4: '/93249-1', q5: '/93250-9', q6: '/93267-3', q6b: '/93269-9' } as const;
  type Qs = Partial<Record<keyof typeof Q, boolean | 'declined'>>;
  const cssrs = (qs: Qs) => {
    const answers = Object.fromEntries(
      Object.entries(qs).map(([q, v]) => [Q[q as keyof typeof Q], v === 'declined' ? DECLINED : v ? YES : NO]),
    );
    return scoreResponse(CSSRS, respond(CSSRS, answers));
  };

  it.each<[string, Qs, CssrsRisk | undefined, string[]]>([
    ['all No', { q1: false, q2: false, q6: false }, 'none', []],
    ['Q1 Yes only', { q1: true, q2: false, q6: false }, 'low', []],
    ['Q2 Yes, Q3-Q5 No', { q1: true, q2: true, q3: false, q4: false, q5: false, q6: false }, 'low', []],
    ['Q3 Yes', { q1: true, q2: true, q3: true, q4: false, q5: false, q6: false }, 'moderate', []],
    ['Q4 Yes', { q1: true, q2: true, q3: true, q4: true, q5: false, q6: false }, 'high', []],
    ['Q5 Yes', { q1: true, q2: true, q3: false, q4: false, q5: true, q6: false }, 'high', []],
    ['Q6 Yes, Q6b No (more than 3 months ago)', { q1: false, q2: false, q6: true, q6b: false }, 'moderate', []],
    ['Q6 Yes, Q6b Yes', { q1: false, q2: false, q6: true, q6b: true }, 'high', []],
    ['Q6 Yes, Q6b missing: worst case', { q1: false, q2: false, q6: true }, 'high', ['/93269-9']],
    ['Q6 Yes, Q6b declined: worst case', { q1: false, q2: false, q6: true, q6b: 'declined' }, 'high', ['/93269-9']],
    ['Q2 Yes, Q3-Q5 skipped: worst case', { q1: true, q2: true, q6: false }, 'high', ['/93248-3', '/93249-1', '/93250-9']],
    ['Q2 Yes, only Q3 skipped', { q1: true, q2: true, q4: false, q5: false, q6: false }, 'moderate', ['/93248-3']],
    ['Q1 missing and nothing Yes: undetermined', { q2: false, q6: false }, undefined, ['/93246-7']],
    ['Q6 declined and nothing Yes: undetermined', { q1: false, q2: false, q6: 'declined' }, undefined, ['/93267-3']],
    ['Q2 missing with Q1 Yes: undetermined', { q1: true, q6: false }, undefined, ['/93247-5']],
    ['Q6 missing but Q4 already Yes: high', { q1: true, q2: true, q3: true, q4: true, q5: true }, 'high', ['/93267-3']],
    ['nothing answered', {}, undefined, ['/93246-7', '/93247-5', '/93267-3']],
  ])('%s → %s', (_label, qs, risk, missing) => {
    const result = cssrs(qs);
    expect(result.safety.cssrsRisk).toBe(risk);
    expect(result.missingRequired).toEqual(missing);
    expect(result.total).toBeUndefined();
    expect(result.safety.cssrsReasons?.length).toBeGreaterThan(0);
  });

  it('says why when Q6b is missing', () => {
    expect(cssrs({ q1: false, q2: false, q6: true }).safety.cssrsReasons).toContain(
      'Q6 Yes and Q6b unanswered: recency unknown, treated as within the past 3 months',
    );
  });

  it('does not require Q3-Q5 after Q2 No, nor Q6b after Q6 No (skip logic)', () => {
    const result = cssrs({ q1: false, q2: false, q6: false });
    expect(result.missingRequired).toEqual([]);
    expect(result.items.filter((i) => !i.enabled).map((i) => i.linkId)).toEqual(['/93248-3', '/93249-1', '/93250-9', '/93269-9']);
  });

  it('still counts a Yes to a question that was not enabled, and notes it', () => {
    const result = cssrs({ q1: false, q2: false, q4: true, q6: false });
    expect(result.safety.cssrsRisk).toBe('high');
    expect(result.notes).toEqual(['/93249-1 was answered although it was not enabled']);
  });

  it('ignores Q6b when Q6 is No, with a reason', () => {
    const result = cssrs({ q1: false, q2: false, q6: false, q6b: true });
    expect(result.safety.cssrsRisk).toBe('none');
    expect(result.safety.cssrsReasons).toContain('Q6b Yes although Q6 is not Yes: Q6b ignored');
  });

  it('stratifyCssrs is exported for direct use', () => {
    const none: CssrsAnswers = { q1: false, q2: false, q3: undefined, q4: undefined, q5: undefined, q6: false, q6b: undefined };
    expect(stratifyCssrs(none)).toEqual({ risk: 'none', reasons: ['All screener answers No'] });
    expect(stratifyCssrs({ ...none, q5: true }).risk).toBe('high');
  });
});

describe('answers outside the answer list are reported, never scored', () => {
  const good = byOrdinals(PHQ2, [1, 1]);
  it.each<[string, QuestionnaireResponseItem, string]>([
    [
      'an unknown code',
      { linkId: '/44255-8', answer: [{ valueCoding: loinc('LA9999-9') }] },
      'http://loinc.org|LA9999-9 is not an answer option',
    ],
    [
      'the right code in another system',
      { linkId: '/44255-8', answer: [{ valueCoding: { system: 'http://snomed.info/sct', code: 'LA6569-3' } }] },
      'http://snomed.info/sct|LA6569-3 is not an answer option',
    ],
    [
      'a code without a system',
      { linkId: '/44255-8', answer: [{ valueCoding: { code: 'LA6569-3' } }] },
      '(no system)|LA6569-3 is not an answer option',
    ],
    [
      'a decline the item does not offer',
      { linkId: '/44255-8', answer: [{ valueCoding: DECLINED }] },
      `${DATA_ABSENT_REASON}|asked-declined is not an answer option`,
    ],
    ['a number instead of a Coding', { linkId: '/44255-8', answer: [{ valueInteger: 1 }] }, 'expected a valueCoding from the answer list'],
    [
      'two answers',
      { linkId: '/44255-8', answer: [{ valueCoding: loinc('LA6568-5') }, { valueCoding: loinc('LA6569-3') }] },
      '2 answers to a single-answer question',
    ],
  ])('%s', (_label, item, reason) => {
    const qr = respond(PHQ2, { '/44250-9': good['/44250-9'] as Coding });
    qr.item?.push(item);
    const result = scoreResponse(PHQ2, qr);
    expect(result.invalidAnswers).toEqual([{ linkId: '/44255-8', reason }]);
    expect(result.items.find((i) => i.linkId === '/44255-8')).toMatchObject({ status: 'missing' });
    expect(result.missingRequired).toEqual(['/44255-8']);
    expect(result.total).toBeUndefined();
  });

  it('an invalid answer to item 9 leaves item 9 unknown', () => {
    const result = scoreResponse(PHQ9, respond(PHQ9, { ...byOrdinals(PHQ9, Array(9).fill(0)), '/44260-8': loinc('LA6572-7') }));
    expect(result.safety.item9).toEqual({ status: 'missing' });
    expect(result.invalidAnswers.map((i) => i.linkId)).toEqual(['/44260-8']);
  });
});

describe('linkIds', () => {
  it('ignores unknown linkIds but reports them', () => {
    const qr = respond(PHQ2, { ...byOrdinals(PHQ2, [2, 1]), '/99999-9': loinc('LA6568-5'), comments: loinc('x') });
    expect(scoreResponse(PHQ2, qr)).toMatchObject({ total: 3, unknownLinkIds: ['/99999-9', 'comments'], invalidAnswers: [] });
  });

  it('reads bare LOINC linkIds (HL7 PHR IG style) as the /LOINC ones', () => {
    const slashed = scoreResponse(PHQ9, respond(PHQ9, byOrdinals(PHQ9, [3, 2, 1, 0, 3, 2, 1, 0, 2])));
    const bare = Object.fromEntries(Object.entries(byOrdinals(PHQ9, [3, 2, 1, 0, 3, 2, 1, 0, 2])).map(([k, v]) => [k.slice(1), v]));
    const result = scoreResponse(PHQ9, respond(PHQ9, bare));
    expect(result).toEqual(slashed);
    expect(result).toMatchObject({ total: 14, unknownLinkIds: [], safety: { item9: { status: 'answered', ordinal: 2 } } });
  });

  it('refuses one question answered under both its bare and its /LOINC linkId', () => {
    const qr = respond(PHQ2, { ...byOrdinals(PHQ2, [1, 1]), '44250-9': loinc('LA6571-9') });
    expect(scoreResponse(PHQ2, qr).invalidAnswers).toEqual([{ linkId: '/44250-9', reason: '2 answers to a single-answer question' }]);
  });

  it('reads answers nested in groups and under other answers', () => {
    const [a, b] = Object.entries(byOrdinals(PHQ2, [3, 2]));
    const qr: QuestionnaireResponse = {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      item: [
        {
          linkId: 'page-1',
          item: [
            {
              linkId: a?.[0] as string,
              answer: [{ valueCoding: a?.[1], item: [{ linkId: b?.[0] as string, answer: [{ valueCoding: b?.[1] }] }] }],
            },
          ],
        },
      ],
    };
    expect(scoreResponse(PHQ2, qr)).toMatchObject({ total: 5, band: { code: 'positive' }, unknownLinkIds: [] });
  });
});

describe('weights from the itemWeight extension', () => {
  it('scores a Questionnaire that carries itemWeight instead of ordinalValue', () => {
    const q = structuredClone(PHQ2.questionnaire);
    for (const item of q.item ?? []) {
      for (const option of item.answerOption ?? []) {
        for (const ext of option.extension ?? []) if (ext.url === ORDINAL_VALUE_URL) ext.url = ITEM_WEIGHT_URL;
      }
    }
    const phq2 = buildInstrument(q);
    expect(scoreResponse(phq2, respond(phq2, byOrdinals(PHQ2, [3, 3]))).total).toBe(6);
  });
});
