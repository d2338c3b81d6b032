import { describe, expect, it } from 'vitest';
import type { Questionnaire, QuestionnaireResponse, QuestionnaireResponseItemAnswer } from '@medplum/fhirtypes';
import { instruments } from '../instruments-registry.ts';
import { defaultClinicalConfig } from './config.ts';
import type { Item9, RiskInput } from './risk.ts';
import { assessSafetyAnswers, readItem9, readYesNo, scanSafety } from './safety-scan.ts';

const all = instruments().all();
const phq9 = all.find((i) => i.id === 'phq-9')!;
const item9 = phq9.items.find((i) => i.linkId === '/44260-8')!;
const LOINC = 'http://loinc.org';
const DAR = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';
const ORDINAL = 'http://hl7.org/fhir/StructureDefinition/ordinalValue';
const YES = { system: LOINC, code: 'LA33-6' };
const NO = { system: LOINC, code: 'LA32-8' };
const risk = defaultClinicalConfig().risk;

const qr = (item: QuestionnaireResponse['item']): QuestionnaireResponse => ({
  resourceType: 'QuestionnaireResponse',
  status: 'completed',
  item,
});

describe('readItem9: toward safety, never 0 for what cannot be read', () => {
  const NaN9: Item9 = { status: 'answered', ordinal: Number.NaN };
  const table: [string, QuestionnaireResponseItemAnswer[], Item9][] = [
    ['Not at all (LA6568-5) = 0', [{ valueCoding: { system: LOINC, code: 'LA6568-5' } }], { status: 'answered', ordinal: 0 }],
    ['Nearly every day (LA6571-9) = 3', [{ valueCoding: { system: LOINC, code: 'LA6571-9' } }], { status: 'answered', ordinal: 3 }],
    ['asked-declined', [{ valueCoding: { system: DAR, code: 'asked-declined' } }], { status: 'declined' }],
    [
      'ordinalValue on the answer Coding',
      [{ valueCoding: { system: 'http://v.example', code: 'x', extension: [{ url: ORDINAL, valueDecimal: 2 }] } }],
      { status: 'answered', ordinal: 2 },
    ],
    ['an integer 0-3', [{ valueInteger: 1 }], { status: 'answered', ordinal: 1 }],
    ['an integer out of range', [{ valueInteger: 7 }], NaN9],
    ['an unknown code', [{ valueCoding: { system: 'http://v.example', code: 'sometimes' } }], NaN9],
    ['a string', [{ valueString: 'yes, often' }], NaN9],
    ['two answers', [{ valueInteger: 0 }, { valueInteger: 1 }], NaN9],
  ];
  it.each(table)('%s', (_name, answers, expected) => {
    expect(readItem9(item9, answers)).toEqual(expected);
  });

  it("the stored form's own ordinalValue for its answer code", () => {
    const options = [{ valueCoding: { system: 'http://v.example', code: 'often' }, extension: [{ url: ORDINAL, valueDecimal: 2 }] }];
    expect(readItem9(item9, [{ valueCoding: { system: 'http://v.example', code: 'often' } }], options)).toEqual({
      status: 'answered',
      ordinal: 2,
    });
  });
});

describe('readYesNo', () => {
  it.each([
    ['LA33-6', [{ valueCoding: YES }], true],
    ['LA32-8', [{ valueCoding: NO }], false],
    ['boolean', [{ valueBoolean: true }], true],
    ['declined', [{ valueCoding: { system: DAR, code: 'asked-declined' } }], null],
    ['unreadable', [{ valueString: 'maybe' }], undefined],
  ] as [string, QuestionnaireResponseItemAnswer[], boolean | null | undefined][])('%s', (_n, answers, expected) => {
    expect(readYesNo(answers)).toBe(expected);
  });
});

describe('scanSafety: safety answers wherever they are', () => {
  const table: [string, QuestionnaireResponse, RiskInput[]][] = [
    ['no safety question', qr([{ linkId: '/44250-9', answer: [{ valueInteger: 3 }] }]), []],
    [
      'item 9 by /LOINC linkId',
      qr([{ linkId: '/44260-8', answer: [{ valueInteger: 2 }] }]),
      [{ instrument: 'phq-9', item9: { status: 'answered', ordinal: 2 } }],
    ],
    [
      'item 9 by bare LOINC linkId, in a group',
      qr([{ linkId: 'g', item: [{ linkId: '44260-8', answer: [{ valueInteger: 0 }] }] }]),
      [{ instrument: 'phq-9', item9: { status: 'answered', ordinal: 0 } }],
    ],
    [
      'PHQ-A item 9 by its linkId',
      qr([{ linkId: 'phq-a-9', answer: [{ valueInteger: 1 }] }]),
      [{ instrument: 'phq-a', item9: { status: 'answered', ordinal: 1 } }],
    ],
    [
      'C-SSRS Q1 Yes: low',
      qr([{ linkId: '/93246-7', answer: [{ valueCoding: YES }] }]),
      [{ instrument: 'cssrs-screener', cssrsRisk: 'low' }],
    ],
    [
      'C-SSRS Q2 Yes, Q3-Q5 not asked: high (intent not ruled out)',
      qr([{ linkId: '/93247-5', answer: [{ valueBoolean: true }] }]),
      [{ instrument: 'cssrs-screener', cssrsRisk: 'high' }],
    ],
    [
      'C-SSRS all No: none',
      qr([
        { linkId: '/93246-7', answer: [{ valueCoding: NO }] },
        { linkId: '/93247-5', answer: [{ valueCoding: NO }] },
      ]),
      [{ instrument: 'cssrs-screener', cssrsRisk: 'none' }],
    ],
    [
      'C-SSRS Q1 unreadable: no tier (review)',
      qr([{ linkId: '/93246-7', answer: [{ valueString: '?' }] }]),
      [{ instrument: 'cssrs-screener' }],
    ],
    [
      'C-SSRS Q1 declined: no tier (review)',
      qr([{ linkId: '/93246-7', answer: [{ valueCoding: { system: DAR, code: 'asked-declined' } }] }]),
      [{ instrument: 'cssrs-screener' }],
    ],
    [
      'PHQ-A serious thoughts Yes',
      qr([{ linkId: 'phq-a-serious-thoughts-past-month', answer: [{ valueBoolean: true }] }]),
      [{ instrument: 'phq-a', seriousThoughtsPastMonth: true }],
    ],
  ];
  it.each(table)('%s', (_name, response, expected) => {
    expect(scanSafety(all, response)).toEqual(expected);
  });

  it('a stored form identifies its item 9 by code, whatever the linkId', () => {
    const stored: Questionnaire = {
      resourceType: 'Questionnaire',
      status: 'active',
      item: [{ linkId: 'q9', type: 'choice', code: [{ system: LOINC, code: '44260-8' }] }],
    };
    expect(scanSafety(all, qr([{ linkId: 'q9', answer: [{ valueCoding: { system: LOINC, code: 'LA6570-1' } }] }]), stored)).toEqual([
      { instrument: 'phq-9', item9: { status: 'answered', ordinal: 2 } },
    ]);
    expect(scanSafety(all, qr([{ linkId: 'q9', answer: [{ valueInteger: 2 }] }]))).toEqual([]);
  });
});

describe('assessSafetyAnswers', () => {
  it('the highest level of every instrument found, plus why no total backs it', () => {
    const a = assessSafetyAnswers(
      [
        { instrument: 'phq-9', item9: { status: 'answered', ordinal: 1 } },
        { instrument: 'cssrs-screener', cssrsRisk: 'high' },
      ],
      risk,
      'not scored',
    );
    expect(a.level).toBe('high');
    expect(a.reasons.map((r) => r.code)).toEqual(['phq9-item9-positive', 'cssrs-high', 'safety-items-only']);
  });

  it('an unreadable item 9 is reviewed', () => {
    expect(assessSafetyAnswers([{ instrument: 'phq-9', item9: { status: 'answered', ordinal: Number.NaN } }], risk, 'x').level).toBe(
      'review',
    );
  });

  it('nothing positive: nothing, not even the note', () => {
    expect(assessSafetyAnswers([{ instrument: 'phq-9', item9: { status: 'answered', ordinal: 0 } }], risk, 'x')).toEqual({
      level: 'none',
      reasons: [],
    });
    expect(assessSafetyAnswers([], risk, 'x')).toEqual({ level: 'none', reasons: [] });
  });

  it('PHQ-A suicide questions without item 9: item 9 was not asked, so its absence is not a reason', () => {
    const a = assessSafetyAnswers([{ instrument: 'phq-a', seriousThoughtsPastMonth: true }], risk, 'x');
    expect(a.reasons.map((r) => r.code)).toEqual(['phqa-serious-thoughts', 'safety-items-only']);
  });
});
