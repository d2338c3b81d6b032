import { describe, expect, it } from 'vitest';
import { questionnaireLookups, type QuestionnaireLookup } from './questionnaire-ref.ts';

const BASE = 'https://haven.example.org/t/acme/fhir';

describe('questionnaireLookups: every form of QuestionnaireResponse.questionnaire', () => {
  const table: [string, string, QuestionnaireLookup[]][] = [
    ['relative', 'Questionnaire/abc-1', [{ read: 'abc-1' }]],
    ['relative with a version', 'Questionnaire/abc/_history/3', [{ read: 'abc' }]],
    ['absolute on this base', `${BASE}/Questionnaire/abc`, [{ read: 'abc' }, { canonical: `${BASE}/Questionnaire/abc` }]],
    [
      'absolute on this base, other case and a trailing slash',
      'HTTPS://Haven.Example.org/t/acme/fhir/Questionnaire/abc',
      [{ read: 'abc' }, { canonical: 'HTTPS://Haven.Example.org/t/acme/fhir/Questionnaire/abc' }],
    ],
    [
      'absolute, another host, same path',
      'http://localhost:8080/t/acme/fhir/Questionnaire/abc',
      [{ canonical: 'http://localhost:8080/t/acme/fhir/Questionnaire/abc' }, { read: 'abc' }],
    ],
    [
      'absolute, another tenant',
      'https://haven.example.org/t/other/fhir/Questionnaire/abc',
      [{ canonical: 'https://haven.example.org/t/other/fhir/Questionnaire/abc' }],
    ],
    [
      'absolute, another server',
      'https://vendor.example/fhir/Questionnaire/phq9',
      [{ canonical: 'https://vendor.example/fhir/Questionnaire/phq9' }],
    ],
    ['canonical', 'http://loinc.org/q/44249-1', [{ canonical: 'http://loinc.org/q/44249-1' }]],
    ['canonical with version', 'https://clinic.example/forms/mood|7', [{ canonical: 'https://clinic.example/forms/mood', version: '7' }]],
    [
      'absolute URL with a version is a canonical',
      `${BASE}/Questionnaire/abc|2`,
      [{ canonical: `${BASE}/Questionnaire/abc`, version: '2' }],
    ],
    ['urn', 'urn:uuid:9d8f6a3e-8c1b-4f44-9d0e-2b6f6f1d8a10', [{ canonical: 'urn:uuid:9d8f6a3e-8c1b-4f44-9d0e-2b6f6f1d8a10' }]],
    ['empty', '  ', []],
    ['empty version', 'https://x.example/q|', []],
    ['a bad id is not a relative reference', 'Questionnaire/a b', []],
    ['control characters', 'Questionnaire/a\u0001', []],
    ['too long', `https://x.example/${'a'.repeat(1100)}`, []],
  ];
  it.each(table)('%s', (_name, ref, expected) => {
    expect(questionnaireLookups(ref, BASE)).toEqual(expected);
  });

  it('the default tenant base /fhir', () => {
    expect(questionnaireLookups('http://localhost:8080/fhir/Questionnaire/q1', 'http://localhost:8080/fhir')).toEqual([
      { read: 'q1' },
      { canonical: 'http://localhost:8080/fhir/Questionnaire/q1' },
    ]);
  });
});
