import { describe, expect, it } from 'vitest';
import type { Questionnaire, QuestionnaireResponse, QuestionnaireResponseItem } from '@medplum/fhirtypes';
import { instruments } from '../instruments-registry.ts';
import { phqLikeResponse } from '../test-support/responses.ts';
import { inInstrumentTerms, matchResponseLinkIds, matchStoredQuestionnaire } from './instrument-match.ts';

const all = instruments().all();
const byId = (id: string) => all.find((i) => i.id === id)!;
const YES = { system: 'http://loinc.org', code: 'LA33-6' };

/** A response whose items are these linkIds, each with some coded answer. */
function withLinkIds(linkIds: string[], nest = false): QuestionnaireResponse {
  const items: QuestionnaireResponseItem[] = linkIds.map((linkId) => ({ linkId, answer: [{ valueCoding: YES }] }));
  return { resourceType: 'QuestionnaireResponse', status: 'completed', item: nest ? [{ linkId: 'group', item: items }] : items };
}
const scoredLinkIds = (id: string) => byId(id).scoredItems.map((i) => i.linkId);

describe('matchResponseLinkIds: what "carries the LOINC codes" means for a response', () => {
  const phq9 = scoredLinkIds('phq-9');
  const table: [string, string[], string | undefined, string | undefined][] = [
    ['PHQ-9, /LOINC linkIds', phq9, 'phq-9', undefined],
    ['PHQ-9, bare LOINC linkIds (HL7 PHR IG)', phq9.map((l) => l.slice(1)), 'phq-9', undefined],
    ['PHQ-9 with the difficulty item', [...phq9, '/69722-7'], 'phq-9', undefined],
    ['PHQ-9 plus an unrelated question', [...phq9, 'comments'], 'phq-9', undefined],
    ['PHQ-2 (items 1 and 2 only)', scoredLinkIds('phq-2'), 'phq-2', undefined],
    ['GAD-7', scoredLinkIds('gad-7'), 'gad-7', undefined],
    ['AUDIT-C', scoredLinkIds('audit-c'), 'audit-c', undefined],
    ['C-SSRS: the questions everyone is asked (Q1, Q2, Q6)', ['/93246-7', '/93247-5', '/93267-3'], 'cssrs-screener', undefined],
    ['C-SSRS without Q6: partial', ['/93246-7', '/93247-5'], undefined, 'partial'],
    ['PHQ-9 without item 1: partial, never PHQ-2', phq9.filter((l) => l !== '/44250-9'), undefined, 'partial'],
    ['PHQ-9 without item 9: partial', phq9.filter((l) => l !== '/44260-8'), undefined, 'partial'],
    ['PHQ-9 + GAD-7 in one form: mixed', [...phq9, ...scoredLinkIds('gad-7')], undefined, 'mixed'],
    ['PHQ-2 + a C-SSRS question: mixed', [...scoredLinkIds('phq-2'), '/93246-7'], undefined, 'mixed'],
    ['no instrument question', ['name', 'q1', '44250'], undefined, 'none'],
    ['nothing answered', [], undefined, 'none'],
  ];
  it.each(table)('%s', (_name, linkIds, instrument, kind) => {
    const r = matchResponseLinkIds(all, withLinkIds(linkIds));
    expect(r.match?.instrument.id).toBe(instrument);
    if (r.match) expect(r.match.via).toBe('response-linkids');
    else expect(r.kind).toBe(kind);
  });

  it('looks inside groups', () => {
    expect(matchResponseLinkIds(all, withLinkIds(phq9, true)).match?.instrument.id).toBe('phq-9');
  });

  it('only answered questions count (an empty item is not an answer)', () => {
    const qr = withLinkIds(phq9.slice(0, 8));
    qr.item?.push({ linkId: '/44260-8' });
    expect(matchResponseLinkIds(all, qr).match).toBeUndefined();
  });

  it('the reason names instruments only', () => {
    const r = matchResponseLinkIds(all, withLinkIds(phq9.slice(1)));
    expect(r.match ? '' : r.reason).toBe('the response has questions of PHQ-9 but not all of its identifying questions');
  });
});

describe('matchStoredQuestionnaire: what "carries the LOINC codes" means for a stored form', () => {
  const haven = byId('phq-9').questionnaire;
  const renamed = (q: Questionnaire, rename: (l: string) => string): Questionnaire => ({
    ...q,
    url: 'https://clinic.example/q',
    version: '1',
    item: q.item?.map((i) => ({ ...i, linkId: rename(i.linkId as string) })),
  });

  it("Haven's own canonical stored under another id", () => {
    const r = matchStoredQuestionnaire(all, { ...haven, id: 'x1' });
    expect(r.match).toMatchObject({ via: 'stored-canonical' });
    expect(r.match?.linkIds.size).toBe(0);
  });

  it('a copy under another canonical with other linkIds: matched by item codes, linkIds translated', () => {
    const r = matchStoredQuestionnaire(
      all,
      renamed(haven, (l) => `q${l}`),
    );
    expect(r.match?.instrument.id).toBe('phq-9');
    expect(r.match?.via).toBe('stored-codes');
    expect(r.match?.linkIds.get('q/44260-8')).toBe('/44260-8');
    expect(r.match?.linkIds.size).toBe(10); // nine scored items and the difficulty item
  });

  it('a copy nested in a group, with extra questions Haven does not know, is still the instrument', () => {
    const q: Questionnaire = {
      ...renamed(haven, (l) => `m-${l}`),
      item: [{ linkId: 'g', type: 'group', item: [...(haven.item ?? []), { linkId: 'notes', type: 'string' }] }],
    };
    expect(matchStoredQuestionnaire(all, q).match?.instrument.id).toBe('phq-9');
  });

  it.each([
    [
      'an identifying question missing',
      (items: NonNullable<Questionnaire['item']>) => items.filter((i) => i.linkId !== '/44250-9'),
      'partial',
    ],
    [
      'a code on two questions (which answer counts?)',
      (items: NonNullable<Questionnaire['item']>) => [...items, { ...items[1], linkId: 'again' }],
      'partial',
    ],
    [
      'GAD-7 questions too',
      (items: NonNullable<Questionnaire['item']>) => [
        ...items,
        ...(byId('gad-7').questionnaire.item ?? []).map((i) => ({ ...i, linkId: `g${i.linkId}` })),
      ],
      'mixed',
    ],
    ['no codes at all', (items: NonNullable<Questionnaire['item']>) => items.map(({ code: _c, ...i }) => i), 'none'],
  ] as const)('%s: no match (%s)', (_name, change, kind) => {
    const r = matchStoredQuestionnaire(all, { ...renamed(haven, (l) => l), item: change(haven.item ?? []) as Questionnaire['item'] });
    expect(r.match).toBeUndefined();
    expect(r.match ? undefined : r.kind).toBe(kind);
  });

  it('C-SSRS copy: every screener question must be there (safety items identify it)', () => {
    const cssrs = byId('cssrs-screener').questionnaire;
    expect(
      matchStoredQuestionnaire(
        all,
        renamed(cssrs, (l) => `c${l}`),
      ).match?.instrument.id,
    ).toBe('cssrs-screener');
    const noQ5 = { ...renamed(cssrs, (l) => l), item: cssrs.item?.filter((i) => i.linkId !== '/93250-9') };
    expect(matchStoredQuestionnaire(all, noQ5).match).toBeUndefined();
  });
});

describe('inInstrumentTerms', () => {
  it('translates the linkIds of a stored-codes match and leaves other questions out', () => {
    const qr = phqLikeResponse('phq-9', 'p', [0, 1, 2, 3, 0, 1, 2, 3, 1]);
    const form = {
      ...qr,
      item: [
        { linkId: 'g', item: qr.item?.map((i) => ({ ...i, linkId: `f${i.linkId}` })) },
        { linkId: '/44250-9', answer: [{ valueString: 'x' }] },
      ],
    };
    const linkIds = new Map(byId('phq-9').scoredItems.map((i) => [`f${i.linkId}`, i.linkId]));
    const out = inInstrumentTerms(form, { instrument: byId('phq-9'), via: 'stored-codes', linkIds });
    expect(out.item?.map((i) => i.linkId)).toEqual(byId('phq-9').scoredItems.map((i) => i.linkId));
    expect(out.item?.[8]?.answer).toEqual(qr.item?.[8]?.answer);
    expect(out.id).toBe(qr.id);
  });

  it("returns the response itself when the linkIds are already the instrument's", () => {
    const qr = phqLikeResponse('phq-9', 'p', [0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(inInstrumentTerms(qr, { instrument: byId('phq-9'), via: 'canonical', linkIds: new Map() })).toBe(qr);
  });
});
